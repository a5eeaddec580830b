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
    """

    name = ""
    hint = ""

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

    def cancel(self) -> bool:
        """Esc: drop what the tool holds; True when there was something to drop."""
        return False

    def on_result(self, job: Any, payload: Any) -> None:
        """A job this tool submitted finished."""

    def on_failed(self, job: Any, message: str, details: str) -> None:
        """A job this tool submitted failed."""
        self.w.report_error(message, details)
