"""Classes: :class:`LabelClass`, the immutable :class:`ClassList`, ``classes.json`` and
labelme's ``labels.txt``."""

from __future__ import annotations

import colorsys
import json
import os
import re
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from spam_gui.core.errors import SpamError
from spam_gui.core.io.images import atomic_write_bytes

__all__ = ["CLASSES_FILE", "CLASS_PALETTE", "MAX_ID", "AnnotationError", "ClassList",
           "LabelClass", "auto_color", "color_table", "encode_classes", "read_classes", "read_labels_txt",
           "write_classes"]

CLASSES_FILE = "classes.json"
"""The class list's file name, in the annotation folder."""
MAX_ID = 65535
"""The largest class or instance id (the maps are 16-bit)."""

CLASS_PALETTE: tuple[str, ...] = (
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6", "#bcf60c",
    "#fabebe", "#008080", "#e6beff", "#9a6324", "#fffac8", "#800000", "#aaffc3", "#808000",
    "#ffd8b1", "#000075", "#808080", "#ffffff",
)
"""The colours given to new classes, in order: 20 distinct colours (Trubetskoy's list without
its yellow, #ffe119, which is the boundaries' yellow, and with white); past them, colours
spread around the hue circle by the golden ratio."""

_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
_LABELME_SKIP = ("__ignore__", "_background_")


class AnnotationError(SpamError):
    """A class list or annotation file that cannot be used; the message names the file."""


def _check_color(color: object, where: str) -> str:
    if not isinstance(color, str) or not _COLOR_RE.match(color):
        raise AnnotationError(f"{where}: colour {color!r} is not of the form '#rrggbb'")
    return color.lower()


def _check_name(name: object, where: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise AnnotationError(f"{where}: a class name must be a non-empty text")
    name = name.strip()
    if any(ch in name for ch in "\r\n\t"):
        raise AnnotationError(f"{where}: class name {name!r} holds a line break or tab")
    return name


def _check_id(cid: object, where: str) -> int:
    if isinstance(cid, bool) or not isinstance(cid, (int, np.integer)) or not 1 <= int(cid) <= MAX_ID:
        raise AnnotationError(f"{where}: class id {cid!r} must be a whole number from 1 to {MAX_ID}")
    return int(cid)


def _palette_color(n: int) -> str:
    """The ``n``-th candidate (0-based) of the golden-ratio hue walk that follows the fixed
    list; it repeats itself after a few thousand colours (see :func:`auto_color`)."""
    if n < len(CLASS_PALETTE):
        return CLASS_PALETTE[n]
    hue = ((n - len(CLASS_PALETTE)) * 0.618033988749895 + 0.11) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.65 + 0.3 * ((n // 7) % 2), 0.9 - 0.25 * ((n // 3) % 2))
    return "#{:02x}{:02x}{:02x}".format(round(r * 255), round(g * 255), round(b * 255))


_HUE_WALK_END = 17666
"""The hue walk gives its last new colour (the 3,824th distinct one) at candidate 17,665; past
it the automatic colours come from :func:`_spread_color`."""
_AUTO: list[str] = []
_AUTO_SEEN: set[str] = set()
_AUTO_NEXT = [0]          # the next candidate to try
_AUTO_LOCK = threading.Lock()


def _spread_color(j: int) -> str:
    """The ``j``-th colour of a walk through all 2**24 colours: ``j * 0x9E3779`` (an odd number,
    so the walk is a permutation of 0 .. 2**24 - 1, each colour once)."""
    v = (j * 0x9E3779 + 0x5BD1E9) & 0xFFFFFF
    return f"#{v:06x}"


def _too_dark(color: str) -> bool:
    r, g, b = int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)
    return max(r, g, b) < 96


def auto_color(k: int) -> str:
    """The ``k``-th (0-based) automatic class colour; the colours are all distinct, for any
    ``k`` below 2**23 (far more than the 65,535 class ids).

    First the 20 colours of :data:`CLASS_PALETTE`, then the golden-ratio hue walk (its 3,804
    distinct colours, in the order they first appear), then a permutation of all 24-bit
    colours without the darkest (those black-like on the overlay). Computed once, in order,
    and kept: the ``k``-th colour costs O(1) after the first call that reaches it.
    """
    if k < len(_AUTO):
        return _AUTO[k]
    with _AUTO_LOCK:
        while len(_AUTO) <= k:
            n = _AUTO_NEXT[0]
            _AUTO_NEXT[0] = n + 1
            c = _palette_color(n) if n < _HUE_WALK_END else _spread_color(n - _HUE_WALK_END)
            if n >= _HUE_WALK_END and _too_dark(c):
                continue
            if c not in _AUTO_SEEN:
                _AUTO_SEEN.add(c)
                _AUTO.append(c)
    return _AUTO[k]


@dataclass(frozen=True)
class LabelClass:
    """One class: its id (1..65535, the value in the class map), name and colour ``#rrggbb``."""

    id: int
    name: str
    color: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", _check_id(self.id, "class"))
        object.__setattr__(self, "name", _check_name(self.name, f"class {self.id}"))
        object.__setattr__(self, "color", _check_color(self.color, f"class {self.name!r}"))

    @property
    def rgb(self) -> tuple[int, int, int]:
        """The colour as ``(r, g, b)`` in 0..255."""
        c = self.color
        return int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)

    def to_json(self) -> dict[str, Any]:
        """``{"id": ..., "name": ..., "color": "#rrggbb"}``."""
        return {"id": self.id, "name": self.name, "color": self.color}


@dataclass(frozen=True)
class ClassList:
    """The classes of a folder, in display order; immutable (every edit returns a new list).

    Ids are unique (1..65535), names unique (compared exactly, surrounding blanks removed).
    Editing methods raise :class:`KeyError` for an unknown id and :class:`AnnotationError` for
    a name or colour that cannot be used (empty, taken, not ``#rrggbb``).
    """

    classes: tuple[LabelClass, ...] = ()
    _by_id: dict[int, LabelClass] = field(default_factory=dict, init=False, repr=False,
                                          compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(self.classes))
        by_id: dict[int, LabelClass] = {}
        names: set[str] = set()
        for c in self.classes:
            if not isinstance(c, LabelClass):
                raise TypeError(f"expected LabelClass, got {type(c).__name__}")
            if c.id in by_id:
                raise AnnotationError(f"class id {c.id} is used twice ({by_id[c.id].name!r} and "
                                      f"{c.name!r})")
            if c.name in names:
                raise AnnotationError(f"class name {c.name!r} is used twice")
            by_id[c.id] = c
            names.add(c.name)
        object.__setattr__(self, "_by_id", by_id)

    # -- reading
    def __iter__(self) -> Iterator[LabelClass]:
        return iter(self.classes)

    def __len__(self) -> int:
        return len(self.classes)

    def __contains__(self, class_id: object) -> bool:
        return class_id in self._by_id

    @property
    def ids(self) -> tuple[int, ...]:
        """The ids, in display order."""
        return tuple(c.id for c in self.classes)

    @property
    def max_id(self) -> int:
        """The largest id (0 for an empty list)."""
        return max(self._by_id, default=0)

    def by_id(self, class_id: int) -> LabelClass | None:
        """The class of this id, or None."""
        return self._by_id.get(int(class_id))

    def by_name(self, name: str) -> LabelClass | None:
        """The class of this name (surrounding blanks ignored), or None."""
        name = name.strip()
        return next((c for c in self.classes if c.name == name), None)

    def index_of(self, class_id: int) -> int:
        """The display position of a class; :class:`KeyError` for an unknown id."""
        for i, c in enumerate(self.classes):
            if c.id == class_id:
                return i
        raise KeyError(class_id)

    def next_color(self) -> str:
        """The colour :meth:`add` gives a class when none is named: the first automatic colour
        (:func:`auto_color`) no class uses."""
        used = {c.color for c in self.classes}
        k = 0
        while auto_color(k) in used:
            k += 1
        return auto_color(k)

    # -- editing (each returns a new list)
    def add(self, name: str, color: str | None = None, class_id: int | None = None) -> ClassList:
        """A list with a new class at the end: id ``max + 1`` (or ``class_id``), colour
        ``color`` or :meth:`next_color`. The new class is ``result.classes[-1]``."""
        return self.add_many([(name, color, class_id)])

    def add_many(self, entries: Iterable[tuple[str, str | None, int | None]],
                 where: Callable[[int], str] | None = None) -> ClassList:
        """A list with new classes at the end, in one pass (thousands of classes in
        milliseconds): each entry ``(name, color or None, class_id or None)`` as :meth:`add`
        takes it, the automatic colours given in turn to the entries without one.

        :class:`AnnotationError` for the first entry that cannot be added; its message starts
        with ``where(i)`` (``i`` the entry's 0-based position) when ``where`` is given.
        """
        classes = list(self.classes)
        by_id = dict(self._by_id)
        names = {c.name for c in classes}
        used = {c.color for c in classes}
        top = self.max_id
        k = 0                      # every automatic colour before k is used
        for i, (name, color, class_id) in enumerate(entries):
            try:
                name = _check_name(name, "new class")
                if name in names:
                    raise AnnotationError(f"a class named {name!r} exists already")
                cid = top + 1 if class_id is None else _check_id(class_id, "new class")
                if cid > MAX_ID:
                    raise AnnotationError(f"no class id left (ids go up to {MAX_ID})")
                if cid in by_id:
                    raise AnnotationError(f"class id {cid} is used already by "
                                          f"{by_id[cid].name!r}")
                if color is None:
                    while auto_color(k) in used:
                        k += 1
                    col = auto_color(k)
                else:
                    col = _check_color(color, f"class {name!r}")
            except AnnotationError as exc:
                if where is None:
                    raise
                raise AnnotationError(f"{where(i)}: {exc}") from None
            c = LabelClass(cid, name, col)
            classes.append(c)
            by_id[cid] = c
            names.add(name)
            used.add(col)
            top = max(top, cid)
        return ClassList(tuple(classes))

    def _replaced(self, class_id: int, new: LabelClass) -> ClassList:
        i = self.index_of(class_id)
        return ClassList(self.classes[:i] + (new,) + self.classes[i + 1:])

    def rename(self, class_id: int, name: str) -> ClassList:
        """A list where class ``class_id`` is called ``name``."""
        old = self.classes[self.index_of(class_id)]
        name = _check_name(name, f"class {class_id}")
        other = self.by_name(name)
        if other is not None and other.id != class_id:
            raise AnnotationError(f"a class named {name!r} exists already")
        return self._replaced(class_id, replace(old, name=name))

    def recolor(self, class_id: int, color: str) -> ClassList:
        """A list where class ``class_id`` has colour ``color`` (``#rrggbb``)."""
        old = self.classes[self.index_of(class_id)]
        return self._replaced(class_id, replace(old, color=_check_color(color, f"class {old.name!r}")))

    def move(self, class_id: int, new_index: int) -> ClassList:
        """A list where class ``class_id`` is at display position ``new_index`` (clamped to
        the list; ids do not change)."""
        i = self.index_of(class_id)
        rest = list(self.classes[:i] + self.classes[i + 1:])
        j = min(max(int(new_index), 0), len(rest))
        rest.insert(j, self.classes[i])
        return ClassList(tuple(rest))

    def remove(self, class_id: int) -> ClassList:
        """A list without class ``class_id`` (the pixels using it: :func:`remove_class`)."""
        i = self.index_of(class_id)
        return ClassList(self.classes[:i] + self.classes[i + 1:])

    # -- files
    def to_json(self) -> dict[str, Any]:
        """``{"classes": [{"id": 1, "name": "sky", "color": "#87ceeb"}, ...]}``."""
        return {"classes": [c.to_json() for c in self.classes]}

    @classmethod
    def from_json(cls, data: object, source: str | os.PathLike[str] = "classes") -> ClassList:
        """Validate a parsed ``classes.json``; :class:`AnnotationError` naming ``source`` and the
        entry at fault (not a list, a missing key, an id out of 1..65535 or used twice, an
        empty or repeated name, a colour not ``#rrggbb``)."""
        src = str(source)
        if not isinstance(data, dict) or not isinstance(data.get("classes"), list):
            raise AnnotationError(f"{src}: expected an object with a list 'classes' "
                                  '({"classes": [{"id": 1, "name": ..., "color": "#rrggbb"}]})')
        out: list[LabelClass] = []
        ids: dict[int, str] = {}
        names: set[str] = set()
        for n, entry in enumerate(data["classes"], start=1):
            where = f"{src}: class entry {n}"
            if not isinstance(entry, dict):
                raise AnnotationError(f"{where} is not an object")
            missing = [k for k in ("id", "name", "color") if k not in entry]
            if missing:
                raise AnnotationError(f"{where} has no {', '.join(repr(k) for k in missing)}")
            cid = _check_id(entry["id"], where)
            name = _check_name(entry["name"], where)
            color = _check_color(entry["color"], where)
            if cid in ids:
                raise AnnotationError(f"{where}: id {cid} is used twice ({ids[cid]!r} and {name!r})")
            if name in names:
                raise AnnotationError(f"{where}: name {name!r} is used twice")
            ids[cid] = name
            names.add(name)
            out.append(LabelClass(cid, name, color))
        return cls(tuple(out))

    @classmethod
    def from_names(cls, names: Iterable[str]) -> ClassList:
        """Classes 1, 2, ... with these names and the automatic colours."""
        return cls().add_many((name, None, None) for name in names)


def color_table(classes: ClassList, size: int | None = None) -> np.ndarray:
    """Colours indexed by class id: ``(size, 3)`` uint8 (``size`` defaults to ``max_id + 1``),
    black for 0 and for ids no class has; for the overlay and the palette PNG."""
    n = classes.max_id + 1 if size is None else int(size)
    table = np.zeros((max(n, 1), 3), np.uint8)
    for c in classes:
        if c.id < n:
            table[c.id] = c.rgb
    return table


def _read_text(path: Path, what: str) -> str:
    if not path.is_file():
        raise AnnotationError(f"{path}: no such {what} file")
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AnnotationError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise AnnotationError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def read_classes(path: str | os.PathLike[str]) -> ClassList:
    """Read a ``classes.json``; :class:`AnnotationError` naming the file when it is missing,
    not valid JSON (with the line and column) or not a valid class list."""
    p = Path(path)
    text = _read_text(p, "class list")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AnnotationError(f"{p}: not valid JSON (line {exc.lineno}, column {exc.colno}: "
                              f"{exc.msg})") from None
    return ClassList.from_json(data, p)


def encode_classes(classes: ClassList) -> bytes:
    """The bytes of ``classes.json`` (indented UTF-8 JSON)."""
    return (json.dumps(classes.to_json(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def write_classes(path: str | os.PathLike[str], classes: ClassList) -> Path:
    """Write ``classes.json`` atomically."""
    return atomic_write_bytes(path, encode_classes(classes))


def read_labels_txt(path: str | os.PathLike[str]) -> ClassList:
    """Read labelme's ``--labels`` file (one class name a line) as classes 1, 2, ... in order,
    with the automatic colours. Blank lines and labelme's ``__ignore__`` / ``_background_``
    are skipped; a name given twice raises :class:`AnnotationError` naming the file and line."""
    p = Path(path)
    names: list[str] = []
    seen: dict[str, int] = {}
    for n, line in enumerate(_read_text(p, "labels").splitlines(), start=1):
        name = line.strip()
        if not name or name in _LABELME_SKIP:
            continue
        if name in seen:
            raise AnnotationError(f"{p}: line {n}: class {name!r} is already on line {seen[name]}")
        seen[name] = n
        names.append(name)
    if not names:
        raise AnnotationError(f"{p}: names no class")
    return ClassList.from_names(names)
