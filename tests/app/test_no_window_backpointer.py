"""Collaborators are given what they use, not the window (issue 21 item 5), read from the
syntax tree (no Qt needed): no module of ``spam_gui/app`` but those in :data:`HOLDS_WINDOW`
uses ``self.w`` (the back-pointer to the MainWindow the collaborators used to hold)."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "spam_gui" / "app"

HOLDS_WINDOW: dict[str, str] = {
    "actions.py": "WindowActions builds the window's actions, menus, toolbar and status bar: "
                  "reaching into the window is its job",
}
"""file relative to spam_gui/app -> why it may hold the window."""


def window_reaches(tree: ast.Module) -> list[int]:
    """Lines that use ``self.w``."""
    return sorted({n.lineno for n in ast.walk(tree)
                   if isinstance(n, ast.Attribute) and n.attr == "w"
                   and isinstance(n.value, ast.Name) and n.value.id == "self"})


def test_only_the_listed_modules_hold_the_window() -> None:
    files = sorted(APP.rglob("*.py"))
    assert len(files) > 20, APP
    found = {}
    for f in files:
        lines = window_reaches(ast.parse(f.read_text(encoding="utf-8"), str(f)))
        if lines:
            found[f.relative_to(APP).as_posix()] = lines
    bad = {k: v for k, v in found.items() if k not in HOLDS_WINDOW}
    assert not bad, ("self.w used (give the collaborator what it uses: the canvas, a getter, "
                     f"a callback, a panel through attach): {bad}")
    stale = sorted(k for k in HOLDS_WINDOW if k not in found)
    assert not stale, f"HOLDS_WINDOW entries no longer needed (remove them): {stale}"


def test_the_check_catches_what_it_is_for() -> None:
    src = ast.parse("class C:\n"
                    "    def __init__(self, window):\n"
                    "        self.w = window\n"
                    "    def f(self, other):\n"
                    "        other.w.x()\n"
                    "        return self.w.canvas\n")
    assert window_reaches(src) == [3, 6]
