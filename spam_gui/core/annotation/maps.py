"""One image's class and instance maps (:class:`Annotation`), and the brush that paints them
(:class:`LabelIndex`: each label's box and size in a superpixel or object map)."""

from __future__ import annotations

import os
from typing import Iterable

import numpy as np

from spam_gui.core.annotation.classes import MAX_ID, AnnotationError

__all__ = ["BBox", "Annotation", "LabelIndex", "check_one_class_per_instance",
           "class_pixel_counts", "instance_classes", "new_instance_id"]

BBox = tuple[int, int, int, int]
"""A bounding box ``(y0, y1, x0, x1)``: rows ``y0 <= y < y1``, columns ``x0 <= x < x1``."""


class LabelIndex:
    """Each label's bounding box and pixel count in a label map, computed once: the brush.

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

    def mask(self, ids: int | Iterable[int], box: BBox) -> np.ndarray:
        """A boolean mask over ``box`` of the pixels of the labels ``ids``.

        One lookup in a table of the labels wanted (``wanted[labels]``): a single pass over
        the box however many labels are asked, where ``np.isin`` sorts them.

        Parameters
        ----------
        ids:
            One label or several (ids not in the map select nothing).
        box:
            ``(y0, y1, x0, x1)`` inside the map, usually :meth:`bbox` of ``ids``.

        Returns
        -------
        numpy.ndarray
            (y1 - y0, x1 - x0) bool.
        """
        y0, y1, x0, x1 = box
        sub = self._dense[y0:y1, x0:x1]
        inner = self._ids(ids)
        if inner.size == 1:
            return sub == inner[0]
        wanted = np.zeros(self._counts.size, bool)
        wanted[inner] = True
        return wanted.take(sub, mode="clip")     # every label is in the table: no checks

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


def check_value(value: int, what: str) -> int:
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

    def instance_table(self) -> dict[int, int]:
        """Instance id -> its class id (computed once, kept up to date by the edits; do not
        change the dict)."""
        return self._instances()

    def _instances(self) -> dict[int, int]:
        if self._inst_class is None:
            self._inst_class = instance_classes(self)
        return self._inst_class

    def _update_counts(self, old: np.ndarray, new: np.ndarray | int) -> None:
        """Pixels of classes ``old`` became ``new`` (an array of the same shape, or one class).

        Only the pixels whose class changes are counted, and when their old (and new) values
        are one class each, which is what a fill, its undo and its redo write, no histogram
        is taken at all (a few passes of min / max over the region instead of a ``bincount``
        of it)."""
        if self._counts is None or not old.size:
            return
        if isinstance(new, (int, np.integer)):
            _count_change(self._counts, old, int(new), None)
            return
        if old.size <= _SMALL:
            _add_counts(self._counts, old, -1)
            _add_counts(self._counts, new, 1)
            return
        diff = np.not_equal(old, new)
        _count_change(self._counts, old, new, diff)

    def _count_mask(self, old: np.ndarray, where: np.ndarray, new: int) -> None:
        """The pixels ``where`` of classes ``old`` (a region and a mask of its shape) became
        class ``new``."""
        if self._counts is None:
            return
        _count_change(self._counts, old, int(new), where)

    def _claim(self, instance_id: int, class_id: int) -> None:
        if instance_id == 0:
            return
        table = self._instances()
        have = table.get(instance_id)
        if have is not None and have != class_id:
            raise ValueError(f"instance {instance_id} has class {have}, not {class_id}: an "
                             "instance has one class (start a new instance)")
        table[instance_id] = class_id

    def _note_instances(self, cls: np.ndarray, inst: np.ndarray,
                        where: np.ndarray | None = None) -> None:
        """Register the instances written by a patch (their classes are consistent).

        ``where``: the pixels of ``cls`` / ``inst`` that changed (the others hold instances the
        table knows already); None: all of them."""
        if self._inst_class is None:
            return
        if where is not None and inst.size > _SMALL:
            n = int(np.count_nonzero(where))
            if not n:
                return
            lo, hi = _value_range(inst, where)
            if lo == hi:            # one instance written (a fill, its undo or redo)
                if lo:
                    self._inst_class[lo] = int(cls.flat[int(np.argmax(where))])
                return
            # several: those the table knows keep their class (one class per instance);
            # the others (rare: an undo past the moment the table was built) are looked up
            present = np.flatnonzero(_histogram(inst, where, n))
            for i in present[present != 0].tolist():
                if i not in self._inst_class:
                    self._inst_class[i] = int(np.max(cls, where=where & (inst == i),
                                                     initial=0))
            return
        inst, cls = inst.ravel(), cls.ravel()
        nz = np.flatnonzero(inst)
        if not nz.size:
            return
        where_px = np.zeros(MAX_ID + 1, np.int64)   # instance -> one of its pixels
        where_px[inst[nz]] = nz
        present = np.flatnonzero(where_px)
        if inst[0] != 0:
            present = np.union1d(present, [int(inst[0])])
        for i, c in zip(present.tolist(), cls[where_px[present]].tolist()):
            self._inst_class[i] = c


_SMALL = 4096
"""Up to this many values, counts change by ``np.unique`` of the values themselves."""


def _value_range(values: np.ndarray, where: np.ndarray | None) -> tuple[int, int]:
    """(min, max) of the whole region ``values`` (not empty; vectorised, a fraction of a
    pass): when they are equal, the pixels ``where`` hold that one value too; otherwise the
    callers take a histogram (as fast as a masked min and max, and exact either way)."""
    return int(values.min()), int(values.max())


def _count_change(counts: np.ndarray, old: np.ndarray, new: np.ndarray | int,
                  where: np.ndarray | None) -> None:
    """``counts`` after the pixels ``where`` (all when None) of classes ``old`` became
    ``new`` (one class, or an array of ``old``'s shape).

    When the region's old values are one class and so are its new ones (min == max), the
    change is two additions; otherwise a histogram of the values at the pixels
    (:func:`_histogram`)."""
    n = old.size if where is None else int(np.count_nonzero(where))
    if not n:
        return
    o_lo, o_hi = _value_range(old, where)
    if isinstance(new, (int, np.integer)):
        n_lo = n_hi = int(new)
    else:
        n_lo, n_hi = _value_range(new, where)
    if o_lo == o_hi:
        counts[o_lo] -= n
    else:
        counts -= _histogram(old, where, n)
    if n_lo == n_hi:
        counts[n_lo] += n
    else:
        assert not isinstance(new, (int, np.integer))
        counts += _histogram(new, where, n)


_HIST_MAX = 1 << 24
"""Below this many values OpenCV's histogram is exact (float32 bins)."""


def _histogram(values: np.ndarray, where: np.ndarray | None, n: int) -> np.ndarray:
    """The (65536,) int64 histogram of the uint16 ``values`` at the pixels ``where`` (all
    when None; ``n`` of them), without gathering them: OpenCV's 16-bit histogram of the
    values with the other pixels set to 0 (a copy of the region), 0's count then corrected;
    ``np.bincount`` of the values gathered for a region too large for its float32 bins."""
    if values.size < _HIST_MAX and values.dtype == np.uint16 and values.ndim <= 2:
        import cv2

        v = np.ascontiguousarray(values) if where is None else np.where(where, values,
                                                                        np.uint16(0))
        hist = cv2.calcHist([v], [0], None, [MAX_ID + 1], [0, MAX_ID + 1])
        out = np.rint(hist.ravel()).astype(np.int64)
        if where is not None:
            out[0] -= values.size - n
        return out
    picked = values if where is None else values[where]
    return np.bincount(picked.ravel(), minlength=MAX_ID + 1).astype(np.int64)


def _add_counts(counts: np.ndarray, values: np.ndarray, sign: int) -> None:
    """``counts[v] += sign`` for each value (a bincount for many values, else a few adds)."""
    if values.size > _SMALL:
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


def flat_bbox(idx: np.ndarray, width: int) -> BBox:
    ys = idx // width
    xs = idx - ys * width
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
