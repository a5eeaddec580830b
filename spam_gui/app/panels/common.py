"""What the panels share: the colours of the image states, small coloured dots."""

from __future__ import annotations

from spam_gui.app.document import DocState
from spam_gui.app.qt import QtCore, QtGui

Qt = QtCore.Qt

STATE_COLORS = {
    DocState.NOT_COMPUTED: "#8a8a8a",
    DocState.PRIOR_READY: "#8fc3e8",
    DocState.SUPERPIXELS_READY: "#2f7fd0",
    DocState.EDITED: "#e8952a",
    DocState.EXPORTED: "#2e9a43",
    DocState.ERROR: "#d03030",
}
StateRole = Qt.ItemDataRole.UserRole + 1


def dot(color: str, size: int = 10) -> QtGui.QIcon:
    pm = QtGui.QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QtGui.QPainter(pm)
    p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    p.setBrush(QtGui.QColor(color))
    p.setPen(Qt.PenStyle.NoPen)
    p.drawEllipse(1, 1, size - 2, size - 2)
    p.end()
    return QtGui.QIcon(pm)
