"""Painting: superpixels or objects (:func:`paint_labels`), masks, the pixel brush (a disk,
or dragged: a capsule), erasing and removing a class. Every function changes the annotation in
place, returns the bounding box of the pixels it changed (or None) and records what it
overwrote in a :class:`~spam_gui.core.annotation.undo.StrokeRecorder` when given one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

import numpy as np

from spam_gui.core.annotation.maps import (
    BBox,
    Annotation,
    LabelIndex,
    check_value,
    flat_bbox,
)

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.core.annotation.undo import StrokeRecorder

__all__ = ["disk_mask", "erase_labels", "paint_disk", "paint_labels", "paint_mask",
           "paint_segment", "remove_class"]


def _values(class_id: int, instance_id: int) -> tuple[int, int]:
    class_id = check_value(class_id, "class id")
    instance_id = check_value(instance_id, "instance id")
    return class_id, (0 if class_id == 0 else instance_id)


def write_flat(ann: Annotation, idx: np.ndarray, class_id: int, instance_id: int,
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
        box = flat_bbox(idx, ann.shape[1])
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
    if instance_id and instance_id not in ann._instances():
        changed = mask          # a new instance: every pixel of the mask changes
    else:
        changed = np.not_equal(rc, class_id)
        changed |= ri != instance_id
        changed &= mask
    rows = np.flatnonzero(changed.any(axis=1))
    if not rows.size:
        return None
    ann._claim(instance_id, class_id)
    r0, r1 = int(rows[0]), int(rows[-1]) + 1
    cols = np.flatnonzero(changed[r0:r1].any(axis=0))
    c0, c1 = int(cols[0]), int(cols[-1]) + 1
    if (r0, r1, c0, c1) != (0, y1 - y0, 0, x1 - x0):
        box = (y0 + r0, y0 + r1, x0 + c0, x0 + c1)
        changed, rc, ri = changed[r0:r1, c0:c1], rc[r0:r1, c0:c1], ri[r0:r1, c0:c1]
    if recorder is not None:
        recorder.record_box(box, changed)
    ann._count_mask(rc, changed, class_id)
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
        return _write_region(ann, box, index.mask(ids, box), class_id, instance_id, recorder)
    return write_flat(ann, index.pixels(ids), class_id, instance_id, recorder, box)


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
    return write_flat(ann, idx, 0, 0, recorder)
