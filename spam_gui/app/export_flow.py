"""The export flow of the window: this image, the whole folder (with a progress dialog),
the output folder; results come back from :class:`spam_gui.app.worker.ExportJob`.

The files themselves are written by the core (:func:`spam_gui.core.formats.export.save_result`), with
the same rules as ``spam segment``: folder checked first, one writer at a time, one message
and a stop on a full disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import shiboken6

from spam_gui.app.pipeline import next_request_id, outcome_key
from spam_gui.app.qt import QtCore, QtGui, QtWidgets
from spam_gui.app.worker import ExportItem, ExportJob, SegmentJob

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.app.main_window import MainWindow

Qt = QtCore.Qt

class ExportFlow:
    """Exports of the window's folder; owns the running export job and its dialog."""

    def __init__(self, window: "MainWindow") -> None:
        self.w = window
        self.job: ExportJob | None = None
        self.dialog: QtWidgets.QProgressDialog | None = None
        self.last_export: dict[str, Any] | None = None

    def export_current(self) -> None:
        """Ctrl+E / Ctrl+S: write this image's files."""
        self.export_row(self.w.row)

    def export_row(self, row: int, leaving: bool = False) -> None:
        """Write image ``row``'s files (``leaving``: the image is being left, with
        :meth:`set_on_leave` on: the export runs while the next image is shown)."""
        s = self.w.session
        if s is None or not 0 <= row < len(s):
            return
        self.w.controls.flush()
        doc = s.doc(row)
        key = outcome_key(doc.key(), self.w.config)
        d = self.w.view.displayed
        o = d if d is not None and d.path == doc.path and d.key == key else \
            self.w.view.cached_outcome(doc.path, key)
        item = ExportItem(row, doc.path, doc.params, dict(doc.ratios), doc.prompts, key,
                          doc.key(), o,
                          write_annotation=self.w.annotations.export_writer(row),
                          objects=self.w.objects_edit.objects_source(row))
        job = ExportJob(next_request_id(), priority=0, group="", items=[item],
                        out_dir=s.output_dir, config=self.w.config)
        if self.dialog is None:          # a folder export keeps its own job (and dialog)
            self.job = job
        self.w.fg.submit(job)
        if not leaving:
            self.w.set_status(f"Exporting {doc.name}…")
        self.w.view.update_busy()

    def set_on_leave(self, on: bool) -> None:
        """File → Export Each Image on Leaving It."""
        self.w.settings.export_on_leave = bool(on)
        self.w.set_status("Each image is exported when you leave it" if on else
                          "Images are exported with Ctrl+S / Ctrl+E only")

    def leaving(self, row: int) -> None:
        """Image ``row`` is being left: export it when the option is on and its files are not
        up to date."""
        from spam_gui.app.document import DocState

        s = self.w.session
        if (not self.w.settings.export_on_leave or s is None or not 0 <= row < len(s)
                or not s.has_doc(row)):
            return
        if self.w.view.row_state(row)[0] == DocState.EXPORTED:
            return
        self.export_row(row, leaving=True)

    def export_folder(self) -> None:
        if self.w.session is None or not len(self.w.session):
            return
        self.w.controls.flush()
        self.w.bg.cancel(lambda j: isinstance(j, SegmentJob))
        items = []
        for row, path in enumerate(self.w.session.paths):
            params, ratios, prompts, dkey = self.w.view.session_snapshot(row)
            key = outcome_key(dkey, self.w.config)
            o = self.w.view.displayed if (self.w.view.displayed is not None and self.w.view.displayed.path == path
                                   and self.w.view.displayed.key == key) else self.w.view.cached_outcome(path, key)
            items.append(ExportItem(row, path, params, ratios, prompts, key, dkey, o,
                                    write_annotation=self.w.annotations.export_writer(row),
                                    objects=self.w.objects_edit.objects_source(row)))
        job = ExportJob(next_request_id(), priority=1, group="export", items=items,
                        out_dir=self.w.session.output_dir, config=self.w.config)
        self.job = job
        dlg = QtWidgets.QProgressDialog(f"Exporting {len(items)} images to "
                                        f"{self.w.session.output_dir}…", "Cancel", 0, len(items), self.w)
        dlg.setObjectName("exportProgress")
        dlg.setWindowTitle("Export")
        dlg.setWindowModality(Qt.WindowModality.WindowModal)
        dlg.setMinimumDuration(0)
        dlg.setAutoClose(False)
        dlg.setAutoReset(False)
        dlg.canceled.connect(job.cancel_event.set)
        dlg.show()
        self.dialog = dlg
        self.w.bg.submit(job)

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
        if summary["total"] == 1 and n_ok == 1 and self.w.session is not None:
            stem = self.w.session.paths[summary["done"][0][0]].stem
            painted = (f", {stem}_classes.png, {stem}_instances.png, classes.json"
                       if self.w.annotations.has_annotation(summary["done"][0][0]) else "")
            msg = (f"Exported {stem}.png, {stem}_objects.png{painted} and {stem}.json to "
                   f"{summary['out_dir']} (Ctrl+Shift+F opens it)")
        if summary.get("cancelled"):
            msg += " (cancelled)"
        if summary.get("stopped"):
            self.w.report_error(summary["stopped"], "\n".join(
                [summary["stopped"]] + [e for _, e in errs]))
        elif errs:
            details = "\n".join(e for _, e in errs)
            msg += f"; {len(errs)} failed"
            self.w.report_error(msg, details)
        else:
            self.w.set_status(msg)
        if self.w.session is not None:
            self.w.session.save_now()
        self.last_export = summary


    def _forget_replaced_images(self, errors: list[tuple[int, str]]) -> None:
        """Images the export refused because their content changed on disk
        (:class:`spam_gui.core.formats.export.ImageChangedError`, even with the same size and time):
        their cached pixels and results are dropped and the current one is recomputed, so that
        the next export writes labels of the image that is there now."""
        from spam_gui.core.formats.export import IMAGE_CHANGED_TEXT

        session = self.w.session
        if session is None:
            return
        for row, text in errors:
            if IMAGE_CHANGED_TEXT not in text or not 0 <= row < len(session):
                continue
            path = session.paths[row]
            self.w.pipeline.forget_image(path)
            for key in self.w.view.outcomes.keys():
                if key[0] == str(path):
                    self.w.view.outcomes.pop(key)
            if row == self.w.row:
                self.w.view.refresh(force=True)

    def open_output_folder(self) -> bool:
        """Open the export folder in the system's file manager (it is created if needed)."""
        if self.w.session is None:
            return False
        out = self.w.session.output_dir
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.w.report_error(f"{out}: cannot create the output folder ({exc.strerror or exc})")
            return False
        ok = QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(out)))
        self.w.set_status(f"Output folder: {out}" if ok else
                        f"Output folder: {out} (no file manager could be started)")
        return bool(ok)

    def choose_output_dir(self) -> None:
        if self.w.session is None:
            return
        d = QtWidgets.QFileDialog.getExistingDirectory(self.w, "Output folder for exports",
                                                       str(self.w.session.output_dir))
        if d:
            self.w.settings.set_output_dir_for(self.w.session.folder, Path(d))
            self.w.session.output_dir = Path(d)
            self.w.session.schedule_save()
            self.w.set_status(f"Exports go to {d}")

    def on_progress(self, job: ExportJob, done: int, total: int, text: str) -> None:
        dlg = self.dialog
        if job is self.job and dlg is not None and shiboken6.isValid(dlg):
            dlg.setMaximum(max(total, 1))
            dlg.setValue(done)
            if text:
                dlg.setLabelText(f"Exporting {text} ({done + 1}/{total})")
