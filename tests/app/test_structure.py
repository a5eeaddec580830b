"""The app's structure, read from its syntax tree (no Qt needed; issue 21 item 5).

- No mixins: no class in ``spam_gui/app`` has more than one base class when one of them is
  one of the app's own classes (a controller is composed of collaborators given what they use,
  not assembled from mixins that use state they never declare).
- Nobody reaches into another object's private names: no ``x._name`` where ``x`` is not
  ``self`` / ``cls`` / ``super()`` (dunders such as ``x.__class__`` are not private). An
  exception goes in :data:`ALLOWED` with its reason; an entry no longer needed fails too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "spam_gui" / "app"

ALLOWED: dict[tuple[str, str], str] = {}
"""(file relative to spam_gui/app, the expression as :func:`ast.unparse` writes it) -> why."""


def _base_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript):          # Generic[T], Base[...]
        return _base_name(node.value)
    return None


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _own(node: ast.expr) -> bool:
    """``self``, ``cls`` or ``super()``: the object's own names."""
    if isinstance(node, ast.Name):
        return node.id in ("self", "cls")
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "super")


def mixin_classes(trees: dict[str, ast.Module]) -> list[str]:
    """``file: Class(bases)`` for each class with several bases, one of them an app class."""
    app_classes = {n.name for t in trees.values() for n in ast.walk(t)
                   if isinstance(n, ast.ClassDef)}
    found = []
    for name, tree in trees.items():
        for n in ast.walk(tree):
            if isinstance(n, ast.ClassDef) and len(n.bases) > 1:
                bases = [_base_name(b) for b in n.bases]
                if any(b in app_classes for b in bases):
                    found.append(f"{name}:{n.lineno}: {n.name}({', '.join(map(str, bases))})")
    return found


def private_reaches(trees: dict[str, ast.Module]) -> dict[tuple[str, str], list[int]]:
    """(file, expression) -> lines, for each ``x._name`` with ``x`` not the object itself."""
    found: dict[tuple[str, str], list[int]] = {}
    for name, tree in trees.items():
        for n in ast.walk(tree):
            if isinstance(n, ast.Attribute) and _is_private(n.attr) and not _own(n.value):
                found.setdefault((name, ast.unparse(n)), []).append(n.lineno)
    return found


def _app_trees() -> dict[str, ast.Module]:
    files = sorted(APP.rglob("*.py"))
    assert len(files) > 20, APP
    return {f.relative_to(APP).as_posix(): ast.parse(f.read_text(encoding="utf-8"), str(f))
            for f in files}


@pytest.fixture(scope="module")
def trees() -> dict[str, ast.Module]:
    return _app_trees()


def test_no_mixins(trees: dict[str, ast.Module]) -> None:
    found = mixin_classes(trees)
    assert not found, ("classes built from app mixins (compose collaborators instead, each "
                       "given what it uses): " + "; ".join(found))


def test_no_reach_into_other_objects_private_names(trees: dict[str, ast.Module]) -> None:
    found = private_reaches(trees)
    bad = {k: v for k, v in found.items() if k not in ALLOWED}
    assert not bad, ("another object's private name used (give it a public method, or add an "
                     "entry with its reason to ALLOWED): "
                     + "; ".join(f"{f}:{lines} {expr}" for (f, expr), lines in sorted(bad.items())))
    stale = sorted(k for k in ALLOWED if k not in found)
    assert not stale, f"ALLOWED entries no longer needed (remove them): {stale}"


def test_the_checks_catch_what_they_are_for() -> None:
    src = ast.parse(
        "class Mixin:\n"
        "    pass\n"
        "class Controller(Mixin, QtCore.QObject):\n"
        "    def f(self, doc):\n"
        "        self._own()\n"
        "        super()._parent()\n"
        "        doc._set_ratio(1)\n"
        "        self.w._x = 1\n"
        "        return doc.__class__\n"
        "class Fine(QtCore.QObject, Generic[T]):\n"
        "    pass\n")
    trees = {"x.py": src}
    assert [m.split(": ", 1)[1] for m in mixin_classes(trees)] == ["Controller(Mixin, QObject)"]
    assert set(private_reaches(trees)) == {("x.py", "doc._set_ratio"), ("x.py", "self.w._x")}
