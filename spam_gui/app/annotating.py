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
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from spam_gui.app.model.annotation_view import (AnnotationWriter, annotation_writer,
                                                class_layer_region, class_lut,
                                                labels_on_segment)
from spam_gui.app.model.raster_store import RasterStore, raster_folder
from spam_gui.app.overlays import RasterLayer
from spam_gui.app.panels.classes import ClassesPanel
from spam_gui.app.qt import QtCore, QtGui, QtWidgets
from spam_gui.core.annotation import (CLASSES_FILE, Annotation, AnnotationError, AnnotationPatch,
                                      BBox, ClassList, LabelIndex, StrokeRecorder,
                                      annotation_paths, class_pixel_counts, new_instance_id,
                                      paint_labels, paint_segment, read_annotation, read_classes,
                                      read_labels_txt, remove_class, write_classes)
from spam_gui.core.errors import SpamError

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.app.document import FolderSession, ImageDoc  # noqa: F401
    from spam_gui.app.main_window import MainWindow

log = logging.getLogger(__name__)
Qt = QtCore.Qt

DEFAULT_RADIUS = 6
AUTOSAVE_PAUSE_MS = 1500
"""The autosave of painted maps waits for this pause in painting."""
MAX_RADIUS = 500


def image_shape(path: Path) -> tuple[int, int] | None:
    """(H, W) of an image file as :func:`spam_gui.core.image_io.read_image` gives it (EXIF
    orientation applied), read from its header only; None when it cannot be read."""
    try:
        with Image.open(path) as im:
            w, h = im.size
            if im.getexif().get(0x0112, 1) in (5, 6, 7, 8):
                w, h = h, w
            return int(h), int(w)
    except Exception:  # noqa: BLE001 - PIL raises many kinds; the caller names the file
        return None


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
        What is painted (0, 0 erases); object fills take a new instance per object.
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
        self.filled: list[int] = []         # instances made by object fills

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
            if self.class_id:
                inst = new_instance_id(self.ann)
                self.filled.append(inst)
            b = paint_labels(self.ann, self.index, members, self.class_id, inst,
                             recorder=self.recorder)
            if b is not None:
                boxes.append(b)
        if not boxes:
            return None
        a = np.array(boxes)
        return int(a[:, 0].min()), int(a[:, 1].max()), int(a[:, 2].min()), int(a[:, 3].max())


# ----------------------------------------------------------------------------- controller


class AnnotationController(QtCore.QObject):
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
        p.radius_changed.connect(self.set_radius)
        p.new_instance_requested.connect(self.new_instance)

    def attach(self) -> None:
        """Connect to the window's parts (called once they exist)."""
        self._show_classes()
        self._show_brush()
        self.w.displayed_changed.connect(self.sync_view)
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
        self._show_classes()

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
        if self.current_class not in classes:
            self.current_class = classes.ids[0] if len(classes) else 0
        self._lut = class_lut(classes)
        self._show_classes()
        self.classes_changed.emit()
        return True

    # -- classes ---------------------------------------------------------------------------
    def _edit(self, make: Any) -> bool:
        try:
            new = make()
        except (AnnotationError, KeyError) as exc:
            self.w.report_error(str(exc).strip("'\""))
            return False
        return self._set_classes(new)

    def add_class(self, name: str, color: str | None = None) -> int:
        """Add a class (it becomes the current one); its id, or 0 when refused."""
        if not self._edit(lambda: self.classes.add(name, color)):
            return 0
        cid = self.classes.classes[-1].id
        self.set_current_class(cid)
        self.w.set_status(f"Class {self.classes.classes[-1].name} added (key "
                          f"{len(self.classes)})" if len(self.classes) <= 9 else "Class added")
        return cid

    def ask_add_class(self, name: str) -> None:
        if self.classes_error:
            self._set_classes(self.classes)     # says why
            return
        if not name:
            name, ok = QtWidgets.QInputDialog.getText(self.w, "New class", "Class name:")
            if not ok or not name.strip():
                return
        if self.classes.by_name(name) is not None:
            self.set_current_class(self.classes.by_name(name).id)   # type: ignore[union-attr]
            return
        self.add_class(name)
        self.panel.search.clear()

    def rename_class(self, class_id: int, name: str) -> bool:
        ok = self._edit(lambda: self.classes.rename(class_id, name))
        if not ok:
            self._show_classes()       # the old name back in the table
        return ok

    def recolor_class(self, class_id: int, color: str) -> bool:
        if not self._edit(lambda: self.classes.recolor(class_id, color)):
            return False
        self._rebuild_layer()
        return True

    def ask_recolor_class(self, class_id: int) -> None:
        c = self.classes.by_id(class_id)
        if c is None:
            return
        col = QtWidgets.QColorDialog.getColor(QtGui.QColor(c.color), self.w,
                                              f"Colour of {c.name}")
        if col.isValid():
            self.recolor_class(class_id, col.name())

    def move_class(self, class_id: int, delta: int) -> bool:
        try:
            i = self.classes.index_of(class_id)
        except KeyError:
            return False
        return self._edit(lambda: self.classes.move(class_id, i + int(delta)))

    def confirm(self, title: str, text: str) -> bool:
        """Ask yes / no (tests replace this)."""
        b = QtWidgets.QMessageBox.question(self.w, title, text)
        return b == QtWidgets.QMessageBox.StandardButton.Yes

    def delete_class(self, class_id: int) -> bool:
        """Delete a class; when pixels use it (here or in other images) ask first, then
        unlabel them in every image (their undo history is cleared: it could paint the
        class back)."""
        c = self.classes.by_id(class_id)
        s = self.w.session
        if c is None or self.classes_error:
            return False
        here = class_pixel_counts(self._anns[self.w.row]).get(class_id, 0) \
            if self.w.row in self._anns else 0
        rows = self._annotated_rows() if s is not None else []
        others = [r for r in rows if r != self.w.row]
        if here or others:
            text = (f"Delete class {c.name}?\n\n"
                    + (f"{here:,} pixels of this image have it. " if here else "")
                    + (f"{len(others)} other annotated image(s) are checked too. " if others else "")
                    + "Its pixels become unlabelled in every image; this cannot be undone, and "
                      "the paint history of the images changed is cleared.")
            if not self.confirm("Delete class", text):
                return False
        if not self._set_classes(self.classes.remove(class_id)):
            return False
        changed = 0
        for r in rows:
            ann = self.annotation(r)
            if ann is not None and remove_class(ann, class_id) is not None:
                changed += 1
                doc = s.doc(r)   # type: ignore[union-attr]
                doc.undo_stack.clear()
                self._active = {k: v for k, v in self._active.items() if k != (r, class_id)}
                self._mark_changed(doc)
        self._rebuild_layer()
        self.w.set_status(f"Class {c.name} deleted" + (f"; pixels unlabelled in {changed} image(s)"
                                                        if changed else ""))
        return True

    def import_labels(self, path: str | Path) -> int:
        """Add the classes of a labels.txt not in the list yet; the number added."""
        try:
            names = [c.name for c in read_labels_txt(path)]
        except SpamError as exc:
            self.w.report_error(str(exc))
            return 0
        new = self.classes
        for n in names:
            if new.by_name(n) is None:
                new = new.add(n)
        added = len(new) - len(self.classes)
        if added and self._set_classes(new):
            self.w.set_status(f"{added} class(es) imported from {Path(path).name}")
            return added
        if not added:
            self.w.set_status(f"{Path(path).name}: every class is in the list already")
        return 0

    def ask_import_labels(self) -> None:
        f, _ = QtWidgets.QFileDialog.getOpenFileName(self.w, "Import classes from labels.txt",
                                                     self.w.settings.last_dialog_dir,
                                                     "Label lists (*.txt);;All files (*)")
        if f:
            self.import_labels(f)

    def set_current_class(self, class_id: int) -> None:
        if class_id not in self.classes:
            return
        self.current_class = int(class_id)
        if self.eraser:
            self.eraser = False
        self.panel.set_current(self.current_class)
        self._show_brush()
        c = self.classes.by_id(class_id)
        if c is not None and self.w.mode == "paint":
            self.w.set_status(f"Painting {c.name}")

    def pick_key(self, n: int) -> None:
        """Keys 1–9: the n-th class (display order) becomes current; the paint tool is chosen."""
        if 1 <= n <= len(self.classes):
            self.set_current_class(self.classes.classes[n - 1].id)
            if self.w.mode != "paint":
                self.w.set_mode("paint")

    # -- brush -----------------------------------------------------------------------------
    def set_eraser(self, on: bool) -> None:
        self.eraser = bool(on)
        self._show_brush()

    def toggle_eraser(self) -> None:
        self.set_eraser(not self.eraser)

    def set_pixel_brush(self, on: bool) -> None:
        self.pixel_brush = bool(on)
        self._show_brush()
        self._update_brush_outline()

    def toggle_pixel_brush(self) -> None:
        self.set_pixel_brush(not self.pixel_brush)

    def set_radius(self, r: int) -> None:
        self.radius = min(max(int(r), 0), MAX_RADIUS)
        self._show_brush()
        self._update_brush_outline()

    def nudge_radius(self, direction: int) -> None:
        """[ and ]: the pixel brush ~25% smaller / larger (at least one pixel)."""
        r = self.radius
        step = max(1, round(r * 0.25))
        self.set_radius(r + step if direction > 0 else r - step)
        if not self.pixel_brush:
            self.set_pixel_brush(True)
        self.w.set_status(f"Pixel brush radius {self.radius} px")

    def new_instance(self) -> None:
        """The next stroke of the current class starts another instance."""
        if self.w.row >= 0:
            self._active.pop((self.w.row, self.current_class), None)
        self._show_brush()
        c = self.classes.by_id(self.current_class)
        if c is not None:
            self.w.set_status(f"The next stroke starts a new {c.name} instance")

    def _update_brush_outline(self) -> None:
        if self.w.mode == "paint":
            self.w.canvas.set_brush_radius(self.radius if self.pixel_brush else 0)
            if self.pixel_brush and self.radius == 0:
                self.w.canvas.set_brush_radius(1)

    def _show_brush(self) -> None:
        inst = self._active.get((self.w.row, self.current_class)) if self.w.row >= 0 else None
        c = self.classes.by_id(self.current_class)
        text = "" if c is None else (f"{c.name}: instance {inst}" if inst else
                                     f"{c.name}: next stroke starts a new instance")
        self.panel.set_brush(self.eraser, self.pixel_brush, self.radius, text)

    def _show_classes(self) -> None:
        ann = self._anns.get(self.w.row)
        self.panel.set_classes(self.classes, self.current_class,
                               class_pixel_counts(ann) if ann is not None else {})
        self.panel.set_error(self.classes_error)

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

    # -- the class layer -------------------------------------------------------------------
    def _drop_layer(self) -> None:
        self._layer = None
        self._layer_key = None
        self.w.canvas.set_class_layer(None)

    def _empty_layer(self, shape: tuple[int, int]) -> None:
        """A transparent class layer for an image without annotation (painting will fill it)."""
        key = (self.w.row, id(self.w.canvas.image))
        if (self._layer is not None and self._layer_key == key and self._layer.shape == shape
                and self.w.canvas.class_layer() is self._layer.qimage):
            return
        self._layer = RasterLayer(np.zeros(shape + (4,), np.uint8))
        self._layer_key = key
        self.w.canvas.set_class_layer(self._layer.qimage)

    def _ensure_layer(self, ann: Annotation) -> None:
        img = self.w.canvas.image
        key = (self.w.row, id(img))
        if (self._layer is None or self._layer_key != key or self._layer.shape != ann.shape
                or self.w.canvas.class_layer() is not self._layer.qimage):
            self._build_layer(ann, key)

    def _build_layer(self, ann: Annotation, key: tuple[int, int]) -> None:
        region, bgra = class_layer_region(ann, self._lut, None)
        self._layer = RasterLayer(bgra)
        self._layer_key = key
        self.w.canvas.set_class_layer(self._layer.qimage)

    def _rebuild_layer(self) -> None:
        ann = self._anns.get(self.w.row)
        if ann is not None and self._layer is not None:
            self._build_layer(ann, self._layer_key or (self.w.row, id(self.w.canvas.image)))
        self._show_classes()

    def redraw(self, box: BBox) -> None:
        """Recompute the class layer over ``box`` and repaint that rectangle only."""
        ann = self._anns.get(self.w.row)
        if ann is None:
            return
        if self._layer is None or self._layer.shape != ann.shape:
            self._ensure_layer(ann)
            return
        region, bgra = class_layer_region(ann, self._lut, box)
        self._layer.paste(region, bgra)
        self.w.canvas.update_class_region(region)

    def sync_view(self) -> None:
        """A segmentation is on screen: show this image's annotation (loaded on first use)."""
        o = self.w.displayed
        if o is None or self.w.session is None or self.w.row < 0:
            self._show_classes()
            return
        ann = self.annotation(self.w.row, o.result.labels.shape)
        if ann is not None:
            self._ensure_layer(ann)
        elif self.w.mode == "paint":
            self._empty_layer(o.result.labels.shape)   # ready for the first stroke
        elif self._layer is not None:
            self._drop_layer()
        self._show_classes()
        self._show_brush()
        if self.w.mode == "paint" or ann is not None:
            self.prepare_brush_index(o.result)    # the brush is ready before the first click

    def set_opacity(self, v: float) -> None:
        self.w.canvas.set_class_opacity(v)
        self.w.settings.class_opacity = v

    # -- readout, export -------------------------------------------------------------------
    def hover_text(self, x: int, y: int) -> str:
        """`` · class sky, instance 3`` under image pixel (x, y) ('' without an annotation)."""
        ann = self._anns.get(self.w.row)
        if ann is None or not (0 <= y < ann.shape[0] and 0 <= x < ann.shape[1]):
            return ""
        cid = int(ann.class_map[y, x])
        if cid == 0:
            return " · unlabelled"
        c = self.classes.by_id(cid)
        name = c.name if c is not None else f"class {cid}"
        inst = int(ann.instance_map[y, x])
        return f" · {name}" + (f", instance {inst}" if inst else "")

    def export_writer(self, row: int) -> AnnotationWriter | None:
        """What the export job calls to write image ``row``'s annotation (None: it has none,
        or the class list cannot be read)."""
        s = self.w.session
        if s is None or self.classes_error:
            return None
        stem = s.paths[row].stem
        ann = self._anns.get(row)
        if ann is not None:
            return annotation_writer(stem, self.classes,
                                     maps=(ann.class_map.copy(), ann.instance_map.copy()))
        if s.has_doc(row):
            doc = s.doc(row)
            if "classes" in doc.rasters:
                inst = doc.rasters.get("instances")
                return annotation_writer(stem, self.classes, maps=(
                    doc.rasters["classes"].copy(),
                    inst.copy() if inst is not None else np.zeros_like(doc.rasters["classes"])))
            hashes = dict(doc.raster_hashes)
        else:
            e = s.saved_entry(row)
            hashes = dict(e.rasters) if e is not None else {}
        if "classes" not in hashes or s.state_path is None:
            return None
        store = RasterStore(raster_folder(s.state_path))
        name = s.paths[row].name

        def load(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
            cm = store.load(name, "classes", shape, hashes["classes"])
            im = (store.load(name, "instances", shape, hashes["instances"])
                  if "instances" in hashes else np.zeros(shape, np.int32))
            return cm, im

        return annotation_writer(stem, self.classes, load=load)

    def has_annotation(self, row: int) -> bool:
        return row in self._anns or row in self._annotated_rows()
