"""Instances as items: list the instances of an annotation, relabel, delete and merge them.

An *instance* is one thing painted with a class: the pixels of one instance id of the
instance map, all of one class (see :mod:`spam_gui.core.annotation`). These are the edits of
labelme's polygon list or CVAT's objects sidebar, for painted maps. Each function changes the
annotation in place, returns the bounding box of the pixels changed (or None) and records what
it overwrote in a :class:`~spam_gui.core.annotation.undo.StrokeRecorder` when given one (one
undo step). After undoing or redoing such a patch call :meth:`Annotation.invalidate`: a
relabel changes an instance's class, which the annotation's instance table caches.

Qt-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

import numpy as np

from spam_gui.core.annotation.classes import AnnotationError
from spam_gui.core.annotation.maps import BBox, Annotation, check_value
from spam_gui.core.annotation.paint import write_flat

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.core.annotation.undo import StrokeRecorder

__all__ = ["InstanceInfo", "delete_instances", "instance_infos", "merge_instances",
           "relabel_instances"]


@dataclass(frozen=True)
class InstanceInfo:
    """One instance of an annotation: its id, its class and its number of pixels."""

    id: int
    class_id: int
    pixels: int


def instance_infos(ann: Annotation) -> list[InstanceInfo]:
    """Every instance of ``ann``, by id (one ``bincount`` of the instance map)."""
    counts = np.bincount(ann.instance_map.ravel())
    ids = np.flatnonzero(counts)
    ids = ids[ids != 0]
    if not ids.size:
        return []
    table = ann._instances()
    return [InstanceInfo(int(i), int(table.get(int(i), 0)), int(counts[i])) for i in ids]


def _ids(ids: Iterable[int]) -> list[int]:
    out = sorted({int(i) for i in ids})
    if not out or out[0] <= 0:
        raise AnnotationError("choose one or more instances (ids 1 and up)")
    return out


def _union(boxes: list[BBox]) -> BBox | None:
    if not boxes:
        return None
    return (min(b[0] for b in boxes), max(b[1] for b in boxes),
            min(b[2] for b in boxes), max(b[3] for b in boxes))


def _pixels(ann: Annotation, ids: list[int]) -> np.ndarray:
    flat = ann.instance_map.reshape(-1)
    if len(ids) == 1:
        return np.flatnonzero(flat == ids[0])
    return np.flatnonzero(np.isin(flat, ids))


def relabel_instances(ann: Annotation, ids: Iterable[int], class_id: int, *,
                      recorder: StrokeRecorder | None = None) -> BBox | None:
    """Give instances ``ids`` the class ``class_id`` (each keeps its id and pixels)."""
    class_id = check_value(class_id, "class id")
    if class_id == 0:
        raise AnnotationError("an instance needs a class: delete it to unlabel its pixels")
    table = ann._instances()
    boxes = []
    for i in _ids(ids):
        idx = _pixels(ann, [i])
        if not idx.size:
            continue
        table[i] = class_id       # its pixels all take the class now (one class an instance)
        box = write_flat(ann, idx, class_id, i, recorder)
        if box is not None:
            boxes.append(box)
    return _union(boxes)


def delete_instances(ann: Annotation, ids: Iterable[int], *,
                     recorder: StrokeRecorder | None = None) -> BBox | None:
    """Unlabel the pixels of instances ``ids`` (class 0, no instance)."""
    idx = _pixels(ann, _ids(ids))
    return write_flat(ann, idx, 0, 0, recorder) if idx.size else None


def merge_instances(ann: Annotation, ids: Iterable[int], *,
                    recorder: StrokeRecorder | None = None) -> tuple[BBox | None, int]:
    """Merge instances ``ids`` into the largest of them (ties: the smallest id), whose id and
    class the others' pixels take. Returns the bounding box changed and the id kept."""
    want = _ids(ids)
    counts = np.bincount(ann.instance_map.ravel(), minlength=max(want) + 1)
    present = [i for i in want if counts[i] > 0]
    if len(present) < 2:
        raise AnnotationError("choose two or more instances to merge")
    keep = max(present, key=lambda i: (int(counts[i]), -i))
    cls = int(ann._instances().get(keep, 0))
    if cls == 0:
        raise AnnotationError(f"instance {keep} has no class")
    idx = _pixels(ann, [i for i in present if i != keep])
    return write_flat(ann, idx, cls, keep, recorder), keep
