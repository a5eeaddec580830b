"""Scale: left click doubles an object's superpixel density, right click halves it,
Shift+click resets it (one undo step each)."""

from __future__ import annotations

from spam_gui.app.tools.base import Qt, Tool


class ScaleTool(Tool):
    name = "scale"
    hint = "Scale: left click ×2, right click ×½, Shift+click resets"

    def click(self, x: int, y: int, button: Qt.MouseButton, mods: Qt.KeyboardModifier) -> None:
        c = self.ctx
        if mods & Qt.KeyboardModifier.ControlModifier:   # select objects (to merge them)
            c.objects_edit.toggle_select(x, y)
            return
        oid = c.edits.object_at(x, y)
        if oid <= 0 or c.doc() is None or c.view.displayed is None:
            return
        cur = c.view.displayed.result.objects_info[oid].ratio
        if mods & Qt.KeyboardModifier.ShiftModifier:
            new = 1.0
        elif button == Qt.MouseButton.LeftButton:
            new = cur * 2.0
        elif button == Qt.MouseButton.RightButton:
            new = cur * 0.5
        else:
            return
        c.edits.set_ratio(oid, new)        # the job first: the outline is drawn meanwhile
        c.objects_edit.focus(oid)
