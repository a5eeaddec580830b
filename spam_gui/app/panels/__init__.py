"""The dock widgets, one module each: the file list, the controls, the objects panel."""

from spam_gui.app.panels.common import STATE_COLORS, StateRole
from spam_gui.app.panels.controls import ControlsPanel
from spam_gui.app.panels.files import FileListModel, FilePanel
from spam_gui.app.panels.objects import ObjectsPanel, RatioDelegate

__all__ = ["ControlsPanel", "FileListModel", "FilePanel", "ObjectsPanel", "RatioDelegate",
           "STATE_COLORS", "StateRole"]
