"""``spam saliency``: saliency maps (VA mode) as 8-bit PNGs, with a JSON sidecar each."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "saliency"
HELP = "compute saliency maps (visual attention) and write them as 8-bit PNGs"
DESCRIPTION = (
    "Compute saliency maps (visual attention) and write them as 8-bit PNGs: DINO [CLS] "
    "attention with --dino-checkpoint (or $SPAM_DINO_CHECKPOINT), else the built-in "
    "saliency that needs no weights."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="image files or folders of images (folders: not recursive)")
    parser.add_argument("--out", "-o", required=True, metavar="DIR",
                        help="output folder: DIR/<stem>.png (0..255) and DIR/<stem>.json")
    parser.add_argument("--dino-checkpoint", metavar="FILE", default=None,
                        help="local DINO ViT checkpoint (e.g. dino_deitsmall16_pretrain.pth) or "
                             "timm ViT weights; default: $SPAM_DINO_CHECKPOINT; without one, "
                             "the built-in saliency is used")
    parser.add_argument("--builtin", action="store_true",
                        help="use the built-in saliency even if $SPAM_DINO_CHECKPOINT is set")
    parser.add_argument("--device", default="auto",
                        help="device for DINO: auto (CUDA if available), cpu, cuda, cuda:N")
    parser.add_argument("--no-cache", action="store_true",
                        help="neither read nor write the saliency disk cache")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    from spam_gui.commands import add_batch_arguments

    add_batch_arguments(parser)


def _fail(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from spam_gui.commands import batch_argument_problem, input_images
    from spam_gui.core.errors import EXIT_USAGE
    from spam_gui.core.saliency import CheckpointError, default_dino_checkpoint, get_dino

    images, problem = input_images(args.inputs)  # inputs first: before seconds of model loading
    problem = problem or batch_argument_problem(args)
    if problem:
        _fail(problem)
        return EXIT_USAGE
    distributed = bool(args.workers or args.scheduler)
    checkpoint = None if args.builtin else (args.dino_checkpoint or default_dino_checkpoint())
    if checkpoint:
        try:  # fail early, once, with the file's name, rather than once per image
            if distributed:  # checked without building it: the workers load it
                from spam_gui.core.models.verify import validate_checkpoint

                what = validate_checkpoint("dino", checkpoint)
                print(f"saliency: DINO {what} on the workers ({args.device})")
            else:
                dino = get_dino(checkpoint, args.device)
                print(f"saliency: DINO {dino.config.display_name} from {dino.path.name} on "
                      f"{dino.device}")
        except (CheckpointError, ValueError, OSError) as exc:
            src = "" if args.dino_checkpoint else " (from $SPAM_DINO_CHECKPOINT)"
            _fail(f"{exc}{src}")
            return EXIT_USAGE
    else:
        print("saliency: built-in (no DINO checkpoint set; less accurate than DINO)")
    return _saliency_all(args, images, checkpoint)


def _saliency_all(args: argparse.Namespace, images: list[Path], checkpoint: str | None) -> int:
    """Every image's map into ``args.out`` (locked against a second writer), in this process
    or on Dask workers (:func:`spam_gui.core.batch.runner.run_batch`); the exit code."""
    from spam_gui.commands import run_batch_in_folder
    from spam_gui.core.batch.job import BatchJob, JobOutcome, job_signature
    from spam_gui.core.io.cache import hash_file_cached

    out_dir = Path(args.out)
    ckpt = str(Path(checkpoint).expanduser().resolve()) if checkpoint else None
    opts = {"dino_checkpoint": ckpt, "device": str(args.device), "no_cache": bool(args.no_cache)}
    signature = job_signature("saliency", {"dino_checkpoint": ckpt},
                              {"dino": hash_file_cached(ckpt) if ckpt else None})
    jobs: list[BatchJob] = []
    refused: list[JobOutcome] = []
    used: dict[str, Path] = {}
    inputs_resolved = {p.resolve() for p in images if p.exists()}
    for path in images:
        stem = path.stem
        png, sidecar = out_dir / f"{stem}.png", out_dir / f"{stem}.json"
        why = None
        if stem in used:
            why = f"{path}: skipped, its output {png} would overwrite that of {used[stem]}"
        elif png.resolve() in inputs_resolved or sidecar.resolve() in inputs_resolved:
            why = f"{path}: skipped, its output {png} would overwrite an input image"
        if why:
            refused.append(JobOutcome(str(path), stem, "failed", error=why))
            continue
        used[stem] = path
        jobs.append(BatchJob("saliency", str(path), stem, str(out_dir), opts, signature,
                             overwrite=bool(args.overwrite)))
    return run_batch_in_folder(jobs, refused, out_dir, args, "spam saliency")


if __name__ == "__main__":  # pragma: no cover
    from spam_gui.cli import main

    sys.exit(main([NAME, *sys.argv[1:]]))
