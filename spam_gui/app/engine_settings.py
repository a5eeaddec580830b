"""Engine settings of the window: encoder, prior source, device and checkpoints (all images).

The Controls panel's engine choices and the Preferences dialog both land here; a change that
alters what a segmentation depends on drops the cached results and recomputes the view.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from spam_gui.app.pipeline import next_request_id
from spam_gui.app.qt import QtWidgets
from spam_gui.app.settings import PreferencesDialog
from spam_gui.app.worker import WarmupJob

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.app.canvas import Canvas
    from spam_gui.app.display import DisplayController
    from spam_gui.app.document import FolderSession
    from spam_gui.app.overlays import OverlayStyle
    from spam_gui.app.panels.controls import ControlsPanel
    from spam_gui.app.panels.files import FilePanel
    from spam_gui.app.pipeline import EngineConfig, Pipeline
    from spam_gui.app.settings import Settings
    from spam_gui.app.worker import JobThread
    from spam_gui.app.widgets import ElidedLabel

class EngineSettings:
    """Shows and applies the engine settings (global to every image)."""

    def __init__(self, parent: QtWidgets.QWidget, settings: "Settings",
                 view: "DisplayController", pipeline: "Pipeline", canvas: "Canvas", *,
                 session: Callable[[], "FolderSession | None"],
                 config: Callable[[], "EngineConfig"], set_config: Callable[["EngineConfig"], Any],
                 style: Callable[[], "OverlayStyle"], set_style: Callable[["OverlayStyle"], Any],
                 engine_name: Callable[[], str], set_engine_name: Callable[[str], Any],
                 update_actions: Callable[[], Any], report_error: Callable[[str], Any]) -> None:
        """``parent`` holds the dialogs; the engine configuration, the overlay style and the
        name of the encoder loaded are the window's, read and set through ``config`` /
        ``set_config``, ``style`` / ``set_style``, ``engine_name`` / ``set_engine_name``. The
        panels, the models label and the job threads come with :meth:`attach`."""
        self.parent = parent
        self.settings = settings
        self.view = view
        self.pipeline = pipeline
        self.canvas = canvas
        self._session = session
        self._config = config
        self._set_config = set_config
        self._style = style
        self._set_style = set_style
        self._engine_name = engine_name
        self._set_engine_name = set_engine_name
        self._update_actions = update_actions
        self._error = report_error
        self.controls: ControlsPanel | None = None
        self.file_panel: FilePanel | None = None
        self.models_label: ElidedLabel | None = None
        self.fg: JobThread | None = None
        self.bg: JobThread | None = None

    def attach(self, controls: "ControlsPanel", file_panel: "FilePanel",
               models_label: "ElidedLabel", fg: "JobThread", bg: "JobThread") -> None:
        """The controls and file list shown, the status bar's models label and the job
        threads (called once they exist)."""
        self.controls = controls
        self.file_panel = file_panel
        self.models_label = models_label
        self.fg = fg
        self.bg = bg

    def show(self) -> None:
        s = self.settings
        assert self.controls is not None
        self.controls.set_engine(s.encoder_mode, s.encoder_file, s.prior_source, s.prior_folder,
                                 s.device)

    def on_edited(self) -> None:
        assert self.controls is not None
        choice = self.controls.engine_choice()
        s = self.settings
        if choice["prior_source"] == "sam" and not s.sam_checkpoint:
            self.show()   # back to the source in use: nothing is recomputed
            self._error("Prior from SAM needs a SAM checkpoint: set one in "
                              "Preferences → Models, then choose SAM again")
            return
        s.encoder_mode = choice["encoder_mode"]
        s.prior_source = choice["prior_source"]
        s.prior_folder = choice["prior_folder"]
        s.device = choice["device"]
        self.apply()

    def apply(self) -> None:
        assert self.fg is not None and self.bg is not None and self.file_panel is not None
        new = self.settings.engine_config()
        style = self.settings.style
        restyle = style != self._style()
        self._set_style(style)
        self.show()
        self.update_models_label()
        old = self._config()
        if new == old and not restyle:
            return
        if new != old:
            if (new.encoder, new.device) != (old.encoder, old.device):
                self._set_engine_name("")
                self.bg.submit(WarmupJob(next_request_id(), priority=3, group="warmup", config=new,
                                     yield_to=lambda: self.fg.busy))
            self._set_config(new)
            self._update_actions()
            self.update_models_label()
            self.fg.cancel()
            self.bg.cancel()
            self.view.outcomes.clear()
            self.pipeline.forget_priors()
            self.view.errors.clear()
            self.view.displayed = None
            self.file_panel.model.refresh_all()
            self.view.refresh()
        elif restyle and self.view.displayed is not None and self.view.displayed.layers is not None:
            self.view.displayed.layers.restyle(self.view.displayed.result.labels, style)
            self.canvas.refresh_all()

    def choose_encoder_file(self) -> None:
        f, _ = QtWidgets.QFileDialog.getOpenFileName(self.parent, "Encoder weights", self.settings.encoder_file
                                                     or str(Path.home()), "Weights (*.pt *.pth);;All files (*)")
        if f:
            self.settings.encoder_file = f
            self.settings.encoder_mode = "file"
        self.show()
        self.apply()

    def choose_prior_folder(self) -> None:
        session = self._session()
        start = self.settings.prior_folder or (str(session.folder) if session else str(Path.home()))
        d = QtWidgets.QFileDialog.getExistingDirectory(self.parent, "Folder of prior maps (<stem>.png)", start)
        if d:
            assert self.controls is not None
            self.controls.choose_prior_folder(d)
            self.on_edited()

    def open_preferences(self) -> None:
        dlg = PreferencesDialog(self.settings, self.parent)
        if dlg.exec() == QtWidgets.QDialog.DialogCode.Accepted:
            dlg.apply()
            self.apply()

    def update_models_label(self) -> None:
        assert self.controls is not None and self.models_label is not None
        c = self._config()
        o = self.view.displayed
        enc = (o.encoder_name if o is not None and o.encoder_name else self._engine_name()) or {
            "default": "shipped", "none": "none"}.get(c.encoder, Path(c.encoder).name)
        if c.encoder == "default" and enc.startswith("none"):
            self.controls.set_encoder_note("shipped weights not installed: "
                                             "colour + position only")
        elif self.settings.encoder_mode != "file":
            self.controls.set_encoder_note(None)
        sam_name = f"SAM ({Path(c.sam_checkpoint).name})" if c.sam_checkpoint else "SAM (not set)"
        prior = {"none": "none", "maps": "prior maps", "sam": sam_name, "builtin": "built-in",
                 "auto": "auto: maps, else " + ("SAM" if c.sam_checkpoint else "built-in")
                 }.get(c.prior_source, c.prior_source)
        if o is not None and c.prior_source == "auto":
            src = o.prior_info.get("source")
            prior += {"builtin": " (built-in here)", "label map": " (map here)",
                      "sam": " (SAM here)", "edited": " (edited here)"}.get(str(src), "")
        if o is not None and o.saliency_method:
            sal = o.saliency_method
        else:
            sal = f"DINO ({Path(c.dino_checkpoint).name})" if c.dino_checkpoint else "built-in"
        sam = ""
        if c.sam_checkpoint and c.prior_source not in ("sam", "auto"):
            sam = f" · SAM prompts: {Path(c.sam_checkpoint).name}"
        short_prior = {"none": "no", "maps": "map", "sam": "SAM", "builtin": "built-in",
                       "auto": "auto"}.get(c.prior_source, c.prior_source)
        if o is not None and c.prior_source == "auto":
            short_prior = {"builtin": "built-in", "label map": "map", "sam": "SAM",
                           "edited": "edited"}.get(str(o.prior_info.get("source")), "auto")
        short_sal = "DINO" if "DINO" in sal else "built-in"
        # the whole text where it fits (and in the tooltip), else a short one: never cut
        self.models_label.setText(
            f"Encoder: {enc} · Prior: {prior} · Saliency: {sal}{sam} · Device: {c.device}",
            short=f"{enc.split(' ')[0]} · {short_prior} prior · {short_sal} saliency · "
                  f"{c.device}")
