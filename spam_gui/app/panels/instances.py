"""The Instances dock: what was painted on this image, one row per instance (its class and
pixels), to select (the canvas outlines it), relabel, merge and delete — as labelme's polygon
list or CVAT's objects sidebar.

The panel only shows and asks: every change goes out as a signal to the
:class:`~spam_gui.app.annotating.AnnotationController` (one undo step each) and comes back
through :meth:`InstancesPanel.set_instances`.
"""

from __future__ import annotations

from typing import Sequence

from spam_gui.app.panels.common import dot
from spam_gui.app.qt import QtCore, QtGui, QtWidgets
from spam_gui.core.annotation import ClassList

Qt = QtCore.Qt
IdRole = Qt.ItemDataRole.UserRole + 1

WHAT_IS_WHAT = (
    "<b>An instance</b> is one thing you painted, of one class (N starts another; "
    "Shift+click fills an object as one): what the exports hold. <b>Objects</b> (Objects tab) "
    "are the prior's regions that place the superpixels; they are not labels.")


class _Row(QtWidgets.QTableWidgetItem):
    """A cell that sorts by its number."""

    def __lt__(self, other: QtWidgets.QTableWidgetItem) -> bool:
        a, b = self.data(IdRole + 1), other.data(IdRole + 1)
        if a is None or b is None:
            return super().__lt__(other)
        return a < b


class InstancesPanel(QtWidgets.QWidget):
    """The instances of the current image.

    Signals: ``selection_changed(ids)``, ``relabel_requested(ids, class_id)``,
    ``delete_requested(ids)``, ``merge_requested(ids)``.
    """

    selection_changed = QtCore.Signal(list)
    relabel_requested = QtCore.Signal(list, int)
    delete_requested = QtCore.Signal(list)
    merge_requested = QtCore.Signal(list)

    COLS = ("Instance", "Class", "Pixels")

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._classes = ClassList()
        self._loading = False
        self.about = QtWidgets.QLabel(WHAT_IS_WHAT)
        self.about.setObjectName("instancesAbout")
        self.about.setWordWrap(True)
        self.about.setStyleSheet("color: palette(mid);")
        self.table = QtWidgets.QTableWidget(0, len(self.COLS))
        self.table.setObjectName("instancesTable")
        self.table.setHorizontalHeaderLabels(self.COLS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Interactive)
        hh.setStretchLastSection(True)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 6)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.summary = QtWidgets.QLabel("Nothing painted on this image")
        self.summary.setObjectName("instancesSummary")
        self.relabel = QtWidgets.QComboBox()
        self.relabel.setObjectName("relabelClass")
        self.relabel.setToolTip("The class to give the selected instances")
        self.relabel_btn = QtWidgets.QPushButton("Relabel")
        self.relabel_btn.setObjectName("relabelInstances")
        self.relabel_btn.setToolTip("Give the selected instances the class chosen beside "
                                    "(undoable)")
        self.relabel_btn.clicked.connect(self._emit_relabel)
        self.merge_btn = QtWidgets.QPushButton("Merge")
        self.merge_btn.setObjectName("mergeInstances")
        self.merge_btn.setToolTip("Make the selected instances one (the largest one's id and "
                                  "class; undoable)")
        self.merge_btn.clicked.connect(lambda: self._emit(self.merge_requested, 2))
        self.delete_btn = QtWidgets.QPushButton("Delete")
        self.delete_btn.setObjectName("deleteInstances")
        self.delete_btn.setToolTip("Unlabel the selected instances' pixels (Delete; undoable)")
        self.delete_btn.clicked.connect(lambda: self._emit(self.delete_requested, 1))
        # Delete in the list deletes (only while the list has the keyboard)
        delete = QtGui.QAction("Delete Instances", self.table)
        delete.setObjectName("action_delete_instances")
        delete.setShortcut(QtGui.QKeySequence(QtGui.QKeySequence.StandardKey.Delete))
        delete.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        delete.triggered.connect(lambda: self._emit(self.delete_requested, 1))
        self.table.addAction(delete)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.relabel, 1)
        row.addWidget(self.relabel_btn)
        row2 = QtWidgets.QHBoxLayout()
        row2.addWidget(self.merge_btn)
        row2.addWidget(self.delete_btn)
        row2.addStretch(1)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.about)
        lay.addWidget(self.summary)
        lay.addWidget(self.table, 1)
        lay.addLayout(row)
        lay.addLayout(row2)
        self._update_buttons()

    # -- showing ---------------------------------------------------------------------------
    def set_instances(self, rows: Sequence[tuple[int, int, int]], classes: ClassList) -> None:
        """Show ``rows`` of (instance id, class id, pixels); keeps the selection of the ids
        still there (emits nothing)."""
        keep = set(self.selected_instances())
        self._classes = classes
        self._loading = True
        self.table.setSortingEnabled(False)
        try:
            self.table.setRowCount(len(rows))
            total = 0
            for r, (iid, cid, px) in enumerate(rows):
                c = classes.by_id(cid)
                it = _Row(str(iid))
                it.setData(IdRole, int(iid))
                it.setData(IdRole + 1, int(iid))
                if c is not None:
                    it.setIcon(dot(c.color, 12))
                name = _Row(c.name if c is not None else f"class {cid}")
                n = _Row(f"{px:,}")
                n.setData(IdRole + 1, int(px))
                n.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                for col, cell in enumerate((it, name, n)):
                    self.table.setItem(r, col, cell)
                total += px
            self.summary.setText(f"{len(rows)} instance(s), {total:,} pixels labelled" if rows
                                 else "Nothing painted on this image")
            self.table.resizeColumnsToContents()
            self._fit_headers()
            self.table.setSortingEnabled(True)
            self.show_selection([i for i in (r[0] for r in rows) if i in keep])
            current = self.relabel.currentData()
            self.relabel.clear()
            for c in classes:
                self.relabel.addItem(dot(c.color, 12), c.name, c.id)
            i = self.relabel.findData(current)
            if i >= 0:
                self.relabel.setCurrentIndex(i)
        finally:
            self._loading = False
        self._update_buttons()

    def _fit_headers(self) -> None:
        """Room for each column's title and the sort arrow (no "nstance")."""
        fm = self.table.fontMetrics()
        head = self.table.horizontalHeader()
        mark = head.style().pixelMetric(QtWidgets.QStyle.PixelMetric.PM_HeaderMarkSize)
        for c, title in enumerate(self.COLS):
            need = fm.horizontalAdvance(title) + mark + 16
            if self.table.columnWidth(c) < need:
                self.table.setColumnWidth(c, need)

    def show_selection(self, ids: list[int]) -> None:
        """Select exactly the rows of ``ids`` (emits nothing)."""
        model = self.table.selectionModel()
        flag = QtCore.QItemSelectionModel.SelectionFlag
        sel = QtCore.QItemSelection()
        want = set(ids)
        for r in range(self.table.rowCount()):
            it = self.table.item(r, 0)
            if it is not None and int(it.data(IdRole)) in want:
                sel.select(self.table.model().index(r, 0),
                           self.table.model().index(r, self.table.columnCount() - 1))
        was = self._loading
        self._loading = True
        try:
            model.select(sel, flag.ClearAndSelect)
        finally:
            self._loading = was
        self._update_buttons()

    def row_of(self, instance_id: int) -> int:
        for r in range(self.table.rowCount()):
            it = self.table.item(r, 0)
            if it is not None and int(it.data(IdRole)) == int(instance_id):
                return r
        return -1

    def selected_instances(self) -> list[int]:
        model = self.table.selectionModel()
        out = []
        for idx in sorted(model.selectedRows() if model else [], key=lambda i: i.row()):
            it = self.table.item(idx.row(), 0)
            if it is not None:
                out.append(int(it.data(IdRole)))
        return out

    # -- asking ----------------------------------------------------------------------------
    def _update_buttons(self) -> None:
        n = len(self.selected_instances())
        self.relabel_btn.setEnabled(n > 0 and self.relabel.count() > 0)
        self.delete_btn.setEnabled(n > 0)
        self.merge_btn.setEnabled(n > 1)

    def _emit(self, signal: QtCore.SignalInstance, least: int) -> None:
        ids = self.selected_instances()
        if len(ids) >= least:
            signal.emit(ids)

    def _emit_relabel(self) -> None:
        ids = self.selected_instances()
        cid = self.relabel.currentData()
        if ids and cid:
            self.relabel_requested.emit(ids, int(cid))

    def _on_selection(self) -> None:
        self._update_buttons()
        if not self._loading:
            self.selection_changed.emit(self.selected_instances())
