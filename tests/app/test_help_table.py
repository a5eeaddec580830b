"""The README's shortcut table is the app's own (F1), generated from the window's actions."""

from __future__ import annotations

from pathlib import Path

from spam_gui.app.help import shortcut_markdown, shortcut_rows

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_shortcut_table_matches_the_app(make_window):
    win = make_window(precompute=False)
    table = shortcut_markdown(shortcut_rows(win.action_specs))
    text = README.read_text(encoding="utf-8")
    start, end = "<!-- shortcuts:start -->\n", "<!-- shortcuts:end -->"
    readme_table = text[text.index(start) + len(start):text.index(end)]
    assert readme_table == table, (
        "README.md's shortcut table is out of date: "
        "QT_QPA_PLATFORM=offscreen python scripts/shortcut_table.py")
    assert "| Paint | `1 … 9` |" in table and "`Shift+M`" in table
