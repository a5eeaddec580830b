"""Print the keyboard-shortcut table of the app as Markdown (docs/app.md, "Keyboard shortcuts").

    QT_QPA_PLATFORM=offscreen python scripts/shortcut_table.py           # print it
    QT_QPA_PLATFORM=offscreen python scripts/shortcut_table.py --write   # update docs/app.md

The table comes from the actions of the real main window (the same rows F1 shows), so the
page cannot drift from the app: tests/app/test_help_table.py compares the two. ``--write``
replaces the text between ``<!-- shortcuts:start -->`` and ``<!-- shortcuts:end -->``.
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


APP_DOC = Path(__file__).resolve().parent.parent / "docs" / "app.md"
START, END = "<!-- shortcuts:start -->\n", "<!-- shortcuts:end -->"


def write(path: Path = APP_DOC) -> bool:
    """Put the current table between the markers of ``path``; True when the file changed."""
    text = path.read_text(encoding="utf-8")
    i, j = text.index(START) + len(START), text.index(END)
    new = text[:i] + table() + text[j:]
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        print(f"{APP_DOC}: {'updated' if write() else 'already up to date'}")
    elif sys.argv[1:]:
        sys.exit("usage: scripts/shortcut_table.py [--write]")
    else:
        sys.stdout.write(table())
