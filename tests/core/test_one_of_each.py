"""Issue 21 item 4, "one of each", counted from the code with :mod:`ast`: one function hashes
files, one writes 16-bit PNGs, one stages multi-file writes, one verifies an output set, one model
cache, one dataset loader, one error family and one exit-code map, every default in
``core/params.py``."""

from __future__ import annotations

import ast
from pathlib import Path

import spam_gui

PKG = Path(spam_gui.__file__).resolve().parent


def _modules(*subdirs: str):
    for sub in subdirs:
        for path in sorted((PKG / sub).rglob("*.py")):
            yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _rel(path: Path) -> str:
    return path.relative_to(PKG.parent).as_posix()


def _functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def _own_nodes(func: ast.AST):
    """The nodes of a function, not those of the functions nested in it."""
    todo = list(ast.iter_child_nodes(func))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        yield node
        todo.extend(ast.iter_child_nodes(node))


def _call_name(node: ast.Call) -> str:
    f = node.func
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):
        return f"hashlib.{f.attr}" if isinstance(f.value, ast.Name) and f.value.id == "hashlib" \
            else f".{f.attr}"
    return ""


def test_one_function_hashes_files():
    """A file is hashed in cache.hash_file only (hash_file_cached memoises it): no other
    function opens a file and feeds it to hashlib, or hashes ``x.read_bytes()``."""
    found = []
    for path, tree in _modules("."):
        for func in _functions(tree):
            calls = [n for n in _own_nodes(func) if isinstance(n, ast.Call)]
            names = {_call_name(c) for c in calls}
            hashes = any(n.startswith("hashlib.") for n in names)
            chunked = hashes and "open" in names and ".update" in names
            whole = any(_call_name(c).startswith("hashlib.")
                        and any(isinstance(a, ast.Call) and _call_name(a) in (".read_bytes", ".read")
                                for a in c.args) for c in calls)
            if chunked or whole:
                found.append(f"{_rel(path)}:{func.name}")
    assert found == ["spam_gui/core/cache.py:hash_file"]
