"""SAM a CPU user can afford: the SAM priors of the whole folder, computed in the background.

With a SAM checkpoint set (and SAM as the source of an image's objects: prior source "SAM", or
"automatic" for an image without a prior map), :class:`SamFolderPrecompute` runs one
:class:`SamFolderJob` on the background worker, at the lowest priority: after the image in
view (the interactive worker) and the next one (the precompute). The job goes through the
folder from the image in view onwards; it steps aside whenever other work is waiting (between
two images, and inside SAM's automatic masks at each progress report) and is started again
when the workers are idle. Each prior goes into SAM's disk cache
(:func:`spam_gui.core.prior.sam.sam_prior`), so the work survives a restart: images done before are
read back in a moment. Progress shows in the Images list (the row's state becomes "prior
ready") and in the status bar ("SAM objects 3/20").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from spam_gui.app.pipeline import Cancelled, EngineConfig, Pipeline, next_request_id
from spam_gui.core.errors import SpamError
from spam_gui.app.qt import QtWidgets
from spam_gui.app.worker import Job, JobThread

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.app.display import DisplayController
    from spam_gui.app.document import FolderSession
    from spam_gui.app.pipeline import EngineConfig
    from spam_gui.app.settings import Settings
    from spam_gui.app.worker import JobThread

LOWEST_PRIORITY = 9


class _StepAside(Cancelled):
    """Other work is waiting: stop now, start again later (what is done is in the cache)."""


@dataclass
class SamFolderJob(Job):
    """The SAM priors of ``items`` (row, path), one after the other, into SAM's disk cache."""

    quiet = True   # no busy indicator: it has its own status label
    items: list[tuple[int, Path]] = field(default_factory=list)
    config: EngineConfig = EngineConfig()
    others_waiting: Callable[[], bool] = lambda: False

    def run(self, pipeline: Pipeline, emit: JobThread) -> dict[str, Any]:
        n = len(self.items)
        done: list[int] = []
        errors: list[tuple[int, str]] = []
        for i, (row, path) in enumerate(self.items):
            self.check()
            if self.others_waiting():
                raise _StepAside()

            def progress(frac: float, text: str, i: int = i) -> None:
                self.check()
                if self.others_waiting():
                    raise _StepAside()
                emit.progress.emit(self, int(1000 * (i + frac)), 1000 * n, text)

            try:
                image = pipeline.image(path)
                if self.config.source_for(path) != "sam":
                    continue
                pipeline.base_prior(path, image, self.config, progress)
            except SpamError as exc:   # a bad image or checkpoint: named, the rest goes on
                errors.append((row, str(exc)))
                emit.partial.emit(self, "sam_error", (row, str(exc)))
                continue
            done.append(row)
            emit.partial.emit(self, "sam_prior", (row, i + 1, n))
        return {"done": done, "errors": errors, "total": n}


class SamFolderPrecompute:
    """Keeps one :class:`SamFolderJob` going while the folder has SAM priors to compute."""

    def __init__(self, view: "DisplayController", settings: "Settings", fg: "JobThread",
                 bg: "JobThread", *, session: Callable[[], "FolderSession | None"],
                 row: Callable[[], int], config: Callable[[], "EngineConfig"],
                 refresh_row: Callable[[int], Any], set_status: Callable[[str], Any]) -> None:
        """``view`` holds which images have their prior ready and which failed; ``session``,
        ``row`` and ``config`` give the window's state when asked; ``refresh_row(row)`` shows
        that image's state again in the file list."""
        self.view = view
        self.settings = settings
        self.fg = fg
        self.bg = bg
        self._session = session
        self._row = row
        self._config = config
        self._refresh_row = refresh_row
        self._status = set_status
        self.job: SamFolderJob | None = None
        self.finished_for: tuple[str, str] | None = None   # (folder, engine signature) done
        self.label = QtWidgets.QLabel()
        self.label.setObjectName("samFolderLabel")
        self.label.setStyleSheet("color: palette(mid);")
        self.label.hide()

    def attach(self, status_bar: QtWidgets.QStatusBar, displayed_changed: Any) -> None:
        """Show the label in ``status_bar``; start again on ``displayed_changed`` and when the
        workers are idle."""
        status_bar.addPermanentWidget(self.label)
        displayed_changed.connect(self.start)
        for t in (self.fg, self.bg):
            t.idle.connect(self.start)
        self.bg.partial.connect(self._on_partial)
        self.bg.finished_job.connect(self._on_finished)
        self.bg.cancelled_job.connect(self._on_stopped)
        self.bg.failed.connect(lambda job, *_: self._on_stopped(job))

    # -- when -----------------------------------------------------------------------------
    def wanted(self) -> bool:
        c = self._config()
        s = self._session()
        return (s is not None and len(s) > 0
                and bool(c.sam_checkpoint) and c.prior_source in ("sam", "auto")
                and self.settings.sam_folder_precompute)

    def _signature(self) -> tuple[str, str]:
        s = self._session()
        assert s is not None
        return str(s.folder), self._config().signature()

    def others_waiting(self) -> bool:
        """Whether any job other than this one is queued or running (called by the job)."""
        return any(not isinstance(j, SamFolderJob) for j in self.fg.pending() + self.bg.pending())

    def start(self) -> None:
        """Start (or start again) the folder's job when it is wanted and nothing else runs."""
        if not self.wanted():
            self.label.hide()
            return
        if self.job is not None and not self.job.cancelled:
            return
        if self.finished_for == self._signature() or self.others_waiting():
            return
        s = self._session()
        assert s is not None
        n = len(s)
        first = max(self._row(), 0)
        order = [(first + i) % n for i in range(n)]
        items = [(r, s.paths[r]) for r in order
                 if r not in self.view.prior_ready_rows and r not in self.view.errors]
        if not items:
            self.finished_for = self._signature()
            return
        self.job = SamFolderJob(next_request_id(), priority=LOWEST_PRIORITY, group="sam-folder",
                                items=items, config=self._config(),
                                others_waiting=self.others_waiting)
        self.bg.submit(self.job)
        self._show(len(s) - len(items), len(s))

    def stop(self) -> None:
        """Cancel the folder's job (the folder closes, the engine changes)."""
        self.bg.cancel(lambda j: isinstance(j, SamFolderJob))
        self.job = None
        self.finished_for = None
        self.label.hide()

    # -- results --------------------------------------------------------------------------
    def _show(self, done: int, total: int) -> None:
        self.label.setText(f"SAM objects {done}/{total}")
        self.label.setToolTip("SAM's objects of the folder's images, computed in the background "
                              "(lowest priority; kept in the disk cache across restarts)")
        self.label.setVisible(done < total)

    def _on_partial(self, job: Job, what: str, payload: Any) -> None:
        if not isinstance(job, SamFolderJob) or self._session() is None or job is not self.job:
            return
        if what == "sam_prior":
            row, _i, _n = payload
            self.view.prior_ready_rows.add(row)
            self._refresh_row(row)
            total = len(self._session())   # type: ignore[arg-type]
            self._show(len(self.view.prior_ready_rows), total)
        elif what == "sam_error":
            row, msg = payload
            self.view.errors[row] = msg
            self._refresh_row(row)

    def _on_finished(self, job: Job, payload: Any) -> None:
        if isinstance(job, SamFolderJob) and job is self.job and self._session() is not None:
            self.job = None
            self.finished_for = self._signature()
            self.label.hide()
            n = len(payload["done"])
            if n:
                self._status(f"SAM objects ready for {n} more image(s) of the folder")

    def _on_stopped(self, job: Job) -> None:
        if isinstance(job, SamFolderJob) and job is self.job:
            self.job = None   # stepped aside or cancelled: start() takes over when idle
