"""The core's import graph, read from the source (AST): what may import what.

``spam_gui/core`` is made of units — a few flat modules and one sub-package per concept — in
layers, lowest first (``LAYERS``). A module may import its own unit and the units of lower
layers, never a higher one; nothing in the core imports Qt or the app. Every import is counted,
at the top of a module or inside a function (a lazy import is still a dependency), except those
under ``if TYPE_CHECKING:``, which type checkers read and Python does not.

Checked here, each failure naming the file and the line:

* no Qt (PySide6 / shiboken6) and nothing of ``spam_gui.app`` / ``spam_gui.commands`` /
  ``spam_gui.cli`` / other ``spam_gui`` modules outside the core (``spam_gui.__version__`` aside);
* no upward import between units, and every module in a known unit (a new sub-package or flat
  module is given its layer here); at most 12 flat modules;
* no import cycle between units, nor between modules;
* no private name (``_x``) imported from another module, nor read off another module
  (``mod._x``), anywhere in ``spam_gui``;
* no re-export: a name is imported from the module that defines it (a package's
  ``__init__`` may gather the public names of its own sub-modules).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "spam_gui"
CORE = "spam_gui.core"

LAYERS: list[set[str]] = [
    {"params", "env"},          # constants, defaults, environment variable names
    {"errors"},                 # the SpamError family, exit codes
    {"devices"},                # the torch device rule
    {"io"},                     # images, staged writes, file sets, cache and hashing, locks
    {"engine"},                 # Spam, budget, seeds, clustering, ..., the working resolution
    {"prior"},                  # object maps and their sources: label map, built-in, SAM
    {"saliency"},               # visual attention
    {"annotation"},             # class and instance maps
    {"formats"},                # sidecar and label PNGs, COCO, VOC, YOLO, LabelMe
    {"models"},                 # the model registry, downloads, checking a model file
    {"pipeline"},               # the per-image run
    {"evaluation"},             # metrics, datasets, annotation effort
    {"batch"},                  # batch jobs, in process and on Dask
    {"training"},               # training the encoder
]
RANK = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}
MAX_FLAT_MODULES = 12
FORBIDDEN = ("PySide6", "shiboken6", "spam_gui.app", "spam_gui.commands", "spam_gui.cli")


def _modules(top: Path = PKG) -> dict[str, Path]:
    out = {}
    for p in sorted(top.rglob("*.py")):
        parts = p.relative_to(PKG.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


MODULES = _modules()
CORE_MODULES = {m: p for m, p in MODULES.items() if m.startswith(CORE + ".")}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test):
            skip.update(id(x) for b in n.body for x in ast.walk(b))
    return skip


def _imports(mod: str, path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, names) of every import of ``mod``; ``names`` empty for
    ``import x``. Relative imports are resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree)
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = []
    for n in ast.walk(tree):
        if id(n) in skip:
            continue
        if isinstance(n, ast.Import):
            out += [(n.lineno, a.name, []) for a in n.names]
        elif isinstance(n, ast.ImportFrom):
            target = n.module or ""
            if n.level:
                base = pkg.split(".")[: len(pkg.split(".")) - (n.level - 1)]
                target = ".".join(base + ([n.module] if n.module else []))
            out.append((n.lineno, target, [a.name for a in n.names]))
    return out


def _targets(target: str, names: list[str]) -> list[str]:
    """The modules an import statement loads: ``from pkg import sub`` loads ``pkg.sub``."""
    subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
    return subs if subs and len(subs) == len(names) else [target] + subs


def _unit(mod: str) -> str:
    return mod[len(CORE) + 1:].split(".")[0]


def _where(mod: str, line: int) -> str:
    return f"{MODULES[mod].relative_to(ROOT)}:{line}"


GRAPH: dict[str, dict[str, int]] = {}     # core module -> {core module it imports: line}
for _m, _p in CORE_MODULES.items():
    for _line, _t, _names in _imports(_m, _p):
        for _dst in _targets(_t, _names):
            if _dst.startswith(CORE + ".") and _dst in MODULES and _dst != _m:
                GRAPH.setdefault(_m, {}).setdefault(_dst, _line)


def test_every_core_module_has_a_layer_and_few_are_flat():
    units = {_unit(m) for m in CORE_MODULES}
    assert not units - RANK.keys(), f"give these units a layer in LAYERS: {units - RANK.keys()}"
    flat = sorted(p.name for p in (PKG / "core").glob("*.py") if p.name != "__init__.py")
    assert len(flat) <= MAX_FLAT_MODULES, f"{len(flat)} flat modules in spam_gui/core: {flat}"


def test_core_imports_no_qt_and_nothing_of_the_app():
    bad = []
    for m, p in CORE_MODULES.items():
        for line, t, names in _imports(m, p):
            if t.startswith(FORBIDDEN) or (t.startswith("spam_gui.") and not t.startswith(CORE)):
                bad.append(f"{_where(m, line)}: imports {t}")
            if t == CORE and _targets(t, names) == [t]:
                bad.append(f"{_where(m, line)}: imports the spam_gui.core package itself")
    assert not bad, "\n".join(bad)


def test_no_upward_import():
    bad = []
    for m, deps in GRAPH.items():
        for dst, line in deps.items():
            a, b = _unit(m), _unit(dst)
            if a != b and RANK.get(b, -1) >= RANK.get(a, -1):
                bad.append(f"{_where(m, line)}: {a} (layer {RANK.get(a)}) imports {dst} "
                           f"({b}, layer {RANK.get(b)})")
    assert not bad, "\n".join(bad)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_cycle_between_units():
    units: dict[str, set[str]] = {}
    for m, deps in GRAPH.items():
        for dst in deps:
            if _unit(m) != _unit(dst):
                units.setdefault(_unit(m), set()).add(_unit(dst))
    assert not _cycles(units)


def test_no_cycle_between_modules():
    cycles = _cycles({m: set(d) for m, d in GRAPH.items()})
    assert not cycles, "\n".join(" <-> ".join(c) for c in cycles)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_private_name_crosses_a_module():
    bad = []
    for m, p in MODULES.items():
        tree = ast.parse(p.read_text(encoding="utf-8"))
        aliases = {}
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("spam_gui"):
                bad += [f"{_where(m, n.lineno)}: from {n.module} import {a.name}"
                        for a in n.names if _private(a.name)]
                aliases.update({a.asname or a.name: f"{n.module}.{a.name}" for a in n.names
                                if f"{n.module}.{a.name}" in MODULES})
            elif isinstance(n, ast.Import):
                aliases.update({a.asname: a.name for a in n.names
                                if a.asname and a.name.startswith("spam_gui")})
        for n in ast.walk(tree):
            if (isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
                    and n.value.id in aliases and _private(n.attr)):
                bad.append(f"{_where(m, n.lineno)}: {aliases[n.value.id]}.{n.attr}")
    assert not bad, "\n".join(bad)


def _defined(path: Path) -> set[str]:
    """Names a module binds itself at its top level (imports of other packages included)."""
    names: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))

    def walk(body: list[ast.stmt]) -> None:
        for n in body:
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(n.name)
            elif isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                for t in (n.targets if isinstance(n, ast.Assign) else [n.target]):
                    names.update(x.id for x in ast.walk(t) if isinstance(x, ast.Name))
            elif isinstance(n, ast.Import):
                names.update((a.asname or a.name).split(".")[0] for a in n.names)
            elif isinstance(n, ast.ImportFrom) and not (n.module or "").startswith("spam_gui"):
                names.update(a.asname or a.name for a in n.names)
            elif isinstance(n, (ast.If, ast.Try, ast.With)):
                walk(n.body)
                walk(getattr(n, "orelse", []))
                for h in getattr(n, "handlers", []):
                    walk(h.body)
    walk(tree.body)
    return names


def test_names_are_imported_from_where_they_are_defined():
    defined = {m: _defined(p) for m, p in CORE_MODULES.items()}
    bad = []
    for m, p in MODULES.items():
        for line, t, names in _imports(m, p):
            if t not in defined:
                continue
            for n in names:
                if n in defined[t] or f"{t}.{n}" in MODULES:
                    continue
                if MODULES[t].name == "__init__.py":
                    continue          # a package gathering its sub-modules' names
                bad.append(f"{_where(m, line)}: {n} is not defined in {t}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("name", ["Spam", "SegmentationResult", "builtin_prior"])
def test_the_core_package_names_stay_importable(name):
    import spam_gui.core

    assert name in spam_gui.core.__all__
    assert getattr(spam_gui.core, name) is not None


def test_importing_the_core_and_its_packages_loads_neither_qt_nor_torch():
    packages = sorted(m for m, p in CORE_MODULES.items()
                      if p.name == "__init__.py" and m.count(".") == 2)   # io, engine, prior, ...
    code = ("import sys, spam_gui.core, " + ", ".join(packages) + "; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'torch')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
