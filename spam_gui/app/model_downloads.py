"""Preferences → Models: download the registry's models (SAM ViT-B/L/H, DINO ViT-S/16) on
request, with Download / Cancel and a progress bar per model.

Each download runs :func:`spam_gui.core.models.download_model` in a worker thread that talks to
the widgets only through Qt signals (queued into the GUI thread); every exception of the worker
becomes a message in the model's row, never an exception in the GUI. A verified download is
announced by :attr:`ModelsPanel.model_ready` ``(kind, path)`` so that the dialog fills it into
the matching checkpoint (SAM or DINO). Nothing is downloaded unless the user clicks.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from spam_gui.app.qt import QtCore, QtWidgets
from spam_gui.core.models import (DownloadCancelled, DownloadError, ModelSpec, all_models,
                                  download_model, format_size, installed_path, models_dir,
                                  partial_path)

Qt = QtCore.Qt

PROGRESS_INTERVAL_S = 0.1
"""At most this often (plus phase changes and the end) does the worker report progress."""


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _Bridge(QtCore.QObject):
    """The worker threads' only way to the GUI (queued signals; ``object`` for sizes > 2 GiB)."""

    progress = QtCore.Signal(str, object, object, str)   # name, done, total | None, phase
    finished = QtCore.Signal(str, str, bool)              # name, path, already installed
    failed = QtCore.Signal(str, str)                      # name, message
    cancelled = QtCore.Signal(str)                        # name


def _emit(signal: QtCore.SignalInstance, *args: object) -> None:
    try:
        signal.emit(*args)
    except RuntimeError:   # the panel is gone (dialog closed): nobody to tell
        pass


class _Job:
    def __init__(self, spec: ModelSpec, folder: Path, bridge: _Bridge) -> None:
        self.spec = spec
        self.cancel = threading.Event()
        self._last = 0.0
        self._phase = ""
        self.thread = threading.Thread(target=self._run, args=(folder, bridge), daemon=True,
                                       name=f"model-download-{spec.name}")

    def _run(self, folder: Path, bridge: _Bridge) -> None:
        name = self.spec.name

        def progress(done: int, total: int | None, phase: str) -> None:
            now = time.monotonic()
            if phase != self._phase or now - self._last >= PROGRESS_INTERVAL_S or done == total:
                self._phase, self._last = phase, now
                _emit(bridge.progress, name, done, total, phase)

        try:
            res = download_model(self.spec, folder, progress=progress,
                                 cancelled=self.cancel.is_set)
            _emit(bridge.finished, name, str(res.path), res.already_installed)
        except DownloadCancelled:
            _emit(bridge.cancelled, name)
        except DownloadError as exc:
            _emit(bridge.failed, name, str(exc))
        except BaseException as exc:  # noqa: BLE001 - the GUI must never die from the worker
            _emit(bridge.failed, name, f"{type(exc).__name__}: {exc}")


class _Row:
    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        size = (format_size(spec.size) if spec.size is not None
                else f"about {format_size(spec.approx_size)}")
        self.title = QtWidgets.QLabel(f"<b>{_esc(spec.title)}</b> · {size} · {spec.licence}")
        self.title.setToolTip(
            f"{spec.description}\nFrom {spec.url}\nChecked: {spec.verification()}\n"
            f"Licence: {spec.licence} ({spec.licence_url})")
        self.status = QtWidgets.QLabel()
        self.status.setObjectName(f"modelStatus_{spec.name}")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setSizePolicy(QtWidgets.QSizePolicy.Policy.Preferred,
                                  QtWidgets.QSizePolicy.Policy.Minimum)
        self.bar = QtWidgets.QProgressBar()
        self.bar.setObjectName(f"modelProgress_{spec.name}")
        self.bar.setVisible(False)
        self.bar.setMaximumHeight(14)
        self.download = QtWidgets.QPushButton("Download")
        self.download.setObjectName(f"modelDownload_{spec.name}")
        self.cancel = QtWidgets.QPushButton("Cancel")
        self.cancel.setObjectName(f"modelCancel_{spec.name}")
        self.cancel.setEnabled(False)


class ModelsPanel(QtWidgets.QWidget):
    """The registry's models, each with its status, Download / Cancel and a progress bar."""

    model_ready = QtCore.Signal(str, str)
    """``(kind, path)``: a model was downloaded (or found installed) and verified; ``kind``
    is ``"sam"`` or ``"dino"``."""

    def __init__(self, folder: str | Path | None = None,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelDownloads")
        self.folder = Path(folder) if folder is not None else models_dir()
        self._bridge = _Bridge(self)
        self._bridge.progress.connect(self._on_progress)
        self._bridge.finished.connect(self._on_finished)
        self._bridge.failed.connect(self._on_failed)
        self._bridge.cancelled.connect(self._on_cancelled)
        self.jobs: dict[str, _Job] = {}
        self.rows: dict[str, _Row] = {}
        self.last_message: dict[str, str] = {}

        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        head = QtWidgets.QLabel(
            "Download a model from its official site (only when you click Download); it is "
            "checked against its published checksum before it is used and then set as the "
            f"SAM or DINO checkpoint above. Saved in <tt>{_esc(str(self.folder))}</tt>. "
            "Cancel (or closing Preferences) keeps what came: the next download resumes.")
        head.setWordWrap(True)
        head.setSizePolicy(QtWidgets.QSizePolicy.Policy.Preferred,
                           QtWidgets.QSizePolicy.Policy.Minimum)
        head.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(head)
        grid = QtWidgets.QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setColumnStretch(0, 1)
        for i, spec in enumerate(all_models()):
            row = _Row(spec)
            self.rows[spec.name] = row
            grid.addWidget(row.title, 2 * i, 0)
            grid.addWidget(row.download, 2 * i, 1)
            grid.addWidget(row.cancel, 2 * i, 2)
            sub = QtWidgets.QVBoxLayout()
            sub.setContentsMargins(12, 0, 0, 4)
            sub.setSpacing(1)
            sub.addWidget(row.bar)
            sub.addWidget(row.status)
            grid.addLayout(sub, 2 * i + 1, 0, 1, 3)
            row.download.clicked.connect(lambda _=False, n=spec.name: self.download(n))
            row.cancel.clicked.connect(lambda _=False, n=spec.name: self.cancel(n))
            self._show_idle(row)
        lay.addLayout(grid)

    # -- state ---------------------------------------------------------------------------------
    def _show_idle(self, row: _Row, note: str = "") -> None:
        final = installed_path(row.spec, self.folder)
        part = partial_path(row.spec, self.folder)
        if final.is_file():
            text = f"installed: {_esc(str(final))}"
            row.download.setText("Use")
            row.download.setToolTip("Check the file against its published checksum and set it "
                                    "as the checkpoint")
        elif part.is_file():
            text = (f"partly downloaded ({format_size(part.stat().st_size)}); Download "
                    "resumes it")
            row.download.setText("Resume")
            row.download.setToolTip("")
        else:
            text = "not installed"
            row.download.setText("Download")
            row.download.setToolTip(f"Download {row.spec.url}")
        row.status.setText((note + "<br>" if note else "") + f"<i>{text}</i>")
        row.download.setEnabled(True)
        row.cancel.setEnabled(False)
        row.bar.setVisible(False)

    def is_running(self, name: str | None = None) -> bool:
        if name is not None:
            job = self.jobs.get(name)
            return job is not None and job.thread.is_alive()
        return any(j.thread.is_alive() for j in self.jobs.values())

    # -- actions -------------------------------------------------------------------------------
    def download(self, name: str) -> None:
        """Start downloading ``name`` (a registry name) in a worker thread."""
        if self.is_running(name):
            return
        row = self.rows[name]
        job = _Job(row.spec, self.folder, self._bridge)
        self.jobs[name] = job
        row.download.setEnabled(False)
        row.cancel.setEnabled(True)
        row.bar.setVisible(True)
        row.bar.setRange(0, 0)      # busy until the size is known
        row.status.setText("connecting…")
        job.thread.start()

    def cancel(self, name: str) -> None:
        job = self.jobs.get(name)
        if job is not None:
            job.cancel.set()
            self.rows[name].cancel.setEnabled(False)
            self.rows[name].status.setText("cancelling…")

    def cancel_all(self) -> None:
        for name, job in self.jobs.items():
            if job.thread.is_alive():
                self.cancel(name)

    def wait(self, timeout: float = 10.0) -> bool:
        """Wait (bounded) for the worker threads to end; True if they all did."""
        end = time.monotonic() + timeout
        for job in list(self.jobs.values()):
            job.thread.join(max(0.0, end - time.monotonic()))
        return not self.is_running()

    # -- worker reports (GUI thread) -----------------------------------------------------------
    def _on_progress(self, name: str, done: object, total: object, phase: str) -> None:
        row = self.rows.get(name)
        job = self.jobs.get(name)
        if row is None or job is None or job.cancel.is_set():
            return
        d = int(done)  # type: ignore[call-overload]
        t = int(total) if total else 0  # type: ignore[call-overload]
        verb = "downloading" if phase == "download" else "verifying"
        if t > 0:
            row.bar.setRange(0, 1000)
            row.bar.setValue(int(1000 * min(d, t) / t))
            row.status.setText(f"{verb}… {format_size(d)} of {format_size(t)}")
        else:
            row.bar.setRange(0, 0)
            row.status.setText(f"{verb}… {format_size(d)}")

    def _on_finished(self, name: str, path: str, already: bool) -> None:
        row = self.rows.get(name)
        if row is None:
            return
        what = "already installed, verified" if already else "downloaded and verified"
        self.last_message[name] = what
        self._show_idle(row, f"<span style='color:#2e9a43'>✓ {what}; set as the "
                             f"{row.spec.kind.upper()} checkpoint</span>")
        self.model_ready.emit(row.spec.kind, path)

    def _on_failed(self, name: str, message: str) -> None:
        row = self.rows.get(name)
        if row is None:
            return
        self.last_message[name] = message
        self._show_idle(row, f"<span style='color:#c03030'>✗ {_esc(message)}</span>")

    def _on_cancelled(self, name: str) -> None:
        row = self.rows.get(name)
        if row is None:
            return
        self.last_message[name] = "cancelled"
        self._show_idle(row, "cancelled; what came is kept and the next download resumes")
