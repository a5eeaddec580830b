"""One place that imports PySide6 and qimage2ndarray in the right order.

qimage2ndarray picks a Qt binding when first imported; it must see PySide6 (not PyQt5), so
this module imports PySide6 first and tells qimage2ndarray which driver to use.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_DRIVER", "PySide6")

from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402

import qimage2ndarray  # noqa: E402

__all__ = ["QtCore", "QtGui", "QtWidgets", "qimage2ndarray"]
