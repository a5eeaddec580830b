"""Undo: :class:`StrokeRecorder` collects what a stroke overwrites, its
:class:`AnnotationPatch` undoes and redoes the whole stroke."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spam_gui.core.annotation.maps import BBox, Annotation, flat_bbox

__all__ = ["AnnotationPatch", "StrokeRecorder"]


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
    table:
        The annotation's instance table while the stroke was recorded, when it had one: it
        holds every instance of the patch (before and after), so as long as the annotation
        keeps that same table, undo and redo have no instance to register.
    """

    bbox: BBox
    old_class: np.ndarray
    old_inst: np.ndarray
    new_class: np.ndarray
    new_inst: np.ndarray
    index: np.ndarray | None = None
    table: dict[int, int] | None = field(default=None, repr=False)

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
            region_i = ann.instance_map[y0:y1, x0:x1]
            changed = np.not_equal(region_c, cls)
            ann._update_counts(region_c, cls)
            known = self.table is not None and ann._inst_class is self.table
            if not known:
                changed |= region_i != inst
            region_c[...] = cls
            region_i[...] = inst
            if not known:
                ann._note_instances(cls, inst, changed)
        else:
            cflat = ann.class_map.reshape(-1)
            ann._update_counts(cflat[self.index], cls)
            cflat[self.index] = cls
            ann.instance_map.reshape(-1)[self.index] = inst
            if self.table is None or ann._inst_class is not self.table:
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
        # a first chunk given as a region (box, mask, the box's class and instance values
        # before the stroke), kept so until a second one
        self._region: tuple[BBox, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._table: dict[int, int] | None = None    # the instance table at the first record
        self._started = False

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self._table = self.ann._inst_class

    def _flatten_region(self) -> None:
        if self._region is None:
            return
        (y0, _, x0, _), mask, cbox, ibox = self._region
        self._region = None
        ys, xs = np.nonzero(mask)
        idx = (ys + y0).astype(np.int64) * self.ann.shape[1] + (xs + x0)
        self._chunks.append((idx, cbox[mask], ibox[mask]))

    def record(self, idx: np.ndarray, old_class: np.ndarray, old_inst: np.ndarray,
               box: BBox | None = None) -> None:
        """Keep the values the flat pixels ``idx`` have before a paint call changes them
        (called by the paint functions, before they write; ``box``: their bbox, if known)."""
        if not idx.size:
            return
        self._start()
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
        self._boxes.append(flat_bbox(idx, self.ann.shape[1]) if box is None else box)

    def record_region(self, box: BBox, mask: np.ndarray, old_class: np.ndarray,
                      old_inst: np.ndarray) -> None:
        """As :meth:`record`, for the pixels of a boolean ``mask`` over ``box`` (``old_*``:
        their values in row-major order, as ``region[mask]`` gives them)."""
        self._start()
        if self._chunks or self._region is not None:
            y0, _, x0, _ = box
            ys, xs = np.nonzero(mask)
            self.record((ys + y0).astype(np.int64) * self.ann.shape[1] + (xs + x0),
                        old_class, old_inst)
            return
        y0, y1, x0, x1 = box
        cbox = self.ann.class_map[y0:y1, x0:x1].copy()
        ibox = self.ann.instance_map[y0:y1, x0:x1].copy()
        cbox[mask] = old_class
        ibox[mask] = old_inst
        self._region = (box, mask.copy(), cbox, ibox)
        self._boxes.append(box)

    def record_box(self, box: BBox, mask: np.ndarray) -> None:
        """As :meth:`record_region`, called before the pixels of ``mask`` over ``box``
        change, with the values read from the maps: for the first call of a stroke, two
        copies of the box (no gather of the pixels, none to scatter back at :meth:`finish`),
        which is what a large fill costs least with."""
        self._start()
        y0, y1, x0, x1 = box
        if self._chunks or self._region is not None:
            self.record_region(box, mask, self.ann.class_map[y0:y1, x0:x1][mask],
                               self.ann.instance_map[y0:y1, x0:x1][mask])
            return
        self._region = (box, mask.copy(), self.ann.class_map[y0:y1, x0:x1].copy(),
                        self.ann.instance_map[y0:y1, x0:x1].copy())
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
        table = (self._table if self._table is not None and self.ann._inst_class is self._table
                 else None)
        self._table, self._started = None, False
        if region is not None:     # one region: the dense patch directly
            (y0, y1, x0, x1), _mask, oc, oi = region
            rc = self.ann.class_map[y0:y1, x0:x1].copy()
            ri = self.ann.instance_map[y0:y1, x0:x1].copy()
            return AnnotationPatch((y0, y1, x0, x1), oc, oi, rc, ri, table=table)
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
        y0, y1, x0, x1 = box = flat_bbox(idx, w) if box is None else box
        area = (y1 - y0) * (x1 - x0)
        if 8 * area > 16 * idx.size:        # sparse is smaller: 16 bytes a pixel, dense 8
            return AnnotationPatch(box, old_c, old_i, new_c, new_i, index=np.array(idx),
                                   table=table)
        rc = self.ann.class_map[y0:y1, x0:x1].copy()
        ri = self.ann.instance_map[y0:y1, x0:x1].copy()
        oc, oi = rc.copy(), ri.copy()
        ys, xs = np.divmod(idx, w)
        oc[ys - y0, xs - x0] = old_c
        oi[ys - y0, xs - x0] = old_i
        return AnnotationPatch(box, oc, oi, rc, ri, table=table)
