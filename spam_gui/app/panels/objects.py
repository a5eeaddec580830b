"""The Objects dock: each object of the image with its area, editable ratio, K_o and count."""

from __future__ import annotations

import math
from typing import Any

from spam_gui.app.overlays import object_color
from spam_gui.app.panels.common import dot
from spam_gui.app.qt import QtCore, QtGui, QtWidgets
from spam_gui.app.widgets import keep_editing_keys
from spam_gui.core.params import RANGES

Qt = QtCore.Qt


SortRole = Qt.ItemDataRole.UserRole + 1


class _SortItem(QtWidgets.QTableWidgetItem):
    """A table cell that sorts by its number (``SortRole``), not by its text."""

    def __lt__(self, other: QtWidgets.QTableWidgetItem) -> bool:
        a, b = self.data(SortRole), other.data(SortRole)
        if a is None or b is None:
            return super().__lt__(other)
        return a < b


def object_superpixel_counts(result: Any) -> tuple[dict[int, int], dict[int, int]]:
    """Per object: the superpixels with pixels of it (what the sidecar counts), and those that
    grew from its seeds over uncertain pixels only (the sidecar's uncertain ones)."""
    if not hasattr(result, "superpixel_object"):
        return {}, {}
    import numpy as np

    sp_obj = np.asarray(result.superpixel_object)[1:]
    if hasattr(result, "certain_superpixel_object") and not np.asarray(result.objects).all():
        certain = np.asarray(result.certain_superpixel_object())[1:]
    else:
        certain = sp_obj
    ids, n = np.unique(certain[certain > 0], return_counts=True)
    counts = {int(i): int(c) for i, c in zip(ids, n)}
    gone = sp_obj[(certain == 0) & (sp_obj > 0)]
    ids, n = np.unique(gone, return_counts=True)
    return counts, {int(i): int(c) for i, c in zip(ids, n)}


class RatioDelegate(QtWidgets.QStyledItemDelegate):
    def createEditor(self, parent: QtWidgets.QWidget, option: Any, index: QtCore.QModelIndex) -> QtWidgets.QWidget:  # noqa: N802
        ed = QtWidgets.QDoubleSpinBox(parent)
        ed.setRange(RANGES["object_ratio"].lo, RANGES["object_ratio"].hi)
        ed.setDecimals(3)
        ed.setSingleStep(0.25)
        keep_editing_keys(ed)   # Enter commits the ratio, not a window shortcut
        return ed

    def setEditorData(self, editor: QtWidgets.QWidget, index: QtCore.QModelIndex) -> None:  # noqa: N802
        try:
            editor.setValue(float(index.data(Qt.ItemDataRole.EditRole)))
        except (TypeError, ValueError):
            editor.setValue(1.0)

    def setModelData(self, editor: QtWidgets.QWidget, model: QtCore.QAbstractItemModel, index: QtCore.QModelIndex) -> None:  # noqa: N802
        editor.interpretText()
        model.setData(index, f"{editor.value():g}", Qt.ItemDataRole.EditRole)


class ObjectsPanel(QtWidgets.QWidget):
    """The objects of the current image: colour, id, area, ratio (editable), K_o, superpixels.

    ``ratio_edited(object_id, ratio)``, ``object_selected(object_id or 0)`` and
    ``selection_edited(ids)``: the rows the user picked in the list (not the ones the window
    shows selected through :meth:`show_selection` / :meth:`select_object`).
    """

    ratio_edited = QtCore.Signal(int, float)
    object_selected = QtCore.Signal(int)
    selection_edited = QtCore.Signal(list)
    reset_all = QtCore.Signal()
    merge_requested = QtCore.Signal()

    COLS = ("Object", "Area", "Ratio", "K_o", "SP", "Salient")

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QtWidgets.QTableWidget(0, len(self.COLS))
        self.table.setObjectName("objectsTable")
        self.table.setHorizontalHeaderLabels(self.COLS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        # several objects can be selected (Ctrl / Shift+click) to merge them
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.DoubleClicked
                                   | QtWidgets.QAbstractItemView.EditTrigger.EditKeyPressed
                                   | QtWidgets.QAbstractItemView.EditTrigger.AnyKeyPressed)
        self.table.setItemDelegateForColumn(2, RatioDelegate(self.table))
        # Interactive, resized once per new object set: ResizeToContents would measure every
        # row again on each cell change (tens of ms per click with many objects).
        self.table.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setDefaultSectionSize(
            self.table.fontMetrics().height() + 6)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.horizontalHeader().sortIndicatorChanged.connect(lambda *_: self._reindex())
        self.table.itemChanged.connect(self._on_item_changed)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.summary = QtWidgets.QLabel("No image")
        self.summary.setWordWrap(True)
        self.about = QtWidgets.QLabel(
            "<b>Objects</b> are the prior's regions: they place the superpixels and set their "
            "density (click: ×2, right click: ×½). What you paint are <b>instances</b> "
            "(the Instances tab).")
        self.about.setObjectName("objectsAbout")
        self.about.setWordWrap(True)
        self.about.setStyleSheet("color: palette(mid);")
        self.source = QtWidgets.QLabel()
        self.source.setObjectName("objectsSource")
        self.source.setWordWrap(True)
        self.source.setToolTip("Where this image's objects come from (Controls → Engine → "
                               "Prior; the object tools edit them)")
        self.merge_btn = QtWidgets.QPushButton("Merge")
        self.merge_btn.setObjectName("mergeObjects")
        self.merge_btn.setToolTip("Merge the selected objects into one (Shift+M); select with "
                                  "Ctrl+click here or on the image")
        self.merge_btn.clicked.connect(self.merge_requested)
        self.double_btn = QtWidgets.QPushButton("×2")
        self.half_btn = QtWidgets.QPushButton("×½")
        self.reset_btn = QtWidgets.QPushButton("Reset")
        self.reset_all_btn = QtWidgets.QPushButton("Reset all")
        for b, tip in ((self.double_btn, "Double the selected object's density"),
                       (self.half_btn, "Halve the selected object's density"),
                       (self.reset_btn, "Ratio 1 for the selected object"),
                       (self.reset_all_btn, "Ratio 1 for every object of this image (Ctrl+R)")):
            b.setToolTip(tip)
        self.double_btn.clicked.connect(lambda: self._scale_selected(2.0))
        self.half_btn.clicked.connect(lambda: self._scale_selected(0.5))
        self.reset_btn.clicked.connect(lambda: self._scale_selected(None))
        self.reset_all_btn.clicked.connect(self.reset_all)
        row = QtWidgets.QHBoxLayout()
        for b in (self.double_btn, self.half_btn, self.reset_btn, self.reset_all_btn):
            row.addWidget(b)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.about)
        lay.addWidget(self.source)
        lay.addWidget(self.summary)
        lay.addWidget(self.table, 1)
        lay.addLayout(row)
        row2 = QtWidgets.QHBoxLayout()
        row2.addWidget(self.merge_btn)
        row2.addStretch(1)
        lay.addLayout(row2)
        self._rows: dict[int, int] = {}
        self._ratios: dict[int, float] = {}
        self._shown: dict[int, tuple] = {}
        self._colors: dict[int, tuple[int, int, int]] = {}
        self._filling = False
        self._uncertain: dict[int, int] = {}
        self._syncing = False      # the window sets the selection: not the user's pick

    def clear(self, text: str = "No image") -> None:
        self._filling = True
        self.table.setRowCount(0)
        self._rows.clear()
        self._ratios.clear()
        self._shown = {}
        self.summary.setText(text)
        self.table.resizeColumnsToContents()
        self._filling = False

    def set_objects(self, result: Any, total_area: int, salient_known: bool,
                    colors: dict[int, tuple[int, int, int]] | None = None) -> None:
        """Show a segmentation result's objects (keeps the selection).

        With the same objects as shown, only the rows whose values changed are rewritten.
        """
        info = result.objects_info
        counts, extra = object_superpixel_counts(result)
        self._uncertain = extra
        ids = sorted(info)
        rows = {oid: (float(info[oid].ratio), int(info[oid].k), counts.get(oid, 0),
                      info[oid].salient if salient_known else None, int(info[oid].area))
                for oid in ids}
        n = int(result.n_superpixels)
        capped = any(getattr(info[o], "attention_capped", None) for o in ids)
        n_unc = sum(extra.values())
        self.summary.setText(f"{len(ids)} object(s), {n} superpixels"
                             + (f" ({n_unc} of uncertain pixels only)" if n_unc else "")
                             + (" · attention capped: salient objects cover so much that the "
                                "background keeps a fifth of its share" if capped else ""))
        self.summary.setToolTip(
            "Visual attention gives salient objects r times the density, but never more than "
            "K minus a fifth of the background's uniform share, so large backgrounds keep "
            "superpixels." if capped else "")
        same_set = (sorted(self._rows) == ids and self.table.rowCount() == len(ids)
                    and (colors or {}) == self._colors)
        self._colors = dict(colors or {})
        self._filling = True
        self.table.setSortingEnabled(False)   # rows must not move while they are written
        try:
            if same_set:
                for oid in ids:
                    if self._shown.get(oid) != rows[oid]:
                        self._set_row(self._rows[oid], info[oid], rows[oid][2], total_area,
                                      salient_known)
                        self._ratios[oid] = rows[oid][0]
                self._shown = rows
                self._fit_numbers()
                return
            sel = self.selected_objects()
            self.table.setUpdatesEnabled(False)
            try:
                self.table.setRowCount(len(ids))
                self._rows, self._ratios = {}, {}
                for r, oid in enumerate(ids):
                    self._rows[oid] = r
                    self._ratios[oid] = rows[oid][0]
                    self._set_row(r, info[oid], rows[oid][2], total_area, salient_known)
                self._shown = rows
                self.table.resizeColumnsToContents()
                self._fit_numbers()
            finally:
                self.table.setUpdatesEnabled(True)
        finally:
            self.table.setSortingEnabled(True)   # re-sorts by the header's column
            self._reindex()
            self._filling = False
        if sel:
            self.show_selection(sel)

    def show_pending(self, ratios: dict[int, float]) -> None:
        """Show the density ratios a click asked for while its result is being computed.

        The clicked objects' rows show their new ratio, and "…" for their superpixel counts.
        The next :meth:`set_objects` rewrites those rows with the result's own figures, or
        with the old ones where the click came to nothing.
        """
        self._filling = True
        self.table.setSortingEnabled(False)
        try:
            for oid, ratio in ratios.items():
                r = self._rows.get(int(oid))
                if r is None or math.isclose(self._ratios.get(int(oid), 1.0), float(ratio)):
                    continue
                cell = self.table.item(r, 2)
                if cell is not None:
                    cell.setText(f"{float(ratio):g}")
                    f = cell.font()
                    f.setBold(not math.isclose(float(ratio), 1.0))
                    cell.setFont(f)
                for c in (3, 4):
                    it = self.table.item(r, c)
                    if it is not None:
                        it.setText("…")
                        it.setToolTip("Being computed at full resolution")
                self._shown[int(oid)] = None      # rewritten by the next set_objects
        finally:
            self.table.setSortingEnabled(True)
            self._reindex()
            self._filling = False

    def _reindex(self) -> None:
        """Object id → table row, after a fill or a sort."""
        self._rows = {}
        for r in range(self.table.rowCount()):
            it = self.table.item(r, 0)
            if it is not None:
                self._rows[int(it.data(Qt.ItemDataRole.UserRole))] = r

    def _fit_numbers(self) -> None:
        """Widen the number columns when their values grew (K_o, SP: up to 5 digits)."""
        fm = self.table.fontMetrics()
        head = self.table.horizontalHeader()
        for c in range(self.table.columnCount()):   # room for the title and the sort arrow
            title = self.COLS[c] if c < len(self.COLS) else ""
            need = fm.horizontalAdvance(title) + head.style().pixelMetric(
                QtWidgets.QStyle.PixelMetric.PM_HeaderMarkSize) + 8
            if self.table.columnWidth(c) < need:
                self.table.setColumnWidth(c, need)
        for c in (3, 4):
            need = max(fm.horizontalAdvance("65535"), self.table.sizeHintForColumn(c)) + 8
            if self.table.columnWidth(c) < need:
                self.table.setColumnWidth(c, need)

    def _set_row(self, r: int, oi: Any, n_sp: int, total_area: int, salient_known: bool) -> None:
        def item(text: str, editable: bool = False, key: Any = None) -> QtWidgets.QTableWidgetItem:
            it = _SortItem(text)
            if key is not None:
                it.setData(SortRole, key)
            flags = Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled
            if editable:
                flags |= Qt.ItemFlag.ItemIsEditable
            it.setFlags(flags)
            return it

        c0 = item(str(oi.id))
        rgb = self._colors.get(int(oi.id)) or object_color(oi.id)
        c0.setIcon(dot(QtGui.QColor(*rgb).name(), 12))
        c0.setData(Qt.ItemDataRole.UserRole, int(oi.id))
        pct = 100.0 * oi.area / max(total_area, 1)
        # a small object is never "0.0 %": under 100 pixels they are counted
        if 0 < oi.area < 100:
            area_text = f"{int(oi.area)} px"
        elif pct >= 0.1 or oi.area == 0:
            area_text = f"{pct:.1f}%"
        else:
            area_text = f"{pct:.2f}%" if pct >= 0.01 else "<0.01%"
        ratio = item(f"{oi.ratio:g}", editable=True)
        if not math.isclose(oi.ratio, 1.0):
            f = ratio.font()
            f.setBold(True)
            ratio.setFont(f)
        sal = "–" if not salient_known or oi.salient is None else ("yes" if oi.salient else "no")
        c0.setData(SortRole, int(oi.id))
        ratio.setData(SortRole, float(oi.ratio))
        sp = item(str(n_sp), key=int(n_sp))
        unc = self._uncertain.get(int(oi.id), 0)
        sp.setToolTip("Superpixels with pixels of this object (as the export's sidecar counts "
                      "them)" + (f"; {unc} more grew from its seeds over uncertain pixels only "
                                 "(exported as uncertain, 0)" if unc else ""))
        for c, it in enumerate((c0, item(area_text, key=float(oi.area)), ratio,
                                item(str(oi.k), key=int(oi.k)), sp, item(sal))):
            self.table.setItem(r, c, it)

    def selected_object(self) -> int:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return 0
        it = self.table.item(rows[0].row(), 0)
        return int(it.data(Qt.ItemDataRole.UserRole)) if it is not None else 0

    def selected_objects(self) -> list[int]:
        """The ids of every selected object, in table order."""
        model = self.table.selectionModel()
        out = []
        for idx in sorted(model.selectedRows() if model else [], key=lambda i: i.row()):
            it = self.table.item(idx.row(), 0)
            if it is not None:
                out.append(int(it.data(Qt.ItemDataRole.UserRole)))
        return out

    def toggle_object(self, object_id: int) -> None:
        """Add an object to the selection, or take it out (as the user would in the list)."""
        r = self._rows.get(int(object_id))
        if r is None:
            return
        flag = QtCore.QItemSelectionModel.SelectionFlag
        self.table.selectionModel().select(
            self.table.model().index(r, 0), flag.Toggle | flag.Rows)
        self.table.scrollToItem(self.table.item(r, 0))

    def show_selection(self, ids: list[int]) -> None:
        """Show exactly ``ids`` selected (the window's selection; emits nothing). Unlike
        ``selectRow`` this ignores the keyboard modifiers held: a Shift+click on the image
        never range-selects rows here."""
        model = self.table.selectionModel()
        if model is None:
            return
        flag = QtCore.QItemSelectionModel.SelectionFlag
        sel = QtCore.QItemSelection()
        rows = [self._rows[i] for i in ids if i in self._rows]
        for r in rows:
            sel.select(self.table.model().index(r, 0),
                       self.table.model().index(r, self.table.columnCount() - 1))
        was = self._syncing
        self._syncing = True
        try:
            model.select(sel, flag.ClearAndSelect)
            if rows:
                model.setCurrentIndex(self.table.model().index(rows[-1], 0), flag.NoUpdate)
                self.table.scrollToItem(self.table.item(rows[-1], 0))
        finally:
            self._syncing = was

    def set_source(self, text: str) -> None:
        """Say where the objects come from (the prior source, or edited by hand)."""
        self.source.setText(text)

    def select_object(self, object_id: int) -> None:
        """Show one object selected (0 or an unknown id: none); emits nothing."""
        oid = int(object_id)
        self.show_selection([oid] if oid in self._rows else [])

    def ratio_of(self, object_id: int) -> float:
        return self._ratios.get(int(object_id), 1.0)

    def _scale_selected(self, factor: float | None) -> None:
        oid = self.selected_object()
        if not oid:
            return
        self.ratio_edited.emit(oid, 1.0 if factor is None else self.ratio_of(oid) * factor)

    def _on_item_changed(self, item: QtWidgets.QTableWidgetItem) -> None:
        if self._filling or item.column() != 2:
            return
        oid_item = self.table.item(item.row(), 0)
        if oid_item is None:
            return
        oid = int(oid_item.data(Qt.ItemDataRole.UserRole))
        try:
            v = float(item.text())
        except ValueError:
            v = float("nan")
        if not (v > 0 and math.isfinite(v)):
            self._filling = True
            item.setText(f"{self.ratio_of(oid):g}")
            self._filling = False
            return
        if not math.isclose(v, self.ratio_of(oid)):
            self.ratio_edited.emit(oid, v)

    def _on_selection(self) -> None:
        if not self._filling and not self._syncing:
            self.object_selected.emit(self.selected_object())
            self.selection_edited.emit(self.selected_objects())
