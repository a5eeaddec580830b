"""The shortcut table of docs/app.md is the app's own (F1), generated from the window's actions."""

from __future__ import annotations

from pathlib import Path

from spam_gui.app.help import shortcut_markdown, shortcut_rows

APP_DOC = Path(__file__).resolve().parents[2] / "docs" / "app.md"


def test_docs_shortcut_table_matches_the_app(make_window):
    win = make_window(precompute=False)
    table = shortcut_markdown(shortcut_rows(win.action_specs))
    text = APP_DOC.read_text(encoding="utf-8")
    start, end = "<!-- shortcuts:start -->\n", "<!-- shortcuts:end -->"
    doc_table = text[text.index(start) + len(start):text.index(end)]
    assert doc_table == table, (
        "docs/app.md's shortcut table is out of date: "
        "QT_QPA_PLATFORM=offscreen python scripts/shortcut_table.py --write")
    assert "| Paint | `1 … 9` |" in table and "`Shift+M`" in table
