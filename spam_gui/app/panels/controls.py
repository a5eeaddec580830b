"""The Controls dock: this image's parameters, visual attention, layers, the engine."""

from __future__ import annotations

from pathlib import Path

from spam_gui.app.canvas import LAYER_NAMES, LAYER_TITLES
from spam_gui.app.document import Params
from spam_gui.app.qt import QtCore, QtWidgets
from spam_gui.app.widgets import guard_wheel, keep_editing_keys
from spam_gui.core.params import RANGES, format_coarseness


COARSENESS_SCALE = 200
"""Steps of the coarseness slider per unit (0.005 each: the cross-validated default, 0.375,
is one of them)."""


def _bounds(name: str, scale: int = 1) -> tuple:
    """A control's range from :data:`spam_gui.core.params.RANGES` (times ``scale``, for a
    slider in steps of ``1 / scale``)."""
    r = RANGES[name]
    return (r.lo, r.hi) if scale == 1 else (round(r.lo * scale), round(r.hi * scale))

Qt = QtCore.Qt


class ControlsPanel(QtWidgets.QWidget):
    """Parameters of the current image, the engine's choices, and the layers.

    ``params_edited(Params)`` fires once the user stops changing a value (debounced).
    ``engine_edited()`` fires when an engine choice changes (encoder, prior, device, VA source).
    """

    params_edited = QtCore.Signal(object)
    engine_edited = QtCore.Signal()
    layer_toggled = QtCore.Signal(str, bool)
    opacity_changed = QtCore.Signal(float)
    class_opacity_changed = QtCore.Signal(float)
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
        self.k.setRange(*_bounds("n_segments"))
        self.k.setSingleStep(50)
        self.k.setToolTip("K: the number of superpixels wanted")
        self.lambda_s = QtWidgets.QDoubleSpinBox()
        self.lambda_s.setObjectName("lambda_s")
        self.lambda_s.setRange(*_bounds("lambda_s"))
        self.lambda_s.setDecimals(2)
        self.lambda_s.setSingleStep(0.5)
        self.lambda_s.setToolTip("λs, regularity: larger gives more compact superpixels")
        self.lambda_c = QtWidgets.QDoubleSpinBox()
        self.lambda_c.setObjectName("lambda_c")
        self.lambda_c.setRange(*_bounds("lambda_c"))
        self.lambda_c.setDecimals(3)
        self.lambda_c.setSingleStep(0.02)
        self.lambda_c.setToolTip("λc, weight of colour (Lab)")
        self.n_iter = QtWidgets.QSpinBox()
        self.n_iter.setObjectName("n_iter")
        self.n_iter.setRange(*_bounds("n_iter"))
        self.n_iter.setToolTip("T, clustering iterations")
        self.smoothing = QtWidgets.QSpinBox()
        self.smoothing.setObjectName("smoothing")
        self.smoothing.setRange(*_bounds("smoothing"))
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
        # the built-in prior's coarseness (this image; undoable like the other parameters)
        self.coarseness = QtWidgets.QSlider(Qt.Orientation.Horizontal)
        self.coarseness.setObjectName("coarseness")
        self.coarseness.setRange(*_bounds("coarseness", COARSENESS_SCALE))
        self.coarseness.setSingleStep(COARSENESS_SCALE // 40)     # 0.025
        self.coarseness.setPageStep(COARSENESS_SCALE // 10)
        self.coarseness_value = QtWidgets.QLabel()
        self.coarseness_value.setMinimumWidth(self.fontMetrics().horizontalAdvance("0.000") + 4)
        self.coarseness.valueChanged.connect(
            lambda v: self.coarseness_value.setText(format_coarseness(v / COARSENESS_SCALE)))
        co_row = QtWidgets.QHBoxLayout()
        co_row.setContentsMargins(0, 0, 0, 0)
        co_row.addWidget(self.coarseness, 1)
        co_row.addWidget(self.coarseness_value)
        self.coarseness_row = QtWidgets.QWidget()
        self.coarseness_row.setLayout(co_row)
        self.set_coarseness_applies(True, None)
        f.addRow("Coarseness:", self.coarseness_row)
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
        self.attention_ratio.setRange(*_bounds("attention_ratio"))
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
        self.prior.addItem("automatic", "auto")
        self.prior.addItem("folder of prior maps", "maps")
        self.prior.addItem("SAM checkpoint", "sam")
        self.prior.addItem("built-in", "builtin")
        self.prior.addItem("none (whole image)", "none")
        self.prior.setToolTip("Where each image's objects come from; automatic takes a prior "
                              "map when the image has one, else SAM when a checkpoint is set, "
                              "else the built-in prior")
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
        self.class_opacity = QtWidgets.QSlider(Qt.Orientation.Horizontal)
        self.class_opacity.setObjectName("classOpacity")
        self.class_opacity.setRange(0, 100)
        self.class_opacity.setToolTip("Opacity of the painted classes (C shows / hides them)")
        self.class_opacity.valueChanged.connect(lambda v: self.class_opacity_changed.emit(v / 100.0))
        fd.addWidget(QtWidgets.QLabel("Class opacity:"), 4, 0)
        fd.addWidget(self.class_opacity, 4, 1)

        self.recompute = QtWidgets.QPushButton("Recompute (F5)")
        self.recompute.clicked.connect(self.recompute_requested)

        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        for w in (sp, va, disp, eng):
            lay.addWidget(w)
        lay.addWidget(self.recompute)
        lay.addStretch(1)

        for w in (self.k, self.n_iter, self.smoothing, self.coarseness):
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
            coarseness=round(self.coarseness.value() / COARSENESS_SCALE, 3),
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
            self.coarseness.setValue(int(round(p.coarseness * COARSENESS_SCALE)))
            self.coarseness_value.setText(format_coarseness(p.coarseness))
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

    def set_coarseness_applies(self, applies: bool, why: str | None) -> None:
        """Show whether the coarseness acts on this image (its objects come from the built-in
        prior) and, when it does not, why."""
        tip = ("How coarse the built-in prior's objects are (this image; Ctrl+Z undoes; "
               "Use as Default makes it everyone's)")
        self.coarseness.setToolTip(tip if applies else f"{why}. {tip}")
        self.coarseness_row.setEnabled(applies)

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

    def engine_choice(self) -> dict[str, str]:
        """The engine choices shown: encoder mode, prior source, prior folder, device."""
        return {"encoder_mode": self.encoder.currentData(), "prior_source": self.prior.currentData(),
                "prior_folder": self.prior_folder.text().strip(),
                "device": self.device.currentData()}

    def choose_prior_folder(self, folder: str) -> None:
        """Show ``folder`` as the prior-map folder and "folder of prior maps" as the source."""
        self.prior_folder.setText(folder)
        self.prior.setCurrentIndex(self.prior.findData("maps"))

    def set_encoder_note(self, text: str | None) -> None:
        """A note under the encoder choice (None hides it)."""
        self.encoder_file.setText(text or "")
        self.encoder_file.setVisible(bool(text))

    def set_saliency_text(self, text: str) -> None:
        self.saliency_label.setText(text)

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

    def set_class_opacity(self, opacity: float) -> None:
        """Show the class layer's opacity without emitting ``class_opacity_changed``."""
        self.class_opacity.blockSignals(True)
        self.class_opacity.setValue(int(round(opacity * 100)))
        self.class_opacity.blockSignals(False)

    def set_layers(self, visible: dict[str, bool], opacity: float) -> None:
        for name, cb in self.layer_boxes.items():
            cb.blockSignals(True)
            cb.setChecked(visible.get(name, True))
            cb.blockSignals(False)
        self.opacity.blockSignals(True)
        self.opacity.setValue(int(round(opacity * 100)))
        self.opacity.blockSignals(False)
