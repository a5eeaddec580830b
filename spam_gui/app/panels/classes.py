"""The Classes dock: the folder's classes (colour, key, name, pixels on this image), the
current class, and the paint tool's brush (eraser, pixel brush and its radius, new instance).

The panel only shows and asks: every change goes out as a signal and comes back through
:meth:`ClassesPanel.set_classes` (the :class:`~spam_gui.app.annotating.AnnotationController`
owns the class list and writes ``classes.json``).
"""

from __future__ import annotations

from typing import Mapping

from spam_gui.app.panels.common import dot
from spam_gui.app.qt import QtCore, QtWidgets
from spam_gui.app.widgets import ElidedLabel, guard_wheel, keep_editing_keys
from spam_gui.core.annotation import ClassList

Qt = QtCore.Qt
IdRole = Qt.ItemDataRole.UserRole + 1


class ClassesPanel(QtWidgets.QWidget):
    """The class list and the brush controls.

    Signals: ``class_chosen(id)``, ``add_requested(name)`` (empty: ask for a name),
    ``rename_requested(id, name)``, ``recolor_requested(id)``, ``move_requested(id, delta)``,
    ``delete_requested(id)``, ``import_requested()``, ``reload_requested()``,
    ``eraser_toggled(bool)``, ``pixel_brush_toggled(bool)``, ``radius_changed(int)``,
    ``new_instance_requested()``.
    """

    class_chosen = QtCore.Signal(int)
    add_requested = QtCore.Signal(str)
    rename_requested = QtCore.Signal(int, str)
    recolor_requested = QtCore.Signal(int)
    move_requested = QtCore.Signal(int, int)
    delete_requested = QtCore.Signal(int)
    import_requested = QtCore.Signal()
    reload_requested = QtCore.Signal()
    eraser_toggled = QtCore.Signal(bool)
    pixel_brush_toggled = QtCore.Signal(bool)
    radius_changed = QtCore.Signal(int)
    new_instance_requested = QtCore.Signal()
    typing_done = QtCore.Signal()       # Enter in the search field did its work
    offer_accepted = QtCore.Signal()     # use the classes of the last folder

    COLS = ("Key", "Class", "Pixels")

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._loading = False
        self._classes = ClassList()

        self.error = QtWidgets.QLabel()
        self.error.setObjectName("classesError")
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.setStyleSheet("QLabel { background: rgba(150, 30, 30, 40); color: #c02020;"
                                 " padding: 4px; border-radius: 4px; }")
        self.reload = QtWidgets.QPushButton("Reload classes.json")
        self.reload.setObjectName("reloadClasses")
        self.reload.clicked.connect(self.reload_requested)
        self.error.hide()
        self.reload.hide()
        # a new folder starts without classes: the last folder's are offered
        self.offer = QtWidgets.QLabel()
        self.offer.setObjectName("classesOffer")
        self.offer.setWordWrap(True)
        self.offer_btn = QtWidgets.QPushButton("Use these classes")
        self.offer_btn.setObjectName("useLastClasses")
        self.offer_btn.setToolTip("Copy them into this folder's classes.json (same names, "
                                  "colours and order); you can still add, rename or delete")
        self.offer_btn.clicked.connect(self.offer_accepted)
        self.offer.hide()
        self.offer_btn.hide()

        self.search = QtWidgets.QLineEdit()
        self.search.setObjectName("classSearch")
        self.search.setPlaceholderText("Search or type a new class, Enter picks it")
        self.search.setClearButtonEnabled(True)
        self.search.setProperty("clearOnEscape", True)   # Esc: no filter, back to the image
        self.search.textChanged.connect(self._filter)
        self.search.returnPressed.connect(self._on_search_enter)
        keep_editing_keys(self.search)

        self.table = QtWidgets.QTableWidget(0, len(self.COLS))
        self.table.setObjectName("classesTable")
        self.table.setHorizontalHeaderLabels(self.COLS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.DoubleClicked
                                   | QtWidgets.QAbstractItemView.EditTrigger.EditKeyPressed)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(1, QtWidgets.QHeaderView.ResizeMode.Stretch)
        hh.setSectionResizeMode(2, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 6)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.table.itemChanged.connect(self._on_item_changed)
        self.table.cellDoubleClicked.connect(self._on_double_click)
        self.empty = QtWidgets.QLabel("No classes yet: type a name above and press Enter, "
                                      "or Import labels.txt…")
        self.empty.setObjectName("classesEmpty")
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: palette(mid);")

        def button(text: str, tip: str, name: str) -> QtWidgets.QToolButton:
            b = QtWidgets.QToolButton()
            b.setText(text)
            b.setToolTip(tip)
            b.setObjectName(name)
            b.setAutoRaise(False)
            return b

        self.add_btn = button("Add", "Add a class (the name typed above, or ask for one)",
                              "addClass")
        self.color_btn = button("Colour…", "Change the colour of the selected class",
                                "recolorClass")
        self.up_btn = button("▲", "Move the selected class up (keys follow the order)", "classUp")
        self.down_btn = button("▼", "Move the selected class down", "classDown")
        self.delete_btn = button("Delete", "Delete the selected class (its pixels become "
                                 "unlabelled, in every image)", "deleteClass")
        self.import_btn = button("Import…", "Add the classes of a labels.txt (one name a line, "
                                 "as labelme's --labels)", "importLabels")
        self.add_btn.clicked.connect(lambda: self.add_requested.emit(self.search.text().strip()))
        self.color_btn.clicked.connect(lambda: self._emit_selected(self.recolor_requested))
        self.up_btn.clicked.connect(lambda: self._emit_move(-1))
        self.down_btn.clicked.connect(lambda: self._emit_move(1))
        self.delete_btn.clicked.connect(lambda: self._emit_selected(self.delete_requested))
        self.import_btn.clicked.connect(self.import_requested)
        buttons = QtWidgets.QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.setSpacing(3)
        for b in (self.add_btn, self.color_btn, self.up_btn, self.down_btn, self.delete_btn,
                  self.import_btn):
            buttons.addWidget(b)
        buttons.addStretch(1)

        brush = QtWidgets.QGroupBox("Brush")
        fb = QtWidgets.QGridLayout(brush)
        self.eraser = QtWidgets.QCheckBox("Eraser (E)")
        self.eraser.setObjectName("eraser")
        self.eraser.setToolTip("Left button unlabels (the right button always does)")
        self.eraser.toggled.connect(lambda v: None if self._loading else self.eraser_toggled.emit(v))
        # what a click or drag paints: whole superpixels, or a round brush of pixels (X)
        self.superpixels = QtWidgets.QRadioButton("Superpixels")
        self.superpixels.setObjectName("superpixelBrush")
        self.superpixels.setToolTip("A click or drag paints the whole superpixels under the "
                                    "pointer (X switches)")
        self.pixel = QtWidgets.QRadioButton("Round brush (X)")
        self.pixel.setObjectName("pixelBrush")
        self.pixel.setToolTip("A click or drag paints the pixels inside a circle, its outline "
                              "under the pointer; size: Ctrl+wheel, [ ], or the slider")
        self.pixel.toggled.connect(
            lambda v: None if self._loading else self.pixel_brush_toggled.emit(v))
        mode = QtWidgets.QButtonGroup(self)
        mode.addButton(self.superpixels)
        mode.addButton(self.pixel)
        self.superpixels.setChecked(True)
        self.radius = QtWidgets.QSpinBox()
        self.radius.setObjectName("brushRadius")
        self.radius.setRange(0, 500)
        self.radius.setSuffix(" px")
        self.radius.setToolTip("Radius of the round brush (Ctrl+wheel on the image, [ and ])")
        self.radius.valueChanged.connect(
            lambda v: None if self._loading else self.radius_changed.emit(v))
        keep_editing_keys(self.radius)
        self.size_slider = QtWidgets.QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setObjectName("brushSize")
        self.size_slider.setRange(1, 100)
        self.size_slider.setToolTip(self.radius.toolTip())
        self.size_slider.valueChanged.connect(
            lambda v: None if self._loading else self.radius_changed.emit(v))
        self.new_instance = QtWidgets.QPushButton("New instance (N)")
        self.new_instance.setObjectName("newInstance")
        self.new_instance.setToolTip("The next stroke starts another instance of the current "
                                     "class (Shift+click fills a whole object as one instance)")
        self.new_instance.clicked.connect(self.new_instance_requested)
        # elided, not sized by its text: the dock's width must not follow the class name
        self.instance_label = ElidedLabel(mode=Qt.TextElideMode.ElideRight)
        self.instance_label.setObjectName("instanceLabel")
        self.instance_label.setStyleSheet("color: palette(mid);")
        fb.addWidget(self.superpixels, 0, 0)
        fb.addWidget(self.pixel, 0, 1)
        size = QtWidgets.QHBoxLayout()
        size.addWidget(self.size_slider, 1)
        size.addWidget(self.radius)
        fb.addWidget(QtWidgets.QLabel("Size:"), 1, 0)
        fb.addLayout(size, 1, 1)
        fb.addWidget(self.eraser, 2, 0)
        fb.addWidget(self.new_instance, 3, 0)
        fb.addWidget(self.instance_label, 3, 1)

        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.error)
        lay.addWidget(self.reload)
        lay.addWidget(self.search)
        lay.addWidget(self.offer)
        lay.addWidget(self.offer_btn)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.empty)
        lay.addLayout(buttons)
        lay.addWidget(brush)
        guard_wheel(self)
        self._update_buttons()

    # -- showing ---------------------------------------------------------------------------
    def set_classes(self, classes: ClassList, current: int,
                    counts: Mapping[int, int] | None = None) -> None:
        """Show ``classes`` (display order; keys 1–9 for the first nine), ``current`` selected."""
        self._classes = classes
        self._loading = True
        try:
            self.table.setRowCount(len(classes))
            for r, c in enumerate(classes):
                key = QtWidgets.QTableWidgetItem(str(r + 1) if r < 9 else "")
                key.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                key.setFlags(key.flags() & ~Qt.ItemFlag.ItemIsEditable)
                name = QtWidgets.QTableWidgetItem(dot(c.color, 14), c.name)
                name.setData(IdRole, c.id)
                name.setToolTip(f"class {c.id}: {c.name} ({c.color}); double-click to rename, "
                                "Colour… to recolour")
                px = QtWidgets.QTableWidgetItem()
                px.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                px.setFlags(px.flags() & ~Qt.ItemFlag.ItemIsEditable)
                for col, it in enumerate((key, name, px)):
                    self.table.setItem(r, col, it)
            self.empty.setVisible(len(classes) == 0)
            self.set_counts(counts or {})
            self.set_current(current)
        finally:
            self._loading = False
        self._filter(self.search.text())
        self._update_buttons()

    def set_counts(self, counts: Mapping[int, int]) -> None:
        """The pixel count of each class on this image."""
        was = self._loading
        self._loading = True
        try:
            for r, c in enumerate(self._classes):
                it = self.table.item(r, 2)
                if it is not None:
                    n = int(counts.get(c.id, 0))
                    it.setText(f"{n:,}" if n else "")
        finally:
            self._loading = was

    def set_current(self, class_id: int) -> None:
        """Select the row of class ``class_id`` (0: none)."""
        was = self._loading
        self._loading = True
        try:
            self.table.clearSelection()
            for r, c in enumerate(self._classes):
                if c.id == class_id:
                    self.table.selectRow(r)
                    self.table.scrollToItem(self.table.item(r, 1))
                    break
        finally:
            self._loading = was
        self._update_buttons()

    def set_error(self, message: str | None) -> None:
        """Show why ``classes.json`` could not be used (None hides it); editing is off then."""
        self.error.setText(message or "")
        self.error.setVisible(bool(message))
        self.reload.setVisible(bool(message))
        for w in (self.search, self.table, self.add_btn, self.import_btn):
            w.setEnabled(not message)
        self._update_buttons()

    def set_offer(self, text: str | None) -> None:
        """Offer a class list (``text`` says whose and which; None hides the offer)."""
        self.offer.setText(text or "")
        self.offer.setVisible(bool(text))
        self.offer_btn.setVisible(bool(text))

    def set_brush(self, eraser: bool, pixel: bool, radius: int, instance_text: str) -> None:
        """Show the brush state without emitting anything."""
        self._loading = True
        try:
            self.eraser.setChecked(eraser)
            (self.pixel if pixel else self.superpixels).setChecked(True)
            self.radius.setValue(radius)
            self.size_slider.setValue(max(1, min(radius, self.size_slider.maximum())))
            self.instance_label.setText(instance_text)
        finally:
            self._loading = False

    def selected_class(self) -> int:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return 0
        it = self.table.item(rows[0].row(), 1)
        return int(it.data(IdRole)) if it is not None else 0

    # -- asking ----------------------------------------------------------------------------
    def _update_buttons(self) -> None:
        has = self.selected_class() > 0 and not self.error.isVisible()
        for b in (self.color_btn, self.up_btn, self.down_btn, self.delete_btn):
            b.setEnabled(has)

    def _emit_selected(self, signal: QtCore.SignalInstance) -> None:
        cid = self.selected_class()
        if cid:
            signal.emit(cid)

    def _emit_move(self, delta: int) -> None:
        cid = self.selected_class()
        if cid:
            self.move_requested.emit(cid, delta)

    def _on_selection(self) -> None:
        self._update_buttons()
        if not self._loading:
            cid = self.selected_class()
            if cid:
                self.class_chosen.emit(cid)

    def _on_item_changed(self, item: QtWidgets.QTableWidgetItem) -> None:
        if self._loading or item.column() != 1:
            return
        cid = int(item.data(IdRole))
        old = self._classes.by_id(cid)
        if old is not None and item.text().strip() != old.name:
            self.rename_requested.emit(cid, item.text())

    def _on_double_click(self, row: int, col: int) -> None:
        if col == 0:
            it = self.table.item(row, 1)
            if it is not None:
                self.recolor_requested.emit(int(it.data(IdRole)))

    def _filter(self, text: str) -> None:
        t = text.strip().lower()
        for r in range(self.table.rowCount()):
            it = self.table.item(r, 1)
            self.table.setRowHidden(r, bool(t) and (it is None or t not in it.text().lower()))

    def _on_search_enter(self) -> None:
        """Enter in the search field: pick the first class shown; a name no class has is
        added as a new class."""
        text = self.search.text().strip()
        if not text:
            return
        exact = self._classes.by_name(text)
        if exact is not None:
            self.class_chosen.emit(exact.id)
        else:
            shown = [r for r in range(self.table.rowCount()) if not self.table.isRowHidden(r)]
            if shown:
                it = self.table.item(shown[0], 1)
                self.class_chosen.emit(int(it.data(IdRole)))
            else:
                self.add_requested.emit(text)
        self.search.clear()
        self.typing_done.emit()
