"""The instances of the annotation controller as items
(:class:`spam_gui.app.annotating.AnnotationController` holds one :class:`InstanceEditing`): the
Instances panel's list, its selection outlined on the canvas, and relabel / delete / merge as
undo steps (the edits themselves are :mod:`spam_gui.core.annotation.instances`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from spam_gui.app.annotating_stroke import PaintCommand
from spam_gui.app.panels.instances import InstancesPanel
from spam_gui.app.qt import QtCore
from spam_gui.core.annotation import AnnotationError, StrokeRecorder
from spam_gui.core.annotation.instances import (delete_instances, instance_infos,
                                                merge_instances, relabel_instances)

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.app.annotating import AnnotationController
    from spam_gui.app.canvas import Canvas
    from spam_gui.app.document import ImageDoc

REFRESH_MS = 120
"""The list follows the strokes this long after the last one (it counts the whole map)."""


class InstanceCommand(PaintCommand):
    """A relabel, delete or merge of instances: a paint step whose undo and redo also let
    the annotation forget its instance table (a relabel changes an instance's class)."""

    def redo(self) -> None:
        first = self._first
        super().redo()
        if not first:
            self.ctl.after_instance_edit(self.doc)

    def undo(self) -> None:
        super().undo()
        self.ctl.after_instance_edit(self.doc)


class InstanceEditing:
    """The Instances panel side of the annotation controller ``ctl`` (which holds the
    annotations: used through its public methods only). ``canvas`` outlines the selection,
    ``row`` and ``doc`` give the image shown, ``clear_objects`` clears the object selection
    (one selection at a time)."""

    def __init__(self, ctl: "AnnotationController", canvas: "Canvas", row: Callable[[], int],
                 doc: Callable[[], "ImageDoc | None"], clear_objects: Callable[[], Any],
                 report_error: Callable[[str], Any], set_status: Callable[[str], Any]) -> None:
        self.ctl = ctl
        self.canvas = canvas
        self._row = row
        self._doc = doc
        self._clear_objects = clear_objects
        self._error = report_error
        self._status = set_status
        self.panel = InstancesPanel()
        self.selected: list[int] = []
        self._timer = QtCore.QTimer(ctl)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(ctl.refresh_instances)
        p = self.panel
        p.selection_changed.connect(ctl.select_instances)
        p.relabel_requested.connect(ctl.relabel_instances)
        p.delete_requested.connect(ctl.delete_instances)
        p.merge_requested.connect(ctl.merge_instances)

    # -- the list --------------------------------------------------------------------------
    def schedule_instances(self) -> None:
        self._timer.start()

    def refresh_instances(self) -> None:
        """Show this image's instances (when the panel is in sight; else when it comes)."""
        self._timer.stop()
        p = self.panel
        if not p.isVisible():
            return
        ann = self.ctl.loaded_annotation(self._row())
        rows = [] if ann is None else [(i.id, i.class_id, i.pixels) for i in instance_infos(ann)]
        p.set_instances(rows, self.ctl.classes)
        present = {r[0] for r in rows}
        if any(i not in present for i in self.selected):
            self.selected = [i for i in self.selected if i in present]
            self._show_instance_selection()

    # -- selection -------------------------------------------------------------------------
    def select_instances(self, ids: list[int]) -> None:
        """Rows picked in the Instances list: outlined on the canvas (the object selection
        is cleared: one selection at a time)."""
        self.selected = [int(i) for i in ids]
        if self.selected:
            self._clear_objects()
        self._show_instance_selection()

    def clear_instance_selection(self) -> bool:
        """Nothing selected in the Instances list; True when something was."""
        had = bool(self.selected)
        self.selected = []
        self.panel.show_selection([])
        if had:
            self.canvas.set_highlight(None)
            self.canvas.set_selection_text("")
        return had

    def _show_instance_selection(self) -> None:
        ids = self.selected
        self.panel.show_selection(ids)
        ann = self.ctl.loaded_annotation(self._row())
        if not ids or ann is None:
            self.canvas.set_highlight(None)
            self.canvas.set_selection_text("")
            return
        mask = np.isin(ann.instance_map, ids)
        self.canvas.set_highlight(mask)
        table = ann.instance_table()
        names = []
        for i in ids[:4]:
            c = self.ctl.classes.by_id(table.get(i, 0))
            names.append(f"{i} ({c.name if c is not None else 'no class'})")
        more = f" and {len(ids) - 4} more" if len(ids) > 4 else ""
        self.canvas.set_selection_text(
            f"Selected: instance{'s' if len(ids) > 1 else ''} {', '.join(names)}{more} · "
            "Relabel, Merge or Delete in the Instances panel · Esc clears")

    # -- edits -----------------------------------------------------------------------------
    def relabel_instances(self, ids: list[int], class_id: int) -> bool:
        c = self.ctl.classes.by_id(class_id)
        name = c.name if c is not None else str(class_id)
        return self._instance_edit(
            lambda ann, rec: (relabel_instances(ann, ids, class_id, recorder=rec), ids),
            f"relabel {self._which(ids)} as {name}")

    def delete_instances(self, ids: list[int]) -> bool:
        return self._instance_edit(
            lambda ann, rec: (delete_instances(ann, ids, recorder=rec), []),
            f"delete {self._which(ids)}")

    def merge_instances(self, ids: list[int]) -> bool:
        def run(ann: Any, rec: StrokeRecorder) -> tuple[Any, list[int]]:
            box, keep = merge_instances(ann, ids, recorder=rec)
            return box, [keep]
        return self._instance_edit(run, f"merge {self._which(ids)}")

    @staticmethod
    def _which(ids: list[int]) -> str:
        return (f"instance {ids[0]}" if len(ids) == 1 else
                "instances " + ", ".join(str(i) for i in sorted(ids)))

    def _instance_edit(self, run: Callable[[Any, StrokeRecorder], tuple[Any, list[int]]],
                       text: str) -> bool:
        """Run one instance edit on the current image as one undo step."""
        doc = self._doc()
        ann = self.ctl.loaded_annotation(self._row())
        if doc is None or ann is None:
            return False
        rec = StrokeRecorder(ann)
        try:
            box, selected = run(ann, rec)
        except AnnotationError as exc:
            self._error(str(exc))
            return False
        patch = rec.finish()
        ann.invalidate()
        if patch is None:
            return False
        doc.undo_stack.push(InstanceCommand(self.ctl, doc, patch, text))
        self.ctl.mark_painted(doc)
        self._fix_active(doc.row)
        if box is not None:
            self.ctl.redraw(box)
        self.ctl.after_change()
        self.selected = list(selected)
        self.refresh_instances()
        self._show_instance_selection()
        self._status(f"{text[0].upper()}{text[1:]} (Ctrl+Z undoes)")
        return True

    def after_instance_edit(self, doc: "ImageDoc") -> None:
        """An instance edit was undone or redone."""
        ann = self.ctl.loaded_annotation(doc.row)
        if ann is None:
            return
        ann.invalidate()
        self._fix_active(doc.row)
        if doc.row == self._row():
            self.refresh_instances()
            self._show_instance_selection()

    def _fix_active(self, row: int) -> None:
        """The instance each class paints next must still be of that class."""
        ann = self.ctl.loaded_annotation(row)
        if ann is None:
            return
        self.ctl.brush.keep_instances(row, ann.instance_table())
