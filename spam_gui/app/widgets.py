"""Small behaviours shared by the app's panels: no accidental wheel edits, editors keep their keys.

- :func:`guard_wheel`: combo boxes, spin boxes and sliders take the mouse wheel only when they
  have the keyboard focus (clicked or tabbed into); otherwise the wheel scrolls the page they
  are on, as in every well-behaved settings panel.
- :func:`keep_editing_keys`: a field being edited gets Enter, Backspace and Esc itself, before
  any window-wide shortcut on those keys (SAM's "add prompt object" on Enter, say).
- :func:`escape_leaves_fields`: Esc in a text field leaves it, the keyboard goes back to the
  canvas.
"""

from __future__ import annotations

from typing import Callable

from spam_gui.app.qt import QtCore, QtGui, QtWidgets

Qt = QtCore.Qt
EDITING_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Backspace, Qt.Key.Key_Escape,
                Qt.Key.Key_Delete, Qt.Key.Key_Home, Qt.Key.Key_End)
WHEEL_WIDGETS = (QtWidgets.QComboBox, QtWidgets.QAbstractSpinBox, QtWidgets.QAbstractSlider)


class _WheelGuard(QtCore.QObject):
    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802
        if (event.type() == QtCore.QEvent.Type.Wheel and isinstance(obj, QtWidgets.QWidget)
                and not obj.hasFocus()):
            parent = obj.parentWidget()
            if parent is not None:   # let the page scroll instead
                QtCore.QCoreApplication.sendEvent(parent, event)
            return True
        return False


class _EditingKeys(QtCore.QObject):
    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802
        if (event.type() == QtCore.QEvent.Type.ShortcutOverride
                and isinstance(event, QtGui.QKeyEvent) and event.key() in EDITING_KEYS
                and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier):
            event.accept()           # the key goes to the editor, not to a shortcut
            return True
        return False


_wheel_guard: _WheelGuard | None = None
_editing_keys: _EditingKeys | None = None


def guard_wheel(root: QtWidgets.QWidget) -> None:
    """Make every wheel-sensitive widget under ``root`` take the wheel only when focused."""
    global _wheel_guard
    if _wheel_guard is None:
        _wheel_guard = _WheelGuard(QtCore.QCoreApplication.instance())
    for cls in WHEEL_WIDGETS:
        for w in root.findChildren(cls):
            w.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            w.installEventFilter(_wheel_guard)


def keep_editing_keys(editor: QtWidgets.QWidget) -> None:
    """Let ``editor`` (and its line edit, for a spin box) keep Enter, Backspace and Esc."""
    global _editing_keys
    if _editing_keys is None:
        _editing_keys = _EditingKeys(QtCore.QCoreApplication.instance())
    editor.installEventFilter(_editing_keys)
    for le in editor.findChildren(QtWidgets.QLineEdit):
        le.installEventFilter(_editing_keys)


TEXT_FIELDS = (QtWidgets.QLineEdit, QtWidgets.QAbstractSpinBox, QtWidgets.QTextEdit,
               QtWidgets.QPlainTextEdit)


class _EscapeLeaves(QtCore.QObject):
    """Esc in a text field leaves it: the keyboard goes back to ``home``."""

    def __init__(self, home: QtWidgets.QWidget) -> None:
        super().__init__(home)
        self.home = home

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802
        t = event.type()
        if t not in (QtCore.QEvent.Type.ShortcutOverride, QtCore.QEvent.Type.KeyPress):
            return False
        if (not isinstance(event, QtGui.QKeyEvent) or event.key() != Qt.Key.Key_Escape
                or event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier):
            return False
        field = obj
        if isinstance(field, QtWidgets.QLineEdit) and isinstance(field.parentWidget(),
                                                                 QtWidgets.QAbstractSpinBox):
            field = field.parentWidget()
        if not isinstance(field, TEXT_FIELDS):
            return False
        if t == QtCore.QEvent.Type.ShortcutOverride:
            event.accept()               # the press comes here, not to the window's Esc
            return True
        if isinstance(field, QtWidgets.QLineEdit) and field.property("clearOnEscape"):
            field.clear()
        field.clearFocus()               # a spin box takes what was typed (editingFinished)
        self.home.setFocus(Qt.FocusReason.ShortcutFocusReason)
        return True


def escape_leaves_fields(root: QtWidgets.QWidget, home: QtWidgets.QWidget) -> None:
    """Esc in any text field under ``root`` (line edits, spin boxes) leaves it and gives the
    keyboard back to ``home`` (the canvas); a field with the property ``clearOnEscape`` (a
    search) is emptied as well. Item-view editors are not under it: they close on Esc
    themselves."""
    f = root.findChild(_EscapeLeaves, "escapeLeaves")
    if f is None:
        f = _EscapeLeaves(home)
        f.setObjectName("escapeLeaves")
        f.setParent(root)
    for w in root.findChildren(QtWidgets.QWidget):
        if isinstance(w, TEXT_FIELDS) and not _in_item_view(w):
            w.installEventFilter(f)
            for le in w.findChildren(QtWidgets.QLineEdit):
                le.installEventFilter(f)


def _in_item_view(w: QtWidgets.QWidget) -> bool:
    p = w.parentWidget()
    while p is not None:
        if isinstance(p, QtWidgets.QAbstractItemView):
            return True
        p = p.parentWidget()
    return False


class ElidedLabel(QtWidgets.QLabel):
    """A one-line label that shows "…" where its text does not fit (the whole text is in the
    tooltip and in :meth:`text`), instead of cutting it off mid-word at the edge."""

    def __init__(self, text: str = "", parent: QtWidgets.QWidget | None = None,
                 mode: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle) -> None:
        super().__init__(parent)
        self._full = ""
        self._short = ""
        self._mode = mode
        self.setMinimumWidth(40)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored,
                           QtWidgets.QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str, short: str = "") -> None:  # noqa: N802 - Qt API
        """Show ``text``; where it does not fit, ``short`` (a shorter wording, whole) when
        given, else ``text`` elided."""
        self._full = text or ""
        self._short = short or ""
        self.setToolTip(self._full if len(self._full) > 40 or self._short else "")
        self.updateGeometry()
        self._elide()

    def text(self) -> str:  # noqa: D102 - the whole text, not what fits
        return self._full

    def sizeHint(self) -> QtCore.QSize:  # noqa: N802 - Qt API
        fm = self.fontMetrics()
        return QtCore.QSize(fm.horizontalAdvance(self._full) + 8, super().sizeHint().height())

    def minimumSizeHint(self) -> QtCore.QSize:  # noqa: N802 - Qt API
        if not self._short:
            return super().minimumSizeHint()
        fm = self.fontMetrics()       # the short wording always fits
        return QtCore.QSize(fm.horizontalAdvance(self._short) + 8, super().sizeHint().height())

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        room = max(self.width() - 4, 0)
        fm = self.fontMetrics()
        text = self._full
        if self._short and fm.horizontalAdvance(text) > room:
            text = self._short
        shown = fm.elidedText(text, self._mode, room)
        tail = text.rsplit("/", 1)[-1] if "/" in text else ""
        if (self._mode == Qt.TextElideMode.ElideMiddle and tail and shown != text
                and not shown.endswith(tail)):
            # a path: its last part (the file's name) stays whole, the rest gives way
            head_room = room - fm.horizontalAdvance(tail)
            if head_room > fm.horizontalAdvance("…"):
                shown = fm.elidedText(text[:-len(tail)], Qt.TextElideMode.ElideRight,
                                      head_room) + tail
        super().setText(shown)

    def shown_text(self) -> str:
        """What the label shows now (the short wording, or an elided text)."""
        return super().text()


def export_progress(parent: QtWidgets.QWidget | None, text: str, total: int, name: str,
                    title: str, on_cancel: Callable[[], None]) -> QtWidgets.QProgressDialog:
    """The window-modal progress dialog of an export, shown at once, kept open at the end (the
    caller closes it with its summary); Cancel calls ``on_cancel``."""
    dlg = QtWidgets.QProgressDialog(text, "Cancel", 0, total, parent)
    dlg.setObjectName(name)
    dlg.setWindowTitle(title)
    dlg.setWindowModality(QtCore.Qt.WindowModality.WindowModal)
    dlg.setMinimumDuration(0)
    dlg.setAutoClose(False)
    dlg.setAutoReset(False)
    dlg.canceled.connect(on_cancel)
    dlg.show()
    return dlg
