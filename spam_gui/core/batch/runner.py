"""Running a batch of :class:`~spam_gui.core.batch.job.BatchJob`: in this process or on Dask
(:mod:`spam_gui.core.batch.dask_runner`), with ``OUT/batch_report.json``, a progress bar with the
throughput, console lines for warnings and failures, a closing summary line, and Ctrl+C.

:class:`BatchReport` keeps the report up to date while the run goes (written atomically, at
most about once a second and at the end), so a killed run still has one. :func:`run_batch` is
what the ``spam`` commands call.

No Qt here; no torch at import time.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from spam_gui import __version__
from spam_gui.core.batch.job import BatchJob, JobOutcome
from spam_gui.core.batch.per_image import run_job
from spam_gui.core.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK
from spam_gui.core.params import BATCH_DEFAULTS

log = logging.getLogger(__name__)

__all__ = ["REPORT_NAME", "BatchReport", "BatchSummary", "run_batch", "run_in_process"]

REPORT_NAME = "batch_report.json"
REPORT_FORMAT = "spam-batch-report"
REPORT_VERSION = 1


# ----------------------------------------------------------------------------- the report


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class BatchReport:
    """``OUT/batch_report.json``: one entry per image (status ``pending`` / ``done`` /
    ``skipped`` / ``failed``, seconds, worker, error, attempts, ``at``: seconds since the
    start when it came in) and the totals, rewritten
    atomically as outcomes come in (at most about once a second, and at the end), so a killed
    run leaves a readable report of what it had finished.

    Parameters
    ----------
    path:
        The report file, or None for no file (counts only).
    command:
        The command, e.g. ``"spam segment"``.
    images:
        ``(image path, stem)`` of every image of the run, in order.
    runner:
        Where the jobs run (``"in-process"``, ``"local cluster: 2 workers"``, an address).
    """

    def __init__(self, path: Path | None, command: str, images: list[tuple[str, str]],
                 runner: str, argv: list[str] | None = None) -> None:
        self.path = path
        self.entries: list[dict[str, Any]] = [
            {"image": img, "stem": stem, "status": "pending", "seconds": None, "worker": None,
             "error": None, "attempts": 0, "at": None} for img, stem in images]
        self._index = {img: i for i, (img, _) in enumerate(images)}
        self.meta: dict[str, Any] = {
            "format": REPORT_FORMAT, "format_version": REPORT_VERSION, "command": command,
            "argv": list(argv if argv is not None else sys.argv), "runner": runner,
            "program": {"name": "spam-studio", "version": __version__},
            "started": _now(), "state": "running"}
        self._t0 = time.perf_counter()
        self._last_write = -1e9
        self._interval = 1.0
        self.write_error: str | None = None

    def count(self, status: str) -> int:
        return sum(1 for e in self.entries if e["status"] == status)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._t0

    def images_per_second(self) -> float:
        n = self.count("done") + self.count("skipped") + self.count("failed")
        return n / self.elapsed if self.elapsed > 0 else 0.0

    def add(self, outcome: JobOutcome) -> None:
        """Record an outcome and rewrite the file if the last write is old enough."""
        e = self.entries[self._index[outcome.image]]
        e.update(status=outcome.status, seconds=round(outcome.seconds, 4),
                 worker=outcome.worker, error=outcome.error, attempts=outcome.attempts,
                 at=round(self.elapsed, 3))
        self.write(force=False)

    def document(self) -> dict[str, Any]:
        totals = {s: self.count(s) for s in ("done", "skipped", "failed", "pending")}
        return {**self.meta, "updated": _now(), "seconds": round(self.elapsed, 3),
                "totals": {"images": len(self.entries), **totals},
                "images_per_second": round(self.images_per_second(), 4),
                "images": self.entries}

    def write(self, force: bool = True, state: str | None = None) -> None:
        """Write the report atomically (``force``: now; else only if a second has passed).
        A write that fails is remembered in :attr:`write_error` and never stops the run."""
        if state is not None:
            self.meta["state"] = state
            self.meta["finished"] = _now()
        if self.path is None:
            return
        now = time.perf_counter()
        if not force and now - self._last_write < self._interval:
            return
        from spam_gui.core.io.images import FileWriteError, atomic_write_bytes

        text = json.dumps(self.document(), indent=1, ensure_ascii=False) + "\n"
        try:
            atomic_write_bytes(self.path, text.encode("utf-8"))
        except FileWriteError as exc:
            self.write_error = str(exc)
        done = time.perf_counter()
        # a big report (100,000 images) is written less often, so writing stays a small share
        self._interval = max(1.0, 20.0 * (done - now))
        self._last_write = done


# ----------------------------------------------------------------------------- the runners


def run_in_process(jobs: Iterable[BatchJob]) -> Iterator[JobOutcome]:
    """Run the jobs one after another in this process; an unexpected exception is retried
    once, then reported as a failure naming the image (the others go on)."""
    for job in jobs:
        attempt = 0
        while True:
            attempt += 1
            try:
                outcome = run_job(job)
                outcome.attempts = attempt
                break
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:  # noqa: BLE001 - a bug or a resource: retry, then report
                log.debug("%s failed (attempt %d)", job.image, attempt, exc_info=True)
                if attempt < 2:
                    continue
                outcome = JobOutcome(job.image, job.stem, "failed", worker="in-process",
                                     error=f"{job.image}: {type(exc).__name__}: {exc}",
                                     attempts=attempt)
                break
        yield outcome


@dataclass
class BatchSummary:
    """How a batch run ended: counts, throughput, and the exit code."""

    total: int
    done: int
    skipped: int
    failed: int
    seconds: float
    interrupted: bool = False
    stopped: JobOutcome | None = None     # the fatal outcome that stopped the run
    failures: list[str] = field(default_factory=list)
    exit_code: int = EXIT_OK

    @property
    def images_per_second(self) -> float:
        n = self.done + self.skipped + self.failed
        return n / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("stopped")
        return d


def _echo(text: str, bar: Any, stream: Any) -> None:
    if bar is not None:
        bar.write(text, file=stream)
    else:
        print(text, file=stream, flush=True)


def run_batch(jobs: list[BatchJob], *, command: str, report_path: Path | None,
              failed_before: list[JobOutcome] | None = None, workers: int | None = None,
              scheduler: str | None = None,
              threads_per_worker: int = BATCH_DEFAULTS.threads_per_worker,
              progress: bool = True, noun: str = "images",
              stop_message: Callable[[JobOutcome, int, int], str] | None = None,
              on_outcome: Callable[[JobOutcome], None] | None = None) -> BatchSummary:
    """Run a batch: in this process, on a local Dask cluster of ``workers`` processes, or on
    the Dask cluster at ``scheduler``; the report, a progress bar with the throughput, console
    lines for warnings and failures, a closing summary line, Ctrl+C.

    Parameters
    ----------
    jobs:
        The images to do.
    command:
        For the report and messages (``"spam segment"``).
    report_path:
        ``OUT/batch_report.json`` (None: no file).
    failed_before:
        Images refused before any job (the same stem twice...): reported as failed.
    workers, scheduler:
        Where to run (neither: in this process). See :mod:`spam_gui.core.batch.dask_runner`.
    threads_per_worker:
        Torch CPU threads of each worker process.
    progress:
        Show a tqdm bar (with images per second) on stderr.
    noun:
        What the summary line counts.
    stop_message:
        The line printed when a fatal outcome (full disk) stops the run:
        ``stop_message(outcome, n_written, n_total)``.
    on_outcome:
        Called with every outcome as it comes (e.g. to collect ``payload``).

    Returns
    -------
    BatchSummary
        The counts and the exit code: 0, 1 when anything failed, 130 when interrupted (the
        line printed then says how many are done and how to resume).
    """
    from tqdm import tqdm

    failed_before = list(failed_before or [])
    everything = [(j.image, j.stem) for j in jobs] + [(o.image, o.stem) for o in failed_before]
    # the failed-before ones may share a path with a job (the same file given twice): index by
    # position through unique keys
    seen_keys: set[str] = set()
    keyed: list[tuple[str, str]] = []
    for img, stem in everything:
        key = img
        n = 1
        while key in seen_keys:
            n += 1
            key = f"{img}#{n}"
        seen_keys.add(key)
        keyed.append((key, stem))
    if scheduler:
        runner = f"dask scheduler {scheduler}"
    elif workers:
        runner = f"local dask cluster: {workers} worker process(es), {threads_per_worker} " \
                 "torch thread(s) each"
    else:
        runner = "in-process"
    report = BatchReport(report_path, command, keyed, runner)
    for o, (key, _) in zip(failed_before, keyed[len(jobs):]):
        o.image = key
        report.add(o)
    report.write()
    total = len(keyed)
    bar = tqdm(total=total, unit="img", disable=not progress or total < 2, file=sys.stderr,
               dynamic_ncols=True, smoothing=0.1)
    bar.update(len(failed_before))
    failures = [o.error or o.image for o in failed_before]
    for msg in failures:
        _echo(f"error: {msg}", bar, sys.stderr)
    summary = BatchSummary(total=total, done=0, skipped=0, failed=len(failed_before),
                           seconds=0.0, failures=failures)
    stream: Iterator[JobOutcome]
    closer: Callable[[], None] = lambda: None  # noqa: E731
    try:
        if workers or scheduler:
            from spam_gui.core.batch.dask_runner import DaskRunner

            runner_obj = DaskRunner(workers=workers, scheduler=scheduler,
                                    threads_per_worker=threads_per_worker)
            closer = runner_obj.close
            stream = runner_obj.run(jobs)
        else:
            stream = run_in_process(jobs)
        for outcome in stream:
            report.add(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
            for m in outcome.messages:
                _echo(f"warning: {m}", bar, sys.stderr)
            if outcome.status == "done":
                summary.done += 1
                if outcome.line:
                    _echo(outcome.line, bar, sys.stdout)
            elif outcome.status == "skipped":
                summary.skipped += 1
            else:
                summary.failed += 1
                if outcome.fatal:
                    summary.stopped = outcome
                    break
                summary.failures.append(outcome.error or outcome.image)
                _echo(f"error: {summary.failures[-1]}", bar, sys.stderr)
            bar.set_postfix_str(f"{summary.done} done, {summary.skipped} skipped, "
                                f"{summary.failed} failed", refresh=False)
            bar.update(1)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        bar.close()
        try:
            closer()
        finally:
            summary.seconds = report.elapsed
            state = ("interrupted" if summary.interrupted
                     else "stopped" if summary.stopped else "finished")
            report.write(state=state)
    if report.write_error and not summary.stopped:
        print(f"warning: the report could not be written: {report.write_error}",
              file=sys.stderr)
    rate = summary.images_per_second
    counts = (f"{summary.done} done, {summary.skipped} skipped, {summary.failed} failed; "
              f"{rate:.2f} {noun}/s")
    if summary.stopped is not None:
        n_ok = summary.done + summary.skipped
        msg = (stop_message(summary.stopped, n_ok, total) if stop_message
               else f"{summary.stopped.error}; stopped: {n_ok} of {total} {noun} written")
        print(f"error: {msg}", file=sys.stderr)
        summary.exit_code = EXIT_FAILURE
        return summary
    if summary.interrupted:
        n_ok = summary.done + summary.skipped
        print(f"interrupted: {n_ok} of {total} {noun} done ({counts}); run the same command "
              "again to resume: complete outputs are skipped (--overwrite redoes them)",
              file=sys.stderr)
        summary.exit_code = EXIT_INTERRUPTED
        return summary
    print(f"{summary.done + summary.skipped} of {total} {noun} complete ({counts})"
          + (f"; report: {report_path}" if report_path is not None else ""), file=sys.stderr)
    if summary.failures:
        print(f"{len(summary.failures)} failed:", file=sys.stderr)
        for f in summary.failures:
            print(f"  {f}", file=sys.stderr)
        summary.exit_code = EXIT_FAILURE
    return summary
