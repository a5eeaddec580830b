"""Classes and class / instance maps: annotations kept as pixels, painted by superpixel.

An annotation of one image is two maps of its size (:class:`Annotation`):

* ``class_map`` (H, W) uint16: the class id of each pixel, 0 = unlabelled;
* ``instance_map`` (H, W) uint16: the instance id of each pixel, 0 = no instance. Every
  instance has exactly one class (its pixels all carry the same non-zero class id).

Superpixels (and prior objects) are only the brush: :class:`LabelIndex` indexes a label map
once (each label's pixels, through one stable argsort, and its bounding box) so that painting a
few superpixels touches only their pixels, however large the image. Every paint operation
returns the bounding box of the pixels it changed (``(y0, y1, x0, x1)``, half-open like slices)
or None, and can record what it overwrote in a :class:`StrokeRecorder`, whose
:class:`AnnotationPatch` undoes and redoes a whole stroke by its bounding box, without copying
the full maps.

The classes of a folder are a :class:`ClassList` (immutable, in display order), stored as
``classes.json`` (:func:`read_classes`, :func:`write_classes`) or imported from labelme's
``labels.txt`` (:func:`read_labels_txt`). :func:`write_annotation` and :func:`read_annotation`
store one image's maps as ``<stem>_classes.png`` (an 8-bit palette PNG with the classes'
colours when every id is at most 255, else 16-bit grey) and ``<stem>_instances.png`` (16-bit),
in the folder :data:`LABEL_FOLDER` beside the other outputs by default.

Qt-free; numpy, scipy and PIL only.
"""

from __future__ import annotations

import colorsys
import io
import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
from PIL import Image

from spam_gui.core.errors import SpamError
from spam_gui.core.image_io import (
    ImageReadError,
    commit_staged,
    discard_staged,
    read_label_map,
    stage_bytes,
    sync_folder,
)

__all__ = [
    "CLASSES_FILE",
    "CLASS_PALETTE",
    "CLASS_SUFFIX",
    "INSTANCE_SUFFIX",
    "LABEL_FOLDER",
    "MAX_ID",
    "Annotation",
    "AnnotationError",
    "AnnotationPatch",
    "BBox",
    "ClassList",
    "LabelClass",
    "LabelIndex",
    "StrokeRecorder",
    "annotation_paths",
    "check_one_class_per_instance",
    "class_pixel_counts",
    "color_table",
    "disk_mask",
    "encode_annotation",
    "encode_classes",
    "erase_labels",
    "find_annotations",
    "instance_classes",
    "new_instance_id",
    "paint_disk",
    "paint_labels",
    "paint_mask",
    "paint_segment",
    "read_annotation",
    "read_classes",
    "read_labels_txt",
    "remove_class",
    "write_annotation",
    "write_classes",
]

LABEL_FOLDER = "spam_labels"
"""The default folder of the annotation files, beside the other outputs (one definition)."""
CLASSES_FILE = "classes.json"
"""The class list's file name, in the annotation folder."""
CLASS_SUFFIX = "_classes.png"
"""``<stem>_classes.png``: the class map of image ``<stem>``."""
INSTANCE_SUFFIX = "_instances.png"
"""``<stem>_instances.png``: the instance map of image ``<stem>``."""
MAX_ID = 65535
"""The largest class or instance id (the maps are 16-bit)."""

CLASS_PALETTE: tuple[str, ...] = (
    "#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
    "#bcf60c", "#fabebe", "#008080", "#e6beff", "#9a6324", "#fffac8", "#800000", "#aaffc3",
    "#808000", "#ffd8b1", "#000075", "#808080",
)
"""The colours given to new classes, in order: 20 distinct colours (Trubetskoy's list); past
them, colours spread around the hue circle by the golden ratio."""

BBox = tuple[int, int, int, int]
"""A bounding box ``(y0, y1, x0, x1)``: rows ``y0 <= y < y1``, columns ``x0 <= x < x1``."""

_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
_LABELME_SKIP = ("__ignore__", "_background_")


class AnnotationError(SpamError):
    """A class list or annotation file that cannot be used; the message names the file."""


# --------------------------------------------------------------------------------------------
# classes


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
    """The ``n``-th colour (0-based) of the automatic colours."""
    if n < len(CLASS_PALETTE):
        return CLASS_PALETTE[n]
    hue = ((n - len(CLASS_PALETTE)) * 0.618033988749895 + 0.11) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.65 + 0.3 * ((n // 7) % 2), 0.9 - 0.25 * ((n // 3) % 2))
    return "#{:02x}{:02x}{:02x}".format(round(r * 255), round(g * 255), round(b * 255))


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
        """The colour :meth:`add` gives a class when none is named: the first palette colour
        no class uses."""
        used = {c.color for c in self.classes}
        n = 0
        while _palette_color(n) in used:
            n += 1
        return _palette_color(n)

    # -- editing (each returns a new list)
    def add(self, name: str, color: str | None = None, class_id: int | None = None) -> ClassList:
        """A list with a new class at the end: id ``max + 1`` (or ``class_id``), colour
        ``color`` or :meth:`next_color`. The new class is ``result.classes[-1]``."""
        name = _check_name(name, "new class")
        if self.by_name(name) is not None:
            raise AnnotationError(f"a class named {name!r} exists already")
        cid = self.max_id + 1 if class_id is None else _check_id(class_id, "new class")
        if cid > MAX_ID:
            raise AnnotationError(f"no class id left (ids go up to {MAX_ID})")
        if cid in self._by_id:
            raise AnnotationError(f"class id {cid} is used already by {self._by_id[cid].name!r}")
        col = self.next_color() if color is None else _check_color(color, f"class {name!r}")
        return ClassList(self.classes + (LabelClass(cid, name, col),))

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
        out = cls()
        for name in names:
            out = out.add(name)
        return out


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
    p = Path(path)
    return commit_staged(stage_bytes(p, encode_classes(classes)), p)


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


# --------------------------------------------------------------------------------------------
# label index (the brush)


class LabelIndex:
    """Each label's bounding box and pixel count in a label map, computed once.

    ``pixels(ids)`` then compares only the labels' boxes (a superpixel's box is a few times
    its size), so painting a superpixel costs its own size, not the image's; building the
    index is one pass (``scipy.ndimage.find_objects`` and a ``bincount``) and it holds no
    per-pixel array of its own.

    Parameters
    ----------
    labels:
        (H, W) non-negative integer label map (superpixels 1..N, or prior objects with
        0 = uncertain). Kept by reference: do not change it while the index is in use.
    """

    def __init__(self, labels: np.ndarray) -> None:
        lab = np.asarray(labels)
        if lab.ndim != 2:
            raise ValueError(f"expected an (H, W) label map, got shape {lab.shape}")
        if not np.issubdtype(lab.dtype, np.integer) and lab.dtype != bool:
            raise ValueError(f"labels must be integers, got {lab.dtype}")
        if lab.size and int(lab.min()) < 0:
            raise ValueError("labels must be non-negative")
        self.shape: tuple[int, int] = (int(lab.shape[0]), int(lab.shape[1]))
        self.labels = lab
        top = int(lab.max()) if lab.size else 0
        self.n_labels = top
        # sparse large ids (a prior's object ids, say): work on their ranks instead
        self._values: np.ndarray | None = None
        dense = lab
        if top > max(MAX_ID, 4 * lab.size) or (lab.dtype.itemsize > 4 and top >= 2**31):
            values, ranks = np.unique(lab.ravel(), return_inverse=True)
            self._shift = 0 if values[0] == 0 else 1
            self._values = values
            dense = (ranks.reshape(self.shape) + self._shift).astype(np.int32)
            top = int(dense.max())
        elif dense.dtype == bool:
            dense = dense.astype(np.uint8)
        self._dense = dense
        self._counts = np.bincount(dense.ravel(), minlength=top + 1).astype(np.int64)
        self._bbox = np.full((top + 1, 4), -1, np.int64)
        from scipy import ndimage

        for i, sl in enumerate(ndimage.find_objects(dense), start=1):
            if sl is not None:
                self._bbox[i] = (sl[0].start, sl[0].stop, sl[1].start, sl[1].stop)
        if self._counts[0]:
            rows = np.flatnonzero((dense == 0).any(axis=1))
            cols = np.flatnonzero((dense == 0).any(axis=0))
            self._bbox[0] = (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1)

    def _ids(self, ids: int | Iterable[int]) -> np.ndarray:
        """The internal indices of the labels ``ids`` present in the map."""
        arr = np.unique(np.atleast_1d(np.asarray(ids if not isinstance(ids, (set, frozenset))
                                                 else sorted(ids), dtype=np.int64)))
        arr = arr[(arr >= 0) & (arr <= self.n_labels)]
        if self._values is not None:
            pos = np.minimum(np.searchsorted(self._values, arr), len(self._values) - 1)
            arr = pos[self._values[pos] == arr] + self._shift
        return arr[self._counts[arr] > 0]

    def count(self, label: int) -> int:
        """The number of pixels of ``label``."""
        return self.count_of(int(label))

    def count_of(self, ids: int | Iterable[int]) -> int:
        """The number of pixels of the labels ``ids``."""
        return int(self._counts[self._ids(ids)].sum())

    def pixels(self, ids: int | Iterable[int]) -> np.ndarray:
        """The flat pixel indices (row * W + column, int64, increasing for one label) of the
        labels ``ids`` (ids not in the map give none)."""
        w = self.shape[1]
        chunks = []
        for i in self._ids(ids).tolist():
            y0, y1, x0, x1 = (int(v) for v in self._bbox[i])
            ys, xs = np.nonzero(self._dense[y0:y1, x0:x1] == i)
            chunks.append((ys + y0).astype(np.int64) * w + (xs + x0))
        if not chunks:
            return np.zeros(0, np.int64)
        return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)

    def bbox(self, ids: int | Iterable[int]) -> BBox | None:
        """The bounding box of the labels ``ids``, None when they have no pixel."""
        boxes = self._bbox[self._ids(ids)]
        if not len(boxes):
            return None
        return (int(boxes[:, 0].min()), int(boxes[:, 1].max()),
                int(boxes[:, 2].min()), int(boxes[:, 3].max()))

    def label_at(self, y: int, x: int) -> int:
        """The label under pixel (y, x)."""
        return int(self.labels[y, x])


# --------------------------------------------------------------------------------------------
# annotation and painting


def _check_value(value: int, what: str) -> int:
    v = int(value)
    if not 0 <= v <= MAX_ID:
        raise ValueError(f"{what} {v} out of 0..{MAX_ID}")
    return v


class Annotation:
    """The class map and instance map of one image.

    Mutate it only through this module's functions (:func:`paint_labels`, :func:`paint_mask`,
    :func:`paint_disk`, :func:`remove_class`, :class:`AnnotationPatch`): they keep the per-class
    pixel counts and the instance -> class table up to date. After changing the arrays by hand,
    call :meth:`invalidate`.

    Parameters
    ----------
    class_map, instance_map:
        (H, W) arrays of ids in 0..65535 (copied to C-contiguous uint16 unless they are already).
        ``instance_map`` defaults to no instance.
    """

    def __init__(self, class_map: np.ndarray, instance_map: np.ndarray | None = None) -> None:
        cm = np.asarray(class_map)
        if cm.ndim != 2:
            raise ValueError(f"expected an (H, W) class map, got shape {cm.shape}")
        im = np.zeros(cm.shape, np.uint16) if instance_map is None else np.asarray(instance_map)
        if im.shape != cm.shape:
            raise ValueError(f"instance map {im.shape} and class map {cm.shape} differ in size")
        for arr, what in ((cm, "class"), (im, "instance")):
            if arr.size and (int(arr.min()) < 0 or int(arr.max()) > MAX_ID):
                raise ValueError(f"{what} ids must lie in 0..{MAX_ID}")
        self.class_map: np.ndarray = np.ascontiguousarray(cm, dtype=np.uint16)
        self.instance_map: np.ndarray = np.ascontiguousarray(im, dtype=np.uint16)
        self.invalidate()

    @classmethod
    def empty(cls, shape: tuple[int, int]) -> Annotation:
        """An annotation with nothing labelled."""
        return cls(np.zeros(shape[:2], np.uint16), np.zeros(shape[:2], np.uint16))

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.class_map.shape[0]), int(self.class_map.shape[1]))

    def copy(self) -> Annotation:
        return Annotation(self.class_map.copy(), self.instance_map.copy())

    def is_empty(self) -> bool:
        """Whether no pixel has a class."""
        return not bool(self._class_counts()[1:].any())

    def invalidate(self) -> None:
        """Forget the cached counts and instance table (after editing the arrays directly)."""
        self._counts: np.ndarray | None = None
        self._inst_class: dict[int, int] | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Annotation):
            return NotImplemented
        return (np.array_equal(self.class_map, other.class_map)
                and np.array_equal(self.instance_map, other.instance_map))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Annotation({self.shape[0]}x{self.shape[1]}, classes {sorted(class_pixel_counts(self))})"

    # -- caches
    def _class_counts(self) -> np.ndarray:
        if self._counts is None:
            self._counts = np.bincount(self.class_map.ravel(), minlength=MAX_ID + 1).astype(np.int64)
        return self._counts

    def _instances(self) -> dict[int, int]:
        if self._inst_class is None:
            self._inst_class = instance_classes(self)
        return self._inst_class

    def _update_counts(self, old: np.ndarray, new: np.ndarray | int) -> None:
        """Pixels of classes ``old`` became ``new`` (an array of the same size, or one class)."""
        if self._counts is None or not old.size:
            return
        _add_counts(self._counts, old, -1)
        if isinstance(new, (int, np.integer)):
            self._counts[int(new)] += old.size
        else:
            _add_counts(self._counts, new, 1)

    def _claim(self, instance_id: int, class_id: int) -> None:
        if instance_id == 0:
            return
        table = self._instances()
        have = table.get(instance_id)
        if have is not None and have != class_id:
            raise ValueError(f"instance {instance_id} has class {have}, not {class_id}: an "
                             "instance has one class (start a new instance)")
        table[instance_id] = class_id

    def _note_instances(self, cls: np.ndarray, inst: np.ndarray) -> None:
        """Register the instances written by a patch (their classes are consistent)."""
        if self._inst_class is None:
            return
        inst, cls = inst.ravel(), cls.ravel()
        nz = np.flatnonzero(inst)
        if not nz.size:
            return
        where = np.zeros(MAX_ID + 1, np.int64)   # instance -> one of its pixels
        where[inst[nz]] = nz
        present = np.flatnonzero(where)
        if inst[0] != 0:
            present = np.union1d(present, [int(inst[0])])
        for i, c in zip(present.tolist(), cls[where[present]].tolist()):
            self._inst_class[i] = c


def _add_counts(counts: np.ndarray, values: np.ndarray, sign: int) -> None:
    """``counts[v] += sign`` for each value (a bincount for many values, else a few adds)."""
    if values.size > 4096:
        counts += sign * np.bincount(values.ravel(), minlength=counts.size)
    else:
        v, n = np.unique(values, return_counts=True)
        counts[v.astype(np.int64)] += sign * n


def _present(ids: np.ndarray) -> np.ndarray:
    """The non-zero values of a uint16 map, increasing (one bincount, no sort)."""
    found = np.flatnonzero(np.bincount(ids.ravel(), minlength=1))
    return found[found != 0].astype(np.int64)


def instance_classes(ann: Annotation) -> dict[int, int]:
    """Instance id -> its class id, for every instance present (the first class met when the
    map breaks the one-class rule; see :func:`check_one_class_per_instance`)."""
    inst = ann.instance_map
    ids = _present(inst)
    if not ids.size:
        return {}
    from scipy import ndimage

    cls = ndimage.maximum(ann.class_map, labels=inst, index=ids)
    return {int(i): int(c) for i, c in zip(ids.tolist(), np.atleast_1d(cls).tolist())}


def check_one_class_per_instance(ann: Annotation, source: str | os.PathLike[str] = "annotation"
                                 ) -> None:
    """Raise :class:`AnnotationError` naming ``source`` when an instance has pixels of two
    classes, or pixels without a class."""
    inst = ann.instance_map
    ids = _present(inst)
    if not ids.size:
        return
    from scipy import ndimage
    lo = np.atleast_1d(ndimage.minimum(ann.class_map, labels=inst, index=ids))
    hi = np.atleast_1d(ndimage.maximum(ann.class_map, labels=inst, index=ids))
    bad = np.nonzero((lo != hi) | (lo == 0))[0]
    if len(bad):
        i = int(bad[0])
        what = (f"pixels without a class (class 0) and of class {int(hi[i])}" if lo[i] == 0
                else f"pixels of classes {int(lo[i])} and {int(hi[i])}")
        more = f" ({len(bad)} instances break the rule)" if len(bad) > 1 else ""
        raise AnnotationError(f"{source}: instance {int(ids[i])} has {what}; every instance "
                              f"must have exactly one class{more}")


def class_pixel_counts(ann: Annotation) -> dict[int, int]:
    """Class id -> number of pixels, for each class present (0, unlabelled, left out)."""
    counts = ann._class_counts()
    ids = np.nonzero(counts)[0]
    return {int(i): int(counts[i]) for i in ids if i != 0}


def new_instance_id(ann: Annotation) -> int:
    """An instance id no pixel uses (nor any instance painted since the maps were loaded): the
    largest + 1, else the smallest free one. :class:`AnnotationError` when all 65535 are used."""
    used = ann._instances()
    top = max(used, default=0)
    if top < MAX_ID:
        return top + 1
    free = np.setdiff1d(np.arange(1, MAX_ID + 1), np.fromiter(used, np.int64))
    if not len(free):
        raise AnnotationError(f"no instance id left: an image holds at most {MAX_ID} instances")
    return int(free[0])


def _flat_bbox(idx: np.ndarray, width: int) -> BBox:
    ys = idx // width
    xs = idx - ys * width
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


def _values(class_id: int, instance_id: int) -> tuple[int, int]:
    class_id = _check_value(class_id, "class id")
    instance_id = _check_value(instance_id, "instance id")
    return class_id, (0 if class_id == 0 else instance_id)


def _write_flat(ann: Annotation, idx: np.ndarray, class_id: int, instance_id: int,
                recorder: StrokeRecorder | None, box: BBox | None = None) -> BBox | None:
    """Give the flat pixels ``idx`` (class, instance); the bbox of the pixels changed.
    ``box``: the bbox of ``idx`` when known (saves computing it)."""
    class_id, instance_id = _values(class_id, instance_id)
    if idx.size == 0:
        return None
    cflat = ann.class_map.reshape(-1)
    iflat = ann.instance_map.reshape(-1)
    old_c = cflat[idx]
    old_i = iflat[idx]
    changed = (old_c != class_id) | (old_i != instance_id)
    if not changed.all():
        if not changed.any():
            return None
        idx, old_c, old_i = idx[changed], old_c[changed], old_i[changed]
        box = None
    ann._claim(instance_id, class_id)
    if box is None:
        box = _flat_bbox(idx, ann.shape[1])
    if recorder is not None:
        recorder.record(idx, old_c, old_i, box)
    ann._update_counts(old_c, class_id)
    cflat[idx] = class_id
    iflat[idx] = instance_id
    return box


def _write_region(ann: Annotation, box: BBox, mask: np.ndarray, class_id: int,
                  instance_id: int, recorder: StrokeRecorder | None) -> BBox | None:
    """Give the pixels of ``mask`` (the size of ``box``) (class, instance), with boolean
    operations on the box: faster than flat indices when the mask fills much of it."""
    class_id, instance_id = _values(class_id, instance_id)
    y0, y1, x0, x1 = box
    rc = ann.class_map[y0:y1, x0:x1]
    ri = ann.instance_map[y0:y1, x0:x1]
    changed = mask & ((rc != class_id) | (ri != instance_id))
    rows = np.flatnonzero(changed.any(axis=1))
    if not rows.size:
        return None
    ann._claim(instance_id, class_id)
    cols = np.flatnonzero(changed.any(axis=0))
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    box = (y0 + r0, y0 + r1, x0 + c0, x0 + c1)
    changed, rc, ri = changed[r0:r1, c0:c1], rc[r0:r1, c0:c1], ri[r0:r1, c0:c1]
    old_c = rc[changed]
    if recorder is not None:
        recorder.record_region(box, changed, old_c, ri[changed])
    ann._update_counts(old_c, class_id)
    np.copyto(rc, np.uint16(class_id), where=changed)
    np.copyto(ri, np.uint16(instance_id), where=changed)
    return box


def paint_labels(ann: Annotation, index: LabelIndex, ids: int | Iterable[int], class_id: int,
                 instance_id: int = 0, *, recorder: StrokeRecorder | None = None) -> BBox | None:
    """Give every pixel of the labels ``ids`` of ``index`` (superpixels, or prior objects for
    an object fill) the class ``class_id`` and instance ``instance_id``.

    ``class_id`` 0 erases (the instance becomes 0 too). An instance keeps one class: painting
    an instance that has another class raises :class:`ValueError` (take
    :func:`new_instance_id`).

    Parameters
    ----------
    ann:
        The annotation, changed in place.
    index:
        The brush: a :class:`LabelIndex` of a label map of the annotation's size.
    ids:
        One label or several.
    class_id, instance_id:
        The values written (0..65535).
    recorder:
        Records what is overwritten, for one undo step per stroke.

    Returns
    -------
    BBox or None
        The bounding box of the pixels changed; None when none changed.
    """
    if index.shape != ann.shape:
        raise ValueError(f"label index {index.shape} and annotation {ann.shape} differ in size")
    box = index.bbox(ids)
    if box is None:
        _values(class_id, instance_id)
        return None
    y0, y1, x0, x1 = box
    n = index.count_of(ids)
    if n >= _DENSE_MIN and 4 * n >= (y1 - y0) * (x1 - x0):   # a large fill: boolean masks
        lab = index.labels[y0:y1, x0:x1]
        wanted = np.unique(np.atleast_1d(np.asarray(sorted(ids) if isinstance(ids, (set, frozenset))
                                                    else ids, dtype=np.int64)))
        mask = lab == wanted[0] if wanted.size == 1 else np.isin(lab, wanted)
        return _write_region(ann, box, mask, class_id, instance_id, recorder)
    return _write_flat(ann, index.pixels(ids), class_id, instance_id, recorder, box)


_DENSE_MIN = 10_000
"""Above this many pixels filling a quarter of their box, paint by boolean masks on the box."""


def erase_labels(ann: Annotation, index: LabelIndex, ids: int | Iterable[int], *,
                 recorder: StrokeRecorder | None = None) -> BBox | None:
    """Set the pixels of the labels ``ids`` unlabelled (class 0, instance 0)."""
    return paint_labels(ann, index, ids, 0, 0, recorder=recorder)


def _clip_box(box: BBox, shape: tuple[int, int]) -> BBox:
    y0, y1, x0, x1 = box
    return max(0, y0), min(shape[0], y1), max(0, x0), min(shape[1], x1)


def paint_mask(ann: Annotation, bbox: BBox | None, mask: np.ndarray, class_id: int,
               instance_id: int = 0, *, recorder: StrokeRecorder | None = None) -> BBox | None:
    """Give the pixels of a boolean mask the class ``class_id`` and instance ``instance_id``.

    Parameters
    ----------
    ann:
        The annotation, changed in place.
    bbox:
        Where the mask lies, ``(y0, y1, x0, x1)`` inside the image; None: the mask covers the
        whole image.
    mask:
        (y1 - y0, x1 - x0) boolean mask.
    class_id, instance_id, recorder:
        As :func:`paint_labels` (class 0 erases).

    Returns
    -------
    BBox or None
        The bounding box of the pixels changed; None when none changed.
    """
    h, w = ann.shape
    box = (0, h, 0, w) if bbox is None else tuple(int(v) for v in bbox)
    y0, y1, x0, x1 = box
    if not (0 <= y0 <= y1 <= h and 0 <= x0 <= x1 <= w):
        raise ValueError(f"bbox {box} does not lie inside the {h}x{w} image")
    m = np.asarray(mask, dtype=bool)
    if m.shape != (y1 - y0, x1 - x0):
        raise ValueError(f"mask of shape {m.shape} does not fit bbox {box}")
    if m.size == 0:
        _values(class_id, instance_id)
        return None
    return _write_region(ann, box, m, class_id, instance_id, recorder)


def disk_mask(radius: float) -> np.ndarray:
    """A boolean disk of ``radius`` pixels, centred in a (2r+1) square (r = floor(radius))."""
    r = max(0, int(radius))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return (yy * yy + xx * xx) <= max(radius, 0.5) ** 2


def paint_disk(ann: Annotation, y: int, x: int, radius: float, class_id: int,
               instance_id: int = 0, *, recorder: StrokeRecorder | None = None) -> BBox | None:
    """The pixel brush: give a disk of ``radius`` pixels around (y, x) the class and instance
    (clipped to the image; radius 0 is the one pixel). As :func:`paint_mask` otherwise."""
    disk = disk_mask(radius)
    r = disk.shape[0] // 2
    y, x = int(y), int(x)
    box = _clip_box((y - r, y + r + 1, x - r, x + r + 1), ann.shape)
    if box[0] >= box[1] or box[2] >= box[3]:
        return None
    sub = disk[box[0] - (y - r):box[1] - (y - r), box[2] - (x - r):box[3] - (x - r)]
    return paint_mask(ann, box, sub, class_id, instance_id, recorder=recorder)


def paint_segment(ann: Annotation, start: tuple[int, int], end: tuple[int, int], radius: float,
                  class_id: int, instance_id: int = 0, *,
                  recorder: StrokeRecorder | None = None) -> BBox | None:
    """The pixel brush dragged from ``start`` to ``end`` (each ``(y, x)``): every pixel within
    ``radius`` of the segment (a capsule; :func:`paint_disk` when both ends are one pixel), so a
    fast drag leaves no gaps between pointer events. As :func:`paint_mask` otherwise."""
    (ya, xa), (yb, xb) = (tuple(int(v) for v in start), tuple(int(v) for v in end))
    rad = max(float(radius), 0.5)
    r = int(np.ceil(rad))
    box = _clip_box((min(ya, yb) - r, max(ya, yb) + r + 1, min(xa, xb) - r, max(xa, xb) + r + 1),
                    ann.shape)
    if box[0] >= box[1] or box[2] >= box[3]:
        return None
    yy, xx = np.mgrid[box[0]:box[1], box[2]:box[3]]
    dy, dx = yb - ya, xb - xa
    length2 = dy * dy + dx * dx
    t = (np.clip(((yy - ya) * dy + (xx - xa) * dx) / length2, 0.0, 1.0) if length2
         else np.zeros(yy.shape))
    d2 = (yy - (ya + t * dy)) ** 2 + (xx - (xa + t * dx)) ** 2
    return paint_mask(ann, box, d2 <= rad * rad, class_id, instance_id, recorder=recorder)


def remove_class(ann: Annotation, class_id: int, *, recorder: StrokeRecorder | None = None
                 ) -> BBox | None:
    """Set every pixel of class ``class_id`` unlabelled (class 0, instance 0): what deleting a
    class does to an image. Returns the bounding box changed, or None."""
    if int(class_id) == 0 or ann._class_counts()[int(class_id)] == 0:
        return None
    idx = np.flatnonzero(ann.class_map == int(class_id))
    return _write_flat(ann, idx, 0, 0, recorder)


# --------------------------------------------------------------------------------------------
# undo


@dataclass(frozen=True, eq=False)
class AnnotationPatch:
    """One undo step: the pixels a stroke changed, before and after.

    Two forms, chosen by :meth:`StrokeRecorder.finish` for the smaller memory: *dense*
    (``index`` None; the four arrays are the (y1 - y0, x1 - x0) region of ``bbox``) for a
    stroke that changed most of its box, *sparse* (``index`` the flat pixel indices, row * W +
    column; the arrays their values, 1-D) for one that changed a thin part of it (a long drag
    across the image, a brush stroke).

    Attributes
    ----------
    bbox:
        ``(y0, y1, x0, x1)`` of the pixels changed (what to redraw).
    old_class, old_inst, new_class, new_inst:
        uint16 values before and after.
    index:
        None (dense), or the flat indices of the values (sparse).
    """

    bbox: BBox
    old_class: np.ndarray
    old_inst: np.ndarray
    new_class: np.ndarray
    new_inst: np.ndarray
    index: np.ndarray | None = None

    @property
    def nbytes(self) -> int:
        """The memory the patch holds."""
        arrays = (self.old_class, self.old_inst, self.new_class, self.new_inst, self.index)
        return int(sum(a.nbytes for a in arrays if a is not None))

    @property
    def n_pixels(self) -> int:
        """How many pixels the patch covers."""
        return int(self.old_class.size)

    def _put(self, ann: Annotation, cls: np.ndarray, inst: np.ndarray) -> BBox:
        if self.index is None:
            y0, y1, x0, x1 = self.bbox
            region_c = ann.class_map[y0:y1, x0:x1]
            ann._update_counts(region_c, cls)
            region_c[...] = cls
            ann.instance_map[y0:y1, x0:x1] = inst
        else:
            cflat = ann.class_map.reshape(-1)
            ann._update_counts(cflat[self.index], cls)
            cflat[self.index] = cls
            ann.instance_map.reshape(-1)[self.index] = inst
        ann._note_instances(cls, inst)
        return self.bbox

    def apply(self, ann: Annotation) -> BBox:
        """Redo: write the new values; returns the bbox."""
        return self._put(ann, self.new_class, self.new_inst)

    def revert(self, ann: Annotation) -> BBox:
        """Undo: write the old values; returns the bbox."""
        return self._put(ann, self.old_class, self.old_inst)


class StrokeRecorder:
    """Collects what one stroke (a click, a drag, a fill) overwrites, for one undo step.

    Pass it as ``recorder=`` to every paint call of the stroke, then :meth:`finish` gives the
    :class:`AnnotationPatch` of the whole stroke (or None when nothing changed). Each call
    keeps only the old values of the pixels it changes that the stroke had not changed yet
    (a pixel's value before the stroke is kept once, however often the stroke paints it), so
    recording and finishing cost the pixels painted, not the image.

    Parameters
    ----------
    ann:
        The annotation the stroke paints.
    """

    def __init__(self, ann: Annotation) -> None:
        self.ann = ann
        self._chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._boxes: list[BBox] = []
        self._seen: np.ndarray | None = None    # pixels recorded (allocated lazily, zeroed)
        # a first chunk given as a region (box, mask, old values), kept so until a second one
        self._region: tuple[BBox, np.ndarray, np.ndarray, np.ndarray] | None = None

    def _flatten_region(self) -> None:
        if self._region is None:
            return
        (y0, _, x0, _), mask, oc, oi = self._region
        self._region = None
        ys, xs = np.nonzero(mask)
        idx = (ys + y0).astype(np.int64) * self.ann.shape[1] + (xs + x0)
        self._chunks.append((idx, oc, oi))

    def record(self, idx: np.ndarray, old_class: np.ndarray, old_inst: np.ndarray,
               box: BBox | None = None) -> None:
        """Keep the values the flat pixels ``idx`` have before a paint call changes them
        (called by the paint functions, before they write; ``box``: their bbox, if known)."""
        if not idx.size:
            return
        self._flatten_region()
        if self._chunks:
            if self._seen is None:
                self._seen = np.zeros(self.ann.class_map.size, bool)
                for c in self._chunks:
                    self._seen[c[0]] = True
            fresh = ~self._seen[idx]
            if not fresh.all():
                idx, old_class, old_inst = idx[fresh], old_class[fresh], old_inst[fresh]
                if not idx.size:
                    return
                box = None
            self._seen[idx] = True
        self._chunks.append((idx, np.asarray(old_class, np.uint16),
                             np.asarray(old_inst, np.uint16)))
        self._boxes.append(_flat_bbox(idx, self.ann.shape[1]) if box is None else box)

    def record_region(self, box: BBox, mask: np.ndarray, old_class: np.ndarray,
                      old_inst: np.ndarray) -> None:
        """As :meth:`record`, for the pixels of a boolean ``mask`` over ``box`` (``old_*``:
        their values in row-major order, as ``region[mask]`` gives them)."""
        if self._chunks or self._region is not None:
            y0, _, x0, _ = box
            ys, xs = np.nonzero(mask)
            self.record((ys + y0).astype(np.int64) * self.ann.shape[1] + (xs + x0),
                        old_class, old_inst)
            return
        self._region = (box, mask.copy(), np.asarray(old_class, np.uint16),
                        np.asarray(old_inst, np.uint16))
        self._boxes.append(box)

    @property
    def bbox(self) -> BBox | None:
        """The bounding box of the pixels recorded so far."""
        if not self._boxes:
            return None
        b = np.array(self._boxes)
        return int(b[:, 0].min()), int(b[:, 1].max()), int(b[:, 2].min()), int(b[:, 3].max())

    def finish(self) -> AnnotationPatch | None:
        """The stroke's patch, of the pixels whose value differs from before the stroke
        (None when none does); the recorder is empty afterwards."""
        box = self.bbox
        region, chunks = self._region, self._chunks
        self._region, self._chunks, self._boxes, self._seen = None, [], [], None
        if region is not None:     # one region: the dense patch directly
            (y0, y1, x0, x1), mask, old_c, old_i = region
            rc = self.ann.class_map[y0:y1, x0:x1].copy()
            ri = self.ann.instance_map[y0:y1, x0:x1].copy()
            oc, oi = rc.copy(), ri.copy()
            oc[mask] = old_c
            oi[mask] = old_i
            return AnnotationPatch((y0, y1, x0, x1), oc, oi, rc, ri)
        if not chunks:
            return None
        if len(chunks) == 1:
            idx, old_c, old_i = chunks[0]
        else:
            idx = np.concatenate([c[0] for c in chunks])
            old_c = np.concatenate([c[1] for c in chunks])
            old_i = np.concatenate([c[2] for c in chunks])
        new_c = self.ann.class_map.reshape(-1)[idx]
        new_i = self.ann.instance_map.reshape(-1)[idx]
        diff = (old_c != new_c) | (old_i != new_i)
        if not diff.all():     # painted, then painted back within the stroke
            idx, old_c, old_i, new_c, new_i = (a[diff] for a in (idx, old_c, old_i, new_c, new_i))
            if not idx.size:
                return None
            box = None
        w = self.ann.shape[1]
        y0, y1, x0, x1 = box = _flat_bbox(idx, w) if box is None else box
        area = (y1 - y0) * (x1 - x0)
        if 8 * area > 16 * idx.size:        # sparse is smaller: 16 bytes a pixel, dense 8
            return AnnotationPatch(box, old_c, old_i, new_c, new_i, index=np.array(idx))
        rc = self.ann.class_map[y0:y1, x0:x1].copy()
        ri = self.ann.instance_map[y0:y1, x0:x1].copy()
        oc, oi = rc.copy(), ri.copy()
        ys, xs = np.divmod(idx, w)
        oc[ys - y0, xs - x0] = old_c
        oi[ys - y0, xs - x0] = old_i
        return AnnotationPatch(box, oc, oi, rc, ri)


# --------------------------------------------------------------------------------------------
# files


def annotation_paths(folder: str | os.PathLike[str], stem: str) -> dict[str, Path]:
    """``{"classes": <stem>_classes.png, "instances": <stem>_instances.png,
    "class_list": classes.json}`` in ``folder``."""
    d = Path(folder)
    return {"classes": d / f"{stem}{CLASS_SUFFIX}", "instances": d / f"{stem}{INSTANCE_SUFFIX}",
            "class_list": d / CLASSES_FILE}


def find_annotations(folder: str | os.PathLike[str]) -> list[str]:
    """The stems of the ``<stem>_classes.png`` files of a folder, in name order."""
    d = Path(folder)
    try:
        names = sorted(e.name for e in os.scandir(d) if e.name.endswith(CLASS_SUFFIX)
                       and not e.name.startswith(".") and e.is_file())
    except OSError as exc:
        raise AnnotationError(f"{d}: cannot list the annotation folder ({exc.strerror or exc})"
                              ) from None
    return [n[:-len(CLASS_SUFFIX)] for n in names]


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def _check_known_classes(ann: Annotation, classes: ClassList, where: str) -> None:
    unknown = sorted(set(class_pixel_counts(ann)) - set(classes.ids))
    if unknown:
        raise AnnotationError(f"{where}: the class map uses class id(s) "
                              f"{', '.join(map(str, unknown[:10]))} that {CLASSES_FILE} does not "
                              "list")


def encode_annotation(ann: Annotation, classes: ClassList, stem: str = "annotation"
                      ) -> dict[str, bytes]:
    """The bytes of ``<stem>_classes.png`` and ``<stem>_instances.png`` (keys ``"classes"``,
    ``"instances"``), checked first: every class painted is in ``classes``, every instance has
    one class (:class:`AnnotationError` naming ``stem`` otherwise).

    The class PNG is 8-bit palette (colour ``i`` = class ``i``'s colour, black elsewhere) when
    every class id is at most 255, else 16-bit grey; the instance PNG is 16-bit grey.
    """
    _check_known_classes(ann, classes, stem)
    check_one_class_per_instance(ann, stem)
    if classes.max_id <= 255:
        im = Image.fromarray(ann.class_map.astype(np.uint8))
        im.putpalette(color_table(classes, 256).ravel().tolist())
    else:
        im = Image.fromarray(ann.class_map)
    return {"classes": _png(im), "instances": _png(Image.fromarray(ann.instance_map))}


def write_annotation(folder: str | os.PathLike[str], stem: str, ann: Annotation,
                     classes: ClassList, *, write_class_list: bool = True) -> dict[str, Path]:
    """Write ``<stem>_classes.png``, ``<stem>_instances.png`` and ``classes.json`` into
    ``folder`` (created if needed) as one set.

    Everything is encoded and checked first (see :func:`encode_annotation`), then each file is
    written in full to a temporary file beside its target (a full disk fails there, and the
    previous files stay as they were), then all are renamed into place.

    Parameters
    ----------
    folder:
        The annotation folder (by default ``<output>/spam_labels``, :data:`LABEL_FOLDER`).
    stem:
        The image's base name.
    ann, classes:
        The maps and the folder's class list.
    write_class_list:
        Write ``classes.json`` too (default).

    Returns
    -------
    dict
        The paths written, keys as :func:`annotation_paths`.

    Raises
    ------
    AnnotationError
        A class painted that the list lacks, an instance of two classes.
    spam_gui.core.image_io.FileWriteError
        A file could not be written; its ``errno`` says why.
    """
    paths = annotation_paths(folder, stem)
    data = encode_annotation(ann, classes, stem)
    if write_class_list:
        data["class_list"] = encode_classes(classes)
    else:
        paths.pop("class_list")
    staged: dict[str, Path] = {}
    try:
        for key, blob in data.items():
            staged[key] = stage_bytes(paths[key], blob)
        for key in list(staged):
            commit_staged(staged.pop(key), paths[key])
    finally:
        for tmp in staged.values():
            discard_staged(tmp)
    sync_folder(Path(folder))
    return paths


def _read_map(path: Path, shape: tuple[int, int] | None) -> np.ndarray:
    arr = read_label_map(path)
    if shape is not None and arr.shape != tuple(shape[:2]):
        raise AnnotationError(f"{path}: {arr.shape[1]}x{arr.shape[0]} pixels, but the image is "
                              f"{shape[1]}x{shape[0]} (width x height)")
    if arr.size and int(arr.max()) > MAX_ID:
        raise AnnotationError(f"{path}: ids up to {int(arr.max())}; at most {MAX_ID}")
    return arr


def read_annotation(folder: str | os.PathLike[str], stem: str,
                    shape: tuple[int, int] | None = None, classes: ClassList | None = None
                    ) -> Annotation:
    """Read ``<stem>_classes.png`` (and ``<stem>_instances.png`` when present; without it, no
    instance) from ``folder``.

    Parameters
    ----------
    folder, stem:
        Where, and the image's base name.
    shape:
        The image's (H, W): a map of another size is refused.
    classes:
        When given, every class id in the map must be one of its classes.

    Raises
    ------
    AnnotationError, spam_gui.core.image_io.ImageReadError
        Naming the file: missing, not a PNG, of the wrong size (both sizes given), a class
        unknown to ``classes``, an instance with two classes or none.
    """
    paths = annotation_paths(folder, stem)
    try:
        cls = _read_map(paths["classes"], shape)
        inst = (_read_map(paths["instances"], cls.shape) if paths["instances"].exists()
                else np.zeros(cls.shape, np.uint16))
    except ImageReadError as exc:
        raise AnnotationError(str(exc)) from None
    ann = Annotation(cls, inst)
    if classes is not None:
        _check_known_classes(ann, classes, str(paths["classes"]))
    check_one_class_per_instance(ann, paths["instances"])
    return ann
