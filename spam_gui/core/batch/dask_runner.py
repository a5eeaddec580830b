"""Batch jobs on Dask (``dask.distributed``): a local cluster of worker processes, or an
existing cluster given by its scheduler's address.

:class:`DaskRunner` submits :func:`spam_gui.core.batch.per_image.run_job` for each
:class:`~spam_gui.core.batch.job.BatchJob` (paths only: the workers read the images and write the
outputs themselves) and yields the outcomes as they complete. It keeps a bounded window of
jobs in flight (twice the cluster's task slots), so neither the scheduler nor this process
grows with the number of images.

Each worker process keeps the models it loaded (:func:`spam_gui.core.batch.per_image.engine`): a worker
loads the encoder, SAM or DINO once, however many images it does. ``device="auto"`` resolves
on the worker, so a worker with a GPU uses it.

Failures: a problem of the image comes back as a ``"failed"`` outcome (no retry). An
exception is retried once (``retries=1``); a worker that dies while running an image has the
image rescheduled on another worker once (``distributed.scheduler.allowed-failures = 1`` on a
local cluster; an existing cluster keeps its own setting), then the image is reported, and
the other images go on.

References
----------
Dask Development Team, *Dask: Library for dynamic task scheduling* (2016),
https://distributed.dask.org — ``LocalCluster``, ``Client.submit(retries=...)``,
``as_completed``.
"""

from __future__ import annotations

import logging
import signal
import threading
import uuid
from dataclasses import replace
from typing import Any, Iterable, Iterator

from spam_gui.core.batch.job import BatchJob, JobOutcome
from spam_gui.core.batch.per_image import run_job
from spam_gui.core.errors import SpamError
from spam_gui.core.batch.scheduler_address import CONNECT_TIMEOUT_S

log = logging.getLogger(__name__)

__all__ = [
    "DaskRunner",
    "SchedulerError",
    "local_cluster",
]


class SchedulerError(SpamError):
    """The Dask scheduler cannot be reached or the local cluster cannot start; the message
    names the address."""


def local_cluster(workers: int, *, processes: bool = True, silence: bool = True) -> Any:
    """A ``distributed.LocalCluster`` of ``workers`` worker processes with one task slot each,
    no dashboard, and a dying worker's task retried once on another worker.

    The worker processes are started with Ctrl+C ignored, so that an interrupt reaches this
    process only and the shutdown is orderly (this process stops them).

    Parameters
    ----------
    workers:
        Number of worker processes (>= 1).
    processes:
        False: workers are threads of this process (for tests).
    silence:
        Keep distributed's own log lines below errors.
    """
    import dask
    from distributed import LocalCluster

    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main and processes else None
    try:
        with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
            # no dashboard; the scheduler's small HTTP server on a free port, not 8787
            return LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                                dashboard_address=":0", scheduler_kwargs={"dashboard": False},
                                silence_logs=logging.ERROR if silence else logging.WARNING)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


class DaskRunner:
    """Run batch jobs on Dask.

    Parameters
    ----------
    workers:
        Start a local cluster of this many worker processes (ignored with ``scheduler``).
    scheduler:
        The address of a running scheduler (``tcp://host:8786``), or a
        ``distributed.Client`` / ``LocalCluster`` object.
    threads_per_worker:
        Torch CPU threads of every worker process (set on the worker before each job).
    processes:
        Local cluster only: False runs the workers as threads of this process.
    """

    def __init__(self, workers: int | None = None, scheduler: Any = None,
                 threads_per_worker: int = 1, processes: bool = True) -> None:
        from distributed import Client

        if threads_per_worker < 1:
            raise ValueError(f"--threads-per-worker must be at least 1, got {threads_per_worker}")
        self.threads = int(threads_per_worker)
        if not log.isEnabledFor(logging.DEBUG):  # distributed's INFO lines are noise here
            for name in ("distributed", "bokeh", "tornado"):
                logging.getLogger(name).setLevel(logging.WARNING)
        self.cluster: Any = None
        self._futures: dict[str, Any] = {}
        if isinstance(scheduler, str):
            from spam_gui.core.batch.scheduler_address import check_scheduler_address

            problem = check_scheduler_address(scheduler)
            if problem:
                raise SchedulerError(problem)
        try:
            if scheduler is not None:
                self.client = Client(scheduler, timeout=CONNECT_TIMEOUT_S,
                                     set_as_default=False)
            else:
                self.cluster = local_cluster(int(workers or 1), processes=processes)
                self.client = Client(self.cluster, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            self.close()
            if scheduler is None:
                raise SchedulerError(f"the local cluster: cannot start ({exc})") from None
            raise SchedulerError(f"--scheduler {scheduler}: no Dask scheduler answered within "
                                 f"{CONNECT_TIMEOUT_S} s (is it running, and reachable "
                                 "from here?)") from None
        except Exception as exc:  # noqa: BLE001 - e.g. a TLS or handshake problem: our words
            self.close()
            where = (f"--scheduler {scheduler}" if scheduler is not None
                     else "the local cluster")
            raise SchedulerError(f"{where}: cannot connect ({type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})"
                                 ) from None

    @property
    def slots(self) -> int:
        """Task slots of the cluster now (the workers' threads), at least 1."""
        try:
            return max(1, sum(self.client.nthreads().values()))
        except Exception:  # noqa: BLE001 - a scheduler going away: the loop reports it
            return 1

    def run(self, jobs: Iterable[BatchJob]) -> Iterator[JobOutcome]:
        """Submit the jobs (a bounded window at a time) and yield their outcomes as they
        complete, in completion order."""
        from distributed import as_completed

        pending = iter(jobs)
        window = 2 * self.slots + 2

        def submit_next() -> Any:
            job = next(pending, None)
            if job is None:
                return None
            job = replace(job, threads=self.threads)
            key = f"spam-{job.kind}-{job.stem}-{uuid.uuid4().hex[:12]}"
            fut = self.client.submit(run_job, job, key=key, retries=1, pure=False)
            self._futures[key] = (fut, job)
            return fut

        first = []
        while len(first) < window and (fut := submit_next()) is not None:
            first.append(fut)
        if not first:
            return
        ac = as_completed(first, loop=self.client.loop)
        n_done = 0
        for fut in ac:
            _, job = self._futures.pop(fut.key)
            yield self._outcome(fut, job)
            fut.release()
            n_done += 1
            if n_done % 50 == 0:
                window = 2 * self.slots + 2
            while len(self._futures) < window and (new := submit_next()) is not None:
                ac.add(new)

    @staticmethod
    def _outcome(fut: Any, job: BatchJob) -> JobOutcome:
        from distributed import KilledWorker

        try:
            outcome = fut.result()
        except KilledWorker:
            return JobOutcome(job.image, job.stem, "failed", worker="?",
                              error=f"{job.image}: the worker running it died, and again on "
                                    "another worker (out of memory?); not retried further",
                              attempts=2)
        except Exception as exc:  # noqa: BLE001 - retried once by dask already: report it
            return JobOutcome(job.image, job.stem, "failed", worker="?",
                              error=f"{job.image}: {type(exc).__name__}: {exc}", attempts=2)
        if not isinstance(outcome, JobOutcome):   # pragma: no cover - a foreign worker
            return JobOutcome(job.image, job.stem, "failed",
                              error=f"{job.image}: unexpected result {type(outcome).__name__}")
        return outcome

    def close(self) -> None:
        """Cancel what is still queued, disconnect, and stop the local cluster (if any)."""
        futures = [f for f, _ in self._futures.values()]
        self._futures.clear()
        if futures and not log.isEnabledFor(logging.DEBUG):
            # workers busy with an image are killed after a grace period: expected here (the
            # image's files are written atomically and redone next time), so not a warning
            logging.getLogger("distributed.nanny").setLevel(logging.ERROR)
        client = getattr(self, "client", None)
        if client is not None:
            try:
                if futures:
                    client.cancel(futures)
                client.close(timeout=10)
            except Exception:  # noqa: BLE001 - shutting down: nothing more to do
                log.debug("closing the Dask client", exc_info=True)
        if self.cluster is not None:
            try:
                self.cluster.close(timeout=10)
            except Exception:  # noqa: BLE001
                log.debug("closing the local cluster", exc_info=True)
            self.cluster = None
