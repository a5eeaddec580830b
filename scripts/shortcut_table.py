"""Print the keyboard-shortcut table of the app as Markdown (the README's "Keyboard shortcuts").

    QT_QPA_PLATFORM=offscreen python scripts/shortcut_table.py

The table comes from the actions of the real main window (the same rows F1 shows), so the
README cannot drift from the app: tests/app/test_help_table.py compares the two.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def table() -> str:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from spam_gui.app.qt import QtCore, QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        QtCore.QSettings.setDefaultFormat(QtCore.QSettings.Format.IniFormat)
        QtCore.QSettings.setPath(QtCore.QSettings.Format.IniFormat,
                                 QtCore.QSettings.Scope.UserScope, tmp)
        from spam_gui.app.help import shortcut_markdown, shortcut_rows
        from spam_gui.app.main_window import MainWindow
        from spam_gui.app.settings import Settings

        win = MainWindow(Settings())
        try:
            return shortcut_markdown(shortcut_rows(win.action_specs))
        finally:
            win.close()
            win.shutdown()
            app.processEvents()


if __name__ == "__main__":
    sys.stdout.write(table())
