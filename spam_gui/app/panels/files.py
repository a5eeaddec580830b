"""The Images dock: the folder's images with their state, a filter, the current one in bold."""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Any, Callable

from spam_gui.app.document import DocState
from spam_gui.app.guard import guarded
from spam_gui.app.panels.common import STATE_COLORS, StateRole, dot
from spam_gui.app.qt import QtCore, QtGui, QtWidgets
from spam_gui.app.widgets import keep_editing_keys

Qt = QtCore.Qt


class FileListModel(QtCore.QAbstractTableModel):
    """Image names and their state, with a name filter.

    The state comes from a callback and is asked only for the rows being painted, so a folder
    of thousands of files costs nothing until a row is shown. Filtering is a list comprehension
    over the names (no proxy model asking every row for its data).
    """

    HEADERS = ("Image", "State")

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._paths: list[Path] = []
        self._names_lower: list[str] = []
        self._visible: list[int] = []        # source rows shown, ascending
        self._state: Callable[[int], tuple[DocState, str]] = lambda r: (DocState.NOT_COMPUTED, "")
        self._icons = {s: dot(c) for s, c in STATE_COLORS.items()}
        self._filter = ""
        self.current_row = -1

    def set_files(self, paths: list[Path], state: Callable[[int], tuple[DocState, str]]) -> None:
        self.beginResetModel()
        self._paths = list(paths)
        self._names_lower = [p.name.lower() for p in self._paths]
        self._state = state
        self.current_row = -1
        self._visible = self._filtered()
        self.endResetModel()

    def set_filter(self, text: str) -> None:
        self.beginResetModel()
        self._filter = text.strip().lower()
        self._visible = self._filtered()
        self.endResetModel()

    def _filtered(self) -> list[int]:
        f = self._filter
        if not f:
            return list(range(len(self._paths)))
        return [i for i, n in enumerate(self._names_lower) if f in n]

    def source_row(self, view_row: int) -> int:
        return self._visible[view_row] if 0 <= view_row < len(self._visible) else -1

    def view_row(self, source_row: int) -> int:
        i = bisect.bisect_left(self._visible, source_row)
        return i if i < len(self._visible) and self._visible[i] == source_row else -1

    @guarded(0)
    def rowCount(self, parent: QtCore.QModelIndex = QtCore.QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._visible)

    @guarded(0)
    def columnCount(self, parent: QtCore.QModelIndex = QtCore.QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else 2

    @guarded(None)
    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None

    @guarded(None)
    def data(self, index: QtCore.QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, col = self.source_row(index.row()), index.column()
        if row < 0:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return self._paths[row].name
            return self._state(row)[0].value
        if role == Qt.ItemDataRole.DecorationRole and col == 0:
            return self._icons[self._state(row)[0]]
        if role == Qt.ItemDataRole.ToolTipRole:
            st, detail = self._state(row)
            return f"{self._paths[row].name}: {st.value}" + (f"\n{detail}" if detail else "")
        if role == Qt.ItemDataRole.FontRole and row == self.current_row:
            f = QtGui.QFont()
            f.setBold(True)
            return f
        if role == StateRole:
            return self._state(row)[0]
        return None

    def refresh_row(self, row: int) -> None:
        r = self.view_row(row)
        if r >= 0:
            self.dataChanged.emit(self.index(r, 0), self.index(r, 1))

    def refresh_all(self) -> None:
        if self._visible:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._visible) - 1, 1))

    def set_current(self, row: int) -> None:
        old, self.current_row = self.current_row, row
        self.refresh_row(old)
        self.refresh_row(row)


class FilePanel(QtWidgets.QWidget):
    """A filterable list of the folder's images. ``activated(row)`` when the user picks one."""

    activated = QtCore.Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = FileListModel(self)
        self.filter = QtWidgets.QLineEdit()
        keep_editing_keys(self.filter)
        self.filter.setPlaceholderText("Filter by name…")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._on_filter)
        self.view = QtWidgets.QTreeView()
        self.view.setObjectName("fileList")
        self.view.setModel(self.model)
        self.view.setRootIsDecorated(False)
        self.view.setUniformRowHeights(True)
        self.view.setAlternatingRowColors(True)
        self.view.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        # Fixed state column: ResizeToContents would ask every row for its state (thousands).
        header = self.view.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QtWidgets.QHeaderView.ResizeMode.Fixed)
        bold = QtGui.QFont(self.view.font())
        bold.setBold(True)
        fm = QtGui.QFontMetrics(bold)     # the current row is bold
        header.resizeSection(1, max(fm.horizontalAdvance(s.value) for s in DocState) + 18)
        self.view.activated.connect(self._on_activated)
        self.view.clicked.connect(self._on_activated)
        self.summary = QtWidgets.QLabel()
        self.summary.setStyleSheet("color: palette(mid);")
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.filter)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.summary)

    def _on_filter(self, text: str) -> None:
        self.model.set_filter(text)
        if self.model.current_row >= 0:
            self.select_row(self.model.current_row)

    def _on_activated(self, index: QtCore.QModelIndex) -> None:
        row = self.model.source_row(index.row())
        if row >= 0:
            self.activated.emit(row)

    def select_row(self, row: int) -> None:
        self.model.set_current(row)
        r = self.model.view_row(row)
        if r >= 0:
            idx = self.model.index(r, 0)
            sm = self.view.selectionModel()
            sm.setCurrentIndex(idx, QtCore.QItemSelectionModel.SelectionFlag.ClearAndSelect
                               | QtCore.QItemSelectionModel.SelectionFlag.Rows)
            self.view.scrollTo(idx)
