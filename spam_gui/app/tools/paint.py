"""Paint classes: a click gives the superpixel under the pointer the current class, a drag
paints every superpixel it crosses, Shift+click fills the whole prior object (one instance; a
Shift+drag fills every object it crosses as that one instance),
the right button (or the eraser, E) unlabels; the round brush (X; its size: Ctrl+wheel, [ and ],
or the Classes panel's slider; its outline follows the pointer) paints a disk of pixels for
fixes finer than a superpixel. Each stroke is one undo step.

The work is in :class:`spam_gui.app.annotating.AnnotationController`; this tool turns the
canvas's strokes into its calls.
"""

from __future__ import annotations

from typing import Any

from spam_gui.app.tools.base import Qt, Tool, ToolContext


class PaintTool(Tool):
    name = "paint"
    hint = ("Paint: click or drag paints superpixels, Shift+click (or drag) fills objects, right "
            "button erases; 1–9 class, N new instance, X round brush (size: Ctrl+wheel, [ ])")
    strokes = True

    def __init__(self, ctx: ToolContext) -> None:
        super().__init__(ctx)
        self.stroke: Any = None

    def unavailable(self) -> str | None:
        ctl = self.ctx.annotations
        if ctl.classes_error:
            return "Painting needs the class list: classes.json cannot be read (Classes panel)"
        return None

    def activate(self) -> None:
        self.ctx.show_classes()      # the classes are what painting needs at hand
        self.ctx.annotations.update_brush_outline()
        self.ctx.annotations.sync_view()

    def deactivate(self) -> None:
        self.stroke = None
        self.ctx.canvas.set_brush_radius(0)     # the round brush's outline is the paint tool's

    def press(self, x: int, y: int, button: Qt.MouseButton, mods: Qt.KeyboardModifier) -> None:
        self.stroke = self.ctx.annotations.begin_stroke(
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
            self.ctx.annotations.end_stroke(stroke)

    def cancel(self) -> bool:
        if self.ctx.annotations.eraser:
            self.ctx.annotations.set_eraser(False)
            self.ctx.set_status("Eraser off")
            return True
        return False
