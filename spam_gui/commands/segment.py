"""``spam segment``: superpixels for images or folders, written as label PNGs + sidecars."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from spam_gui.core.devices import DEVICE_CHOICES
from spam_gui.core.env import ENV_DINO_CHECKPOINT, ENV_SAM_CHECKPOINT, env_value
from spam_gui.core.params import DEFAULTS

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
    p.add_argument("--sam-checkpoint", type=Path,
                   default=env_value(ENV_SAM_CHECKPOINT),
                   help="compute the prior with Segment Anything from this local checkpoint "
                        f"(default: ${ENV_SAM_CHECKPOINT}); cached on disk")
    p.add_argument("--points-per-side", type=int, default=32, help="SAM automatic grid (default 32)")
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
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _prior_for(args: argparse.Namespace, path: Path, image: Any
               ) -> tuple[Any, dict[str, Any], str | None]:
    """The prior object map for one image, a description of where it came from, and a
    warning (None if all is well).

    With ``--prior DIR``, an image whose ``DIR/<stem>.png`` is missing gets the automatic
    prior and a warning — the app's rule too (:func:`spam_gui.core.prior.find_prior_map`).
    """
    from spam_gui.core.prior import AUTOMATIC_PRIOR, find_prior_map, read_prior

    if args.prior is not None:
        if args.prior.is_dir():
            found = find_prior_map(args.prior, path, shape=image.shape)
            if found.prior is None:
                return None, {"source": "automatic", "automatic": AUTOMATIC_PRIOR,
                              "missing_map": str(found.path)}, found.warning
            src, prior = found.path, found.prior
        else:
            src, prior = args.prior, read_prior(args.prior, shape=image.shape)
        from spam_gui.core.export import prior_file_info

        return prior.object_map, {"source": "label map", **prior_file_info(src)}, None
    if args.sam_checkpoint is not None:
        from spam_gui.core.sam import AmgParams, sam_prior

        res = sam_prior(image, args.sam_checkpoint,
                        params=AmgParams(points_per_side=int(args.points_per_side)),
                        device=args.device)
        return res.prior.object_map, {"source": "sam", **res.provenance}, None
    return None, {"source": "none"}, None


def run(args: argparse.Namespace) -> int:
    from spam_gui.commands import input_images
    from spam_gui.core.encoder import EncoderLoadError
    from spam_gui.core.export import OutputFolderError, check_output_folder
    from spam_gui.core.image_io import remove_stale_temp_files
    from spam_gui.core.locking import FolderLock, FolderLockedError
    from spam_gui.core.spam import Spam

    if args.n_segments < 1:
        print("error: --n-segments must be >= 1", file=sys.stderr)
        return 2
    if args.prior is not None and not args.prior.exists():
        print(f"error: {args.prior}: no such prior file or folder", file=sys.stderr)
        return 2
    images, problem = input_images(args.inputs)  # inputs first: before seconds of model loading
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.prior is not None and args.prior.is_file() and len(images) > 1:
        print("error: one prior file for several images; give a folder of <stem>.png priors",
              file=sys.stderr)
        return 2
    try:  # before any model is loaded or image computed
        check_output_folder(args.out)
    except OutputFolderError as exc:
        print(f"error: {exc}", file=sys.stderr)
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
    log.info("encoder: %s; device: %s", spam.encoder_name, spam.device)
    try:  # one writer per output folder; released however the run ends
        args.out.mkdir(parents=True, exist_ok=True)
        lock = FolderLock(args.out, program="spam segment").acquire()
    except FolderLockedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {args.out}: cannot use the output folder ({exc.strerror or exc})",
              file=sys.stderr)
        return 2
    try:
        if lock.took_over is not None:
            log.info("%s: took over the lock of a run that is gone (pid %s)", args.out,
                     lock.took_over.get("pid", "?"))
        for stale in remove_stale_temp_files(args.out):
            log.info("removed %s, left over by an interrupted run", stale)
        return _segment_all(args, spam, images)
    finally:
        lock.release()


def _segment_all(args: argparse.Namespace, spam: Any, images: list[Path]) -> int:
    """Segment every image into ``args.out`` (locked by the caller); the exit code."""
    from tqdm import tqdm

    from spam_gui.core.encoder import EncoderLoadError
    from spam_gui.core.export import is_folder_write_error, run_info, save_result
    from spam_gui.core.image_io import ImageReadError, read_image

    failures: list[str] = []
    seen: set[str] = set()
    written = 0
    bar = tqdm(images, unit="img", disable=args.no_progress or len(images) < 2, file=sys.stderr)
    for path in bar:
        bar.set_postfix_str(path.name)
        if path.stem in seen:
            failures.append(f"{path}: another input has the same name {path.stem!r}; skipped")
            continue
        seen.add(path.stem)
        try:
            image = read_image(path)
            prior, prior_info, prior_warning = _prior_for(args, path, image)
            if prior_warning:
                tqdm.write(f"warning: {prior_warning}", file=sys.stderr)
            saliency = None
            sal_info = None
            method = None
            if args.visual_attention:
                from spam_gui.core.saliency import compute_saliency_info

                sal = compute_saliency_info(image, dino_checkpoint=args.dino_checkpoint,
                                            device=args.device)
                saliency, method = sal.saliency, sal.method
                sal_info = sal.info
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
            extra = run_info(program="spam segment", prior=prior_info, saliency=sal_info)
            save_result(args.out, path.stem, res, image_path=path, extra=extra)
            written += 1
        except OSError as exc:
            if not is_folder_write_error(exc):
                msg = str(exc)
                failures.append(msg if str(path) in msg or path.name in msg else f"{path}: {msg}")
                tqdm.write(f"error: {failures[-1]}", file=sys.stderr)
                continue
            # a full disk or a read-only file system fails every later image too: stop here
            bar.close()
            why = {errno.ENOSPC: "the disk is full", errno.EROFS: "the file system is read-only"
                   }.get(exc.errno or 0, "the disk quota is exceeded")
            print(f"error: {args.out}: {why} ({os.strerror(exc.errno or 0)}); stopped at "
                  f"{path.name}: {written} of {len(images)} images written, the others not "
                  "processed (the files of the image being written are left as they were)",
                  file=sys.stderr)
            return 1
        except (ImageReadError, ValueError, EncoderLoadError) as exc:
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
