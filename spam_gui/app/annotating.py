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

This module holds the controller's state, the folder, the annotations and the strokes; the
class and brush edits are in :mod:`spam_gui.app.annotating_classes`, the class layer, hover
readout and export writer in :mod:`spam_gui.app.annotating_layer`, a stroke and its undo step
in :mod:`spam_gui.app.annotating_stroke` (all importable from here).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from spam_gui.app.annotating_classes import MAX_RADIUS, ClassEditing
from spam_gui.app.annotating_instances import InstanceEditing
from spam_gui.app.annotating_layer import ClassLayer
from spam_gui.app.annotating_stroke import PaintCommand, Stroke
from spam_gui.app.model.annotation_view import class_lut
from spam_gui.app.overlays import RasterLayer
from spam_gui.app.panels.classes import ClassesPanel
from spam_gui.app.qt import QtCore
from spam_gui.core.annotation import (CLASSES_FILE, Annotation, AnnotationPatch, ClassList,
                                      LabelIndex, annotation_paths, class_pixel_counts,
                                      new_instance_id, read_annotation, read_classes,
                                      write_classes)
from spam_gui.core.errors import SpamError

__all__ = ["AUTOSAVE_PAUSE_MS", "DEFAULT_RADIUS", "MAX_RADIUS", "AnnotationController",
           "ClassEditing", "ClassLayer", "PaintCommand", "Stroke", "image_shape"]

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.app.document import FolderSession, ImageDoc  # noqa: F401
    from spam_gui.app.main_window import MainWindow

log = logging.getLogger(__name__)
Qt = QtCore.Qt

DEFAULT_RADIUS = 6
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


class AnnotationController(ClassEditing, ClassLayer, InstanceEditing, QtCore.QObject):
    """The window's annotation state and edits (see the module docstring)."""

    classes_changed = QtCore.Signal()

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.w = window
        self.classes = ClassList()
        self.classes_error: str | None = None
        self.current_class = 0
        self.eraser = False
        self.pixel_brush = False
        self.radius = DEFAULT_RADIUS
        self.panel = ClassesPanel()
        self._anns: dict[int, Annotation] = {}
        self._active: dict[tuple[int, int], int] = {}    # (row, class) -> instance painted
        self._refused: set[int] = set()                   # rows whose exported PNG was refused
        self._lut = class_lut(self.classes)
        self._layer: RasterLayer | None = None
        self._layer_key: tuple[int, int] | None = None    # (row, id of the image)
        # (the labels, their index being built or built)
        self._index: tuple[np.ndarray, Future[LabelIndex]] | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="spam-brush-index")
        self._unsaved: set[ImageDoc] = set()               # painted, autosave not asked yet
        self._pause = QtCore.QTimer(self)
        self._pause.setSingleShot(True)
        self._pause.setInterval(AUTOSAVE_PAUSE_MS)
        self._pause.timeout.connect(self.flush_painted)
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
        self._init_instances()
        p.offer_accepted.connect(self.use_offered_classes)
        self._offer: ClassList | None = None

    def attach(self) -> None:
        """Connect to the window's parts (called once they exist)."""
        self._show_classes()
        self._show_brush()
        self.w.displayed_changed.connect(self.sync_view)
        self.w.displayed_changed.connect(self.schedule_instances)
        self.w.controls.class_opacity_changed.connect(self.set_opacity)
        self.w.canvas.set_class_opacity(self.w.settings.class_opacity)
        self.w.controls.set_class_opacity(self.w.settings.class_opacity)

    # -- folder ----------------------------------------------------------------------------
    @property
    def classes_path(self) -> Path | None:
        s = self.w.session
        return None if s is None else s.output_dir / CLASSES_FILE

    def open_folder(self, session: "FolderSession") -> None:
        """A folder was opened: read its ``classes.json`` (nothing else is read yet)."""
        self.close_folder()
        self._read_classes()

    def close_folder(self) -> None:
        self._pause.stop()
        self._unsaved.clear()       # marked dirty: the session's last save wrote them
        self._anns.clear()
        self._active.clear()
        self._refused.clear()
        self._index = None
        self._drop_layer()

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
                self.w.report_error(f"{exc}; the file was left as it is and nothing is written "
                                    "over it: fix it, then Reload in the Classes panel")
        self._set_classes(classes, save=False)
        if self.classes and self.current_class not in self.classes:
            self.current_class = self.classes.ids[0]
        self._offer_last_classes()
        self._show_classes()

    def _offer_last_classes(self) -> None:
        """A folder without classes: offer those of the most recent folder that has some
        (classes live in each output folder's ``classes.json``)."""
        self._offer = None
        self.panel.set_offer(None)
        s = self.w.session
        if s is None or len(self.classes) or self.classes_error:
            return
        for f in self.w.settings.recent_folders:
            folder = Path(f)
            if folder == s.folder:
                continue
            path = self.w.settings.output_dir_for(folder) / CLASSES_FILE
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
        ok = self._set_classes(offer)
        self.panel.set_offer(None)
        if ok:
            self.w.set_status(f"{len(offer)} classes taken from the last folder")
            self.back_to_canvas()
        return ok

    def _set_classes(self, classes: ClassList, save: bool = True) -> bool:
        """Take a new class list (and write it); False when it could not be written."""
        if save and self.classes_error:
            self.w.report_error(f"classes.json cannot be read ({self.classes_error}); fix it and "
                                "Reload before changing the classes")
            return False
        if save and self.classes_path is not None:
            try:
                write_classes(self.classes_path, classes)
            except OSError as exc:
                self.w.report_error(f"{self.classes_path}: the classes could not be saved "
                                    f"({getattr(exc, 'strerror', None) or exc})")
                return False
        self.classes = classes
        if len(classes) and self._offer is not None:
            self._offer = None
            self.panel.set_offer(None)
        if self.current_class not in classes:
            self.current_class = classes.ids[0] if len(classes) else 0
        self._lut = class_lut(classes)
        self._show_classes()
        self.classes_changed.emit()
        return True

    # -- annotations -----------------------------------------------------------------------
    def annotation(self, row: int, shape: tuple[int, int] | None = None,
                   create: bool = False) -> Annotation | None:
        """Image ``row``'s annotation: in memory, autosaved, exported earlier, or (``create``)
        new and empty; None when it has none. ``shape`` is the image's (H, W) (read from the
        file's header when not given)."""
        s = self.w.session
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
            doc.rasters["classes"] = ann.class_map
            doc.rasters["instances"] = ann.instance_map
        elif row not in self._refused:
            ann = self._read_exported(row, shape)
        if ann is None and create:
            ann = Annotation.empty(shape)
            doc.rasters["classes"] = ann.class_map
            doc.rasters["instances"] = ann.instance_map
            self._mark_painted(doc)     # saved with the first stroke, when painting pauses
        if ann is not None:
            self._anns[row] = ann
        return ann

    def _read_exported(self, row: int, shape: tuple[int, int]) -> Annotation | None:
        s = self.w.session
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
            self.w.report_error(f"{exc}; not opened (the file was left as it is)")
            return None
        doc = s.doc(row)
        doc.set_raster("classes", ann.class_map)
        doc.set_raster("instances", ann.instance_map)
        log.info("%s: annotation opened from %s", stem, paths["classes"])
        return ann

    def _annotated_rows(self) -> list[int]:
        s = self.w.session
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

    def _mark_changed(self, doc: "ImageDoc") -> None:
        doc.raster_changed("classes")
        doc.raster_changed("instances")

    def _mark_painted(self, doc: "ImageDoc") -> None:
        """A stroke (or its undo) changed ``doc``'s maps. They are marked for saving at once
        (any save writes them: closing, switching folders, an export), but the autosave is
        asked for only when painting pauses (:data:`AUTOSAVE_PAUSE_MS`): the autosave encodes
        and writes them in a thread (:meth:`FolderSession.save_in_background`), but first
        copies them on the GUI thread (a few ms a map at 12 megapixels), which need not
        fall between the strokes of a drag or a quick series of clicks."""
        for kind in ("classes", "instances"):
            doc.dirty_rasters.add(kind)
            doc.raster_versions[kind] = doc.raster_versions.get(kind, 0) + 1
        self._unsaved.add(doc)
        self._pause.start()

    def flush_painted(self) -> None:
        """Ask the autosave for the strokes not announced yet (painting paused)."""
        self._pause.stop()
        docs, self._unsaved = self._unsaved, set()
        for doc in docs:
            self._mark_changed(doc)

    # -- painting --------------------------------------------------------------------------
    def paint_problem(self) -> str | None:
        """Why painting cannot start now, or None."""
        if self.classes_error:
            return "classes.json cannot be read: fix it and Reload (Classes panel)"
        if not len(self.classes):
            return "Add a class first: type its name in the Classes panel and press Enter"
        o = self.w.displayed
        if o is None or self.w.doc is None or o.path != self.w.doc.path:
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
            self.w.report_error(why)
            return None
        o = self.w.displayed
        doc = self.w.doc
        assert o is not None and doc is not None
        shape = o.result.labels.shape
        ann = self.annotation(self.w.row, shape, create=True)
        assert ann is not None
        erase = erase or self.eraser
        cid = 0 if erase else self.current_class
        inst = 0
        if cid and not fill:
            key = (self.w.row, cid)
            inst = self._active.get(key, 0)
            if not inst:
                inst = new_instance_id(ann)
                self._active[key] = inst
        mode = "object" if fill else ("pixel" if self.pixel_brush else "superpixel")
        self._ensure_layer(ann)
        return Stroke(self, doc, ann, o.result, self.brush_index(o.result), cid, inst, mode,
                      self.radius)

    def instance_restarted(self, class_id: int, instance_id: int) -> None:
        """A stroke had to take a new instance for ``class_id``."""
        self._active[(self.w.row, class_id)] = instance_id

    def end_stroke(self, stroke: Stroke) -> None:
        """The stroke is over: one undo step (nothing when it changed no pixel)."""
        patch = stroke.recorder.finish()
        if stroke.filled and stroke.class_id:
            self._active[(self.w.row, stroke.class_id)] = stroke.filled[-1]
        if patch is None:
            return
        c = self.classes.by_id(stroke.class_id)
        what = {"object": "fill", "pixel": "brush", "superpixel": "paint"}[stroke.mode]
        text = f"erase ({what})" if not stroke.class_id else f"{what} {c.name if c else stroke.class_id}"
        stroke.doc.undo_stack.push(PaintCommand(self, stroke.doc, patch, text))
        self._mark_painted(stroke.doc)
        self._after_change()

    def apply_patch(self, doc: "ImageDoc", patch: AnnotationPatch, undo: bool) -> None:
        """Undo or redo a stroke of ``doc`` (its image is the one shown: its stack is active)."""
        ann = self._anns.get(doc.row)
        if ann is None:
            return
        box = patch.revert(ann) if undo else patch.apply(ann)
        self._mark_painted(doc)
        if doc.row == self.w.row:
            self.redraw(box)
            self._after_change()

    def _after_change(self) -> None:
        ann = self._anns.get(self.w.row)
        if ann is not None:
            self.panel.set_counts(class_pixel_counts(ann))
        self._show_brush()
        self.schedule_instances()
        x, y = self.w.hover_pos
        if x >= 0:
            self.w.show_hover(x, y)   # the readout under a still pointer says what is painted
