"""Paint classes: a click gives the superpixel under the pointer the current class, a drag
paints every superpixel it crosses, Shift+click fills the whole prior object (one instance),
the right button (or the eraser, E) unlabels; the pixel brush (X, radius with [ and ]) paints a
disk for fixes finer than a superpixel. Each stroke is one undo step.

The work is in :class:`spam_gui.app.annotating.AnnotationController`; this tool turns the
canvas's strokes into its calls.
"""

from __future__ import annotations

from typing import Any

from spam_gui.app.tools.base import Qt, Tool

# actions that mean something else outside the paint tool (same keys)
PAINT_ONLY_ACTIONS = tuple(f"class_{i}" for i in range(1, 10)) + (
    "new_instance", "eraser", "pixel_brush", "brush_smaller", "brush_larger")
OUTSIDE_ONLY_ACTIONS = ("actual", "opacity_down", "opacity_up")   # 1, [ and ] elsewhere


class PaintTool(Tool):
    name = "paint"
    hint = ("Paint: click or drag paints superpixels, Shift+click fills the object, right "
            "button erases; 1–9 class, N new instance, X pixel brush, [ ] radius")
    strokes = True

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.stroke: Any = None
        self._lent: dict[str, Any] = {}     # action -> its shortcuts, while painting

    def unavailable(self) -> str | None:
        ctl = self.w.annotations
        if ctl.classes_error:
            return "Painting needs the class list: classes.json cannot be read (Classes panel)"
        return None

    def activate(self) -> None:
        self._swap_keys(True)
        self.w.classes_dock.show()      # the classes are what painting needs at hand
        self.w.classes_dock.raise_()
        self.w.annotations._update_brush_outline()
        self.w.annotations.sync_view()

    def deactivate(self) -> None:
        self.stroke = None
        self._swap_keys(False)

    def _swap_keys(self, painting: bool) -> None:
        """Keys 1–9, [ and ] pick classes and size the brush while painting; elsewhere they
        mean 1:1 zoom and the object opacity (those actions keep working from the menus and
        the toolbar: only their keys are lent)."""
        acts = self.w.actions_
        for n in PAINT_ONLY_ACTIONS:
            if n in acts:
                acts[n].setEnabled(painting)
        for n in OUTSIDE_ONLY_ACTIONS:
            a = acts.get(n)
            if a is None:
                continue
            if painting:
                self._lent.setdefault(n, a.shortcuts())
                a.setShortcuts([])
            elif n in self._lent:
                a.setShortcuts(self._lent.pop(n))

    def press(self, x: int, y: int, button: Qt.MouseButton, mods: Qt.KeyboardModifier) -> None:
        self.stroke = self.w.annotations.begin_stroke(
            erase=button == Qt.MouseButton.RightButton,
            fill=bool(mods & Qt.KeyboardModifier.ShiftModifier))
        if self.stroke is not None:
            self.stroke.to(x, y)

    def drag(self, x: int, y: int) -> None:
        if self.stroke is not None:
            self.stroke.to(x, y)

    def release(self, x: int, y: int, moved: bool) -> None:
        stroke, self.stroke = self.stroke, None
        if stroke is not None:
            stroke.to(x, y)
            self.w.annotations.end_stroke(stroke)

    def cancel(self) -> bool:
        if self.w.annotations.eraser:
            self.w.annotations.set_eraser(False)
            self.w.set_status("Eraser off")
            return True
        return False
