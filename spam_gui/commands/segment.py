"""``spam segment``: superpixels for images or folders, written as label PNGs + sidecars."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

NAME = "segment"
HELP = "compute SPAM superpixels for images or folders and write label maps"

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files or folders (jpg, png, tif, bmp, webp)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--n-segments", "-k", type=int, default=400, help="superpixels wanted (default 400)")
    p.add_argument("--prior", type=Path, default=None,
                   help="prior object map: a label-map file, or a folder holding <stem>.png per image "
                        "(0 = uncertain)")
    p.add_argument("--sam-checkpoint", type=Path,
                   default=os.environ.get("SPAM_SAM_CHECKPOINT") or None,
                   help="compute the prior with Segment Anything from this local checkpoint "
                        "(default: $SPAM_SAM_CHECKPOINT); cached on disk")
    p.add_argument("--points-per-side", type=int, default=32, help="SAM automatic grid (default 32)")
    p.add_argument("--lambda-s", type=float, default=7.5, help="regularity λs (default 7.5)")
    p.add_argument("--lambda-c", type=float, default=0.26, help="colour weight λc (default 0.26)")
    p.add_argument("--iterations", type=int, default=10, help="clustering iterations T (default 10)")
    p.add_argument("--smoothing", type=int, default=1,
                   help="3x3 majority-filter passes on the hard labels before connectivity "
                        "(default 1; 0: plain argmax labels)")
    p.add_argument("--encoder", default="default",
                   help="default (shipped weights), none (no network, D=5) or a weight file")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--seed", type=int, default=0, help="random seed of the seed placement")
    p.add_argument("--visual-attention", action="store_true",
                   help="visual-attention mode: more superpixels in salient objects")
    p.add_argument("--ratio", type=float, default=2.5, help="density ratio of salient objects (default 2.5)")
    p.add_argument("--saliency-threshold", type=float, default=0.1,
                   help="mean saliency above which an object is salient (default 0.1)")
    p.add_argument("--dino-checkpoint", type=Path,
                   default=os.environ.get("SPAM_DINO_CHECKPOINT") or None,
                   help="DINO ViT checkpoint for saliency (default: $SPAM_DINO_CHECKPOINT; "
                        "without one, the built-in saliency)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _prior_for(args: argparse.Namespace, path: Path, image: Any) -> tuple[Any, dict[str, Any]]:
    """The prior object map for one image and a description of where it came from."""
    from spam_gui.core.prior import read_prior

    if args.prior is not None:
        src = args.prior / f"{path.stem}.png" if args.prior.is_dir() else args.prior
        prior = read_prior(src, shape=image.shape)
        return prior.object_map, {"source": "label map", "file": src.name}
    if args.sam_checkpoint is not None:
        from spam_gui.core.sam import compute_prior

        object_map, provenance = compute_prior(image, args.sam_checkpoint,
                                               points_per_side=args.points_per_side,
                                               device=args.device)
        return object_map, {"source": "sam", **provenance}
    return None, {"source": "none"}


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from spam_gui.core.encoder import EncoderLoadError
    from spam_gui.core.export import save_result
    from spam_gui.core.image_io import ImageReadError, list_images, read_image
    from spam_gui.core.spam import Spam

    if args.n_segments < 1:
        print("error: --n-segments must be >= 1", file=sys.stderr)
        return 2
    if args.prior is not None and not args.prior.exists():
        print(f"error: {args.prior}: no such prior file or folder", file=sys.stderr)
        return 2
    try:
        spam = Spam(encoder=args.encoder, device=args.device)
    except (EncoderLoadError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:  # a bad checkpoint is one error, not one per image
        if args.sam_checkpoint is not None and args.prior is None:
            from spam_gui.core.sam import load_sam

            load_sam(args.sam_checkpoint, device=args.device)
        if args.visual_attention and args.dino_checkpoint is not None:
            from spam_gui.core.saliency import get_dino

            get_dino(args.dino_checkpoint, device=args.device)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    images = list_images(args.inputs)
    if not images:
        print("error: no images found in the inputs", file=sys.stderr)
        return 2
    if args.prior is not None and args.prior.is_file() and len(images) > 1:
        print("error: one prior file for several images; give a folder of <stem>.png priors",
              file=sys.stderr)
        return 2
    log.info("encoder: %s; device: %s", spam.encoder_name, spam.device)
    failures: list[str] = []
    seen: set[str] = set()
    bar = tqdm(images, unit="img", disable=args.no_progress or len(images) < 2, file=sys.stderr)
    for path in bar:
        bar.set_postfix_str(path.name)
        if path.stem in seen:
            failures.append(f"{path}: another input has the same name {path.stem!r}; skipped")
            continue
        seen.add(path.stem)
        try:
            image = read_image(path)
            prior, prior_info = _prior_for(args, path, image)
            saliency = None
            extra: dict[str, Any] = {"prior": prior_info}
            method = None
            if args.visual_attention:
                from spam_gui.core.saliency import compute_saliency_info

                sal = compute_saliency_info(image, dino_checkpoint=args.dino_checkpoint,
                                            device=args.device)
                saliency, method = sal.saliency, sal.method
                extra["saliency"] = sal.info
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                res = spam.segment(
                    image, n_segments=args.n_segments, prior=prior, lambda_s=args.lambda_s,
                    lambda_c=args.lambda_c, n_iter=args.iterations, seed=args.seed,
                    smoothing=args.smoothing,
                    saliency=saliency, attention_ratio=args.ratio,
                    saliency_threshold=args.saliency_threshold, saliency_method=method,
                )
            for w in caught:
                tqdm.write(f"warning: {path.name}: {w.message}", file=sys.stderr)
            save_result(args.out, path.stem, res, image_path=path, extra=extra)
        except (ImageReadError, ValueError, OSError, EncoderLoadError) as exc:
            msg = str(exc)
            failures.append(msg if str(path) in msg or path.name in msg else f"{path}: {msg}")
            tqdm.write(f"error: {failures[-1]}", file=sys.stderr)
    done = len(images) - len(failures)
    print(f"{done} of {len(images)} images segmented into {args.out}", file=sys.stderr)
    if failures:
        print(f"{len(failures)} failed:", file=sys.stderr)
        for f in failures:
            print(f"  {f}", file=sys.stderr)
        return 1
    return 0
