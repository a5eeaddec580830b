"""The base of the canvas tools."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spam_gui.app.qt import QtCore

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.app.main_window import MainWindow

Qt = QtCore.Qt


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

    def __init__(self, window: "MainWindow") -> None:
        self.w = window

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
        self.w.report_error(message, details)
