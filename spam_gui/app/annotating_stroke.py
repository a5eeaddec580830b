"""A paint stroke of the annotation controller (:mod:`spam_gui.app.annotating`): what one
press … release paints (:class:`Stroke`: superpixels crossed, objects filled, or a pixel brush)
and the undo step it becomes (:class:`PaintCommand`, one :class:`AnnotationPatch`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from spam_gui.app.model.annotation_view import labels_on_segment
from spam_gui.app.qt import QtGui
from spam_gui.core.annotation import (Annotation, AnnotationPatch, BBox, LabelIndex,
                                      StrokeRecorder, new_instance_id, paint_labels,
                                      paint_segment)

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.app.annotating import AnnotationController
    from spam_gui.app.document import ImageDoc


# ----------------------------------------------------------------------------- undo


class PaintCommand(QtGui.QUndoCommand):
    """One paint stroke on one image (a click, a drag, an object fill), by its bounding box.

    The stroke was painted already when the command is pushed: the first ``redo`` does
    nothing.
    """

    def __init__(self, ctl: "AnnotationController", doc: "ImageDoc", patch: AnnotationPatch,
                 text: str) -> None:
        super().__init__(text)
        self.ctl, self.doc, self.patch = ctl, doc, patch
        self._first = True

    def redo(self) -> None:
        if self._first:
            self._first = False
            return
        self.ctl.apply_patch(self.doc, self.patch, undo=False)

    def undo(self) -> None:
        self.ctl.apply_patch(self.doc, self.patch, undo=True)


# ----------------------------------------------------------------------------- a stroke


class Stroke:
    """What one press … release paints: superpixels crossed, objects filled, or a pixel brush.

    Parameters
    ----------
    ctl:
        The controller (the class layer is redrawn as the stroke goes).
    doc, ann:
        The image and its annotation.
    result:
        The segmentation on screen (its superpixels and objects are the brush).
    index:
        :class:`LabelIndex` of ``result.labels``.
    class_id, instance_id:
        What is painted (0, 0 erases); an object fill takes a new instance, which every
        object the same stroke fills shares.
    mode:
        ``"superpixel"``, ``"object"`` or ``"pixel"``.
    radius:
        The pixel brush's radius.
    """

    def __init__(self, ctl: "AnnotationController", doc: "ImageDoc", ann: Annotation,
                 result: Any, index: LabelIndex, class_id: int, instance_id: int, mode: str,
                 radius: int) -> None:
        self.ctl, self.doc, self.ann, self.result, self.index = ctl, doc, ann, result, index
        self.class_id, self.instance_id, self.mode, self.radius = class_id, instance_id, mode, radius
        self.recorder = StrokeRecorder(ann)
        self.last: tuple[int, int] | None = None
        self.done = np.zeros(int(result.superpixel_object.shape[0]), bool)
        self.done_objects: set[int] = set()
        self.fill_instance = 0              # the instance this stroke's object fills made

    def to(self, x: int, y: int) -> None:
        """Paint from the last point to (x, y) (the first call paints under (x, y))."""
        try:
            self._to(x, y)
        except ValueError:
            # the instance has another class (maps opened from files): start a new one
            if not self.class_id or self.mode == "object":
                raise
            self.instance_id = new_instance_id(self.ann)
            self.ctl.instance_restarted(self.class_id, self.instance_id)
            self._to(x, y)

    def _to(self, x: int, y: int) -> None:
        x0, y0 = self.last if self.last is not None else (x, y)
        box: BBox | None
        if self.mode == "pixel":
            box = paint_segment(self.ann, (y0, x0), (y, x), self.radius, self.class_id,
                                self.instance_id, recorder=self.recorder)
        else:
            sps = labels_on_segment(self.result.labels, x0, y0, x, y)
            sps = sps[~self.done[sps]]
            if not len(sps):
                self.last = (x, y)
                return
            if self.mode == "object":
                box = self._fill(sps)
            else:
                box = paint_labels(self.ann, self.index, sps, self.class_id, self.instance_id,
                                   recorder=self.recorder)
            self.done[sps] = True
        self.last = (x, y)          # only once painted (a refused paint is tried again)
        if box is not None:
            self.ctl.redraw(box)

    def _fill(self, sps: np.ndarray) -> BBox | None:
        owners = np.unique(np.asarray(self.result.superpixel_object)[sps])
        boxes = []
        for oid in owners.tolist():
            if oid in self.done_objects:
                continue
            self.done_objects.add(oid)
            members = np.flatnonzero(np.asarray(self.result.superpixel_object) == oid)
            if oid == 0:          # no object (uncertain): the superpixels crossed only
                members = sps[np.asarray(self.result.superpixel_object)[sps] == 0]
            self.done[members] = True
            inst = 0
            if self.class_id:       # one stroke, one instance: a drag fills its objects as one
                if not self.fill_instance:
                    self.fill_instance = new_instance_id(self.ann)
                inst = self.fill_instance
            b = paint_labels(self.ann, self.index, members, self.class_id, inst,
                             recorder=self.recorder)
            if b is not None:
                boxes.append(b)
        if not boxes:
            return None
        a = np.array(boxes)
        return int(a[:, 0].min()), int(a[:, 1].max()), int(a[:, 2].min()), int(a[:, 3].max())
