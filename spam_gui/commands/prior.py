"""``spam prior``: prior object maps (0 = uncertain) from SAM or from mask proposals (docs/algorithm.md §5).

    spam prior IMAGE... --out DIR --sam-checkpoint sam_vit_b_01ec64.pth [--points-per-side 32]
    spam prior IMAGE... --out DIR --masks MASKS.npz | MASKS_DIR
    spam prior IMAGE... --out DIR [--method builtin] [--coarseness C]

Without --sam-checkpoint, $SPAM_SAM_CHECKPOINT or --masks, the built-in prior is used
(:func:`spam_gui.core.prior.builtin.compute.builtin_prior`: no checkpoint, nothing to download).

For each image, writes ``DIR/<stem>.png`` (16-bit object map, 0 = uncertain) and
``DIR/<stem>.json`` (parameters and the provenance of each object), atomically. A bad image,
mask file or checkpoint is reported by name; the other images are still processed, and the exit
status is non-zero when any failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from spam_gui.core.errors import EXIT_USAGE
from spam_gui.core.devices import DEVICE_CHOICES
from spam_gui.core.env import ENV_SAM_CHECKPOINT, env_value
from spam_gui.core.params import PRIOR_DEFAULTS, SAM_DEFAULTS

NAME = "prior"
METHODS = ("builtin", "sam", "masks")
HELP = ("compute prior object maps (16-bit PNG, 0 = uncertain): built in (no checkpoint), from "
        "a local SAM checkpoint or from mask proposals (.npz)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="images or folders of images")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--method", choices=METHODS, default=None,
                   help="where the objects come from: builtin (no checkpoint), sam or masks; "
                   "default: masks with --masks, sam with a checkpoint (--sam-checkpoint or "
                   f"${ENV_SAM_CHECKPOINT}), else builtin")
    b = p.add_argument_group("built-in prior")
    b.add_argument("--coarseness", type=float, default=PRIOR_DEFAULTS.coarseness,
                   help="how coarse the objects are, 0 (fine) to 1 (one object) "
                   f"(default {PRIOR_DEFAULTS.coarseness})")
    b.add_argument("--encoder", default="default", metavar="FILE",
                   help="SPAM encoder for the built-in prior's superpixels and features "
                   "(default: the shipped one)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--sam-checkpoint", metavar="FILE", default=None,
                     help="local SAM checkpoint (sam_vit_h_4b8939.pth, sam_vit_l_0b3195.pth, "
                     "sam_vit_b_01ec64.pth); default: $SPAM_SAM_CHECKPOINT. Never downloaded.")
    src.add_argument("--masks", metavar="FILE_OR_DIR", default=None,
                     help="mask proposals instead of SAM: an .npz file with a boolean array "
                     "'masks' of shape (n, H, W) (one input image), or a folder holding "
                     "<stem>.npz for each image")
    g = p.add_argument_group("SAM automatic masks")
    s = SAM_DEFAULTS
    g.add_argument("--points-per-side", type=int, default=s.points_per_side,
                   help=f"prompt grid (default {s.points_per_side})")
    g.add_argument("--pred-iou-thresh", type=float, default=s.pred_iou_thresh,
                   help=f"default {s.pred_iou_thresh}")
    g.add_argument("--stability-score-thresh", type=float, default=s.stability_score_thresh,
                   help=f"default {s.stability_score_thresh}")
    g.add_argument("--box-nms-thresh", type=float, default=s.box_nms_thresh,
                   help=f"default {s.box_nms_thresh}")
    g.add_argument("--points-per-batch", type=int, default=s.points_per_batch,
                   help=f"prompts run together (speed/memory only; default {s.points_per_batch})")
    g.add_argument("--device", default="auto", help=f"torch device: {DEVICE_CHOICES} (default auto)")
    g.add_argument("--no-cache", action="store_true",
                   help="do not read or write the disk cache of SAM results")
    g.add_argument("--save-proposals", action="store_true",
                   help="also write DIR/<stem>_masks.npz with SAM's proposals")
    a = p.add_argument_group("aggregation")
    a.add_argument("--a-min", type=float, default=None,
                   help="minimum object area in pixels (default sqrt(H*W)/4)")
    a.add_argument("--opening", type=int, default=s.opening,
                   help="side of the square opening that separates background from thin gaps "
                   f"(default {s.opening})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    from spam_gui.commands import add_batch_arguments

    add_batch_arguments(p)


def _err(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from spam_gui.commands import batch_argument_problem, input_images

    out_dir = Path(args.out)
    checkpoint = args.sam_checkpoint
    if args.masks is None and checkpoint is None:
        checkpoint = env_value(ENV_SAM_CHECKPOINT)
    method = getattr(args, "method", None) or (
        "masks" if args.masks is not None else "sam" if checkpoint is not None else "builtin")
    if method == "masks" and args.masks is None:
        _err("--method masks needs --masks FILE_OR_DIR")
        return EXIT_USAGE
    if method == "sam" and checkpoint is None:
        _err(f"--method sam needs --sam-checkpoint FILE (or {ENV_SAM_CHECKPOINT})")
        return EXIT_USAGE
    if method != "masks" and args.masks is not None:
        _err(f"--masks does not go with --method {method}")
        return EXIT_USAGE
    if method == "builtin" and not 0.0 <= args.coarseness <= 1.0:
        _err(f"--coarseness must be in [0, 1], got {args.coarseness}")
        return EXIT_USAGE
    if args.opening < 0 or (args.a_min is not None and args.a_min < 0):
        _err("--opening and --a-min must not be negative")
        return EXIT_USAGE
    problem = batch_argument_problem(args)
    if problem:
        _err(problem)
        return EXIT_USAGE

    images, problem = input_images(args.inputs)  # inputs first: before seconds of model loading
    if problem:
        _err(problem)
        return EXIT_USAGE

    opts: dict[str, Any] = {"method": method, "a_min": args.a_min, "opening": int(args.opening),
                            "device": str(args.device)}
    models: dict[str, str | None] = {}
    distributed = bool(args.workers or args.scheduler)
    if method == "masks":
        mpath = Path(args.masks)
        if not (mpath.is_dir() or len(images) == 1):
            if not mpath.exists():
                _err(f"{mpath}: no such file or folder")
            else:
                _err(f"--masks {mpath} is one file but {len(images)} images were given; "
                     "give a folder holding <stem>.npz for each image")
            return EXIT_USAGE
        opts.update(masks=str(mpath.expanduser().resolve()), masks_is_dir=mpath.is_dir())
    elif method == "sam":
        from spam_gui.core.io.cache import hash_file_cached
        from spam_gui.core.prior.sam import AmgParams, SamCheckpointError, load_sam

        amg = {"points_per_side": args.points_per_side, "pred_iou_thresh": args.pred_iou_thresh,
               "stability_score_thresh": args.stability_score_thresh,
               "box_nms_thresh": args.box_nms_thresh, "points_per_batch": args.points_per_batch}
        try:
            AmgParams(**amg)
        except ValueError as exc:
            _err(str(exc))
            return EXIT_USAGE
        try:  # validate once, up front; the workers load it themselves
            if distributed:
                from spam_gui.core.models.verify import validate_checkpoint

                validate_checkpoint("sam", checkpoint)
            else:
                load_sam(checkpoint, args.device)   # kept in memory for the run
        except (SamCheckpointError, ValueError, OSError) as exc:
            _err(str(exc))
            return EXIT_USAGE  # a bad checkpoint is bad input, as in every spam command
        ckpt = str(Path(checkpoint).expanduser().resolve())
        opts.update(sam_checkpoint=ckpt, amg=amg, no_cache=bool(args.no_cache),
                    save_proposals=bool(args.save_proposals))
        models["sam"] = hash_file_cached(ckpt)
    else:
        from spam_gui.core.batch.per_image import encoder_identity
        from spam_gui.core.errors import SpamError

        try:
            if distributed:
                if str(args.encoder).lower() not in ("none", "default"):
                    from spam_gui.core.models.verify import validate_checkpoint

                    validate_checkpoint("encoder", args.encoder)
            else:
                from spam_gui.core.batch.per_image import engine

                engine(args.encoder, args.device)   # loaded once, kept for the run
        except (SpamError, ValueError, OSError) as exc:
            _err(str(exc))
            return EXIT_USAGE
        encoder = (args.encoder if str(args.encoder) in ("default", "none")
                   else str(Path(args.encoder).expanduser().resolve()))
        opts.update(coarseness=float(args.coarseness), encoder=encoder)
        models["encoder"] = encoder_identity(args.encoder)[1]
    return _prior_all(args, images, out_dir, opts, models)


def _prior_all(args: argparse.Namespace, images: list[Path], out_dir: Path,
               opts: dict[str, Any], models: dict[str, str | None]) -> int:
    """Every image's prior into ``out_dir`` (locked against a second writer), in this process
    or on Dask workers (:func:`spam_gui.core.batch.runner.run_batch`); the exit code."""
    from spam_gui.commands import run_batch_in_folder
    from spam_gui.core.batch.job import BatchJob, JobOutcome, job_signature

    same = {k: v for k, v in opts.items() if k != "no_cache"}   # what the maps depend on
    if "amg" in same:
        same["amg"] = {k: v for k, v in same["amg"].items() if k != "points_per_batch"}
    signature = job_signature("prior", same, models)
    if "encoder" in models:
        opts["encoder_sha256"] = models["encoder"]
    jobs: list[BatchJob] = []
    refused: list[JobOutcome] = []
    seen: dict[str, Path] = {}
    for img_path in images:
        stem = img_path.stem
        if stem in seen:
            refused.append(JobOutcome(str(img_path), stem, "failed", error=(
                f"{img_path}: same output name '{stem}' as {seen[stem]}; skipped")))
            continue
        seen[stem] = img_path
        jobs.append(BatchJob("prior", str(img_path), stem, str(out_dir), opts, signature,
                             overwrite=bool(args.overwrite)))
    return run_batch_in_folder(jobs, refused, out_dir, args, "spam prior")
