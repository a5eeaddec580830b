"""Background work: jobs running the pipeline (:mod:`spam_gui.app.pipeline`) on QThreads.

:class:`Pipeline` does the work and keeps small in-memory caches (images, priors, saliency,
prompt masks, engines); it has no Qt signal and no widget. :class:`JobThread` runs jobs one at
a time, highest priority first, on its own QThread and reports through typed signals. Every job
carries a request id; the main window compares it with the latest one it asked for, so a result
for an image or parameters no longer shown is never drawn. Submitting a job of a *superseding*
kind drops the queued jobs of that kind and flags the running one as cancelled (checked between
stages). Exceptions become a ``failed`` signal with a message and a traceback; the thread goes on.

Two threads are used: *interactive* (the current image, clicks, SAM prompts) and *background*
(precomputing the next image, exporting a folder), so a click never waits for a precompute.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from spam_gui.app.document import Params, Prompt
from spam_gui.app.overlays import LayerSet, OverlayStyle, Patch, build_layers
from spam_gui.app.pipeline import Cancelled, EngineConfig, Outcome, Pipeline
from spam_gui.core.errors import SpamError
from spam_gui.app.qt import QtCore

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- jobs


WARMUP_YIELD_MAX = 20.0
"""How long the kernels' warm-up waits for the image being opened (s)."""
PREVIEW_DRAW_WAIT = 0.25
"""How long a job waits for its preview to be drawn before its full-resolution work (s)."""


@dataclass
class Job:
    """Base class. ``group`` names jobs that supersede each other (a new one cancels the old)."""

    request_id: int
    priority: int = 1               # lower runs first
    group: str = ""
    row: int = -1                   # the image (row of the folder) the job is for; -1: none
    cancel_event: threading.Event = field(default_factory=threading.Event, repr=False)
    t_started: float = field(default=0.0, repr=False)   # perf_counter() when it began to run
    preview_drawn: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check(self) -> None:
        if self.cancel_event.is_set():
            raise Cancelled()

    def show_preview(self, emit: "JobThread", raster: Any) -> None:
        """Send an edit's working-grid preview to the window and give it the interpreter
        until it is drawn (at most :data:`PREVIEW_DRAW_WAIT` s): the full-resolution work that
        follows holds it in long compiled calls, which would hold the drawing back."""
        emit.partial.emit(self, "preview", raster)
        self.preview_drawn.wait(PREVIEW_DRAW_WAIT)
        self.check()

    def run(self, pipeline: Pipeline, emit: "JobThread") -> Any:  # pragma: no cover
        raise NotImplementedError


@dataclass
class SegmentJob(Job):
    path: Path = Path()
    params: Params = Params()
    ratios: dict[int, float] = field(default_factory=dict)
    prompts: tuple[Prompt, ...] = ()
    config: EngineConfig = EngineConfig()
    key: str = ""
    style: OverlayStyle | None = None
    want_heatmap: bool = False
    purpose: str = "show"           # "show" | "precompute"
    # the image's edited object map for its shape (None: the prior source's objects)
    objects: Callable[[tuple[int, int]], np.ndarray | None] | None = None

    def run(self, pipeline: Pipeline, emit: "JobThread") -> Outcome:
        return pipeline.segment(
            self.path, self.params, self.ratios, self.prompts, self.config, self.key, self.style,
            check=self.check,
            on_image=lambda img: emit.partial.emit(self, "image", img),
            on_prior=lambda note: emit.partial.emit(self, "prior", note),
            want_heatmap=self.want_heatmap,
            progress=lambda frac, text: emit.progress.emit(self, int(1000 * frac), 1000, text),
            objects=self.objects,
        )


@dataclass
class TransitionJob(Job):
    """Rescale objects of the displayed outcome (click to scale, undo / redo)."""

    base: Outcome | None = None
    target_ratios: dict[int, float] = field(default_factory=dict)
    cached: Outcome | None = None
    key: str = ""
    config: EngineConfig = EngineConfig()
    style: OverlayStyle = OverlayStyle()
    t_request: float = 0.0

    def run(self, pipeline: Pipeline, emit: "JobThread") -> tuple[Outcome, Patch | None]:
        assert self.base is not None
        preview = None
        if self.cached is None:
            # a large photo: the working grid's answer first, the full resolution after
            shown = pipeline.preview_transition(self.base, self.target_ratios, self.config,
                                                self.style)
            if shown is not None:
                preview = shown[0]
                self.show_preview(emit, shown[1])
        return pipeline.transition(self.base, self.target_ratios, self.key, self.config,
                                   self.style, self.cached, preview=preview, check=self.check)


@dataclass
class LayersJob(Job):
    """Build the overlays of an outcome that has none (e.g. after a style change)."""

    outcome: Outcome | None = None
    style: OverlayStyle = OverlayStyle()

    def run(self, pipeline: Pipeline, emit: "JobThread") -> LayerSet:
        o = self.outcome
        assert o is not None
        return (pipeline.layer_builder or build_layers)(o.image, o.result, self.style, o.saliency)


@dataclass
class SaliencyJob(Job):
    """The saliency map of an image, for the heatmap layer when VA is off."""

    outcome: Outcome | None = None
    config: EngineConfig = EngineConfig()

    def run(self, pipeline: Pipeline, emit: "JobThread") -> tuple[np.ndarray, str]:
        assert self.outcome is not None
        return pipeline.saliency(self.outcome.image, self.config)


@dataclass
class PromptJob(Job):
    """A SAM mask for a set of clicks (preview while the user adds points)."""

    image: np.ndarray | None = None
    prompt: Prompt | None = None
    config: EngineConfig = EngineConfig()

    def run(self, pipeline: Pipeline, emit: "JobThread") -> np.ndarray:
        assert self.image is not None and self.prompt is not None
        return pipeline.prompt_mask(self.image, self.prompt, self.config)


@dataclass
class SamEmbedJob(Job):
    """Compute (or read from the disk cache) SAM's embedding of an image before the first click."""

    image: np.ndarray | None = None
    config: EngineConfig = EngineConfig()

    def run(self, pipeline: Pipeline, emit: "JobThread") -> None:
        assert self.image is not None
        pipeline.sam_session(self.image, self.config)


@dataclass
class WarmupJob(Job):
    """Load the engine (imports torch, reads the encoder) and the compiled clustering kernels
    (compiled once per machine, then loaded from numba's cache) before the first image needs
    them."""

    config: EngineConfig = EngineConfig()
    yield_to: Callable[[], bool] | None = None   # True while the image shown computes

    def run(self, pipeline: Pipeline, emit: "JobThread") -> str:
        name = str(getattr(pipeline.engine(self.config), "encoder_name", ""))
        from spam_gui.core.engine.clustering import warm_up_kernels

        # the kernels are for the first click: an image being opened (a folder reopened at
        # start) goes first, as loading them holds the interpreter (at most 20 s of waiting)
        t0 = time.perf_counter()
        while (self.yield_to is not None and self.yield_to()
               and time.perf_counter() - t0 < WARMUP_YIELD_MAX):
            self.check()
            time.sleep(0.05)
        warm_up_kernels()
        return name


@dataclass
class FeaturesJob(Job):
    """The engine's features of a working image, computed ahead of the first click on a
    result that was read from the disk cache (the encoder has not run on it yet)."""

    image: np.ndarray | None = None
    config: EngineConfig = EngineConfig()

    def run(self, pipeline: Pipeline, emit: "JobThread") -> None:
        assert self.image is not None
        pipeline.engine(self.config).features(self.image)


@dataclass
class ExportItem:
    row: int
    path: Path
    params: Params
    ratios: dict[int, float]
    prompts: tuple[Prompt, ...]
    key: str                        # outcome key
    doc_key: str
    outcome: Outcome | None = None  # the displayed / cached segmentation, exported as is
    # writes <stem>_classes.png, <stem>_instances.png and classes.json (the painted classes;
    # spam_gui.app.annotating.AnnotationController.export_writer); None: nothing painted
    write_annotation: Callable[[Path, tuple[int, int]], Any] | None = None
    objects: Callable[[tuple[int, int]], np.ndarray | None] | None = None   # edited objects


@dataclass
class ExportJob(Job):
    items: list[ExportItem] = field(default_factory=list)
    out_dir: Path = Path()
    config: EngineConfig = EngineConfig()

    def run(self, pipeline: Pipeline, emit: "JobThread") -> dict[str, Any]:
        from spam_gui.core.formats.export import check_output_folder, is_folder_write_error
        from spam_gui.core.io.locking import FolderLock, FolderLockedError

        done, errors = [], []
        n = len(self.items)
        summary: dict[str, Any] = {"done": done, "errors": errors, "cancelled": False,
                                   "total": n, "out_dir": str(self.out_dir), "stopped": None}
        # The same rules as `spam segment`: the folder is checked before any work, one writer
        # at a time, and a full disk or read-only folder stops the export with one message.
        lock = FolderLock(self.out_dir, program="spam-gui export")
        try:
            check_output_folder(self.out_dir)
            self.out_dir.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        except (OSError, FolderLockedError) as exc:
            summary["stopped"] = str(exc)
            return summary
        try:
            self._export_items(pipeline, emit, summary, is_folder_write_error)
        finally:
            lock.release()
        summary["cancelled"] = self.cancelled
        return summary

    def _export_items(self, pipeline: Pipeline, emit: "JobThread", summary: dict[str, Any],
                      is_folder_write_error: Callable[[BaseException], bool]) -> None:
        from spam_gui.core.formats.export import run_info, save_result

        done, errors, n = summary["done"], summary["errors"], summary["total"]
        for i, item in enumerate(self.items):
            if self.cancelled:
                break
            emit.progress.emit(self, i, n, item.path.name)
            try:
                if not item.path.is_file():
                    raise SpamError(f"{item.path}: the image file is gone (moved or deleted "
                                    "since the folder was opened); not exported")
                o = item.outcome
                if o is not None and not o.is_current():
                    o = None  # the file changed since it was shown: export what it is now
                    emit.partial.emit(self, "export_note", (item.row, f"{item.path.name} changed "
                                      "on disk since it was shown: exported freshly computed"))
                if o is None:
                    o = pipeline.segment(item.path, item.params, item.ratios, item.prompts,
                                         self.config, item.key, None, check=self.check,
                                         objects=item.objects)
                extra = run_info(program="spam-gui", prior=o.prior_info,
                                 saliency=o.saliency_info if o.params.va else None,
                                 ratios=o.ratios, prompts=[p.to_json() for p in o.prompts])
                save_result(self.out_dir, item.path.stem, o.result, image_path=item.path,
                            image=o.image, extra=extra)
                if item.write_annotation is not None:
                    item.write_annotation(self.out_dir, o.image.shape[:2])
                done.append((item.row, item.doc_key))
                emit.partial.emit(self, "exported", (item.row, item.doc_key))
            except Cancelled:
                break
            except Exception as exc:  # noqa: BLE001 - one bad image must not stop the export
                if is_folder_write_error(exc):
                    summary["stopped"] = (f"{exc}; export stopped at {item.path.name} "
                                          f"({len(done)} of {n} written)")
                    break
                log.debug("export failed for %s", item.path, exc_info=True)
                errors.append((item.row, f"{item.path.name}: {exc}"))
                emit.partial.emit(self, "export_error", (item.row, str(exc)))
        emit.progress.emit(self, len(done) + len(errors), n, "")


def user_message(job: Job, exc: BaseException) -> str:
    """How the window says a core error of a job: the core's message, with the image's name
    in front when the message does not name it."""
    msg = str(exc)
    path = getattr(job, "path", None)
    if isinstance(path, Path) and path.name and path.name not in msg:
        return f"{path.name}: {msg}"
    return msg


# ----------------------------------------------------------------------------- thread


class JobThread(QtCore.QThread):
    """Runs jobs one at a time in priority order; results come back through signals."""

    started_job = QtCore.Signal(object)                 # job
    partial = QtCore.Signal(object, str, object)        # job, what, payload
    progress = QtCore.Signal(object, int, int, str)     # job, done, total, text
    finished_job = QtCore.Signal(object, object)        # job, payload
    failed = QtCore.Signal(object, str, str)            # job, message, details
    cancelled_job = QtCore.Signal(object)               # job
    idle = QtCore.Signal()

    def __init__(self, pipeline: Pipeline, name: str, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.pipeline = pipeline
        self._queue: list[Job] = []
        self._cond = threading.Condition()
        self._stop = False
        self._running: Job | None = None
        # finished in the thread, its result not handled by the GUI thread yet: still on its way
        self._delivering: list[Job] = []
        self._order = itertools.count()
        for sig in (self.finished_job, self.failed, self.cancelled_job):
            sig.connect(self._delivered)   # first connection: runs before the result's handlers

    # -- API (GUI thread) -----------------------------------------------------------------
    def submit(self, job: Job) -> Job:
        with self._cond:
            if job.group:
                for j in self._queue:
                    if j.group == job.group:
                        j.cancel_event.set()
                self._queue = [j for j in self._queue if j.group != job.group]
                if self._running is not None and self._running.group == job.group:
                    self._running.cancel_event.set()
            self._queue.append(job)
            self._queue.sort(key=lambda j: j.priority)  # stable: FIFO within a priority
            self._cond.notify()
        return job

    def cancel(self, predicate: Callable[[Job], bool] = lambda j: True) -> None:
        with self._cond:
            keep = []
            for j in self._queue:
                if predicate(j):
                    j.cancel_event.set()
                else:
                    keep.append(j)
            self._queue = keep
            if self._running is not None and predicate(self._running):
                self._running.cancel_event.set()

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._running is not None or bool(self._queue)

    def pending(self) -> list[Job]:
        with self._cond:
            return ([self._running] if self._running is not None else []) + list(self._queue)

    def in_flight(self) -> list[Job]:
        """:meth:`pending` plus the jobs that ended in the thread but whose result the GUI
        thread has not handled yet (so a refresh in between does not ask for them again)."""
        with self._cond:
            return list(self._delivering) + list(self._queue)   # the running job is delivering

    @QtCore.Slot()
    def _delivered(self, job: Job, *_args: Any) -> None:
        with self._cond:
            self._delivering = [j for j in self._delivering if j is not job]

    def stop(self, wait_ms: int = 60000) -> None:
        """Cancel everything and end the thread (a running stage finishes first; SAM's
        automatic masks stop at their next progress report)."""
        self.cancel()
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self.wait(wait_ms)

    # -- thread ---------------------------------------------------------------------------
    def run(self) -> None:  # noqa: D401 - QThread API
        while True:
            with self._cond:
                while not self._queue and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                job = self._queue.pop(0)
                self._running = job
                # on its way until the GUI thread handles its result (_delivered), which may
                # be after this loop has moved on: listed before any result is emitted
                self._delivering.append(job)
            try:
                if job.cancelled:
                    raise Cancelled()
                job.t_started = time.perf_counter()
                self.started_job.emit(job)
                payload = job.run(self.pipeline, self)
            except Cancelled:
                self.cancelled_job.emit(job)
            except SpamError as exc:   # the user's to fix (a bad file, wrong size): named
                message = user_message(job, exc)
                self.failed.emit(job, message, message)
            except Exception as exc:  # noqa: BLE001 - report everything, keep the thread alive
                details = traceback.format_exc()
                log.error("%s failed: %s", type(job).__name__, details)
                self.failed.emit(job, f"{type(exc).__name__}: {exc}", details)
            else:
                self.finished_job.emit(job, payload)
            finally:
                with self._cond:
                    self._running = None
                    empty = not self._queue
                if empty:
                    self.idle.emit()
