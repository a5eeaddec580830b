"""File -> Export As...: the folder's (or the current image's) painted annotations in the
exchange formats: COCO (RLE or polygons), Pascal VOC, YOLO-seg, labelme JSON.

The dialog (:class:`ExportAsDialog`) chooses the format, what to export, the polygon tolerance
and where to write. The maps are taken on the GUI thread (copies of those in memory, loaders of
the autosaved ones), the files are written by the core's exporters
(:mod:`spam_gui.core.formats`) on a worker thread, all or nothing, with a progress dialog that
names the folder and can cancel (nothing is then written). Every error ends as a message on
screen; none escapes into Qt.
"""

from __future__ import annotations

import logging
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import shiboken6

from spam_gui.app.qt import QtCore, QtWidgets
from spam_gui.app.widgets import export_progress

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.app.annotating import AnnotationController
    from spam_gui.app.document import FolderSession

log = logging.getLogger(__name__)
Qt = QtCore.Qt

FORMATS: dict[str, str] = {
    "coco": "COCO instances, RLE masks (exact)",
    "coco-polygons": "COCO instances, polygons",
    "voc": "Pascal VOC masks",
    "yolo": "YOLO-seg (labels/*.txt, dataset.yaml)",
    "labelme": "labelme JSON (one file per image)",
}
"""The formats of the dialog: key -> what the dialog shows."""

POLYGON_FORMATS = ("coco-polygons", "yolo", "labelme")


def default_target(output_dir: Path, fmt: str) -> Path:
    """Where a format goes by default: ``<output folder>/export_<format>/`` (COCO: the file
    ``instances.json`` in it)."""
    folder = Path(output_dir) / f"export_{fmt.split('-')[0]}"
    return folder / "instances.json" if fmt.startswith("coco") else folder


@dataclass(frozen=True)
class ExportChoice:
    """What to export: the format (a key of :data:`FORMATS`), the folder or only the current
    image, the polygon tolerance (pixels), where (a folder; COCO: a file) and whether files
    there may be replaced."""

    fmt: str
    current_only: bool
    tolerance: float
    target: Path
    overwrite: bool = True


class ExportAsDialog(QtWidgets.QDialog):
    """The choices of an export: format, the folder or this image, tolerance, target."""

    def __init__(self, parent: QtWidgets.QWidget, output_dir: Path, image_name: str,
                 n_annotated: int, tolerance: float) -> None:
        super().__init__(parent)
        self.setObjectName("exportAsDialog")
        self.setWindowTitle("Export As")
        self.output_dir = Path(output_dir)
        self.format = QtWidgets.QComboBox()
        self.format.setObjectName("exportFormat")
        for key, text in FORMATS.items():
            self.format.addItem(text, key)
        self.folder_scope = QtWidgets.QRadioButton(
            f"The folder ({n_annotated} annotated image{'s' if n_annotated != 1 else ''})")
        self.image_scope = QtWidgets.QRadioButton(f"This image ({image_name})")
        self.folder_scope.setObjectName("exportScopeFolder")
        self.image_scope.setObjectName("exportScopeImage")
        self.folder_scope.setChecked(True)
        self.image_scope.setEnabled(bool(image_name))
        self.tolerance = QtWidgets.QDoubleSpinBox()
        self.tolerance.setObjectName("exportTolerance")
        self.tolerance.setRange(0.0, 20.0)
        self.tolerance.setSingleStep(0.2)
        self.tolerance.setDecimals(2)
        self.tolerance.setSuffix(" px")
        self.tolerance.setValue(tolerance)
        self.tolerance.setToolTip("How far a simplified polygon may stray from the pixels' "
                                  "outline (0: the exact outline)")
        self.target = QtWidgets.QLineEdit()
        self.target.setObjectName("exportTarget")
        browse = QtWidgets.QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.overwrite = QtWidgets.QCheckBox("Replace files that are there already")
        self.overwrite.setChecked(True)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.target, 1)
        row.addWidget(browse)
        form = QtWidgets.QFormLayout()
        form.addRow("Format", self.format)
        scope = QtWidgets.QVBoxLayout()
        scope.addWidget(self.folder_scope)
        scope.addWidget(self.image_scope)
        form.addRow("Export", scope)
        form.addRow("Polygon tolerance", self.tolerance)
        form.addRow("To", row)
        form.addRow("", self.overwrite)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                             | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self._auto = ""
        self.format.currentIndexChanged.connect(self._format_changed)
        self._format_changed()

    def set_format(self, fmt: str) -> None:
        self.format.setCurrentIndex(list(FORMATS).index(fmt))

    def _format_changed(self) -> None:
        fmt = self.format.currentData()
        self.tolerance.setEnabled(fmt in POLYGON_FORMATS)
        if not self.target.text() or self.target.text() == self._auto:
            self._auto = str(default_target(self.output_dir, fmt))
            self.target.setText(self._auto)

    def _browse(self) -> None:
        fmt = self.format.currentData()
        if fmt.startswith("coco"):
            f, _ = QtWidgets.QFileDialog.getSaveFileName(self, "COCO file to write",
                                                         self.target.text(), "JSON (*.json)")
        else:
            f = QtWidgets.QFileDialog.getExistingDirectory(self, "Folder to export into",
                                                           self.target.text())
        if f:
            self.target.setText(f)

    def choice(self) -> ExportChoice:
        return ExportChoice(self.format.currentData(), self.image_scope.isChecked(),
                            float(self.tolerance.value()), Path(self.target.text().strip()),
                            self.overwrite.isChecked())


class _Cancelled(Exception):
    """Raised from the progress callback when the user cancels: the exporter stops and
    discards what it staged."""


class ExportAsFlow(QtCore.QObject):
    """Runs File -> Export As...: the dialog, the worker thread, the progress dialog and the
    message at the end (``last_result`` keeps the summary, for tests)."""

    progressed = QtCore.Signal(int, int, str)
    ended = QtCore.Signal(object)

    def __init__(self, parent: QtWidgets.QWidget, annotations: "AnnotationController", *,
                 session: Callable[[], "FolderSession | None"], row: Callable[[], int],
                 set_status: Callable[[str], Any], report_error: Callable[..., Any]) -> None:
        """``parent`` owns the dialogs; ``annotations`` gives the classes and the painted maps;
        ``session`` and ``row`` give the window's folder and current image when asked."""
        super().__init__(parent)
        self.parent_widget = parent
        self.annotations = annotations
        self._session = session
        self._row = row
        self._status = set_status
        self._error = report_error
        self.thread: threading.Thread | None = None
        self.cancel = threading.Event()
        self.dialog: QtWidgets.QProgressDialog | None = None
        self.last_result: dict[str, Any] | None = None
        self.progressed.connect(self._on_progress)
        self.ended.connect(self._on_ended)

    # -- asking ---------------------------------------------------------------------------
    def ask(self) -> None:
        """Show the dialog and start the export it asks for."""
        try:
            from spam_gui.core.params import POLYGON_DEFAULTS

            s = self._session()
            if s is None or not len(s):
                self._status("Open a folder first: there is nothing to export")
                return
            if self.busy():
                self._status("An export is running already")
                return
            rows = self.annotations.annotated_rows()
            row = self._row()
            name = s.paths[row].name if 0 <= row < len(s) else ""
            dlg = ExportAsDialog(self.parent_widget, s.output_dir, name, len(rows),
                                 POLYGON_DEFAULTS.tolerance)
            accepted = dlg.exec() == QtWidgets.QDialog.DialogCode.Accepted
            choice = dlg.choice()
            dlg.deleteLater()
            if accepted:
                self.start(choice)
        except Exception as exc:  # noqa: BLE001 - the window must never die from an export
            log.exception("Export As failed")
            self._error(f"Export failed: {exc}", traceback.format_exc())

    def busy(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    # -- running --------------------------------------------------------------------------
    def start(self, choice: ExportChoice) -> bool:
        """Start an export (False, with a message, when there is nothing to export)."""
        from spam_gui.core.formats.common import MemorySource, image_size

        s = self._session()
        row = self._row()
        ctl = self.annotations
        if s is None or self.busy():
            return False
        if ctl.classes_error:
            self._error(f"The class list cannot be read ({ctl.classes_error}); fix it "
                        "before exporting")
            return False
        if not str(choice.target).strip() or str(choice.target) == ".":
            self._error("Choose where to export to")
            return False
        rows = ctl.annotated_rows()
        if choice.current_only:
            rows = [r for r in rows if r == row]
        loaders: dict[str, Callable[[], Any]] = {}
        for r in rows:
            got = ctl.map_loader(r)
            if got is None:
                continue
            maps, load = got
            path = s.paths[r]
            loaders[path.stem] = ((lambda m=maps: m) if maps is not None else
                                  (lambda load=load, path=path: load(image_size(path))))
        if not loaders:
            what = "This image has" if choice.current_only else "No image of the folder has"
            self._error(f"{what} no painted annotation to export")
            return False
        source = MemorySource(ctl.classes, loaders, s.output_dir)
        images = ([s.paths[row]] if choice.current_only else list(s.paths))
        work = self._work(choice, source, images)
        self.cancel = threading.Event()
        label = FORMATS[choice.fmt].split(" (")[0].split(",")[0]
        self.dialog = export_progress(
            self.parent_widget, f"Exporting {len(loaders)} image(s) as {label} to "
            f"{choice.target}…", len(loaders), "exportAsProgress", "Export As", self.cancel.set)
        self._status(f"Exporting {len(loaders)} image(s) as {label} to {choice.target}…")
        self.thread = threading.Thread(target=self._run, args=(work, choice, label),
                                       name="export-as", daemon=True)
        self.thread.start()
        return True

    def _work(self, c: ExportChoice, source: Any, images: list[Path]) -> Callable[[Any], Any]:
        from spam_gui.core.formats.coco import export_coco
        from spam_gui.core.formats.labelme import export_labelme
        from spam_gui.core.formats.voc import export_voc
        from spam_gui.core.formats.yolo import export_yolo

        if c.fmt.startswith("coco"):
            return lambda progress: export_coco(
                source, images, c.target, overwrite=c.overwrite, progress=progress,
                polygons=c.fmt == "coco-polygons", tolerance=c.tolerance)
        if c.fmt == "voc":
            return lambda progress: export_voc(source, c.target, overwrite=c.overwrite,
                                               progress=progress)
        if c.fmt == "yolo":
            return lambda progress: export_yolo(source, c.target, tolerance=c.tolerance,
                                                overwrite=c.overwrite, progress=progress)
        return lambda progress: export_labelme(source, images, c.target,
                                               tolerance=c.tolerance, overwrite=c.overwrite,
                                               progress=progress)

    def _run(self, work: Callable[[Any], Any], choice: ExportChoice, label: str) -> None:
        """The worker thread: write, and report through :attr:`ended` whatever happens."""
        from spam_gui.core.errors import SpamError
        from spam_gui.core.io.images import FileWriteError

        def progress(done: int, total: int, name: str) -> None:
            if self.cancel.is_set():
                raise _Cancelled()
            self.progressed.emit(done, total, name)

        result: dict[str, Any] = {"choice": choice, "label": label, "ok": False,
                                  "cancelled": False, "error": None, "details": None}
        try:
            out = work(progress)
            result["ok"] = True
            result["written"] = out
        except _Cancelled:
            result["cancelled"] = True
        except (SpamError, FileWriteError, OSError, ValueError) as exc:
            result["error"] = str(exc)
        except BaseException as exc:  # noqa: BLE001 - reported on screen, never fatal
            result["error"] = f"Export failed: {exc}"
            result["details"] = traceback.format_exc()
        self.ended.emit(result)

    # -- results (GUI thread) ---------------------------------------------------------------
    def _on_progress(self, done: int, total: int, name: str) -> None:
        dlg = self.dialog
        if dlg is not None and shiboken6.isValid(dlg):
            dlg.setMaximum(max(total, 1))
            dlg.setValue(done)
            dlg.setLabelText(f"Exported {name} ({done}/{total})")

    def _on_ended(self, result: dict[str, Any]) -> None:
        try:
            dlg, self.dialog = self.dialog, None
            if dlg is not None and shiboken6.isValid(dlg):
                dlg.close()
                dlg.deleteLater()
            if self.thread is not None:
                self.thread.join(timeout=5)
            self.thread = None
            self.last_result = result
            c: ExportChoice = result["choice"]
            if result["cancelled"]:
                self._status(f"Export as {result['label']} cancelled; nothing was written "
                             f"to {c.target}")
            elif result["error"]:
                self._error(result["error"], result["details"])
            else:
                written = result.get("written")
                what = (f"{written['annotations']} annotations of {written['annotated']} "
                        "image(s)" if isinstance(written, dict)
                        else f"{len(written or [])} file(s)")
                self._status(f"Exported {what} as {result['label']} to {c.target}")
        except Exception as exc:  # noqa: BLE001 - the window must never die from an export
            log.exception("Export As: the result could not be shown")
            self._error(f"Export: {exc}", traceback.format_exc())
