"""The class list and brush settings of the annotation controller
(:class:`spam_gui.app.annotating.AnnotationController` inherits :class:`ClassEditing`): adding,
renaming, recolouring, moving, deleting and importing classes, the current class, the eraser,
the pixel brush and its radius, a new instance, and the Classes panel's view of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spam_gui.app.qt import QtCore, QtGui, QtWidgets
from spam_gui.core.annotation import (AnnotationError, class_pixel_counts, read_labels_txt,
                                      remove_class)
from spam_gui.core.errors import SpamError

MAX_RADIUS = 500


class ClassEditing:
    """The class and brush edits of :class:`~spam_gui.app.annotating.AnnotationController`
    (a mixin: the controller holds the state they change)."""

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
        self.back_to_canvas()

    def back_to_canvas(self) -> None:
        """A class was added or picked by name: the keys (1–9, L, N…) go to the image again,
        not into the search field."""
        self.w.canvas.setFocus(QtCore.Qt.FocusReason.OtherFocusReason)

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
        have = {c.name for c in self.classes}
        new = self.classes.add_many((n, None, None) for n in names if n not in have)
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
        """E: the eraser on / off, in the paint tool (chosen if another one is in use)."""
        self.set_eraser(not self.eraser)
        self._to_paint()
        self.w.set_status("Eraser: the left button unlabels (E again paints)" if self.eraser
                          else "Eraser off: the left button paints")

    def _to_paint(self) -> None:
        if self.w.mode != "paint":
            self.w.set_mode("paint")

    def set_pixel_brush(self, on: bool) -> None:
        self.pixel_brush = bool(on)
        self._show_brush()
        self._update_brush_outline()

    def toggle_pixel_brush(self) -> None:
        """X: the round brush / whole superpixels, in the paint tool."""
        self.set_pixel_brush(not self.pixel_brush)
        self._to_paint()

    def set_radius(self, r: int) -> None:
        self.radius = min(max(int(r), 0), MAX_RADIUS)
        self._show_brush()
        self._update_brush_outline()

    def size_from_panel(self, r: int) -> None:
        """The size slider or box of the Classes panel: the round brush, that radius."""
        self.set_radius(r)
        if not self.pixel_brush:
            self.set_pixel_brush(True)

    def nudge_radius(self, direction: int) -> None:
        """[ and ]: the pixel brush ~25% smaller / larger (at least one pixel)."""
        r = self.radius
        step = max(1, round(r * 0.25))
        self.set_radius(r + step if direction > 0 else r - step)
        if not self.pixel_brush:
            self.set_pixel_brush(True)
        self.w.set_status(f"Round brush radius {self.radius} px (Ctrl+wheel, [ ] or the slider; "
                          "X: whole superpixels)")

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
