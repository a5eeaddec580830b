"""Engine settings of the window: encoder, prior source, device and checkpoints (all images).

The Controls panel's engine choices and the Preferences dialog both land here; a change that
alters what a segmentation depends on drops the cached results and recomputes the view.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from spam_gui.app.pipeline import next_request_id
from spam_gui.app.qt import QtWidgets
from spam_gui.app.settings import PreferencesDialog
from spam_gui.app.worker import WarmupJob

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.app.main_window import MainWindow

class EngineSettings:
    """Shows and applies the engine settings (global to every image)."""

    def __init__(self, window: "MainWindow") -> None:
        self.w = window

    def show(self) -> None:
        s = self.w.settings
        self.w.controls.set_engine(s.encoder_mode, s.encoder_file, s.prior_source, s.prior_folder,
                                 s.device)

    def on_edited(self) -> None:
        choice = self.w.controls.engine_choice()
        s = self.w.settings
        if choice["prior_source"] == "sam" and not s.sam_checkpoint:
            self.show()   # back to the source in use: nothing is recomputed
            self.w.report_error("Prior from SAM needs a SAM checkpoint: set one in "
                              "Preferences → Models, then choose SAM again")
            return
        s.encoder_mode = choice["encoder_mode"]
        s.prior_source = choice["prior_source"]
        s.prior_folder = choice["prior_folder"]
        s.device = choice["device"]
        self.apply()

    def apply(self) -> None:
        new = self.w.settings.engine_config()
        style = self.w.settings.style
        restyle = style != self.w.style_
        self.w.style_ = style
        self.show()
        self.update_models_label()
        if new == self.w.config and not restyle:
            return
        if new != self.w.config:
            if (new.encoder, new.device) != (self.w.config.encoder, self.w.config.device):
                self.w.engine_name = ""
                self.w.bg.submit(WarmupJob(next_request_id(), priority=3, group="warmup", config=new))
            self.w.config = new
            self.w.update_actions()
            self.update_models_label()
            self.w.fg.cancel()
            self.w.bg.cancel()
            self.w.view.outcomes.clear()
            self.w.pipeline.forget_priors()
            self.w.view.errors.clear()
            self.w.view.displayed = None
            self.w.file_panel.model.refresh_all()
            self.w.view.refresh()
        elif restyle and self.w.view.displayed is not None and self.w.view.displayed.layers is not None:
            self.w.view.displayed.layers.restyle(self.w.view.displayed.result.labels, style)
            self.w.canvas.refresh_all()

    def choose_encoder_file(self) -> None:
        f, _ = QtWidgets.QFileDialog.getOpenFileName(self.w, "Encoder weights", self.w.settings.encoder_file
                                                     or str(Path.home()), "Weights (*.pt *.pth);;All files (*)")
        if f:
            self.w.settings.encoder_file = f
            self.w.settings.encoder_mode = "file"
        self.show()
        self.apply()

    def choose_prior_folder(self) -> None:
        start = self.w.settings.prior_folder or (str(self.w.session.folder) if self.w.session else str(Path.home()))
        d = QtWidgets.QFileDialog.getExistingDirectory(self.w, "Folder of prior maps (<stem>.png)", start)
        if d:
            self.w.controls.choose_prior_folder(d)
            self.on_edited()

    def open_preferences(self) -> None:
        dlg = PreferencesDialog(self.w.settings, self.w)
        if dlg.exec() == QtWidgets.QDialog.DialogCode.Accepted:
            dlg.apply()
            self.apply()

    def update_models_label(self) -> None:
        c = self.w.config
        o = self.w.view.displayed
        enc = (o.encoder_name if o is not None and o.encoder_name else self.w.engine_name) or {
            "default": "shipped", "none": "none"}.get(c.encoder, Path(c.encoder).name)
        if c.encoder == "default" and enc.startswith("none"):
            self.w.controls.set_encoder_note("shipped weights not installed: "
                                             "colour + position only")
        elif self.w.settings.encoder_mode != "file":
            self.w.controls.set_encoder_note(None)
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
        self.w.models_label.setText(
            f"Encoder: {enc} · Prior: {prior} · Saliency: {sal}{sam} · Device: {c.device}",
            short=f"{enc.split(' ')[0]} · {short_prior} prior · {short_sal} saliency · "
                  f"{c.device}")
