"""The export flow of the window: this image, the whole folder (with a progress dialog),
the output folder; results come back from :class:`spam_gui.app.worker.ExportJob`.

The files themselves are written by the core (:func:`spam_gui.core.formats.export.save_result`), with
the same rules as ``spam segment``: folder checked first, one writer at a time, one message
and a stop on a full disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import shiboken6

from spam_gui.app.pipeline import next_request_id, outcome_key
from spam_gui.app.qt import QtCore, QtGui, QtWidgets
from spam_gui.app.widgets import export_progress
from spam_gui.app.worker import ExportItem, ExportJob, SegmentJob

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.app.annotating import AnnotationController
    from spam_gui.app.display import DisplayController
    from spam_gui.app.document import FolderSession
    from spam_gui.app.pipeline import EngineConfig, Pipeline
    from spam_gui.app.settings import Settings
    from spam_gui.app.worker import JobThread

Qt = QtCore.Qt

class ExportFlow:
    """Exports of the window's folder; owns the running export job and its dialog."""

    def __init__(self, parent: QtWidgets.QWidget, view: "DisplayController", settings: "Settings",
                 pipeline: "Pipeline", annotations: "AnnotationController", *,
                 session: Callable[[], "FolderSession | None"], row: Callable[[], int],
                 config: Callable[[], "EngineConfig"], flush_controls: Callable[[], Any],
                 objects_source: Callable[[int], Any], fg: "JobThread", bg: "JobThread",
                 set_status: Callable[[str], Any],
                 report_error: Callable[..., Any]) -> None:
        """``parent`` holds the dialogs; ``session``, ``row`` and ``config`` give the window's
        state when asked; ``flush_controls`` takes the edits typed in the controls;
        ``objects_source(row)`` is what the export writes of image ``row``'s objects."""
        self.parent = parent
        self.view = view
        self.settings = settings
        self.pipeline = pipeline
        self.annotations = annotations
        self._session = session
        self._row = row
        self._config = config
        self._flush_controls = flush_controls
        self._objects_source = objects_source
        self.fg = fg
        self.bg = bg
        self._status = set_status
        self._error = report_error
        self.job: ExportJob | None = None
        self.dialog: QtWidgets.QProgressDialog | None = None
        self.last_export: dict[str, Any] | None = None

    def export_current(self) -> None:
        """Ctrl+E / Ctrl+S: write this image's files."""
        self.export_row(self._row())

    def export_row(self, row: int, leaving: bool = False) -> None:
        """Write image ``row``'s files (``leaving``: the image is being left, with
        :meth:`set_on_leave` on: the export runs while the next image is shown)."""
        s = self._session()
        if s is None or not 0 <= row < len(s):
            return
        self._flush_controls()
        doc = s.doc(row)
        key = outcome_key(doc.key(), self._config())
        d = self.view.displayed
        o = d if d is not None and d.path == doc.path and d.key == key else \
            self.view.cached_outcome(doc.path, key)
        item = ExportItem(row, doc.path, doc.params, dict(doc.ratios), doc.prompts, key,
                          doc.key(), o,
                          write_annotation=self.annotations.export_writer(row),
                          objects=self._objects_source(row))
        job = ExportJob(next_request_id(), priority=0, group="", items=[item],
                        out_dir=s.output_dir, config=self._config())
        if self.dialog is None:          # a folder export keeps its own job (and dialog)
            self.job = job
        self.fg.submit(job)
        if not leaving:
            self._status(f"Exporting {doc.name}…")
        self.view.update_busy()

    def set_on_leave(self, on: bool) -> None:
        """File → Export Each Image on Leaving It."""
        self.settings.export_on_leave = bool(on)
        self._status("Each image is exported when you leave it" if on else
                          "Images are exported with Ctrl+S / Ctrl+E only")

    def leaving(self, row: int) -> None:
        """Image ``row`` is being left: export it when the option is on and its files are not
        up to date."""
        from spam_gui.app.document import DocState

        s = self._session()
        if (not self.settings.export_on_leave or s is None or not 0 <= row < len(s)
                or not s.has_doc(row)):
            return
        if self.view.row_state(row)[0] == DocState.EXPORTED:
            return
        self.export_row(row, leaving=True)

    def export_folder(self) -> None:
        s = self._session()
        if s is None or not len(s):
            return
        self._flush_controls()
        self.bg.cancel(lambda j: isinstance(j, SegmentJob))
        items = []
        for row, path in enumerate(s.paths):
            params, ratios, prompts, dkey = self.view.session_snapshot(row)
            key = outcome_key(dkey, self._config())
            d = self.view.displayed
            o = d if (d is not None and d.path == path and d.key == key) \
                else self.view.cached_outcome(path, key)
            items.append(ExportItem(row, path, params, ratios, prompts, key, dkey, o,
                                    write_annotation=self.annotations.export_writer(row),
                                    objects=self._objects_source(row)))
        job = ExportJob(next_request_id(), priority=1, group="export", items=items,
                        out_dir=s.output_dir, config=self._config())
        self.job = job
        self.dialog = export_progress(self.parent, f"Exporting {len(items)} images to "
                                      f"{s.output_dir}…", len(items), "exportProgress", "Export",
                                      job.cancel_event.set)
        self.bg.submit(job)

    def finished(self, job: ExportJob, summary: dict[str, Any]) -> None:
        dlg = self.dialog
        if dlg is not None and job is self.job:
            self.dialog = None
            if shiboken6.isValid(dlg):
                dlg.close()
                dlg.deleteLater()
        if job is self.job:
            self.job = None
        n_ok, errs = len(summary["done"]), summary["errors"]
        self._forget_replaced_images(errs)
        msg = f"Exported {n_ok}/{summary['total']} image(s) to {summary['out_dir']}"
        s = self._session()
        if summary["total"] == 1 and n_ok == 1 and s is not None:
            stem = s.paths[summary["done"][0][0]].stem
            painted = (f", {stem}_classes.png, {stem}_instances.png, classes.json"
                       if self.annotations.has_annotation(summary["done"][0][0]) else "")
            msg = (f"Exported {stem}.png, {stem}_objects.png{painted} and {stem}.json to "
                   f"{summary['out_dir']} (Ctrl+Shift+F opens it)")
        if summary.get("cancelled"):
            msg += " (cancelled)"
        if summary.get("stopped"):
            self._error(summary["stopped"], "\n".join(
                [summary["stopped"]] + [e for _, e in errs]))
        elif errs:
            details = "\n".join(e for _, e in errs)
            msg += f"; {len(errs)} failed"
            self._error(msg, details)
        else:
            self._status(msg)
        if s is not None:
            s.save_now()
        self.last_export = summary


    def _forget_replaced_images(self, errors: list[tuple[int, str]]) -> None:
        """Images the export refused because their content changed on disk
        (:class:`spam_gui.core.formats.export.ImageChangedError`, even with the same size and time):
        their cached pixels and results are dropped and the current one is recomputed, so that
        the next export writes labels of the image that is there now."""
        from spam_gui.core.formats.export import IMAGE_CHANGED_TEXT

        session = self._session()
        if session is None:
            return
        for row, text in errors:
            if IMAGE_CHANGED_TEXT not in text or not 0 <= row < len(session):
                continue
            path = session.paths[row]
            self.pipeline.forget_image(path)
            for key in self.view.outcomes.keys():
                if key[0] == str(path):
                    self.view.outcomes.pop(key)
            if row == self._row():
                self.view.refresh(force=True)

    def open_output_folder(self) -> bool:
        """Open the export folder in the system's file manager (it is created if needed)."""
        s = self._session()
        if s is None:
            return False
        out = s.output_dir
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._error(f"{out}: cannot create the output folder ({exc.strerror or exc})")
            return False
        ok = QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(out)))
        self._status(f"Output folder: {out}" if ok else
                        f"Output folder: {out} (no file manager could be started)")
        return bool(ok)

    def choose_output_dir(self) -> None:
        s = self._session()
        if s is None:
            return
        d = QtWidgets.QFileDialog.getExistingDirectory(self.parent, "Output folder for exports",
                                                       str(s.output_dir))
        if d:
            self.settings.set_output_dir_for(s.folder, Path(d))
            s.set_output_dir(Path(d))
            self._status(f"Exports go to {d}")

    def on_progress(self, job: ExportJob, done: int, total: int, text: str) -> None:
        dlg = self.dialog
        if job is self.job and dlg is not None and shiboken6.isValid(dlg):
            dlg.setMaximum(max(total, 1))
            dlg.setValue(done)
            if text:
                dlg.setLabelText(f"Exporting {text} ({done + 1}/{total})")
