"""``spam segment``: superpixels for images or folders, written as label PNGs + sidecars."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
from pathlib import Path
from typing import Any

from spam_gui.core.errors import EXIT_FAILURE, EXIT_USAGE
from spam_gui.core.devices import DEVICE_CHOICES
from spam_gui.core.env import ENV_DINO_CHECKPOINT, ENV_SAM_CHECKPOINT, env_value
from spam_gui.core.params import DEFAULTS, SAM_DEFAULTS

NAME = "segment"
HELP = "compute SPAM superpixels for images or folders and write label maps"

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files or folders (jpg, png, tif, bmp, webp, gif)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--n-segments", "-k", type=int, default=DEFAULTS.n_segments,
                   help=f"superpixels wanted (default {DEFAULTS.n_segments})")
    p.add_argument("--prior", type=Path, default=None,
                   help="prior object map: a label-map file, or a folder holding <stem>.png per image "
                        "(0 = uncertain)")
    p.add_argument("--builtin-prior", action="store_true",
                   help="objects from the built-in prior (no checkpoint, no prior maps; the "
                        "same maps as spam prior --method builtin)")
    p.add_argument("--coarseness", type=float, default=None,
                   help="with --builtin-prior: how coarse the objects are, 0 (fine) to 1 "
                        "(one object); default: the built-in prior's")
    p.add_argument("--sam-checkpoint", type=Path,
                   default=env_value(ENV_SAM_CHECKPOINT),
                   help="compute the prior with Segment Anything from this local checkpoint "
                        f"(default: ${ENV_SAM_CHECKPOINT}); cached on disk")
    p.add_argument("--points-per-side", type=int, default=SAM_DEFAULTS.points_per_side,
                   help=f"SAM automatic grid (default {SAM_DEFAULTS.points_per_side})")
    p.add_argument("--lambda-s", type=float, default=DEFAULTS.lambda_s,
                   help=f"regularity λs (default {DEFAULTS.lambda_s:g})")
    p.add_argument("--lambda-c", type=float, default=DEFAULTS.lambda_c,
                   help=f"colour weight λc (default {DEFAULTS.lambda_c:g})")
    p.add_argument("--iterations", type=int, default=DEFAULTS.n_iter,
                   help=f"clustering iterations T (default {DEFAULTS.n_iter})")
    p.add_argument("--smoothing", type=int, default=DEFAULTS.smoothing,
                   help="3x3 majority-filter passes on the hard labels before connectivity "
                        f"(default {DEFAULTS.smoothing}; 0: plain argmax labels)")
    p.add_argument("--encoder", default="default",
                   help="default (shipped weights), none (no network, D=5) or a weight file")
    p.add_argument("--device", default="auto", help=f"torch device: {DEVICE_CHOICES} (default auto)")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed,
                   help=f"random seed of the seed placement (default {DEFAULTS.seed})")
    p.add_argument("--visual-attention", action="store_true",
                   help="visual-attention mode: more superpixels in salient objects")
    p.add_argument("--ratio", type=float, default=DEFAULTS.attention_ratio,
                   help=f"density ratio of salient objects (default {DEFAULTS.attention_ratio:g})")
    p.add_argument("--saliency-threshold", type=float, default=DEFAULTS.saliency_threshold,
                   help="mean saliency above which an object is salient "
                        f"(default {DEFAULTS.saliency_threshold:g})")
    p.add_argument("--dino-checkpoint", type=Path,
                   default=env_value(ENV_DINO_CHECKPOINT),
                   help=f"DINO ViT checkpoint for saliency (default: ${ENV_DINO_CHECKPOINT}; "
                        "without one, the built-in saliency)")
    p.add_argument("--labels", type=Path, default=None, metavar="LABEL_DIR",
                   help="existing annotations (classes.json, <stem>_classes.png, "
                        "<stem>_instances.png): checked against the images and written into "
                        "OUT/spam_labels beside the superpixels")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    from spam_gui.commands import add_batch_arguments

    add_batch_arguments(p)


def run(args: argparse.Namespace) -> int:
    from spam_gui.commands import batch_argument_problem, input_images
    from spam_gui.core.engine.encoder import EncoderLoadError
    from spam_gui.core.formats.export import OutputFolderError, check_output_folder
    from spam_gui.core.io.images import remove_stale_temp_files
    from spam_gui.core.io.locking import FolderLock, FolderLockedError

    if args.n_segments < 1:
        print("error: --n-segments must be >= 1", file=sys.stderr)
        return EXIT_USAGE
    problem = batch_argument_problem(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if args.builtin_prior and args.prior is not None:
        print("error: --builtin-prior and --prior are two prior sources; give one",
              file=sys.stderr)
        return EXIT_USAGE
    if args.coarseness is not None and not (args.builtin_prior
                                            and 0.0 <= args.coarseness <= 1.0):
        print("error: --coarseness needs --builtin-prior and a value in [0, 1]",
              file=sys.stderr)
        return EXIT_USAGE
    if args.prior is not None and not args.prior.exists():
        print(f"error: {args.prior}: no such prior file or folder", file=sys.stderr)
        return EXIT_USAGE
    images, problem = input_images(args.inputs)  # inputs first: before seconds of model loading
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if args.prior is not None and args.prior.is_file() and len(images) > 1:
        print("error: one prior file for several images; give a folder of <stem>.png priors",
              file=sys.stderr)
        return EXIT_USAGE
    annotations = None
    if args.labels is not None:  # existing annotations: checked before any work
        from spam_gui.core.errors import SpamError
        from spam_gui.core.formats.common import prepare_annotation_copy

        try:
            annotations = prepare_annotation_copy(args.labels, images)
        except SpamError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    try:  # before any model is loaded or image computed
        check_output_folder(args.out)
    except OutputFolderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    distributed = bool(args.workers or args.scheduler)
    try:  # a bad model file is one error, before any image, not one per image
        if distributed:  # checked here without building the models: the workers load them
            from spam_gui.core.models.verify import validate_checkpoint

            if str(args.encoder) == "default":   # a missing shipped file is named here, once
                from spam_gui.core.engine.spam import default_encoder_path

                default_encoder_path()
            elif str(args.encoder).lower() != "none":
                validate_checkpoint("encoder", args.encoder)
            spam = None
        else:  # loaded here once and kept for the run (spam_gui.core.batch.per_image.engine)
            from spam_gui.core.batch.per_image import engine

            spam = engine(args.encoder, args.device)
        if args.builtin_prior:   # the shipped edge model: a missing one is named before any work
            from spam_gui.core.prior.builtin.edge_model import edge_model_path

            edge_model_path()
        if args.sam_checkpoint is not None and args.prior is None and not args.builtin_prior:
            if distributed:
                validate_checkpoint("sam", args.sam_checkpoint)
            else:
                from spam_gui.core.prior.sam import load_sam

                load_sam(args.sam_checkpoint, device=args.device)
        if args.visual_attention and args.dino_checkpoint is not None:
            if distributed:
                validate_checkpoint("dino", args.dino_checkpoint)
            else:
                from spam_gui.core.saliency import get_dino

                get_dino(args.dino_checkpoint, device=args.device)
    except (EncoderLoadError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if spam is not None:
        log.info("encoder: %s; device: %s", spam.encoder_name, spam.device)
    try:  # one writer per output folder; released however the run ends
        args.out.mkdir(parents=True, exist_ok=True)
        lock = FolderLock(args.out, program="spam segment").acquire()
    except FolderLockedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"error: {args.out}: cannot use the output folder ({exc.strerror or exc})",
              file=sys.stderr)
        return EXIT_USAGE
    try:
        if lock.took_over is not None:
            log.info("%s: took over the lock of a run that is gone (pid %s)", args.out,
                     lock.took_over.get("pid", "?"))
        # a lock taken over from a dead run: its temporary files are certainly stale
        for stale in remove_stale_temp_files(args.out,
                                             0.0 if lock.took_over is not None else 60.0):
            log.info("removed %s, left over by an interrupted run", stale)
        if annotations is not None:
            from spam_gui.core.annotation import LABEL_FOLDER

            try:
                annotations.write(args.out / LABEL_FOLDER)
            except OSError as exc:  # a full disk, a read-only folder: named by the error
                print(f"error: {exc}", file=sys.stderr)
                return EXIT_FAILURE
            log.info("%d annotated images of %s -> %s", len(annotations.files), args.labels,
                     args.out / LABEL_FOLDER)
        return _segment_all(args, images)
    finally:
        lock.release()


def _options(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, str | None]]:
    """The job options of ``spam segment`` (JSON-ready, absolute paths) and the model hashes
    of its signature (:func:`spam_gui.core.batch.job.job_signature`)."""
    from spam_gui.core.batch.per_image import encoder_identity

    def absolute(p: Path | None) -> str | None:
        return None if p is None else str(Path(p).expanduser().resolve())

    sam = (absolute(args.sam_checkpoint)
           if args.prior is None and not args.builtin_prior else None)
    dino = absolute(args.dino_checkpoint) if args.visual_attention else None
    _, encoder_sha = encoder_identity(args.encoder)
    encoder = args.encoder if str(args.encoder) in ("default", "none") else absolute(args.encoder)
    opts: dict[str, Any] = {
        "n_segments": int(args.n_segments), "prior": absolute(args.prior),
        "prior_is_dir": bool(args.prior is not None and args.prior.is_dir()),
        "sam_checkpoint": sam, "points_per_side": int(args.points_per_side),
        "lambda_s": float(args.lambda_s), "lambda_c": float(args.lambda_c),
        "iterations": int(args.iterations), "smoothing": int(args.smoothing),
        "encoder": encoder, "device": str(args.device), "seed": int(args.seed),
        "visual_attention": bool(args.visual_attention), "ratio": float(args.ratio),
        "saliency_threshold": float(args.saliency_threshold), "dino_checkpoint": dino,
    }
    if args.builtin_prior:
        from spam_gui.core.params import PRIOR_DEFAULTS

        opts["builtin_prior"] = True
        opts["coarseness"] = float(PRIOR_DEFAULTS.coarseness if args.coarseness is None
                                   else args.coarseness)
    from spam_gui.core.io.cache import hash_file_cached

    models = {"encoder": encoder_sha,
              "sam": hash_file_cached(sam) if sam else None,
              "dino": hash_file_cached(dino) if dino else None}
    if args.builtin_prior:
        from spam_gui.core.prior.builtin.edge_model import edge_model_path

        models["builtin_edges"] = hash_file_cached(str(edge_model_path()))
    return opts, models


def _stop_message(out_dir: Path) -> Any:
    """The line of a run stopped by a full disk or a read-only file system."""
    def message(outcome: Any, written: int, total: int) -> str:
        why = {errno.ENOSPC: "the disk is full", errno.EROFS: "the file system is read-only"
               }.get(outcome.errno or 0, "the disk quota is exceeded")
        return (f"{out_dir}: {why} ({os.strerror(outcome.errno or 0)}); stopped at "
                f"{Path(outcome.image).name}: {written} of {total} images written, the others "
                "not processed (the files of the image being written are left as they were)")
    return message


def _segment_all(args: argparse.Namespace, images: list[Path]) -> int:
    """Segment every image into ``args.out`` (locked by the caller), in this process or on
    Dask workers (:func:`spam_gui.core.batch.per_image.run_batch`); the exit code."""
    from spam_gui.core.batch.job import BatchJob, JobOutcome, job_signature
    from spam_gui.core.batch.runner import REPORT_NAME, run_batch

    opts, models = _options(args)
    signature = job_signature("segment", opts, models)
    opts["encoder_sha256"] = models["encoder"]
    jobs: list[BatchJob] = []
    refused: list[JobOutcome] = []
    seen: set[str] = set()
    for path in images:
        if path.stem in seen:
            refused.append(JobOutcome(str(path), path.stem, "failed", error=(
                f"{path}: another input has the same name {path.stem!r}; skipped")))
            continue
        seen.add(path.stem)
        jobs.append(BatchJob("segment", str(path), path.stem, str(args.out), opts, signature,
                             overwrite=bool(args.overwrite)))
    summary = run_batch(jobs, command="spam segment", report_path=args.out / REPORT_NAME,
                        failed_before=refused, workers=args.workers, scheduler=args.scheduler,
                        threads_per_worker=args.threads_per_worker,
                        progress=not args.no_progress, noun="images",
                        stop_message=_stop_message(args.out))
    return summary.exit_code
