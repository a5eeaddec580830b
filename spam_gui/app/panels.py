"""The dock widgets: the file list, the controls, the objects panel."""

from __future__ import annotations

import bisect
import math
from pathlib import Path
from typing import Any, Callable

from spam_gui.app.canvas import LAYER_NAMES, LAYER_TITLES
from spam_gui.app.document import DocState, Params
from spam_gui.app.guard import guarded
from spam_gui.app.overlays import object_color
from spam_gui.app.qt import QtCore, QtGui, QtWidgets
from spam_gui.app.widgets import guard_wheel, keep_editing_keys

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


def _dot(color: str, size: int = 10) -> QtGui.QIcon:
    pm = QtGui.QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QtGui.QPainter(pm)
    p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    p.setBrush(QtGui.QColor(color))
    p.setPen(Qt.PenStyle.NoPen)
    p.drawEllipse(1, 1, size - 2, size - 2)
    p.end()
    return QtGui.QIcon(pm)


# ----------------------------------------------------------------------------- file list


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
        self._icons = {s: _dot(c) for s, c in STATE_COLORS.items()}
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


# ----------------------------------------------------------------------------- controls


class ControlsPanel(QtWidgets.QWidget):
    """Parameters of the current image, the engine's choices, and the layers.

    ``params_edited(Params)`` fires once the user stops changing a value (debounced).
    ``engine_edited()`` fires when an engine choice changes (encoder, prior, device, VA source).
    """

    params_edited = QtCore.Signal(object)
    engine_edited = QtCore.Signal()
    layer_toggled = QtCore.Signal(str, bool)
    opacity_changed = QtCore.Signal(float)
    recompute_requested = QtCore.Signal()
    browse_encoder = QtCore.Signal()
    browse_prior_folder = QtCore.Signal()
    use_as_default = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._loading = False
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(350)
        self._timer.timeout.connect(self._emit_params)

        sp = QtWidgets.QGroupBox("Superpixels (this image)")
        f = QtWidgets.QFormLayout(sp)
        self.k = QtWidgets.QSpinBox()
        self.k.setObjectName("k")
        self.k.setRange(1, 65535)
        self.k.setSingleStep(50)
        self.k.setToolTip("K: the number of superpixels wanted")
        self.lambda_s = QtWidgets.QDoubleSpinBox()
        self.lambda_s.setObjectName("lambda_s")
        self.lambda_s.setRange(0.0, 1000.0)
        self.lambda_s.setDecimals(2)
        self.lambda_s.setSingleStep(0.5)
        self.lambda_s.setToolTip("λs, regularity: larger gives more compact superpixels")
        self.lambda_c = QtWidgets.QDoubleSpinBox()
        self.lambda_c.setObjectName("lambda_c")
        self.lambda_c.setRange(0.0, 1000.0)
        self.lambda_c.setDecimals(3)
        self.lambda_c.setSingleStep(0.02)
        self.lambda_c.setToolTip("λc, weight of colour (Lab)")
        self.n_iter = QtWidgets.QSpinBox()
        self.n_iter.setObjectName("n_iter")
        self.n_iter.setRange(0, 100)
        self.n_iter.setToolTip("T, clustering iterations")
        self.smoothing = QtWidgets.QSpinBox()
        self.smoothing.setObjectName("smoothing")
        self.smoothing.setRange(0, 5)
        self.smoothing.setToolTip("passes of a 3×3 majority filter on the labels before "
                                  "connectivity: removes speckle, straightens borders "
                                  "(0 = raw clustering labels)")
        self.ratio_mode = QtWidgets.QComboBox()
        self.ratio_mode.setObjectName("ratio_mode")
        self.ratio_mode.addItem("local (only the clicked object)", "local")
        self.ratio_mode.addItem("keep total K", "keep-total")
        f.addRow("K:", self.k)
        f.addRow("λs (regularity):", self.lambda_s)
        f.addRow("λc (colour):", self.lambda_c)
        f.addRow("Iterations:", self.n_iter)
        f.addRow("Smoothing:", self.smoothing)
        f.addRow("Ratio mode:", self.ratio_mode)
        self.default_btn = QtWidgets.QPushButton("Use as Default")
        self.default_btn.setObjectName("useAsDefault")
        self.default_btn.setToolTip("Make these parameters the default of every image not "
                                    "edited yet, in this folder and later ones")
        self.default_btn.clicked.connect(self.use_as_default)
        f.addRow("", self.default_btn)

        va = QtWidgets.QGroupBox("Visual attention")
        fv = QtWidgets.QFormLayout(va)
        self.va = QtWidgets.QCheckBox("On (denser on salient objects)")
        self.va.setObjectName("va")
        self.attention_ratio = QtWidgets.QDoubleSpinBox()
        self.attention_ratio.setObjectName("attention_ratio")
        self.attention_ratio.setRange(0.1, 20.0)
        self.attention_ratio.setSingleStep(0.5)
        self.attention_ratio.setDecimals(2)
        self.attention_ratio.setToolTip("r: density multiplier of salient objects")
        self.saliency_label = QtWidgets.QLabel()
        self.saliency_label.setStyleSheet("color: palette(mid);")
        fv.addRow(self.va)
        fv.addRow("r:", self.attention_ratio)
        fv.addRow("Saliency:", self.saliency_label)

        eng = QtWidgets.QGroupBox("Engine (all images)")
        fe = QtWidgets.QFormLayout(eng)
        self.encoder = QtWidgets.QComboBox()
        self.encoder.setObjectName("encoder")
        self.encoder.addItem("shipped encoder", "shipped")
        self.encoder.addItem("none (colour + position)", "none")
        self.encoder.addItem("weight file…", "file")
        self.encoder_file = QtWidgets.QLabel()
        self.encoder_file.setWordWrap(True)
        self.encoder_file.setStyleSheet("color: palette(mid);")
        self.prior = QtWidgets.QComboBox()
        self.prior.setObjectName("prior_source")
        self.prior.addItem("none (whole image)", "none")
        self.prior.addItem("folder of prior maps", "maps")
        self.prior.addItem("SAM checkpoint", "sam")
        self.prior_folder = QtWidgets.QLineEdit()
        self.prior_folder.setObjectName("prior_folder")
        self.prior_folder.setPlaceholderText("<image folder>/priors")
        self.prior_folder.setToolTip("Folder of <stem>.png label maps (0 = uncertain)")
        pf_browse = QtWidgets.QToolButton()
        pf_browse.setText("…")
        pf_browse.clicked.connect(self.browse_prior_folder)
        pf_row = QtWidgets.QHBoxLayout()
        pf_row.setContentsMargins(0, 0, 0, 0)
        pf_row.addWidget(self.prior_folder, 1)
        pf_row.addWidget(pf_browse)
        self.prior_folder_row = QtWidgets.QWidget()
        self.prior_folder_row.setLayout(pf_row)
        self.device = QtWidgets.QComboBox()
        self.device.setObjectName("device")
        for d in ("auto", "cpu", "cuda"):
            self.device.addItem(d, d)
        fe.addRow("Encoder:", self.encoder)
        fe.addRow("", self.encoder_file)
        fe.addRow("Prior:", self.prior)
        fe.addRow("Prior maps:", self.prior_folder_row)
        fe.addRow("Device:", self.device)

        disp = QtWidgets.QGroupBox("Layers")
        fd = QtWidgets.QGridLayout(disp)
        self.layer_boxes: dict[str, QtWidgets.QCheckBox] = {}
        for i, name in enumerate(LAYER_NAMES):
            cb = QtWidgets.QCheckBox(LAYER_TITLES[name])
            cb.setObjectName(f"layer_{name}")
            cb.toggled.connect(lambda v, n=name: self.layer_toggled.emit(n, v))
            self.layer_boxes[name] = cb
            fd.addWidget(cb, i // 2, i % 2)
        self.opacity = QtWidgets.QSlider(Qt.Orientation.Horizontal)
        self.opacity.setObjectName("opacity")
        self.opacity.setRange(0, 100)
        self.opacity.valueChanged.connect(lambda v: self.opacity_changed.emit(v / 100.0))
        fd.addWidget(QtWidgets.QLabel("Object opacity:"), 3, 0)
        fd.addWidget(self.opacity, 3, 1)

        self.recompute = QtWidgets.QPushButton("Recompute (F5)")
        self.recompute.clicked.connect(self.recompute_requested)

        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        for w in (sp, va, disp, eng):
            lay.addWidget(w)
        lay.addWidget(self.recompute)
        lay.addStretch(1)

        for w in (self.k, self.n_iter, self.smoothing):
            w.valueChanged.connect(self._changed)
        for w in (self.lambda_s, self.lambda_c, self.attention_ratio):
            w.valueChanged.connect(self._changed)
        self.va.toggled.connect(self._changed_now)
        self.ratio_mode.currentIndexChanged.connect(self._changed_now)
        self.encoder.activated.connect(self._on_encoder)
        self.prior.activated.connect(self._on_engine)
        self.device.activated.connect(self._on_engine)
        self.prior_folder.editingFinished.connect(self._on_engine)
        self.set_params(Params())
        guard_wheel(self)
        for w in self.findChildren(QtWidgets.QAbstractSpinBox):
            keep_editing_keys(w)
        keep_editing_keys(self.prior_folder)

    # -- parameters -------------------------------------------------------------------------
    def params(self) -> Params:
        return Params(
            n_segments=self.k.value(), lambda_s=round(self.lambda_s.value(), 6),
            lambda_c=round(self.lambda_c.value(), 6), n_iter=self.n_iter.value(),
            smoothing=self.smoothing.value(),
            va=self.va.isChecked(), attention_ratio=round(self.attention_ratio.value(), 6),
            ratio_mode=self.ratio_mode.currentData() or "local",
        )

    def set_params(self, p: Params) -> None:
        """Show an image's parameters without emitting ``params_edited``."""
        self._loading = True
        self._timer.stop()
        try:
            self.k.setValue(p.n_segments)
            self.lambda_s.setValue(p.lambda_s)
            self.lambda_c.setValue(p.lambda_c)
            self.n_iter.setValue(p.n_iter)
            self.smoothing.setValue(p.smoothing)
            self.va.setChecked(p.va)
            self.attention_ratio.setValue(p.attention_ratio)
            i = self.ratio_mode.findData(p.ratio_mode)
            self.ratio_mode.setCurrentIndex(max(i, 0))
        finally:
            self._loading = False

    def _changed(self) -> None:
        if not self._loading:
            self._timer.start()

    def _changed_now(self) -> None:
        if not self._loading:
            self._timer.stop()
            self._emit_params()

    def flush(self) -> None:
        """Emit a pending edit now (before switching images, say)."""
        if self._timer.isActive():
            self._timer.stop()
            self._emit_params()

    def _emit_params(self) -> None:
        self.params_edited.emit(self.params())

    # -- engine -----------------------------------------------------------------------------
    def set_sam_available(self, available: bool) -> None:
        """Offer "SAM checkpoint" as the prior only when a checkpoint is set."""
        item = self.prior.model().item(self.prior.findData("sam"))
        if item is None:
            return
        item.setEnabled(available)
        item.setToolTip("" if available else "needs a SAM checkpoint: Preferences → Models")
        self.prior.setToolTip("" if available else
                              "SAM needs a checkpoint: set one in Preferences → Models")

    def set_engine(self, encoder_mode: str, encoder_file: str, prior_source: str,
                   prior_folder: str, device: str) -> None:
        self._loading = True
        try:
            self.encoder.setCurrentIndex(max(0, self.encoder.findData(encoder_mode)))
            self.encoder_file.setText(Path(encoder_file).name if encoder_mode == "file" else "")
            self.encoder_file.setVisible(encoder_mode == "file")
            self.prior.setCurrentIndex(max(0, self.prior.findData(prior_source)))
            self.prior_folder.setText(prior_folder)
            self.prior_folder_row.setEnabled(prior_source == "maps")
            self.device.setCurrentIndex(max(0, self.device.findData(device)))
        finally:
            self._loading = False

    def _on_encoder(self) -> None:
        if self.encoder.currentData() == "file":
            self.browse_encoder.emit()
        else:
            self._on_engine()

    def _on_engine(self) -> None:
        self.prior_folder_row.setEnabled(self.prior.currentData() == "maps")
        if not self._loading:
            self.engine_edited.emit()

    def set_layers(self, visible: dict[str, bool], opacity: float) -> None:
        for name, cb in self.layer_boxes.items():
            cb.blockSignals(True)
            cb.setChecked(visible.get(name, True))
            cb.blockSignals(False)
        self.opacity.blockSignals(True)
        self.opacity.setValue(int(round(opacity * 100)))
        self.opacity.blockSignals(False)


# ----------------------------------------------------------------------------- objects


SortRole = Qt.ItemDataRole.UserRole + 1


class _SortItem(QtWidgets.QTableWidgetItem):
    """A table cell that sorts by its number (``SortRole``), not by its text."""

    def __lt__(self, other: QtWidgets.QTableWidgetItem) -> bool:
        a, b = self.data(SortRole), other.data(SortRole)
        if a is None or b is None:
            return super().__lt__(other)
        return a < b


class RatioDelegate(QtWidgets.QStyledItemDelegate):
    def createEditor(self, parent: QtWidgets.QWidget, option: Any, index: QtCore.QModelIndex) -> QtWidgets.QWidget:  # noqa: N802
        ed = QtWidgets.QDoubleSpinBox(parent)
        ed.setRange(1 / 64, 64.0)
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

    ``ratio_edited(object_id, ratio)``, ``object_selected(object_id or 0)``.
    """

    ratio_edited = QtCore.Signal(int, float)
    object_selected = QtCore.Signal(int)
    reset_all = QtCore.Signal()

    COLS = ("Object", "Area", "Ratio", "K_o", "SP", "Salient")

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QtWidgets.QTableWidget(0, len(self.COLS))
        self.table.setObjectName("objectsTable")
        self.table.setHorizontalHeaderLabels(self.COLS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
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
        lay.addWidget(self.summary)
        lay.addWidget(self.table, 1)
        lay.addLayout(row)
        self._rows: dict[int, int] = {}
        self._ratios: dict[int, float] = {}
        self._shown: dict[int, tuple] = {}
        self._colors: dict[int, tuple[int, int, int]] = {}
        self._filling = False

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
        counts = result.superpixel_counts() if hasattr(result, "superpixel_counts") else {}
        ids = sorted(info)
        rows = {oid: (float(info[oid].ratio), int(info[oid].k), counts.get(oid, 0),
                      info[oid].salient if salient_known else None, int(info[oid].area))
                for oid in ids}
        n = int(result.n_superpixels)
        self.summary.setText(f"{len(ids)} object(s), {n} superpixels")
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
            sel = self.selected_object()
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
        if sel in self._rows:
            self.select_object(sel)

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
        for c in (3, 4):
            need = max(fm.horizontalAdvance("65535"), self.table.sizeHintForColumn(c)) + 16
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
        c0.setIcon(_dot(QtGui.QColor(*rgb).name(), 12))
        c0.setData(Qt.ItemDataRole.UserRole, int(oi.id))
        pct = 100.0 * oi.area / max(total_area, 1)
        ratio = item(f"{oi.ratio:g}", editable=True)
        if not math.isclose(oi.ratio, 1.0):
            f = ratio.font()
            f.setBold(True)
            ratio.setFont(f)
        sal = "–" if not salient_known or oi.salient is None else ("yes" if oi.salient else "no")
        c0.setData(SortRole, int(oi.id))
        ratio.setData(SortRole, float(oi.ratio))
        for c, it in enumerate((c0, item(f"{pct:.1f}%", key=float(oi.area)), ratio,
                                item(str(oi.k), key=int(oi.k)), item(str(n_sp), key=int(n_sp)),
                                item(sal))):
            self.table.setItem(r, c, it)

    def selected_object(self) -> int:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return 0
        it = self.table.item(rows[0].row(), 0)
        return int(it.data(Qt.ItemDataRole.UserRole)) if it is not None else 0

    def select_object(self, object_id: int) -> None:
        r = self._rows.get(int(object_id))
        if r is None:
            self.table.clearSelection()
            return
        self.table.selectRow(r)
        self.table.scrollToItem(self.table.item(r, 0))

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
        if not self._filling:
            self.object_selected.emit(self.selected_object())
