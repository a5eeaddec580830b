"""Preferences: a typed wrapper over QSettings, and the Preferences dialog.

What persists: the engine choices (encoder, device, prior source and folder, SAM and DINO
checkpoints), the default parameters for images not edited yet, the overlay style and layer
visibility, recent folders, per-folder output folders and the window layout. Checkpoints fall
back to the ``SPAM_SAM_CHECKPOINT`` / ``SPAM_DINO_CHECKPOINT`` environment variables.

The dialog's *Models* section validates a checkpoint as soon as it is chosen, in a background
thread, through the core's own loaders (so the message is the one the pipeline would give).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Callable

from spam_gui.app.document import Params
from spam_gui.app.model_downloads import ModelsPanel
from spam_gui.app.overlays import OverlayStyle
from spam_gui.app.qt import QtCore, QtGui, QtWidgets
from spam_gui.app.pipeline import EngineConfig
from spam_gui.core.prior.sources import PRIOR_SOURCES
from spam_gui.core.env import ENV_CACHE_DIR, ENV_DINO_CHECKPOINT, ENV_SAM_CHECKPOINT, env_value
from spam_gui.core.errors import CheckpointKind
from spam_gui.core.models.verify import validate_checkpoint
from spam_gui.core.params import RANGES, SAM_DEFAULTS

Qt = QtCore.Qt

MAX_RECENT = 10

# SAM's automatic masks: a grid of points per side (each point is a decoder run, so the cost
# grows with its square); "fast" is a 16 x 16 grid, a quarter of the decoder runs of SAM's 32.
SAM_PRESETS: dict[str, int] = {"full": SAM_DEFAULTS.points_per_side, "fast": 16}
SAM_POINTS_RANGE = (RANGES["sam_points_per_side"].lo, RANGES["sam_points_per_side"].hi)


def use_private_settings(folder: Path, organization: str) -> None:
    """Keep a scripted run's settings and caches out of the user's: QSettings as INI files
    under ``folder / "settings"`` (for ``organization``), the SAM/saliency disk cache under
    ``folder / "cache"``. Call before the first QSettings is made."""
    QtCore.QCoreApplication.setOrganizationName(organization)
    QtCore.QSettings.setDefaultFormat(QtCore.QSettings.Format.IniFormat)
    QtCore.QSettings.setPath(QtCore.QSettings.Format.IniFormat, QtCore.QSettings.Scope.UserScope,
                             str(folder / "settings"))
    os.environ[ENV_CACHE_DIR] = str(folder / "cache")


class Settings:
    """Typed access to the app's QSettings (``QSettings()`` unless one is given)."""

    def __init__(self, qsettings: QtCore.QSettings | None = None) -> None:
        self.q = qsettings if qsettings is not None else QtCore.QSettings()

    # -- helpers ----------------------------------------------------------------------------
    def _str(self, key: str, default: str = "") -> str:
        v = self.q.value(key, default)
        return default if v is None else str(v)

    def _bool(self, key: str, default: bool) -> bool:
        v = self.q.value(key, default)
        if isinstance(v, str):
            return v.lower() in ("1", "true", "yes", "on")
        return bool(v)

    def _float(self, key: str, default: float) -> float:
        try:
            return float(self.q.value(key, default))
        except (TypeError, ValueError):
            return default

    def _int(self, key: str, default: int) -> int:
        try:
            return int(self.q.value(key, default))
        except (TypeError, ValueError):
            return default

    def sync(self) -> None:
        self.q.sync()

    # -- engine -----------------------------------------------------------------------------
    @property
    def encoder_mode(self) -> str:            # "shipped" | "none" | "file"
        v = self._str("engine/encoder_mode", "shipped")
        return v if v in ("shipped", "none", "file") else "shipped"

    @encoder_mode.setter
    def encoder_mode(self, v: str) -> None:
        self.q.setValue("engine/encoder_mode", v)

    @property
    def encoder_file(self) -> str:
        return self._str("engine/encoder_file")

    @encoder_file.setter
    def encoder_file(self, v: str) -> None:
        self.q.setValue("engine/encoder_file", v)

    @property
    def device(self) -> str:
        v = self._str("engine/device", "auto")
        return v if v in ("auto", "cpu", "cuda") else "auto"

    @device.setter
    def device(self, v: str) -> None:
        self.q.setValue("engine/device", v)

    @property
    def prior_source(self) -> str:            # one of prior_sources.PRIOR_SOURCES
        v = self._str("engine/prior_source", "auto")
        return v if v in PRIOR_SOURCES else "auto"

    @prior_source.setter
    def prior_source(self, v: str) -> None:
        self.q.setValue("engine/prior_source", v)

    @property
    def prior_folder(self) -> str:
        return self._str("engine/prior_folder")

    @prior_folder.setter
    def prior_folder(self, v: str) -> None:
        self.q.setValue("engine/prior_folder", v)

    @property
    def sam_checkpoint(self) -> str:
        return self._str("models/sam_checkpoint") or env_value(ENV_SAM_CHECKPOINT) or ""

    @sam_checkpoint.setter
    def sam_checkpoint(self, v: str) -> None:
        self.q.setValue("models/sam_checkpoint", v)

    @property
    def dino_checkpoint(self) -> str:
        return self._str("models/dino_checkpoint") or env_value(ENV_DINO_CHECKPOINT) or ""

    @dino_checkpoint.setter
    def dino_checkpoint(self, v: str) -> None:
        self.q.setValue("models/dino_checkpoint", v)

    @property
    def sam_preset(self) -> str:
        """"full" (SAM's 32 x 32 points), "fast" (16 x 16) or "custom" (:attr:`sam_points_per_side`)."""
        v = self._str("models/sam_preset", "full")
        return v if v in (*SAM_PRESETS, "custom") else "full"

    @sam_preset.setter
    def sam_preset(self, v: str) -> None:
        self.q.setValue("models/sam_preset", v)

    @property
    def sam_points_per_side(self) -> int:
        """The points grid of SAM's automatic masks (the preset's, or the custom value)."""
        preset = self.sam_preset
        if preset in SAM_PRESETS:
            return SAM_PRESETS[preset]
        return RANGES["sam_points_per_side"].clamp(
            self._int("models/sam_points_per_side", SAM_DEFAULTS.points_per_side))

    @sam_points_per_side.setter
    def sam_points_per_side(self, v: int) -> None:
        self.q.setValue("models/sam_points_per_side", int(v))

    @property
    def sam_folder_precompute(self) -> bool:
        """With a SAM checkpoint, compute the SAM priors of the whole folder in the background."""
        return self._bool("models/sam_folder_precompute", True)

    @sam_folder_precompute.setter
    def sam_folder_precompute(self, v: bool) -> None:
        self.q.setValue("models/sam_folder_precompute", bool(v))

    def engine_config(self) -> EngineConfig:
        mode = self.encoder_mode
        encoder = {"shipped": "default", "none": "none"}.get(mode, self.encoder_file or "default")
        source = self.prior_source
        return EngineConfig(encoder=encoder, device=self.device, prior_source=source,
                            prior_folder=self.prior_folder, sam_checkpoint=self.sam_checkpoint,
                            dino_checkpoint=self.dino_checkpoint,
                            sam_points_per_side=self.sam_points_per_side)

    # -- parameters -------------------------------------------------------------------------
    @property
    def default_params(self) -> Params:
        raw = self._str("params/default")
        try:
            return Params.from_dict(json.loads(raw)) if raw else Params()
        except ValueError:
            return Params()

    @default_params.setter
    def default_params(self, p: Params) -> None:
        self.q.setValue("params/default", json.dumps(p.to_dict()))

    @property
    def precompute_next(self) -> bool:
        return self._bool("engine/precompute_next", True)

    @precompute_next.setter
    def precompute_next(self, v: bool) -> None:
        self.q.setValue("engine/precompute_next", bool(v))

    @property
    def export_on_leave(self) -> bool:
        """Export each image when another one is shown (File → Export Each Image on Leaving)."""
        return self._bool("files/export_on_leave", False)

    @export_on_leave.setter
    def export_on_leave(self, v: bool) -> None:
        self.q.setValue("files/export_on_leave", bool(v))

    # -- view -------------------------------------------------------------------------------
    @property
    def style(self) -> OverlayStyle:
        c = QtGui.QColor(self._str("view/boundary_color", "#ffe600"))
        if not c.isValid():
            c = QtGui.QColor("#ffe600")
        w = min(max(self._int("view/boundary_width", 1), 1), 8)
        return OverlayStyle(boundary_color=(c.red(), c.green(), c.blue()), boundary_width=w)

    @style.setter
    def style(self, s: OverlayStyle) -> None:
        self.q.setValue("view/boundary_color", QtGui.QColor(*s.boundary_color).name())
        self.q.setValue("view/boundary_width", int(s.boundary_width))

    def layer_visible(self, name: str, default: bool) -> bool:
        return self._bool(f"view/layer_{name}", default)

    def set_layer_visible(self, name: str, v: bool) -> None:
        self.q.setValue(f"view/layer_{name}", bool(v))

    def window_layout(self) -> tuple[object, object]:
        """(geometry, dock state) saved by :meth:`save_window_layout`, None each when unset."""
        return self.q.value("window/geometry"), self.q.value("window/state")

    def save_window_layout(self, geometry: object, state: object) -> None:
        self.q.setValue("window/geometry", geometry)
        self.q.setValue("window/state", state)

    @property
    def object_opacity(self) -> float:
        return min(max(self._float("view/object_opacity", 0.3), 0.0), 1.0)

    @object_opacity.setter
    def object_opacity(self, v: float) -> None:
        self.q.setValue("view/object_opacity", float(v))

    @property
    def class_opacity(self) -> float:
        """Opacity of the class layer (the annotation)."""
        return min(max(self._float("view/class_opacity", 0.55), 0.0), 1.0)

    @class_opacity.setter
    def class_opacity(self, v: float) -> None:
        self.q.setValue("view/class_opacity", float(v))

    # -- folders ----------------------------------------------------------------------------
    @property
    def recent_folders(self) -> list[str]:
        raw = self._str("files/recent")
        try:
            v = json.loads(raw) if raw else []
        except ValueError:
            v = []
        return [str(x) for x in v if isinstance(x, str)][:MAX_RECENT]

    def add_recent_folder(self, folder: str) -> None:
        folder = str(Path(folder))
        v = [f for f in self.recent_folders if f != folder]
        v.insert(0, folder)
        self.q.setValue("files/recent", json.dumps(v[:MAX_RECENT]))

    def clear_recent(self) -> None:
        self.q.setValue("files/recent", "[]")

    @property
    def last_dialog_dir(self) -> str:
        return self._str("files/last_dialog_dir", str(Path.home()))

    @last_dialog_dir.setter
    def last_dialog_dir(self, v: str) -> None:
        self.q.setValue("files/last_dialog_dir", v)

    def output_dir_for(self, folder: Path) -> Path:
        raw = self._str("files/output_dirs")
        try:
            d = json.loads(raw) if raw else {}
        except ValueError:
            d = {}
        v = d.get(str(Path(folder))) if isinstance(d, dict) else None
        return Path(v) if v else Path(folder) / "spam_labels"

    def set_output_dir_for(self, folder: Path, out: Path | None) -> None:
        raw = self._str("files/output_dirs")
        try:
            d = json.loads(raw) if raw else {}
        except ValueError:
            d = {}
        if not isinstance(d, dict):
            d = {}
        if out is None:
            d.pop(str(Path(folder)), None)
        else:
            d[str(Path(folder))] = str(out)
        self.q.setValue("files/output_dirs", json.dumps(d))


# ----------------------------------------------------------------------------- validation


def _validate(kind: CheckpointKind, what: str, path: str) -> str:
    """:func:`spam_gui.core.errors.validate_checkpoint`, with a missing optional dependency
    reported as a message too (the dialog shows whatever this raises)."""
    try:
        return validate_checkpoint(kind, path)
    except ImportError as exc:
        raise ValueError(f"{what} support is not available ({exc})") from None


def validate_sam_checkpoint(path: str) -> str:
    """Check a SAM checkpoint with the core (state dict + architecture from the tensor shapes;
    the model is not built). Returns a description; raises
    :class:`~spam_gui.core.errors.CheckpointError` naming the file otherwise."""
    return _validate("sam", "SAM", path)


def validate_dino_checkpoint(path: str) -> str:
    """Check a DINO (ViT) checkpoint with the core; returns a description, raises
    :class:`~spam_gui.core.errors.CheckpointError` naming the file otherwise."""
    return _validate("dino", "DINO", path)


class _Validator(QtCore.QObject):
    """Runs a validation function off the GUI thread; ``done(token, ok, text)``."""

    done = QtCore.Signal(int, bool, str)

    def start(self, token: int, fn: Callable[[str], str], path: str) -> None:
        def work() -> None:
            try:
                text = fn(path)
                self.done.emit(token, True, text)
            except Exception as exc:  # noqa: BLE001 - shown to the user as is
                self.done.emit(token, False, str(exc))

        threading.Thread(target=work, daemon=True, name="checkpoint-validation").start()


class CheckpointField(QtWidgets.QWidget):
    """A path field with Browse and Clear buttons and a live validation line."""

    changed = QtCore.Signal(str)

    def __init__(self, title: str, validate: Callable[[str], str], file_filter: str,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._validate = validate
        self._filter = file_filter
        self._title = title
        self._token = 0
        self.valid: bool | None = None
        self.edit = QtWidgets.QLineEdit()
        self.edit.setPlaceholderText("not set")
        self.edit.setClearButtonEnabled(True)
        browse = QtWidgets.QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.status = QtWidgets.QLabel()
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QtWidgets.QSizePolicy.Policy.Preferred,
                                  QtWidgets.QSizePolicy.Policy.Minimum)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QtWidgets.QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(browse)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        lay.addWidget(self.status)
        self._validator = _Validator(self)
        self._validator.done.connect(self._on_done)
        self.edit.editingFinished.connect(lambda: self.set_path(self.edit.text()))
        self.edit.textChanged.connect(lambda t: (not t) and self.set_path(""))

    def path(self) -> str:
        return self.edit.text().strip()

    def set_path(self, path: str) -> None:
        path = path.strip()
        if self.edit.text() != path:
            self.edit.setText(path)
        self._token += 1
        if not path:
            self.valid = None
            self.status.setText("<i>not set</i>")
        else:
            self.valid = None
            self.status.setText("checking…")
            self._validator.start(self._token, self._validate, path)
        self.changed.emit(path)

    def _browse(self) -> None:
        start = self.path() or str(Path.home())
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, f"Choose the {self._title}", start,
                                                        self._filter)
        if path:
            self.set_path(path)

    def _on_done(self, token: int, ok: bool, text: str) -> None:
        if token != self._token:
            return  # an older path's answer
        self.valid = ok
        color = "#2e9a43" if ok else "#c03030"
        mark = "✓" if ok else "✗"
        self.status.setText(f"<span style='color:{color}'>{mark} "
                            f"{_esc(text)}</span>")


def _luma(c: QtGui.QColor) -> float:
    return 0.299 * c.red() + 0.587 * c.green() + 0.114 * c.blue()


def _esc(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


class PreferencesDialog(QtWidgets.QDialog):
    """Models (SAM / DINO checkpoints, validated), appearance, background work."""

    def __init__(self, settings: Settings, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.setObjectName("preferences")
        self.settings = settings
        self.resize(700, 600)

        models = QtWidgets.QGroupBox("Models")
        form = QtWidgets.QFormLayout(models)
        self.sam = CheckpointField("SAM checkpoint", validate_sam_checkpoint,
                                   "PyTorch checkpoints (*.pth *.pt);;All files (*)")
        self.dino = CheckpointField("DINO checkpoint", validate_dino_checkpoint,
                                    "Checkpoints (*.pth *.pt *.safetensors);;All files (*)")
        form.addRow("SAM checkpoint:", self.sam)
        self.sam_preset = QtWidgets.QComboBox()
        self.sam_preset.setObjectName("samPreset")
        self.sam_preset.addItem(f"full ({SAM_PRESETS['full']} × {SAM_PRESETS['full']} points, "
                                "SAM's default)", "full")
        self.sam_preset.addItem(f"fast ({SAM_PRESETS['fast']} × {SAM_PRESETS['fast']} points, "
                                "¼ of the decoder runs)", "fast")
        self.sam_preset.addItem("custom", "custom")
        self.sam_points = QtWidgets.QSpinBox()
        self.sam_points.setObjectName("samPointsPerSide")
        self.sam_points.setRange(*SAM_POINTS_RANGE)
        self.sam_points.setSuffix(" points per side")
        self.sam_points.setToolTip("The grid of point prompts of SAM's automatic masks; the "
                                   "time grows with its square")
        self.sam_preset.currentIndexChanged.connect(self._on_sam_preset)
        prow = QtWidgets.QHBoxLayout()
        prow.setContentsMargins(0, 0, 0, 0)
        prow.addWidget(self.sam_preset, 1)
        prow.addWidget(self.sam_points)
        form.addRow("SAM masks:", prow)
        self.sam_folder = QtWidgets.QCheckBox("Compute the SAM objects of the whole folder in "
                                              "the background (resumes after a restart)")
        self.sam_folder.setObjectName("samFolderPrecompute")
        form.addRow("", self.sam_folder)
        form.addRow("DINO checkpoint:", self.dino)
        note = QtWidgets.QLabel(
            "SAM gives the object prior and click prompts (e.g. <tt>sam_vit_b_01ec64.pth</tt>); "
            "DINO gives the saliency for visual attention (e.g. "
            "<tt>dino_deitsmall16_pretrain.pth</tt>). Without them the app uses prior maps or "
            "its built-in object prior (no download), and its built-in saliency. Environment variables "
            f"<tt>{ENV_SAM_CHECKPOINT}</tt> / <tt>{ENV_DINO_CHECKPOINT}</tt> are used when these are empty.")
        note.setWordWrap(True)
        note.setSizePolicy(QtWidgets.QSizePolicy.Policy.Preferred,
                           QtWidgets.QSizePolicy.Policy.Minimum)
        note.setStyleSheet("color: palette(mid);")
        form.addRow(note)
        self.downloads = ModelsPanel(parent=self)   # download SAM / DINO on request
        self.downloads.model_ready.connect(self._use_downloaded_model)
        form.addRow(self.downloads)

        look = QtWidgets.QGroupBox("Appearance")
        lform = QtWidgets.QFormLayout(look)
        self.color_button = QtWidgets.QPushButton()
        self.color_button.clicked.connect(self._pick_color)
        self.width_spin = QtWidgets.QSpinBox()
        self.width_spin.setRange(1, 8)
        self.width_spin.setSuffix(" px")
        lform.addRow("Boundary colour:", self.color_button)
        lform.addRow("Boundary width:", self.width_spin)

        work = QtWidgets.QGroupBox("Background work")
        wform = QtWidgets.QFormLayout(work)
        self.precompute = QtWidgets.QCheckBox("Precompute the next image while I work")
        wform.addRow(self.precompute)

        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(models)
        lay.addWidget(look)
        lay.addWidget(work)
        lay.addStretch(1)
        lay.addWidget(buttons)
        self._load()

    def _load(self) -> None:
        s = self.settings
        self.sam.set_path(s.sam_checkpoint)
        self.dino.set_path(s.dino_checkpoint)
        self.sam_preset.setCurrentIndex(max(0, self.sam_preset.findData(s.sam_preset)))
        self.sam_points.setValue(s.sam_points_per_side)
        self._on_sam_preset()
        self.sam_folder.setChecked(s.sam_folder_precompute)
        st = s.style
        self._color = QtGui.QColor(*st.boundary_color)
        self._show_color()
        self.width_spin.setValue(st.boundary_width)
        self.precompute.setChecked(s.precompute_next)

    def _use_downloaded_model(self, kind: str, path: str) -> None:
        """A model downloaded (and verified) from Preferences → Models becomes the SAM or
        DINO checkpoint, in the field and in the settings at once (the file is there, whatever
        the dialog's OK / Cancel)."""
        field = self.sam if kind == "sam" else self.dino
        field.set_path(path)
        if kind == "sam":
            self.settings.sam_checkpoint = path
        else:
            self.settings.dino_checkpoint = path
        self.settings.sync()

    def done(self, result: int) -> None:
        self.downloads.cancel_all()   # a download stops with the dialog; the next one resumes
        super().done(result)

    def _on_sam_preset(self) -> None:
        preset = self.sam_preset.currentData()
        if preset in SAM_PRESETS:
            self.sam_points.setValue(SAM_PRESETS[preset])
        self.sam_points.setEnabled(preset == "custom")

    def _show_color(self) -> None:
        self.color_button.setText(self._color.name())
        self.color_button.setStyleSheet(
            f"QPushButton {{ background: {self._color.name()}; color: "
            f"{'#000' if _luma(self._color) > 140 else '#fff'}; }}")

    def _pick_color(self) -> None:
        c = QtWidgets.QColorDialog.getColor(self._color, self, "Boundary colour")
        if c.isValid():
            self._color = c
            self._show_color()

    def apply(self) -> None:
        s = self.settings
        s.sam_checkpoint = self.sam.path()
        s.dino_checkpoint = self.dino.path()
        s.sam_preset = self.sam_preset.currentData()
        s.sam_points_per_side = self.sam_points.value()
        s.sam_folder_precompute = self.sam_folder.isChecked()
        s.style = OverlayStyle(boundary_color=(self._color.red(), self._color.green(),
                                               self._color.blue()),
                               boundary_width=self.width_spin.value())
        s.precompute_next = self.precompute.isChecked()
        s.sync()
