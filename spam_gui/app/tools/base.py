"""The base of the canvas tools."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from spam_gui.app.qt import QtCore

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.app.annotating import AnnotationController
    from spam_gui.app.canvas import Canvas
    from spam_gui.app.display import DisplayController
    from spam_gui.app.document import FolderSession, ImageDoc
    from spam_gui.app.editing import Editing
    from spam_gui.app.pipeline import EngineConfig
    from spam_gui.app.tools.edit_objects import ObjectEditor
    from spam_gui.app.worker import JobThread

Qt = QtCore.Qt


@dataclass(frozen=True)
class ToolContext:
    """What the canvas tools use, instead of the window: its collaborators, getters of its
    state (asked when needed: they change) and its callbacks."""

    canvas: "Canvas"
    view: "DisplayController"
    edits: "Editing"
    objects_edit: "ObjectEditor"
    annotations: "AnnotationController"
    fg: "JobThread"                          # the interactive job thread
    session: Callable[[], "FolderSession | None"]
    row: Callable[[], int]
    doc: Callable[[], "ImageDoc | None"]
    config: Callable[[], "EngineConfig"]
    mode: Callable[[], str]                  # the name of the active tool
    sam_available: Callable[[], bool]
    show_classes: Callable[[], Any]          # show and raise the Classes panel
    set_status: Callable[[str], Any]
    report_error: Callable[..., Any]         # (message, details=None)


class Tool:
    """One interaction mode of the canvas.

    Subclasses set ``name`` (also the canvas's cursor mode), ``hint`` (the status line when the
    tool is chosen) and override what they handle.

    A tool that draws sets ``strokes = True``: the canvas then reports left/right drags as
    :meth:`press`, :meth:`drag` and :meth:`release` (in image pixels, clamped to the image)
    instead of panning, and :meth:`click` is not called — a click is a press and a release
    with ``moved`` False. The middle button still pans.
    """

    name = ""
    hint = ""
    strokes = False

    def __init__(self, ctx: ToolContext) -> None:
        self.ctx = ctx

    def unavailable(self) -> str | None:
        """Why the tool cannot be chosen now (shown to the user), or None."""
        return None

    def activate(self) -> None:
        """The tool was chosen."""

    def deactivate(self) -> None:
        """Another tool was chosen."""

    def click(self, x: int, y: int, button: Qt.MouseButton, mods: Qt.KeyboardModifier) -> None:
        """A click on image pixel (x, y)."""

    def press(self, x: int, y: int, button: Qt.MouseButton, mods: Qt.KeyboardModifier) -> None:
        """A stroke starts at image pixel (x, y) (tools with ``strokes``)."""

    def drag(self, x: int, y: int) -> None:
        """The pointer moved to (x, y) while the stroke's button is held."""

    def release(self, x: int, y: int, moved: bool) -> None:
        """The stroke ended at (x, y); ``moved`` is False for a plain click."""

    def cancel(self) -> bool:
        """Esc: drop what the tool holds; True when there was something to drop."""
        return False

    def on_result(self, job: Any, payload: Any) -> None:
        """A job this tool submitted finished."""

    def on_failed(self, job: Any, message: str, details: str) -> None:
        """A job this tool submitted failed."""
        self.ctx.report_error(message, details)
