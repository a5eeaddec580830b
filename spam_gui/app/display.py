"""What is drawn when: the window's display controller.

It asks the workers for segmentations (request ids), keeps an LRU of computed
:class:`~spam_gui.app.pipeline.Outcome` objects, precomputes the next image, and takes every
job's result or failure. Drawing rule: a result is drawn only when its request id is the latest
one asked for the view, its image is the current one and its key (parameters, ratios, prompts,
engine settings, the file's identity) is the current doc's. Anything else is kept in the cache
(it may be shown later) and never drawn.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from spam_gui.app.document import DocState, Params, Prompt, state_key
from spam_gui.app.pipeline import LRU, Outcome, next_request_id, outcome_key
from spam_gui.app.tools.edit_objects import EditOpJob, ObjectEditJob
from spam_gui.app.worker import (ExportJob, FeaturesJob, Job, LayersJob, PromptJob, SaliencyJob,
                                 SamEmbedJob, SegmentJob, TransitionJob, WarmupJob)

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.app.canvas import Canvas
    from spam_gui.app.document import FolderSession, ImageDoc
    from spam_gui.app.engine_settings import EngineSettings
    from spam_gui.app.export_flow import ExportFlow
    from spam_gui.app.overlays import OverlayStyle
    from spam_gui.app.panels.controls import ControlsPanel
    from spam_gui.app.panels.objects import ObjectsPanel
    from spam_gui.app.pipeline import EngineConfig, Pipeline
    from spam_gui.app.qt import QtCore, QtWidgets
    from spam_gui.app.settings import Settings
    from spam_gui.app.tools.base import Tool
    from spam_gui.app.tools.edit_objects import ObjectEditor
    from spam_gui.app.tools.sam_prompt import SamPromptTool
    from spam_gui.app.worker import JobThread

log = logging.getLogger(__name__)


class DisplayController:
    """Decides which job to run and whether a result may be drawn (see the module docstring)."""

    def __init__(self, canvas: "Canvas", pipeline: "Pipeline", settings: "Settings", *,
                 session: Callable[[], "FolderSession | None"], row: Callable[[], int],
                 doc: Callable[[], "ImageDoc | None"], current_key: Callable[[], str | None],
                 config: Callable[[], "EngineConfig"], style: Callable[[], "OverlayStyle"],
                 nav_step: Callable[[], int], mode: Callable[[], str], tool: Callable[[], "Tool"],
                 displayed_changed: "QtCore.SignalInstance",
                 set_engine_name: Callable[[str], Any], refresh_row: Callable[[int], Any],
                 hover_again: Callable[[], Any], set_status: Callable[[str], Any],
                 report_error: Callable[[str, str], Any], hide_error: Callable[[], Any]) -> None:
        """``session``, ``row``, ``doc``, ``current_key`` (the outcome key of the image shown),
        ``config``, ``style``, ``nav_step`` (+1 / -1: the way the user browses), ``mode`` and
        ``tool`` (the active canvas tool) give the window's state when asked. The job threads,
        the collaborators built later and the panels come with :meth:`attach`."""
        self.canvas = canvas
        self.pipeline = pipeline
        self.settings = settings
        self._session = session
        self._row = row
        self._doc = doc
        self._current_key = current_key
        self._config = config
        self._style = style
        self._nav_step = nav_step
        self._mode = mode
        self._tool = tool
        self.displayed_changed = displayed_changed
        self._set_engine_name = set_engine_name
        self._refresh_row = refresh_row
        self._hover_again = hover_again
        self._status = set_status
        self._error = report_error
        self._hide_error = hide_error
        self.outcomes = LRU(24, 1536 * 1024**2, lambda o: o.nbytes())
        self.displayed: Outcome | None = None
        self.display_request = 0
        self.errors: dict[int, str] = {}
        self.timing: dict[str, float] = {}   # last measured latencies (status bar, tests)
        self.t_switch = 0.0
        self.t_click = 0.0
        self.prior_ready_rows: set[int] = set()
        self._handlers: dict[type, Callable[[Any, Any], None]] | None = None
        self.measure_paint = False   # the latency benchmark: paint synchronously after a patch

    def attach(self, fg: "JobThread", bg: "JobThread", objects_edit: "ObjectEditor",
               prompt_tool: "SamPromptTool", exports: "ExportFlow", engine: "EngineSettings",
               objects_panel: "ObjectsPanel", controls: "ControlsPanel",
               progress: "QtWidgets.QProgressBar", cancel_button: "QtWidgets.QAbstractButton") -> None:
        """The job threads, the collaborators that take some jobs' results (object edits, SAM
        prompts, exports, the engine's models label) and the widgets it updates (called once
        they exist, before any job reports)."""
        self.fg = fg
        self.bg = bg
        self.objects_edit = objects_edit
        self.prompt_tool = prompt_tool
        self.exports = exports
        self.engine = engine
        self.objects_panel = objects_panel
        self.controls = controls
        self.progress = progress
        self.cancel_button = cancel_button

    def refresh(self, force: bool = False) -> None:
        """Show the current doc's segmentation: cached, patched from the view, or computed."""
        doc = self._doc()
        if doc is None:
            return
        key = outcome_key(doc.key(), self._config())
        cached = self.cached_outcome(doc.path, key)
        d = self.displayed
        if d is not None and d.path == doc.path and not d.is_current():
            self._status(f"{doc.name} changed on disk since it was computed: recomputing")
            self.pipeline.forget_image(doc.path)
            self.displayed = d = None
        if force:
            cached = None
            self.outcomes.pop((str(doc.path), key))
        if d is not None and d.key == key and d.path == doc.path and not force:
            self.display_request = next_request_id()   # nothing to wait for
            self.after_display()
            return
        if not force and self._requested(key):
            return                                      # already on its way
        if cached is not None and cached.layers is not None and cached.layers.style == self._style():
            self.display_request = next_request_id()
            self.display(cached)
            return
        if not force and self.objects_edit.refresh(doc, key):
            return                                      # an object edit: only what changed
        if (not force and d is not None and d.path == doc.path and d.layers is not None
                and d.params == doc.params and d.prompts == doc.prompts
                and d.key.split(":")[-1] == key.split(":")[-1]
                and self.objects_edit.same_objects(d, doc)):
            self.submit_transition(doc, key, cached)
            return
        if cached is not None:
            # computed in the background (or evicted layers): build its overlays, then show
            self.display_request = rid = next_request_id()
            self._show_image_now(cached.image)
            self.fg.submit(LayersJob(rid, priority=0, group="show", outcome=cached, row=self._row(),
                                     style=self._style()))
            return
        self.display_request = rid = next_request_id()
        img = self._peek_image(doc.path)
        if img is not None:
            self._show_image_now(img)
        else:
            self.canvas.set_image(None)
            self.displayed = None
        self.objects_panel.clear("Computing…")
        self.canvas.set_message(f"Computing superpixels for {doc.name}…")
        self.yield_background(doc.path)
        self.fg.submit(SegmentJob(
            rid, priority=1, group="show", path=doc.path, row=self._row(), params=doc.params,
            ratios=dict(doc.ratios), prompts=doc.prompts, config=self._config(), key=key,
            style=self._style(), want_heatmap=self.canvas.layer_visible("heatmap"), purpose="show",
            objects=self.objects_edit.objects_source(self._row())))
        self.update_busy()

    def _requested(self, key: str) -> bool:
        """Whether the job that will draw ``key`` for the current image is queued or running."""
        for j in self.fg.in_flight():
            if (j.request_id == self.display_request and not j.cancelled
                    and j.row == self._row()
                    and (getattr(j, "key", None) == key
                         or (isinstance(j, LayersJob) and j.outcome is not None
                             and j.outcome.key == key))):
                return True
        return False

    def yield_background(self, keep: Path | None = None) -> None:
        """Cancel precomputes of other images: the current one gets the CPU (and SAM's lock)."""
        self.bg.cancel(lambda j: isinstance(j, SegmentJob) and j.purpose == "precompute"
                       and j.path != keep)

    def _peek_image(self, path: Path) -> np.ndarray | None:
        return self.pipeline.cached_image(path)

    def cached_outcome(self, path: Path, key: str) -> Outcome | None:
        """A computed outcome of ``path`` for ``key``, unless the file changed since."""
        o = self.outcomes.get((str(path), key))
        if o is not None and not o.is_current():
            self.outcomes.pop((str(path), key))
            return None
        return o

    def _show_image_now(self, image: np.ndarray) -> None:
        if self.canvas.image is not image:
            self.canvas.set_image(image)
        self.displayed = None

    def submit_transition(self, doc, key: str, cached: Outcome | None) -> None:
        self.display_request = rid = next_request_id()
        self.t_click = self.t_click or time.perf_counter()
        self.fg.submit(TransitionJob(
            rid, priority=0, group="show", base=self.displayed, row=self._row(),
            target_ratios=dict(doc.ratios), cached=cached, key=key, config=self._config(),
            style=self._style(), t_request=self.t_click))
        self.update_busy()

    def display(self, o: Outcome) -> None:
        """Draw an outcome that has its overlays (GUI thread; no pixel work beyond wrapping)."""
        if o.layers is None:
            return
        if self.canvas.image is not o.image:
            self.canvas.set_image(o.image)
        if self.displayed is not None and self.displayed is not o and self.displayed.layers is o.layers:
            self.displayed.layers = None
        self.displayed = o
        self.ensure_meanfill(draw=False)
        self.canvas.set_layers(o.layers)
        self.canvas.set_message("")
        self.canvas.set_prompt(self.prompt_tool.points, None)
        self.after_display()
        self.canvas.viewport().update()
        self.timing["switch_to_drawn"] = time.perf_counter() - self.t_switch

    def drop_preview(self) -> None:
        """Take an edit's preview off the canvas when no result replaces it (the edit
        failed or was let go): the objects panel shows the displayed result's figures again."""
        self.canvas.set_preview(None)
        if self.displayed is not None:
            self._show_objects(self.displayed)

    def _show_objects(self, o: Outcome) -> None:
        """The objects panel shows the objects of ``o`` (a displayed outcome)."""
        self.objects_panel.set_objects(o.result, int(o.result.objects.size), o.params.va,
                                       o.layers.colors if o.layers is not None else None)

    def after_display(self) -> None:
        o = self.displayed
        if o is None:
            return
        self.errors.pop(self._row(), None)
        res = o.result
        self._show_objects(o)
        if self.canvas.layer_visible("heatmap") and o.layers is not None and o.layers.heatmap is None:
            self.request_heatmap()
        self._refresh_row(self._row())
        self.engine.update_models_label()
        self.controls.set_saliency_text(
            o.saliency_method or ("DINO" if self._config().dino_checkpoint else "built-in")
            + " (when VA or the heatmap is on)")
        t = o.seconds or res.timings.get("total")   # what this view took: a click or a segment
        self._status(f"{o.path.name}: {res.n_superpixels} superpixels, "
                        f"{len(res.objects_info)} objects · {o.prior_note}"
                        + (f" · {t * 1000:.0f} ms" if t else ""))
        self._hide_error()
        self._hover_again()   # the readout follows the new result under the pointer
        self.displayed_changed.emit()
        if self._mode() == "prompt":
            self.prompt_tool.prepare()
        self.schedule_precompute()
        self.update_busy()

    def schedule_precompute(self) -> None:
        session = self._session()
        if session is None or not self.settings.precompute_next:
            return
        row = self._row() + self._nav_step()
        if not (0 <= row < len(session)) or row in self.errors:
            return
        params, ratios, prompts, dkey = self.session_snapshot(row)
        key = outcome_key(dkey, self._config())
        path = session.paths[row]
        if self.cached_outcome(path, key) is not None:
            return
        if any(isinstance(j, SegmentJob) and j.key == key and j.path == path for j in self.bg.pending()):
            return
        self.bg.submit(SegmentJob(
            next_request_id(), priority=2, group="precompute", path=path, row=row, params=params,
            ratios=ratios, prompts=prompts, config=self._config(), key=key, style=self._style(),
            want_heatmap=self.canvas.layer_visible("heatmap"), purpose="precompute",
            objects=self.objects_edit.objects_source(row)))

    def session_snapshot(self, row: int) -> tuple[Params, dict[int, float], tuple[Prompt, ...], str]:
        """(params, ratios, prompts, doc key) of a row without creating its doc."""
        session = self._session()
        assert session is not None
        if session.has_doc(row):
            d = session.doc(row)
            return d.params, dict(d.ratios), d.prompts, d.key()
        entry = session.saved_entry(row)
        if entry is None:
            p = session.default_params
            return p, {}, (), state_key(p, {}, ())
        d = session.doc(row)   # has saved state: load it properly
        return d.params, dict(d.ratios), d.prompts, d.key()

    def _is_current(self, job: Job) -> bool:
        return job.request_id == self.display_request and job.row == self._row()

    def on_job_started(self, job: Job) -> None:
        self.update_busy()

    def on_partial(self, job: Job, what: str, payload: Any) -> None:
        if what == "preview":
            # an edit of a large photo on its working grid: shown until the full resolution
            base = getattr(job, "base", None)
            if self._is_current(job) and base is not None and base is self.displayed:
                ratios = getattr(job, "target_ratios", None)
                if ratios:                      # a density click: its new ratios, pending
                    self.objects_panel.show_pending(ratios)
                self.canvas.set_preview(payload)
                self.canvas.viewport().repaint()     # now: the job waits for it
                if self.t_click:
                    self.timing["click_to_preview"] = time.perf_counter() - self.t_click
                self.canvas.set_message("")
                self._status(f"{base.path.name}: preview on the working grid; "
                             "full resolution in a moment…")
            job.preview_drawn.set()
            return
        if what == "image":
            if self._is_current(job) and self.canvas.image is not payload:
                self.canvas.set_image(payload)
                self.canvas.set_message(f"Computing superpixels for {job.path.name}…")
        elif what == "prior":
            session = self._session()
            if session is not None and 0 <= job.row < len(session):
                self.prior_ready_rows.add(job.row)
                self._refresh_row(job.row)
        elif what == "exported":
            row, dkey = payload
            session = self._session()
            if session is not None:
                session.mark_exported(row, dkey)
                self._refresh_row(row)
        elif what == "export_note":
            row, msg = payload
            log.warning("%s", msg)
            self._status(msg)
        elif what == "export_error":
            row, msg = payload
            self.errors[row] = msg
            self._refresh_row(row)

    def on_progress(self, job: Job, done: int, total: int, text: str) -> None:
        if isinstance(job, SegmentJob) and self._is_current(job):
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(done)
            if text:
                self.canvas.set_message(f"{job.path.name}: {text}…{_estimate(job, done, total)}")
            return
        self.exports.on_progress(job, done, total, text)

    def _result_handlers(self) -> dict[type, Callable[[Any, Any], None]]:
        """What to do with each kind of job's result: one handler per job type."""
        prompt = self.prompt_tool
        return {SegmentJob: self._segment_done, TransitionJob: self._transition_done,
                LayersJob: self._layers_done, SaliencyJob: self._saliency_done,
                PromptJob: prompt.on_result, SamEmbedJob: prompt.on_result,
                ExportJob: self.exports.finished, WarmupJob: self._warmup_done,
                ObjectEditJob: self.objects_edit.on_result,
                EditOpJob: self.objects_edit.on_edit_made}

    def on_finished(self, job: Job, payload: Any) -> None:
        if self._handlers is None:
            self._handlers = self._result_handlers()
        handler = self._handlers.get(type(job))  # type: ignore[arg-type]
        if handler is not None:
            handler(job, payload)
        self.update_busy()

    def _segment_done(self, job: SegmentJob, o: Outcome) -> None:
        self.outcomes.put((str(o.path), o.key), o)
        self.errors.pop(job.row, None)
        if self._is_current(job) and o.key == self._current_key():
            self.display(o)
            work = getattr(o.result, "_work", None)
            if work is not None and "from_cache" in o.result.timings:
                # read from the disk cache: the encoder has not seen this photo in this
                # session; its features now, in the background, so the first click is quick
                self.bg.submit(FeaturesJob(next_request_id(), priority=3, row=job.row,
                                             image=work.work_rgb, config=self._config()))
        else:
            self._refresh_row(job.row)

    def _transition_done(self, job: TransitionJob, payload: tuple[Outcome, Any]) -> None:
        target, patch = payload
        self.outcomes.put((str(target.path), target.key), target)
        if not (self._is_current(job) and target.key == self._current_key()):
            return
        d = self.displayed
        if d is None or d.layers is None:
            self.refresh()
            return
        if d is not job.base:
            # the view moved on since the job started: patch from what is shown now
            self.submit_transition(self._doc(), target.key, target)
            return
        layers = d.layers
        self.canvas.set_preview(None)
        if patch is not None:
            layers.apply(patch)
            if patch.style != layers.style:
                layers.restyle(target.result.labels, self._style())
                patch = None      # every boundary pixel may have changed: repaint them all
        d.layers = None
        target.layers = layers
        self.displayed = target
        self.ensure_meanfill()     # shown since the patch was made without it
        if patch is not None:
            self.canvas.update_region(patch.region)
        else:
            self.canvas.refresh_all()
        if self.measure_paint:
            self.canvas.viewport().repaint()
        if self.t_click:
            self.timing["click_to_drawn"] = time.perf_counter() - self.t_click
            self.t_click = 0.0
        self.after_display()

    def _layers_done(self, job: LayersJob, layers: Any) -> None:
        o = job.outcome
        assert o is not None
        o.layers = layers
        if self._is_current(job) and o.key == self._current_key():
            self.display(o)

    def _saliency_done(self, job: SaliencyJob, payload: tuple[Any, str]) -> None:
        sal, method = payload
        o = job.outcome
        if o is not None:
            o.saliency, o.saliency_method = sal, method
            if o is self.displayed and o.layers is not None:
                o.layers.set_heatmap(sal)
                self.canvas.refresh_heatmap()

    def _warmup_done(self, job: WarmupJob, name: str) -> None:
        self._set_engine_name(name)
        self.engine.update_models_label()

    def on_failed(self, job: Job, message: str, details: str) -> None:
        row = job.row
        if getattr(job, "base", None) is not None and self.canvas.preview is not None:
            self.drop_preview()                # a preview never outlives its edit
        if isinstance(job, (SegmentJob, LayersJob)):
            self.errors[row] = message
            self._refresh_row(row)
            if self._is_current(job):
                self.displayed = None
                self.objects_panel.clear("Error")
                self.canvas.set_message(f"⚠ {message}", error=True)
                self._error(message, details)
                self.schedule_precompute()      # the next image still gets ready
        elif isinstance(job, TransitionJob):
            self.t_click = 0.0
            self._error(message, details)
            if self._is_current(job):
                self.refresh(force=True)
        elif isinstance(job, (PromptJob, SamEmbedJob)):
            self.prompt_tool.on_failed(job, message, details)
        elif isinstance(job, ObjectEditJob):
            self.objects_edit.on_failed(job, message, details)
        elif isinstance(job, EditOpJob):
            self.objects_edit.on_op_ended(job, message, details)
        elif isinstance(job, ExportJob):
            self.exports.finished(job, {"done": [], "errors": [(-1, message)], "cancelled": False,
                                        "total": len(job.items), "out_dir": str(job.out_dir)})
            self._error(message, details)
        else:
            self._error(message, details)
        self.update_busy()

    def on_cancelled(self, job: Job) -> None:
        if isinstance(job, EditOpJob):
            self.objects_edit.on_op_ended(job)
        if (getattr(job, "base", None) is not None and self.canvas.preview is not None
                and job.request_id == self.display_request):
            self.drop_preview()
        if isinstance(job, ExportJob):
            self.exports.finished(job, {"done": [], "errors": [], "cancelled": True,
                                        "total": len(job.items), "out_dir": str(job.out_dir)})
        self.update_busy()

    def update_busy(self) -> None:
        jobs = [j for j in self.fg.pending() + self.bg.pending()
                if not (isinstance(j, SegmentJob) and j.purpose == "precompute")
                and not getattr(j, "quiet", False)]   # quiet: the folder's SAM priors
        busy = bool(jobs)
        if busy and not self.progress.isVisible():
            self.progress.setRange(0, 0)       # indeterminate until a job reports progress
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        pre = [j for j in self.bg.pending() if isinstance(j, SegmentJob) and j.purpose == "precompute"]
        self.progress.setToolTip("Working…" if busy else "")
        if pre and not busy:
            self.progress.setToolTip(f"Precomputing {pre[0].path.name}")

    def cancel_work(self) -> None:
        """Esc: clear SAM clicks first; otherwise cancel the running computation."""
        if self._tool().cancel():
            return
        pending = self.fg.pending() + self.bg.pending()
        if not pending:
            return
        self.fg.cancel()
        self.bg.cancel()
        self.objects_edit.work_cancelled()
        self.display_request = next_request_id()   # whatever comes back is not drawn
        if self.canvas.preview is not None:
            self.drop_preview()
        self.t_click = 0.0
        self.canvas.set_message("Cancelled. F5 computes this image again.")
        self._status("Cancelled")
        self.update_busy()

    def row_state(self, row: int) -> tuple[DocState, str]:
        s = self._session()
        if s is None:
            return DocState.NOT_COMPUTED, ""
        if row in self.errors:
            return DocState.ERROR, self.errors[row]
        if s.has_doc(row):
            d = s.doc(row)
            dkey = d.key()
            if d.exported_key and d.exported_key == dkey:
                return DocState.EXPORTED, ""
            if d.edited:
                return DocState.EDITED, ""
        else:
            e = s.saved_entry(row)
            if e is not None:
                dkey = state_key(e.params_for(s.default_params), e.ratios, e.prompts,
                                 objects=e.rasters.get("objects", ""))
                if e.exported == dkey:
                    return DocState.EXPORTED, ""
                if e.edited:
                    return DocState.EDITED, ""
            params = s.default_params
            dkey = state_key(params, {}, ())
        key = outcome_key(dkey, self._config())
        # no stat here (the file list asks for every visible row on each repaint); a file that
        # changed is caught when its image is shown or exported (cached_outcome)
        if (str(s.paths[row]), key) in self.outcomes:
            return DocState.SUPERPIXELS_READY, ""
        if row in self.prior_ready_rows:
            return DocState.PRIOR_READY, ""
        return DocState.NOT_COMPUTED, ""

    def ensure_meanfill(self, draw: bool = True) -> None:
        """Build the mean-colour layer of the outcome on screen if it is shown and has none
        (layers are built without it while it is hidden)."""
        o = self.displayed
        if (o is None or o.layers is None or o.layers.meanfill is not None
                or not self.canvas.meanfill_shown):
            return
        o.layers.build_meanfill(o.image, o.result.labels)
        if draw:
            self.canvas.set_layers(o.layers)

    def request_heatmap(self) -> None:
        o = self.displayed
        if o is None or o.layers is None or o.layers.heatmap is not None:
            return
        if o.saliency is not None:
            o.layers.set_heatmap(o.saliency)
            self.canvas.refresh_heatmap()
            return
        self.fg.submit(SaliencyJob(next_request_id(), priority=0, outcome=o, row=self._row(),
                                   config=self._config()))


def _estimate(job: Job, done: int, total: int) -> str:
    """" (about N s left)" once a job has run a second and reported some progress."""
    started = getattr(job, "t_started", 0.0)
    if not started or total <= 0 or done <= 0:
        return ""
    elapsed = time.perf_counter() - started
    frac = done / total
    if elapsed < 1.0 or frac >= 1.0:
        return ""
    return f" (about {max(1, round(elapsed * (1 - frac) / frac))} s left)"
