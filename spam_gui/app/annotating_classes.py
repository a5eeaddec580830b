"""The class list edits and the brush of the annotation controller
(:class:`spam_gui.app.annotating.AnnotationController` holds one :class:`ClassEditing` and one
:class:`Brush`): adding, renaming, recolouring, moving, deleting and importing classes; the
current class, the eraser, the pixel brush and its radius, the instance each class paints next,
and the Classes panel's view of the brush."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from spam_gui.app.qt import QtCore, QtGui, QtWidgets
from spam_gui.core.annotation import (AnnotationError, ClassList, class_pixel_counts,
                                      read_labels_txt, remove_class)
from spam_gui.core.errors import SpamError

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.app.annotating import AnnotationController
    from spam_gui.app.canvas import Canvas
    from spam_gui.app.panels.classes import ClassesPanel

MAX_RADIUS = 500
DEFAULT_RADIUS = 6


class Brush:
    """What the next stroke paints: the current class, the eraser, whole superpixels or a
    round brush of ``radius`` pixels, and per (image row, class) the instance it continues.

    ``classes`` gives the class list, ``row`` the image shown, ``mode`` the tool in use and
    ``set_mode`` chooses one; ``canvas`` draws the brush outline, ``panel`` shows the brush."""

    def __init__(self, panel: "ClassesPanel", canvas: "Canvas",
                 classes: Callable[[], ClassList], row: Callable[[], int],
                 mode: Callable[[], str], set_mode: Callable[[str], Any],
                 set_status: Callable[[str], Any]) -> None:
        self.panel = panel
        self.canvas = canvas
        self._classes = classes
        self._row = row
        self._mode = mode
        self._set_mode = set_mode
        self._status = set_status
        self.current_class = 0
        self.eraser = False
        self.pixel_brush = False
        self.radius = DEFAULT_RADIUS
        self.active: dict[tuple[int, int], int] = {}    # (row, class) -> instance painted

    # -- the instance painted next ---------------------------------------------------------
    def instance(self, row: int, class_id: int) -> int:
        """The instance class ``class_id`` continues on image ``row`` (0: a new one)."""
        return self.active.get((row, class_id), 0)

    def set_instance(self, row: int, class_id: int, instance_id: int) -> None:
        self.active[(row, class_id)] = instance_id

    def forget_rows(self) -> None:
        self.active.clear()

    def forget_class(self, row: int, class_id: int) -> None:
        self.active.pop((row, class_id), None)

    def keep_instances(self, row: int, table: dict[int, int]) -> None:
        """Image ``row``'s instances changed: each class continues an instance only while
        ``table`` (instance -> class) still gives it that class."""
        self.active = {k: v for k, v in self.active.items()
                       if k[0] != row or table.get(v, k[1]) == k[1]}
        self.show()

    def follow_classes(self, classes: ClassList) -> None:
        """A new class list: the current class is one of it (its first, or 0 when empty)."""
        if self.current_class not in classes:
            self.current_class = classes.ids[0] if len(classes) else 0

    # -- current class ---------------------------------------------------------------------
    def set_current_class(self, class_id: int) -> None:
        classes = self._classes()
        if class_id not in classes:
            return
        self.current_class = int(class_id)
        if self.eraser:
            self.eraser = False
        self.panel.set_current(self.current_class)
        self.show()
        c = classes.by_id(class_id)
        if c is not None and self._mode() == "paint":
            self._status(f"Painting {c.name}")

    def pick_key(self, n: int) -> None:
        """Keys 1–9: the n-th class (display order) becomes current; the paint tool is chosen."""
        classes = self._classes()
        if 1 <= n <= len(classes):
            self.set_current_class(classes.classes[n - 1].id)
            self.to_paint()

    # -- brush -----------------------------------------------------------------------------
    def set_eraser(self, on: bool) -> None:
        self.eraser = bool(on)
        self.show()

    def toggle_eraser(self) -> None:
        """E: the eraser on / off, in the paint tool (chosen if another one is in use)."""
        self.set_eraser(not self.eraser)
        self.to_paint()
        self._status("Eraser: the left button unlabels (E again paints)" if self.eraser
                     else "Eraser off: the left button paints")

    def to_paint(self) -> None:
        if self._mode() != "paint":
            self._set_mode("paint")

    def set_pixel_brush(self, on: bool) -> None:
        self.pixel_brush = bool(on)
        self.show()
        self.update_outline()

    def toggle_pixel_brush(self) -> None:
        """X: the round brush / whole superpixels, in the paint tool."""
        self.set_pixel_brush(not self.pixel_brush)
        self.to_paint()

    def set_radius(self, r: int) -> None:
        self.radius = min(max(int(r), 0), MAX_RADIUS)
        self.show()
        self.update_outline()

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
        self._status(f"Round brush radius {self.radius} px (Ctrl+wheel, [ ] or the slider; "
                     "X: whole superpixels)")

    def new_instance(self) -> None:
        """The next stroke of the current class starts another instance."""
        row = self._row()
        if row >= 0:
            self.forget_class(row, self.current_class)
        self.show()
        c = self._classes().by_id(self.current_class)
        if c is not None:
            self._status(f"The next stroke starts a new {c.name} instance")

    def update_outline(self) -> None:
        """The round brush's outline on the canvas (in the paint tool)."""
        if self._mode() == "paint":
            self.canvas.set_brush_radius(self.radius if self.pixel_brush else 0)
            if self.pixel_brush and self.radius == 0:
                self.canvas.set_brush_radius(1)

    def show(self) -> None:
        """The brush in the Classes panel."""
        row = self._row()
        inst = self.active.get((row, self.current_class)) if row >= 0 else None
        c = self._classes().by_id(self.current_class)
        text = "" if c is None else (f"{c.name}: instance {inst}" if inst else
                                     f"{c.name}: next stroke starts a new instance")
        self.panel.set_brush(self.eraser, self.pixel_brush, self.radius, text)


class ClassEditing:
    """The class list edits of the annotation controller ``ctl`` (which holds the list, the
    annotations and the brush: it is used through its public methods only). ``parent`` is
    the dialogs' parent, ``canvas`` takes the keys back after typing, ``last_dir`` gives the
    folder a file dialog starts in."""

    def __init__(self, ctl: "AnnotationController", parent: QtWidgets.QWidget,
                 canvas: "Canvas", report_error: Callable[[str], Any],
                 set_status: Callable[[str], Any], row: Callable[[], int],
                 last_dir: Callable[[], str]) -> None:
        self.ctl = ctl
        self.parent = parent
        self.canvas = canvas
        self._error = report_error
        self._status = set_status
        self._row = row
        self._last_dir = last_dir

    def _edit(self, make: Any) -> bool:
        try:
            new = make()
        except (AnnotationError, KeyError) as exc:
            self._error(str(exc).strip("'\""))
            return False
        return self.ctl.set_classes(new)

    def add_class(self, name: str, color: str | None = None) -> int:
        """Add a class (it becomes the current one); its id, or 0 when refused."""
        ctl = self.ctl
        if not self._edit(lambda: ctl.classes.add(name, color)):
            return 0
        cid = ctl.classes.classes[-1].id
        ctl.set_current_class(cid)
        self._status(f"Class {ctl.classes.classes[-1].name} added (key "
                     f"{len(ctl.classes)})" if len(ctl.classes) <= 9 else "Class added")
        return cid

    def ask_add_class(self, name: str) -> None:
        ctl = self.ctl
        if ctl.classes_error:
            ctl.set_classes(ctl.classes)     # says why
            return
        if not name:
            name, ok = QtWidgets.QInputDialog.getText(self.parent, "New class", "Class name:")
            if not ok or not name.strip():
                return
        if ctl.classes.by_name(name) is not None:
            ctl.set_current_class(ctl.classes.by_name(name).id)   # type: ignore[union-attr]
            return
        self.add_class(name)
        ctl.panel.search.clear()
        self.back_to_canvas()

    def back_to_canvas(self) -> None:
        """A class was added or picked by name: the keys (1–9, L, N…) go to the image again,
        not into the search field."""
        self.canvas.setFocus(QtCore.Qt.FocusReason.OtherFocusReason)

    def rename_class(self, class_id: int, name: str) -> bool:
        ok = self._edit(lambda: self.ctl.classes.rename(class_id, name))
        if not ok:
            self.ctl.show_classes()       # the old name back in the table
        return ok

    def recolor_class(self, class_id: int, color: str) -> bool:
        if not self._edit(lambda: self.ctl.classes.recolor(class_id, color)):
            return False
        self.ctl.rebuild_layer()
        return True

    def ask_recolor_class(self, class_id: int) -> None:
        c = self.ctl.classes.by_id(class_id)
        if c is None:
            return
        col = QtWidgets.QColorDialog.getColor(QtGui.QColor(c.color), self.parent,
                                              f"Colour of {c.name}")
        if col.isValid():
            self.ctl.recolor_class(class_id, col.name())

    def move_class(self, class_id: int, delta: int) -> bool:
        try:
            i = self.ctl.classes.index_of(class_id)
        except KeyError:
            return False
        return self._edit(lambda: self.ctl.classes.move(class_id, i + int(delta)))

    def confirm(self, title: str, text: str) -> bool:
        """Ask yes / no."""
        b = QtWidgets.QMessageBox.question(self.parent, title, text)
        return b == QtWidgets.QMessageBox.StandardButton.Yes

    def delete_class(self, class_id: int) -> bool:
        """Delete a class; when pixels use it (here or in other images) ask first (through
        the controller's ``confirm``), then unlabel them in every image (their undo history is
        cleared: it could paint the class back)."""
        ctl = self.ctl
        c = ctl.classes.by_id(class_id)
        if c is None or ctl.classes_error:
            return False
        row = self._row()
        ann = ctl.loaded_annotation(row)
        here = class_pixel_counts(ann).get(class_id, 0) if ann is not None else 0
        rows = ctl.annotated_rows()
        others = [r for r in rows if r != row]
        if here or others:
            text = (f"Delete class {c.name}?\n\n"
                    + (f"{here:,} pixels of this image have it. " if here else "")
                    + (f"{len(others)} other annotated image(s) are checked too. " if others else "")
                    + "Its pixels become unlabelled in every image; this cannot be undone, and "
                      "the paint history of the images changed is cleared.")
            if not ctl.confirm("Delete class", text):
                return False
        if not ctl.set_classes(ctl.classes.remove(class_id)):
            return False
        changed = 0
        for r in rows:
            ann = ctl.annotation(r)
            if ann is not None and remove_class(ann, class_id) is not None:
                changed += 1
                doc = ctl.doc_of(r)
                doc.undo_stack.clear()
                ctl.brush.forget_class(r, class_id)
                ctl.mark_changed(doc)
        ctl.rebuild_layer()
        self._status(f"Class {c.name} deleted" + (f"; pixels unlabelled in {changed} image(s)"
                                                  if changed else ""))
        return True

    def import_labels(self, path: str | Path) -> int:
        """Add the classes of a labels.txt not in the list yet; the number added."""
        ctl = self.ctl
        try:
            names = [c.name for c in read_labels_txt(path)]
        except SpamError as exc:
            self._error(str(exc))
            return 0
        have = {c.name for c in ctl.classes}
        new = ctl.classes.add_many((n, None, None) for n in names if n not in have)
        added = len(new) - len(ctl.classes)
        if added and ctl.set_classes(new):
            self._status(f"{added} class(es) imported from {Path(path).name}")
            return added
        if not added:
            self._status(f"{Path(path).name}: every class is in the list already")
        return 0

    def ask_import_labels(self) -> None:
        f, _ = QtWidgets.QFileDialog.getOpenFileName(self.parent, "Import classes from labels.txt",
                                                     self._last_dir(),
                                                     "Label lists (*.txt);;All files (*)")
        if f:
            self.ctl.import_labels(f)
