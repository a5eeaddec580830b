"""The canvas's stroke mode: drags are reported as strokes in image pixels, clamped to the image,
and the middle button still pans."""

from __future__ import annotations

import numpy as np

from spam_gui.app.qt import QtCore, QtGui

Qt = QtCore.Qt


def _mouse(canvas, kind, pos, button, buttons):
    ev = QtGui.QMouseEvent(kind, QtCore.QPointF(pos), canvas.viewport().mapToGlobal(pos).toPointF(),
                           button, buttons, Qt.KeyboardModifier.NoModifier)
    QtCore.QCoreApplication.sendEvent(canvas.viewport(), ev)


def test_stroke_signals(qtbot):
    from spam_gui.app.canvas import Canvas

    c = Canvas()
    qtbot.addWidget(c)
    c.resize(400, 300)
    c.show()
    c.set_image(np.zeros((60, 80, 3), np.uint8))
    c.fit()
    events: list[tuple] = []
    c.stroke_started.connect(lambda x, y, b, m: events.append(("start", x, y, b)))
    c.stroke_moved.connect(lambda x, y: events.append(("move", x, y)))
    c.stroke_finished.connect(lambda x, y, moved: events.append(("end", x, y, moved)))
    clicks: list[tuple] = []
    c.clicked.connect(lambda *a: clicks.append(a))

    c.set_stroke_mode(True)
    left = Qt.MouseButton.LeftButton
    _mouse(c, QtCore.QEvent.Type.MouseButtonPress, c.view_pos_of(10, 10), left, left)
    _mouse(c, QtCore.QEvent.Type.MouseMove, c.view_pos_of(30, 20), Qt.MouseButton.NoButton, left)
    _mouse(c, QtCore.QEvent.Type.MouseMove, QtCore.QPoint(-50, -50), Qt.MouseButton.NoButton, left)
    _mouse(c, QtCore.QEvent.Type.MouseButtonRelease, c.view_pos_of(30, 20), left,
           Qt.MouseButton.NoButton)
    assert events[0] == ("start", 10, 10, left)
    assert events[1] == ("move", 30, 20)
    assert events[2] == ("move", 0, 0)            # off the image: clamped to its border
    assert events[3] == ("end", 30, 20, True)
    assert clicks == []                           # a stroke is not a click

    events.clear()
    qtbot.mouseClick(c.viewport(), left, pos=c.view_pos_of(5, 6))
    assert events == [("start", 5, 6, left), ("end", 5, 6, False)]

    c.set_brush_radius(4)
    assert c._brush_item is not None
    c.set_stroke_path([(1, 1), (10, 1), (10, 10)], closed=True)
    assert c._stroke_item is not None
    c.set_stroke_mode(False)                      # leaving stroke mode clears the previews
    assert c._stroke_item is None and c._brush_item is None
    qtbot.mouseClick(c.viewport(), left, pos=c.view_pos_of(5, 6))
    assert clicks and clicks[-1][:2] == (5, 6)
