"""Subcommands of the ``spam`` command line.

Each module exposes ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``;
:mod:`spam_gui.cli` registers the modules listed in ``COMMANDS``. Commands are thin: they
parse, call :mod:`spam_gui.core`, and report.
"""

import sys
from typing import TYPE_CHECKING, Callable, TypeVar

if TYPE_CHECKING:  # annotations only: importing a command stays cheap
    import argparse
    from pathlib import Path

    from spam_gui.core.batch.job import BatchJob, JobOutcome

T = TypeVar("T")

COMMANDS = ["segment", "prior", "saliency", "eval", "train", "export", "import", "models"]


def missing_inputs(inputs: "list[str] | list[object]") -> list[str]:
    """The input paths that do not exist, for one up-front error (exit code 2) before any
    model is loaded; every command that loads a model checks its inputs with this first."""
    import os

    return [str(i) for i in inputs if not os.path.exists(i)]


def missing_inputs_message(missing: list[str]) -> str:
    """One line naming the missing input paths."""
    if len(missing) == 1:
        return f"{missing[0]}: no such file or folder"
    return "no such files or folders: " + ", ".join(missing)


def input_images(inputs: "list[str] | list[object]") -> "tuple[list, str | None]":
    """The images named by the inputs (files, folders), or the one-line error to report with
    exit code 2: missing paths first, then "no images" — checked before any model loads."""
    from spam_gui.core.io.images import list_images

    missing = missing_inputs(inputs)
    if missing:
        return [], missing_inputs_message(missing)
    images = list_images(inputs)  # type: ignore[arg-type]
    if not images:
        return [], "no images found in " + ", ".join(str(i) for i in inputs)
    return images, None


def add_batch_arguments(parser: "object") -> None:
    """The options of a batch run (``spam segment | prior | saliency | eval``): where it runs
    (this process, a local Dask cluster, an existing one) and whether finished images are
    redone (:mod:`spam_gui.core.batch.per_image`)."""
    from spam_gui.core.params import BATCH_DEFAULTS
    from spam_gui.core.batch.scheduler_address import CONNECT_TIMEOUT_S

    g = parser.add_argument_group(  # type: ignore[attr-defined]
        "batch", "run on several processes or machines (Dask); resume an interrupted run")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="run on a local Dask cluster of N worker processes (default: in this "
                        "process)")
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on an existing Dask cluster (e.g. tcp://host:8786, started with "
                        "`dask scheduler` and `dask worker`); every worker must see the input "
                        "and output paths. Trusted network only: anyone who can reach a "
                        "scheduler can run code on it and its workers; bind it to 127.0.0.1 or "
                        "a private interface, or use tls://host:8786 with Dask's TLS security "
                        "(docs/batch.md). Connecting gives up after "
                        f"{CONNECT_TIMEOUT_S} s")
    g.add_argument("--threads-per-worker", type=int, default=BATCH_DEFAULTS.threads_per_worker,
                   metavar="T",
                   help="torch CPU threads of each worker process (default "
                        f"{BATCH_DEFAULTS.threads_per_worker}: N processes share the cores "
                        "instead of fighting over them)")
    g.add_argument("--overwrite", action="store_true",
                   help="redo every image; by default an image whose outputs are complete and "
                        "were made with the same parameters, image and models is skipped")


def batch_argument_problem(args: "object") -> "str | None":
    """The one-line error for bad batch options (exit code 2), or None."""
    workers = getattr(args, "workers", None)
    threads = getattr(args, "threads_per_worker", 1)
    if workers is not None and workers < 1:
        return f"--workers must be at least 1, got {workers}"
    if threads is not None and threads < 1:
        return f"--threads-per-worker must be at least 1, got {threads}"
    scheduler = getattr(args, "scheduler", None)
    if workers is not None and scheduler:
        return "give --workers (a local cluster) or --scheduler (an existing one), not both"
    if scheduler is not None:
        from spam_gui.core.batch.scheduler_address import check_scheduler_address

        return check_scheduler_address(scheduler)
    return None


def run_batch_in_folder(jobs: "list[BatchJob]", refused: "list[JobOutcome]", out_dir: "Path",
                        args: "argparse.Namespace", command: str) -> int:
    """Run a batch command's jobs into ``out_dir`` as its only writer; the exit code.

    The folder is created and locked (:class:`spam_gui.core.io.locking.FolderLock`) against a
    second run, its stale temporary files are removed (all of them when the lock was taken
    over from a run that is gone), and the jobs run in this process or on Dask workers
    (:func:`spam_gui.core.batch.runner.run_batch`, options from :func:`add_batch_arguments`),
    with ``OUT/batch_report.json``. The lock is released however the run ends.

    Parameters
    ----------
    jobs:
        The :class:`spam_gui.core.batch.job.BatchJob` of each image.
    refused:
        :class:`spam_gui.core.batch.job.JobOutcome` of the inputs refused before the run
        (counted as failed in the report).
    out_dir:
        The output folder (a :class:`pathlib.Path`).
    args:
        The parsed command line (``workers``, ``scheduler``, ``threads_per_worker``,
        ``no_progress``).
    command:
        The command line's name for the lock and the report (``"spam prior"``).

    Returns
    -------
    int
        :data:`spam_gui.core.errors.EXIT_USAGE` when the folder cannot be used or is locked,
        else the batch's exit code; a one-line error on stderr for each problem.
    """
    import sys
    from pathlib import Path

    from spam_gui.core.batch.runner import REPORT_NAME, run_batch
    from spam_gui.core.errors import EXIT_USAGE
    from spam_gui.core.io.images import remove_stale_temp_files
    from spam_gui.core.io.locking import FolderLock, FolderLockedError

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = FolderLock(out, program=command).acquire()
    except (FolderLockedError, OSError) as exc:
        msg = (str(exc) if isinstance(exc, FolderLockedError)
               else f"{out}: cannot use the output folder ({exc.strerror or exc})")
        print(f"error: {msg}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    try:
        remove_stale_temp_files(out, 0.0 if lock.took_over is not None else 60.0)
        summary = run_batch(jobs, command=command, report_path=out / REPORT_NAME,
                            failed_before=refused, workers=args.workers,
                            scheduler=args.scheduler, threads_per_worker=args.threads_per_worker,
                            progress=not args.no_progress, noun="images")
    finally:
        lock.release()
    if summary.failed:
        print(f"error: {summary.failed} of {summary.total} image(s) failed", file=sys.stderr,
              flush=True)
    return summary.exit_code


class ProgressBar:
    """A tqdm bar driven by the formats' ``progress(done, total, name)`` callbacks (on stderr;
    off with ``disable`` or for a single image)."""

    def __init__(self, disable: bool) -> None:
        self.disable = disable
        self.bar = None

    def __call__(self, done: int, total: int, name: str) -> None:
        if self.disable or total < 2:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="img", file=sys.stderr)
        self.bar.set_postfix_str(name, refresh=False)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def write_annotation_files(out_folder: "Path", no_progress: bool,
                           write: "Callable[[ProgressBar], T]") -> "tuple[int, T | None]":
    """Run a ``spam export`` / ``spam import`` writer with a progress bar; the exit code and
    what the writer returned.

    Parameters
    ----------
    out_folder:
        The folder written into, checked first
        (:func:`spam_gui.core.formats.export.check_output_folder`).
    no_progress:
        No progress bar.
    write:
        Writes the files, called with the bar as its ``progress``.

    Returns
    -------
    tuple
        ``(EXIT_OK, result)`` (the bar closed, so that a summary line can follow), or
        ``(EXIT_USAGE, None)`` for a folder that cannot be used or bad annotations (nothing
        written) and ``(EXIT_FAILURE, None)`` for a failed write, with a one-line error on
        stderr.
    """
    from spam_gui.core.annotation import AnnotationError
    from spam_gui.core.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
    from spam_gui.core.formats.export import OutputFolderError, check_output_folder
    from spam_gui.core.io.images import FileWriteError

    try:
        check_output_folder(out_folder)
    except OutputFolderError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return EXIT_USAGE, None
    bar = ProgressBar(no_progress)
    try:
        return EXIT_OK, write(bar)
    except (AnnotationError, FileWriteError, OSError) as exc:
        bar.close()   # before the error line
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return (EXIT_USAGE if isinstance(exc, AnnotationError) else EXIT_FAILURE), None
    finally:
        bar.close()
