"""SAM click prompts: left click adds a positive point, right click a negative one; the mask is
previewed as you click; Enter adds it to the prior as a new object (one undo step),
Backspace removes the last point, Esc clears them."""

from __future__ import annotations

from typing import Any

from spam_gui.app.document import Prompt, SetPromptsCommand
from spam_gui.app.pipeline import next_request_id
from spam_gui.app.tools.base import Qt, Tool, ToolContext
from spam_gui.app.worker import PromptJob, SamEmbedJob

NEEDS_CHECKPOINT = "SAM prompt mode needs a SAM checkpoint: Preferences → Models"


class SamPromptTool(Tool):
    name = "prompt"
    hint = "SAM: left click +, right click −, Enter adds the object, Esc clears"

    def __init__(self, ctx: ToolContext) -> None:
        super().__init__(ctx)
        self.points: list[tuple[int, int, int]] = []
        self.request = 0
        self._prepared: tuple[int, str] | None = None

    def unavailable(self) -> str | None:
        return None if self.ctx.sam_available() else NEEDS_CHECKPOINT

    def activate(self) -> None:
        self.prepare()

    def deactivate(self) -> None:
        self.clear()

    def click(self, x: int, y: int, button: Qt.MouseButton, mods: Qt.KeyboardModifier) -> None:
        if button in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            self.add_point(x, y, positive=button == Qt.MouseButton.LeftButton)

    def cancel(self) -> bool:
        if not self.points:
            return False
        self.clear()
        self.ctx.set_status("SAM clicks cleared")
        return True

    # -- SAM ------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Start SAM's image embedding now (a minute on a CPU the first time; then cached)."""
        c = self.ctx
        img = c.canvas.image
        if img is None or not c.sam_available():
            return
        key = (id(img), c.config().sam_checkpoint)
        if self._prepared == key:
            return
        self._prepared = key
        c.view.yield_background()
        c.fg.submit(SamEmbedJob(next_request_id(), priority=1, image=img, row=c.row(),
                                config=c.config()))
        c.set_status("SAM: preparing this image (the first time takes a while on a CPU; "
                     "then it is cached)…")
        c.view.update_busy()

    def add_point(self, x: int, y: int, positive: bool) -> None:
        c = self.ctx
        if not c.sam_available():
            c.report_error("SAM click prompts need a SAM checkpoint: Preferences → Models")
            return
        if c.canvas.image is None:
            return
        self.points.append((x, y, 1 if positive else 0))
        self._request_mask()

    def remove_point(self) -> None:
        if self.points:
            self.points.pop()
            self._request_mask()

    def _request_mask(self) -> None:
        c = self.ctx
        c.canvas.set_prompt(self.points, None)
        if not self.points or c.canvas.image is None:
            self.request = 0
            return
        self.request = rid = next_request_id()
        c.view.yield_background()
        c.fg.submit(PromptJob(rid, priority=0, group="prompt", image=c.canvas.image,
                              row=c.row(), prompt=Prompt(tuple(self.points)), config=c.config()))
        c.view.update_busy()

    def commit(self) -> None:
        """Add the mask of the current clicks to the prior as a new object (undoable)."""
        c = self.ctx
        doc = c.doc()
        if doc is None or not self.points:
            return
        if not any(lab for _, _, lab in self.points):
            c.report_error("Add at least one positive (left) click before adding the object")
            return
        prompt = Prompt(tuple(self.points))
        self.clear()
        doc.undo_stack.push(SetPromptsCommand(doc, doc.prompts + (prompt,), "add a SAM object"))

    def clear(self) -> None:
        self.points = []
        self.request = 0
        self.ctx.fg.cancel(lambda j: isinstance(j, PromptJob))
        self.ctx.canvas.set_prompt([], None)

    # -- results --------------------------------------------------------------------------
    def on_result(self, job: Any, payload: Any) -> None:
        c = self.ctx
        if isinstance(job, PromptJob):
            if job.request_id == self.request and job.row == c.row():
                c.canvas.set_prompt(self.points, payload)
        elif isinstance(job, SamEmbedJob):
            if job.row == c.row() and c.mode() == self.name:
                c.set_status("SAM ready: left click +, right click −, Enter adds the object")

    def on_failed(self, job: Any, message: str, details: str) -> None:
        if isinstance(job, PromptJob) and job.request_id != self.request:
            return   # a superseded preview
        self.ctx.report_error(message, details)
