"""Inspect: a click only selects the object under the pointer (nothing changes)."""

from __future__ import annotations

from spam_gui.app.tools.base import Qt, Tool


class InspectTool(Tool):
    name = "inspect"
    hint = "Inspect: click selects an object"

    def click(self, x: int, y: int, button: Qt.MouseButton, mods: Qt.KeyboardModifier) -> None:
        if mods & Qt.KeyboardModifier.ControlModifier:   # select objects (to merge them)
            self.ctx.objects_edit.toggle_select(x, y)
            return
        self.ctx.objects_edit.focus(self.ctx.edits.object_at(x, y))
