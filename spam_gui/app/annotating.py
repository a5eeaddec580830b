"""Annotation in the window: the folder's classes, each image's class and instance maps, the
class layer on the canvas, paint strokes as undo steps, and the annotation's export.

Annotations are pixels (:class:`spam_gui.core.annotation.Annotation`), kept per image as the
doc's rasters ``classes`` and ``instances`` (autosaved beside the state file, restored on
reopen, never copied between images). Superpixels and prior objects are only the brush: the
maps do not change when the image is segmented again with other parameters.

An image's annotation comes, the first time it is needed, from its autosaved rasters; else
from ``<stem>_classes.png`` / ``<stem>_instances.png`` in the output folder (an earlier export,
or ``spam import``); else it is created empty at the first stroke.

The class list is the output folder's ``classes.json``, read when the folder opens and written
(atomically) after each change. A ``classes.json`` that cannot be read is named on screen and
left as it is: nothing is written over it until it is fixed and reloaded.

This module holds the controller: the folder, the class list, the annotations and the
strokes. It is composed of small collaborators, each given what it uses: the class edits
and the brush (:mod:`spam_gui.app.annotating_classes`), the class layer and the export's map
reader (:mod:`spam_gui.app.annotating_layer`), the Instances panel
(:mod:`spam_gui.app.annotating_instances`); a stroke and its undo step are in
:mod:`spam_gui.app.annotating_stroke` (all importable from here). Its public methods are the
window's interface; the collaborators' are theirs.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from PIL import Image

from spam_gui.app.annotating_classes import DEFAULT_RADIUS, MAX_RADIUS, Brush, ClassEditing
from spam_gui.app.annotating_instances import InstanceEditing
from spam_gui.app.annotating_layer import ClassLayer, hover_text, map_loader
from spam_gui.app.annotating_stroke import PaintCommand, Stroke
from spam_gui.app.model.annotation_view import AnnotationWriter, annotation_writer
from spam_gui.app.panels.classes import ClassesPanel
from spam_gui.app.qt import QtCore, QtWidgets
from spam_gui.core.annotation import (CLASSES_FILE, Annotation, AnnotationPatch, ClassList,
                                      LabelIndex, annotation_paths, class_pixel_counts,
                                      new_instance_id, read_annotation, read_classes,
                                      write_classes)
from spam_gui.core.errors import SpamError

__all__ = ["AUTOSAVE_PAUSE_MS", "DEFAULT_RADIUS", "MAX_RADIUS", "AnnotationController", "Brush",
           "ClassEditing", "ClassLayer", "InstanceEditing", "PaintCommand", "Stroke",
           "image_shape"]

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.app.document import FolderSession, ImageDoc  # noqa: F401
    from spam_gui.app.canvas import Canvas
    from spam_gui.app.panels.controls import ControlsPanel
    from spam_gui.app.settings import Settings
    from spam_gui.core.annotation import BBox

log = logging.getLogger(__name__)
Qt = QtCore.Qt

AUTOSAVE_PAUSE_MS = 1500
"""The autosave of painted maps waits for this pause in painting."""


def image_shape(path: Path) -> tuple[int, int] | None:
    """(H, W) of an image file as :func:`spam_gui.core.io.images.read_image` gives it (EXIF
    orientation applied), read from its header only; None when it cannot be read."""
    try:
        with Image.open(path) as im:
            w, h = im.size
            if im.getexif().get(0x0112, 1) in (5, 6, 7, 8):
                w, h = h, w
            return int(h), int(w)
    except Exception:  # noqa: BLE001 - PIL raises many kinds; the caller names the file
        return None


# ----------------------------------------------------------------------------- controller


class AnnotationController(QtCore.QObject):
    """The window's annotation state and edits (see the module docstring)."""

    classes_changed = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget, canvas: "Canvas", settings: "Settings", *,
                 session: Callable[[], "FolderSession | None"], row: Callable[[], int],
                 doc: Callable[[], "ImageDoc | None"], displayed: Callable[[], Any],
                 mode: Callable[[], str], set_mode: Callable[[str], Any],
                 report_error: Callable[[str], Any], set_status: Callable[[str], Any],
                 clear_objects: Callable[[], Any], hover_again: Callable[[], Any]) -> None:
        """``parent`` also holds the dialogs; ``session``, ``row``, ``doc``, ``displayed`` (the outcome drawn) and ``mode`` (the
        tool in use) give the window's state when asked; ``clear_objects`` clears the object
        selection, ``hover_again`` says again what is under a still pointer."""
        super().__init__(parent)
        self.canvas = canvas
        self.settings = settings
        self._session = session
        self._row = row
        self._doc = doc
        self._displayed = displayed
        self._mode = mode
        self._error = report_error
        self._status = set_status
        self._hover_again = hover_again
        self.classes = ClassList()
        self.classes_error: str | None = None
        self.panel = ClassesPanel()
        self._anns: dict[int, Annotation] = {}
        self._refused: set[int] = set()                   # rows whose exported PNG was refused
        # (the labels, their index being built or built)
        self._index: tuple[np.ndarray, Future[LabelIndex]] | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="spam-brush-index")
        self._unsaved: set[ImageDoc] = set()               # painted, autosave not asked yet
        self._pause = QtCore.QTimer(self)
        self._pause.setSingleShot(True)
        self._pause.setInterval(AUTOSAVE_PAUSE_MS)
        self._pause.timeout.connect(self.flush_painted)
        self._offer: ClassList | None = None
        self.brush = Brush(self.panel, canvas, lambda: self.classes, row, mode, set_mode,
                           set_status)
        self.layer = ClassLayer(canvas, row)
        self.class_edits = ClassEditing(self, parent, canvas, report_error, set_status, row,
                                        lambda: settings.last_dialog_dir)
        self.instances = InstanceEditing(self, canvas, row, doc, clear_objects, report_error,
                                         set_status)
        self.instances_panel = self.instances.panel
        p = self.panel
        p.class_chosen.connect(self.set_current_class)
        p.add_requested.connect(self.ask_add_class)
        p.rename_requested.connect(self.rename_class)
        p.recolor_requested.connect(self.ask_recolor_class)
        p.move_requested.connect(self.move_class)
        p.delete_requested.connect(self.delete_class)
        p.import_requested.connect(self.ask_import_labels)
        p.reload_requested.connect(self.reload_classes)
        p.eraser_toggled.connect(self.set_eraser)
        p.pixel_brush_toggled.connect(self.set_pixel_brush)
        p.radius_changed.connect(self.size_from_panel)
        p.new_instance_requested.connect(self.new_instance)
        p.typing_done.connect(self.back_to_canvas)
        p.offer_accepted.connect(self.use_offered_classes)

    def attach(self, displayed_changed: Any, controls: "ControlsPanel") -> None:
        """Connect to the window's parts (called once they exist): ``displayed_changed`` is
        the signal of a new outcome on screen, ``controls`` has the class opacity slider."""
        self.show_classes()
        self.brush.show()
        displayed_changed.connect(self.sync_view)
        displayed_changed.connect(self.schedule_instances)
        controls.class_opacity_changed.connect(self.set_opacity)
        self.canvas.set_class_opacity(self.settings.class_opacity)
        controls.set_class_opacity(self.settings.class_opacity)

    # -- the brush (:class:`Brush`) --------------------------------------------------------
    @property
    def current_class(self) -> int:
        return self.brush.current_class

    @property
    def eraser(self) -> bool:
        return self.brush.eraser

    @property
    def pixel_brush(self) -> bool:
        return self.brush.pixel_brush

    @property
    def radius(self) -> int:
        return self.brush.radius

    def set_current_class(self, class_id: int) -> None:
        self.brush.set_current_class(class_id)

    def pick_key(self, n: int) -> None:
        """Keys 1–9: the n-th class (display order) becomes current; the paint tool is chosen."""
        self.brush.pick_key(n)

    def set_eraser(self, on: bool) -> None:
        self.brush.set_eraser(on)

    def toggle_eraser(self) -> None:
        """E: the eraser on / off, in the paint tool (chosen if another one is in use)."""
        self.brush.toggle_eraser()

    def set_pixel_brush(self, on: bool) -> None:
        self.brush.set_pixel_brush(on)

    def toggle_pixel_brush(self) -> None:
        """X: the round brush / whole superpixels, in the paint tool."""
        self.brush.toggle_pixel_brush()

    def set_radius(self, r: int) -> None:
        self.brush.set_radius(r)

    def size_from_panel(self, r: int) -> None:
        self.brush.size_from_panel(r)

    def nudge_radius(self, direction: int) -> None:
        """[ and ]: the pixel brush ~25% smaller / larger (at least one pixel)."""
        self.brush.nudge_radius(direction)

    def new_instance(self) -> None:
        """The next stroke of the current class starts another instance."""
        self.brush.new_instance()

    def update_brush_outline(self) -> None:
        """The round brush's outline on the canvas (in the paint tool)."""
        self.brush.update_outline()

    # -- class edits (:class:`ClassEditing`) -----------------------------------------------
    def add_class(self, name: str, color: str | None = None) -> int:
        """Add a class (it becomes the current one); its id, or 0 when refused."""
        return self.class_edits.add_class(name, color)

    def ask_add_class(self, name: str) -> None:
        self.class_edits.ask_add_class(name)

    def back_to_canvas(self) -> None:
        """The keys (1–9, L, N…) go to the image again, not into the search field."""
        self.class_edits.back_to_canvas()

    def rename_class(self, class_id: int, name: str) -> bool:
        return self.class_edits.rename_class(class_id, name)

    def recolor_class(self, class_id: int, color: str) -> bool:
        return self.class_edits.recolor_class(class_id, color)

    def ask_recolor_class(self, class_id: int) -> None:
        self.class_edits.ask_recolor_class(class_id)

    def move_class(self, class_id: int, delta: int) -> bool:
        return self.class_edits.move_class(class_id, delta)

    def confirm(self, title: str, text: str) -> bool:
        """Ask yes / no (tests replace this)."""
        return self.class_edits.confirm(title, text)

    def delete_class(self, class_id: int) -> bool:
        """Delete a class (see :meth:`ClassEditing.delete_class`)."""
        return self.class_edits.delete_class(class_id)

    def import_labels(self, path: str | Path) -> int:
        """Add the classes of a labels.txt not in the list yet; the number added."""
        return self.class_edits.import_labels(path)

    def ask_import_labels(self) -> None:
        self.class_edits.ask_import_labels()

    # -- instances (:class:`InstanceEditing`) ----------------------------------------------
    def schedule_instances(self) -> None:
        self.instances.schedule_instances()

    def refresh_instances(self) -> None:
        """Show this image's instances (when the panel is in sight; else when it comes)."""
        self.instances.refresh_instances()

    def select_instances(self, ids: list[int]) -> None:
        self.instances.select_instances(ids)

    def clear_instance_selection(self) -> bool:
        """Nothing selected in the Instances list; True when something was."""
        return self.instances.clear_instance_selection()

    def relabel_instances(self, ids: list[int], class_id: int) -> bool:
        return self.instances.relabel_instances(ids, class_id)

    def delete_instances(self, ids: list[int]) -> bool:
        return self.instances.delete_instances(ids)

    def merge_instances(self, ids: list[int]) -> bool:
        return self.instances.merge_instances(ids)

    def after_instance_edit(self, doc: "ImageDoc") -> None:
        """An instance edit was undone or redone."""
        self.instances.after_instance_edit(doc)

    # -- the class layer (:class:`ClassLayer`), readout, export ----------------------------
    def rebuild_layer(self) -> None:
        """The class colours changed: the layer drawn again, the Classes panel too."""
        self.layer.rebuild(self._anns.get(self._row()))
        self.show_classes()

    def redraw(self, box: BBox) -> None:
        """Recompute the class layer over ``box`` and repaint that rectangle only."""
        ann = self._anns.get(self._row())
        if ann is not None:
            self.layer.redraw(ann, box)

    def sync_view(self) -> None:
        """A segmentation is on screen: show this image's annotation (loaded on first use)."""
        o = self._displayed()
        if o is None or self._session() is None or self._row() < 0:
            self.show_classes()
            return
        ann = self.annotation(self._row(), o.result.labels.shape)
        if ann is not None:
            self.layer.ensure(ann)
        elif self._mode() == "paint":
            self.layer.empty(o.result.labels.shape)   # ready for the first stroke
        elif self.layer.layer is not None:
            self.layer.drop()
        self.show_classes()
        self.brush.show()
        if self._mode() == "paint" or ann is not None:
            self.prepare_brush_index(o.result)    # the brush is ready before the first click

    def set_opacity(self, v: float) -> None:
        self.canvas.set_class_opacity(v)
        self.settings.class_opacity = v

    def hover_text(self, x: int, y: int) -> str:
        """`` · class sky, instance 3`` under image pixel (x, y) ('' without an annotation)."""
        return hover_text(self._anns.get(self._row()), self.classes, x, y)

    def export_writer(self, row: int) -> AnnotationWriter | None:
        """What the export job calls to write image ``row``'s annotation (None: it has none,
        or the class list cannot be read)."""
        s = self._session()
        if s is None or self.classes_error:
            return None
        got = self.map_loader(row)
        if got is None:
            return None
        maps, load = got
        return annotation_writer(s.paths[row].stem, self.classes, maps=maps, load=load)

    def map_loader(self, row: int) -> tuple[tuple[np.ndarray, np.ndarray] | None,
                                             Any] | None:
        """Image ``row``'s maps for a worker thread (see :func:`map_loader`)."""
        s = self._session()
        if s is None:
            return None
        return map_loader(s, self._anns.get(row), row)

    def has_annotation(self, row: int) -> bool:
        return row in self._anns or row in self.annotated_rows()

    def show_classes(self) -> None:
        """The class list, the current class and this image's pixel counts in the panel."""
        ann = self._anns.get(self._row())
        self.panel.set_classes(self.classes, self.current_class,
                               class_pixel_counts(ann) if ann is not None else {})
        self.panel.set_error(self.classes_error)

    # -- folder ----------------------------------------------------------------------------
    @property
    def classes_path(self) -> Path | None:
        s = self._session()
        return None if s is None else s.output_dir / CLASSES_FILE

    def open_folder(self, session: "FolderSession") -> None:
        """A folder was opened: read its ``classes.json`` (nothing else is read yet)."""
        self.close_folder()
        self._read_classes()

    def close_folder(self) -> None:
        self._pause.stop()
        self._unsaved.clear()       # marked dirty: the session's last save wrote them
        self._anns.clear()
        self.brush.forget_rows()
        self._refused.clear()
        self._index = None
        self.layer.drop()

    def reload_classes(self) -> None:
        self._read_classes()
        self.sync_view()

    def _read_classes(self) -> None:
        path = self.classes_path
        self.classes_error = None
        classes = ClassList()
        if path is not None and path.exists():
            try:
                classes = read_classes(path)
            except SpamError as exc:
                self.classes_error = str(exc)
                log.warning("%s", exc)
                self._error(f"{exc}; the file was left as it is and nothing is written "
                                    "over it: fix it, then Reload in the Classes panel")
        self.set_classes(classes, save=False)
        if self.classes:
            self.brush.follow_classes(self.classes)
        self._offer_last_classes()
        self.show_classes()

    def _offer_last_classes(self) -> None:
        """A folder without classes: offer those of the most recent folder that has some
        (classes live in each output folder's ``classes.json``)."""
        self._offer = None
        self.panel.set_offer(None)
        s = self._session()
        if s is None or len(self.classes) or self.classes_error:
            return
        for f in self.settings.recent_folders:
            folder = Path(f)
            if folder == s.folder:
                continue
            path = self.settings.output_dir_for(folder) / CLASSES_FILE
            try:
                if not path.is_file():
                    continue
                found = read_classes(path)
            except (SpamError, OSError):
                continue
            if not len(found):
                continue
            names = ", ".join(c.name for c in list(found)[:6]) + (", …" if len(found) > 6 else "")
            self._offer = found
            self.panel.set_offer(f"No classes in this folder yet. The classes of {folder.name}: "
                                 f"{names}")
            return

    def use_offered_classes(self) -> bool:
        """Take the offered class list (written to this folder's ``classes.json``)."""
        offer, self._offer = self._offer, None
        if offer is None or len(self.classes):
            self.panel.set_offer(None)
            return False
        ok = self.set_classes(offer)
        self.panel.set_offer(None)
        if ok:
            self._status(f"{len(offer)} classes taken from the last folder")
            self.back_to_canvas()
        return ok

    def set_classes(self, classes: ClassList, save: bool = True) -> bool:
        """Take a new class list (and write it); False when it could not be written."""
        if save and self.classes_error:
            self._error(f"classes.json cannot be read ({self.classes_error}); fix it and "
                                "Reload before changing the classes")
            return False
        if save and self.classes_path is not None:
            try:
                write_classes(self.classes_path, classes)
            except OSError as exc:
                self._error(f"{self.classes_path}: the classes could not be saved "
                                    f"({getattr(exc, 'strerror', None) or exc})")
                return False
        self.classes = classes
        if len(classes) and self._offer is not None:
            self._offer = None
            self.panel.set_offer(None)
        self.brush.follow_classes(classes)
        self.layer.set_classes(classes)
        self.show_classes()
        self.classes_changed.emit()
        return True

    # -- annotations -----------------------------------------------------------------------
    def annotation(self, row: int, shape: tuple[int, int] | None = None,
                   create: bool = False) -> Annotation | None:
        """Image ``row``'s annotation: in memory, autosaved, exported earlier, or (``create``)
        new and empty; None when it has none. ``shape`` is the image's (H, W) (read from the
        file's header when not given)."""
        s = self._session()
        if s is None or not 0 <= row < len(s):
            return None
        ann = self._anns.get(row)
        if ann is not None and (shape is None or ann.shape == tuple(shape)):
            return ann
        if shape is None:
            shape = image_shape(s.paths[row])
            if shape is None:
                return None
        doc = s.doc(row)
        ann = None
        cm = s.raster(row, "classes", shape)
        if cm is not None:
            im = s.raster(row, "instances", shape)
            ann = Annotation(cm, im)
            # the doc keeps the same arrays the strokes change (no copy, nothing to save)
            doc.share_raster("classes", ann.class_map)
            doc.share_raster("instances", ann.instance_map)
        elif row not in self._refused:
            ann = self._read_exported(row, shape)
        if ann is None and create:
            ann = Annotation.empty(shape)
            doc.share_raster("classes", ann.class_map)
            doc.share_raster("instances", ann.instance_map)
            self.mark_painted(doc)     # saved with the first stroke, when painting pauses
        if ann is not None:
            self._anns[row] = ann
        return ann

    def loaded_annotation(self, row: int) -> Annotation | None:
        """Image ``row``'s annotation if it is in memory (nothing is read)."""
        return self._anns.get(row)

    def doc_of(self, row: int) -> "ImageDoc":
        """The document of image ``row`` of the open folder."""
        s = self._session()
        assert s is not None
        return s.doc(row)

    def _read_exported(self, row: int, shape: tuple[int, int]) -> Annotation | None:
        s = self._session()
        assert s is not None
        stem = s.paths[row].stem
        paths = annotation_paths(s.output_dir, stem)
        if not paths["classes"].exists():
            return None
        try:
            ann = read_annotation(s.output_dir, stem, shape,
                                  None if self.classes_error else self.classes)
        except SpamError as exc:
            self._refused.add(row)
            self._error(f"{exc}; not opened (the file was left as it is)")
            return None
        doc = s.doc(row)
        doc.set_raster("classes", ann.class_map)
        doc.set_raster("instances", ann.instance_map)
        log.info("%s: annotation opened from %s", stem, paths["classes"])
        return ann

    def annotated_rows(self) -> list[int]:
        s = self._session()
        if s is None:
            return []
        rows = set(self._anns)
        for r in range(len(s)):
            if s.has_doc(r):
                if s.doc(r).has_raster("classes"):
                    rows.add(r)
            else:
                e = s.saved_entry(r)
                if e is not None and "classes" in e.rasters:
                    rows.add(r)
        return sorted(rows)

    def mark_changed(self, doc: "ImageDoc") -> None:
        doc.raster_changed("classes")
        doc.raster_changed("instances")

    def mark_painted(self, doc: "ImageDoc") -> None:
        """A stroke (or its undo) changed ``doc``'s maps. They are marked for saving at once
        (any save writes them: closing, switching folders, an export), but the autosave is
        asked for only when painting pauses (:data:`AUTOSAVE_PAUSE_MS`): the autosave encodes
        and writes them in a thread (:meth:`FolderSession.save_in_background`), but first
        copies them on the GUI thread (a few ms a map at 12 megapixels), which need not
        fall between the strokes of a drag or a quick series of clicks."""
        for kind in ("classes", "instances"):
            doc.raster_edited(kind)
        self._unsaved.add(doc)
        self._pause.start()

    def flush_painted(self) -> None:
        """Ask the autosave for the strokes not announced yet (painting paused)."""
        self._pause.stop()
        docs, self._unsaved = self._unsaved, set()
        for doc in docs:
            self.mark_changed(doc)

    # -- painting --------------------------------------------------------------------------
    def paint_problem(self) -> str | None:
        """Why painting cannot start now, or None."""
        if self.classes_error:
            return "classes.json cannot be read: fix it and Reload (Classes panel)"
        if not len(self.classes):
            return "Add a class first: type its name in the Classes panel and press Enter"
        o = self._displayed()
        if o is None or self._doc() is None or o.path != self._doc().path:
            return "Wait for the superpixels of this image"
        return None

    def prepare_brush_index(self, result: Any) -> None:
        """Start building the :class:`LabelIndex` of ``result``'s superpixels in a thread (a
        second on a 12-megapixel image; numpy's sort leaves the GUI thread free meanwhile)."""
        labels = result.labels
        if self._index is None or self._index[0] is not labels:
            self._index = (labels, self._pool.submit(LabelIndex, labels))

    def brush_index(self, result: Any) -> LabelIndex:
        """The :class:`LabelIndex` of the superpixels of ``result`` (built once per result;
        waits for the thread when it is not ready yet)."""
        self.prepare_brush_index(result)
        assert self._index is not None
        return self._index[1].result()

    def forget_brush_index(self) -> None:
        self._index = None

    def begin_stroke(self, erase: bool, fill: bool) -> Stroke | None:
        """Start a stroke on the current image; None (and a message) when it cannot."""
        why = self.paint_problem()
        if why:
            self._error(why)
            return None
        o = self._displayed()
        doc = self._doc()
        assert o is not None and doc is not None
        shape = o.result.labels.shape
        ann = self.annotation(self._row(), shape, create=True)
        assert ann is not None
        erase = erase or self.brush.eraser
        cid = 0 if erase else self.brush.current_class
        inst = 0
        if cid and not fill:
            inst = self.brush.instance(self._row(), cid)
            if not inst:
                inst = new_instance_id(ann)
                self.brush.set_instance(self._row(), cid, inst)
        mode = "object" if fill else ("pixel" if self.pixel_brush else "superpixel")
        self.layer.ensure(ann)
        return Stroke(self, doc, ann, o.result, self.brush_index(o.result), cid, inst, mode,
                      self.brush.radius)

    def instance_restarted(self, class_id: int, instance_id: int) -> None:
        """A stroke had to take a new instance for ``class_id``."""
        self.brush.set_instance(self._row(), class_id, instance_id)

    def end_stroke(self, stroke: Stroke) -> None:
        """The stroke is over: one undo step (nothing when it changed no pixel)."""
        patch = stroke.recorder.finish()
        if stroke.fill_instance and stroke.class_id:
            self.brush.set_instance(self._row(), stroke.class_id, stroke.fill_instance)
        if patch is None:
            return
        c = self.classes.by_id(stroke.class_id)
        what = {"object": "fill", "pixel": "brush", "superpixel": "paint"}[stroke.mode]
        text = f"erase ({what})" if not stroke.class_id else f"{what} {c.name if c else stroke.class_id}"
        stroke.doc.undo_stack.push(PaintCommand(self, stroke.doc, patch, text))
        self.mark_painted(stroke.doc)
        self.after_change()

    def apply_patch(self, doc: "ImageDoc", patch: AnnotationPatch, undo: bool) -> None:
        """Undo or redo a stroke of ``doc`` (its image is the one shown: its stack is active)."""
        ann = self._anns.get(doc.row)
        if ann is None:
            return
        box = patch.revert(ann) if undo else patch.apply(ann)
        self.mark_painted(doc)
        if doc.row == self._row():
            self.redraw(box)
            self.after_change()

    def after_change(self) -> None:
        ann = self._anns.get(self._row())
        if ann is not None:
            self.panel.set_counts(class_pixel_counts(ann))
        self.brush.show()
        self.schedule_instances()
        self._hover_again()   # the readout under a still pointer says what is painted
