"""``spam prior``: prior object maps (0 = uncertain) from SAM or from mask proposals (docs/algorithm.md §5).

    spam prior IMAGE... --out DIR --sam-checkpoint sam_vit_b_01ec64.pth [--points-per-side 32]
    spam prior IMAGE... --out DIR --masks MASKS.npz | MASKS_DIR
    spam prior IMAGE... --out DIR [--method builtin] [--coarseness 0.5]

Without --sam-checkpoint, $SPAM_SAM_CHECKPOINT or --masks, the built-in prior is used
(:func:`spam_gui.core.prior_builtin.builtin_prior`: no checkpoint, nothing to download).

For each image, writes ``DIR/<stem>.png`` (16-bit object map, 0 = uncertain) and
``DIR/<stem>.json`` (parameters and the provenance of each object), atomically. A bad image,
mask file or checkpoint is reported by name; the other images are still processed, and the exit
status is non-zero when any failed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from spam_gui.core.devices import DEVICE_CHOICES
from spam_gui.core.env import ENV_SAM_CHECKPOINT, env_value
from spam_gui.core.params import PRIOR_DEFAULTS

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
    g.add_argument("--points-per-side", type=int, default=32, help="prompt grid (default 32)")
    g.add_argument("--pred-iou-thresh", type=float, default=0.88, help="default 0.88")
    g.add_argument("--stability-score-thresh", type=float, default=0.95, help="default 0.95")
    g.add_argument("--box-nms-thresh", type=float, default=0.7, help="default 0.7")
    g.add_argument("--points-per-batch", type=int, default=32,
                   help="prompts run together (speed/memory only; default 32)")
    g.add_argument("--device", default="auto", help=f"torch device: {DEVICE_CHOICES} (default auto)")
    g.add_argument("--no-cache", action="store_true",
                   help="do not read or write the disk cache of SAM results")
    g.add_argument("--save-proposals", action="store_true",
                   help="also write DIR/<stem>_masks.npz with SAM's proposals")
    a = p.add_argument_group("aggregation")
    a.add_argument("--a-min", type=float, default=None,
                   help="minimum object area in pixels (default sqrt(H*W)/4)")
    a.add_argument("--opening", type=int, default=5,
                   help="side of the square opening that separates background from thin gaps "
                   "(default 5)")


def _err(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from spam_gui import __version__
    from spam_gui.commands import input_images
    from spam_gui.core.errors import EXIT_USAGE

    out_dir = Path(args.out)
    checkpoint = args.sam_checkpoint
    if args.masks is None and checkpoint is None:
        checkpoint = env_value(ENV_SAM_CHECKPOINT)
    method = getattr(args, "method", None) or (
        "masks" if args.masks is not None else "sam" if checkpoint is not None else "builtin")
    if method == "masks" and args.masks is None:
        _err("--method masks needs --masks FILE_OR_DIR")
        return 2
    if method == "sam" and checkpoint is None:
        _err(f"--method sam needs --sam-checkpoint FILE (or {ENV_SAM_CHECKPOINT})")
        return 2
    if method != "masks" and args.masks is not None:
        _err(f"--masks does not go with --method {method}")
        return 2
    if method == "builtin":
        return _run_builtin(args, out_dir)
    if args.opening < 0 or (args.a_min is not None and args.a_min < 0):
        _err("--opening and --a-min must not be negative")
        return 2

    images, problem = input_images(args.inputs)  # inputs first: before seconds of model loading
    if problem:
        _err(problem)
        return EXIT_USAGE

    masks_for = None
    if args.masks is not None:
        mpath = Path(args.masks)
        if mpath.is_dir() or len(images) == 1:
            def masks_for(img: Path) -> Path:
                return mpath / f"{img.stem}.npz" if mpath.is_dir() else mpath
        elif not mpath.exists():
            _err(f"{mpath}: no such file or folder")
            return 2
        else:
            _err(f"--masks {mpath} is one file but {len(images)} images were given; "
                 "give a folder holding <stem>.npz for each image")
            return 2

    common: dict[str, Any] = {"tool": "spam prior", "version": __version__}
    sam_ctx = None
    if masks_for is None:
        from spam_gui.core.sam import AmgParams, SamCheckpointError, load_sam

        try:
            params = AmgParams(
                points_per_side=args.points_per_side, pred_iou_thresh=args.pred_iou_thresh,
                stability_score_thresh=args.stability_score_thresh,
                box_nms_thresh=args.box_nms_thresh, points_per_batch=args.points_per_batch)
        except ValueError as exc:
            _err(str(exc))
            return 2
        try:
            load_sam(checkpoint, args.device)  # validate once, up front (kept in memory)
        except (SamCheckpointError, ValueError) as exc:
            _err(str(exc))
            return EXIT_USAGE  # a bad checkpoint is bad input, as in every spam command
        sam_ctx = (checkpoint, params)

    seen: dict[str, Path] = {}
    failed = 0
    for img_path in images:
        stem = img_path.stem
        if stem in seen:
            _err(f"{img_path}: same output name '{stem}' as {seen[stem]}; skipped")
            failed += 1
            continue
        seen[stem] = img_path
        try:
            _one(img_path, out_dir, stem, args, common, masks_for, sam_ctx)
        except Exception as exc:  # noqa: BLE001 - report by name, go on with the others
            from spam_gui.core.image_io import FileWriteError, ImageReadError
            from spam_gui.core.prior import PriorError

            known = (ImageReadError, PriorError, FileWriteError, ValueError, OSError)
            if isinstance(exc, known):
                _err(str(exc))
            else:  # an unexpected failure: still name the image
                _err(f"{img_path}: {type(exc).__name__}: {exc}")
            failed += 1
    if failed:
        _err(f"{failed} of {len(images)} image(s) failed")
        return 1
    return 0


def _one(img_path: Path, out_dir: Path, stem: str, args: argparse.Namespace,
         common: dict[str, Any], masks_for, sam_ctx) -> None:
    from spam_gui.core.cache import hash_array
    from spam_gui.core.image_io import read_image, write_json, write_label_png
    from spam_gui.core.prior import aggregate_proposals, read_masks_npz, write_masks_npz

    t0 = time.perf_counter()
    image = read_image(img_path)
    h, w = image.shape[:2]
    side: dict[str, Any] = {**common, "image": str(img_path)}
    if masks_for is not None:
        mfile = masks_for(img_path)
        masks, scores, stability = read_masks_npz(mfile, (h, w))
        prior = aggregate_proposals(masks, a_min=args.a_min, opening=args.opening,
                                    scores=scores, stability=stability)
        side.update({"image_sha256": hash_array(image), "source": "masks",
                     "masks": {"file": str(mfile), "n_proposals": int(masks.shape[0])}})
        side.update(prior.to_json())
        how = f"{masks.shape[0]} proposals from {mfile.name}"
    else:
        from spam_gui.core.sam import sam_prior

        checkpoint, params = sam_ctx
        res = sam_prior(image, checkpoint, params=params, device=args.device,
                        cache=None if args.no_cache else _cache(),
                        a_min=args.a_min, opening=args.opening,
                        keep_proposals=args.save_proposals)
        prior = res.prior
        prov = res.provenance
        side.update({"image_sha256": prov["image_sha256"], "source": "sam",
                     "sam": {k: prov[k] for k in ("checkpoint", "generator") if k in prov}})
        side["sam"].update({k: prov[k] for k in ("device", "cache", "n_proposals", "timings")
                            if k in prov and prov[k] is not None})
        side.update(prior.to_json())
        if args.save_proposals and res.proposals is not None:
            p = res.proposals
            write_masks_npz(out_dir / f"{stem}_masks.npz", p.masks, p.scores, p.stability)
        how = ("from the cache" if prov.get("cache") == "prior"
               else f"{prov.get('n_proposals', '?')} SAM proposals"
               + (" (cached)" if prov.get("cache") == "proposals" else ""))
    png = write_label_png(out_dir / f"{stem}.png", prior.object_map)
    write_json(out_dir / f"{stem}.json", side)
    print(f"{img_path.name}: {prior.n_objects} objects, {100 * prior.uncertain_fraction:.1f}% "
          f"uncertain, {how}, {time.perf_counter() - t0:.1f} s -> {png}", flush=True)


def _run_builtin(args: argparse.Namespace, out_dir: Path) -> int:
    """``--method builtin``: :func:`spam_gui.core.prior_builtin.builtin_prior` per image."""
    from spam_gui import __version__
    from spam_gui.commands import input_images
    from spam_gui.core.errors import EXIT_USAGE, SpamError
    from spam_gui.core.image_io import FileWriteError, ImageReadError

    if not 0.0 <= args.coarseness <= 1.0:
        _err(f"--coarseness must be in [0, 1], got {args.coarseness}")
        return 2
    images, problem = input_images(args.inputs)
    if problem:
        _err(problem)
        return EXIT_USAGE
    from spam_gui.core.spam import Spam

    try:
        spam = Spam(encoder=args.encoder, device=args.device)
    except (SpamError, ValueError) as exc:
        _err(str(exc))
        return EXIT_USAGE
    common: dict[str, Any] = {"tool": "spam prior", "version": __version__}
    seen: dict[str, Path] = {}
    failed = 0
    for img_path in images:
        stem = img_path.stem
        if stem in seen:
            _err(f"{img_path}: same output name '{stem}' as {seen[stem]}; skipped")
            failed += 1
            continue
        seen[stem] = img_path
        try:
            _one_builtin(img_path, out_dir, stem, args, common, spam)
        except (ImageReadError, SpamError, FileWriteError, OSError) as exc:
            _err(str(exc))
            failed += 1
        except Exception as exc:  # noqa: BLE001 - an unexpected failure: still name the image
            _err(f"{img_path}: {type(exc).__name__}: {exc}")
            failed += 1
    if failed:
        _err(f"{failed} of {len(images)} image(s) failed")
        return 1
    return 0


def _one_builtin(img_path: Path, out_dir: Path, stem: str, args: argparse.Namespace,
                 common: dict[str, Any], spam: Any) -> None:
    from spam_gui.core.cache import hash_array
    from spam_gui.core.image_io import read_image, write_json, write_label_png
    from spam_gui.core.prior import prior_from_label_map
    from spam_gui.core.prior_builtin import build_hierarchy, builtin_description

    t0 = time.perf_counter()
    image = read_image(img_path)
    hierarchy = build_hierarchy(image, spam=spam)
    object_map = hierarchy.prior(args.coarseness, a_min=args.a_min)
    prior = prior_from_label_map(object_map)
    side: dict[str, Any] = {**common, "image": str(img_path), "image_sha256": hash_array(image),
                            "source": "builtin",
                            "builtin": builtin_description(hierarchy, args.coarseness, spam)}
    side.update(prior.to_json())
    png = write_label_png(out_dir / f"{stem}.png", prior.object_map)
    write_json(out_dir / f"{stem}.json", side)
    print(f"{img_path.name}: {prior.n_objects} objects, {100 * prior.uncertain_fraction:.1f}% "
          f"uncertain, built-in prior (coarseness {args.coarseness:g}), "
          f"{time.perf_counter() - t0:.1f} s -> {png}", flush=True)


_cache_obj = None


def _cache():
    global _cache_obj
    if _cache_obj is None:
        from spam_gui.core.sam import default_cache

        _cache_obj = default_cache()
    return _cache_obj
