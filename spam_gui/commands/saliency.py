"""``spam saliency``: saliency maps (VA mode) as 8-bit PNGs, with a JSON sidecar each."""

from __future__ import annotations

import argparse
import sys
import time
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


def _fail(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from spam_gui import __version__
    from spam_gui.commands import input_images
    from spam_gui.core.cache import hash_file
    from spam_gui.core.errors import EXIT_USAGE
    from spam_gui.core.image_io import (FileWriteError, ImageReadError, read_image,
                                        write_grey8_png, write_json)
    from spam_gui.core.saliency import (CheckpointError, compute_saliency_info,
                                        default_dino_checkpoint, get_dino, saliency_to_uint8)

    images, problem = input_images(args.inputs)  # inputs first: before seconds of model loading
    if problem:
        _fail(problem)
        return EXIT_USAGE
    checkpoint = None if args.builtin else (args.dino_checkpoint or default_dino_checkpoint())
    if checkpoint:
        try:  # fail early, once, with the file's name, rather than once per image
            dino = get_dino(checkpoint, args.device)
        except (CheckpointError, ValueError, OSError) as exc:
            src = "" if args.dino_checkpoint else " (from $SPAM_DINO_CHECKPOINT)"
            _fail(f"{exc}{src}")
            return EXIT_USAGE
        print(f"saliency: DINO {dino.config.display_name} from {dino.path.name} on {dino.device}")
    else:
        print("saliency: built-in (no DINO checkpoint set; less accurate than DINO)")

    out_dir = Path(args.out)
    cache = False if args.no_cache else None
    used: dict[str, Path] = {}
    inputs_resolved = {p.resolve() for p in images if p.exists()}
    failed = 0
    for path in images:
        stem = path.stem
        png = out_dir / f"{stem}.png"
        sidecar = out_dir / f"{stem}.json"
        if stem in used:
            _fail(f"{path}: skipped, its output {png} would overwrite that of {used[stem]}")
            failed += 1
            continue
        if png.resolve() in inputs_resolved or sidecar.resolve() in inputs_resolved:
            _fail(f"{path}: skipped, its output {png} would overwrite an input image")
            failed += 1
            continue
        used[stem] = path
        t0 = time.perf_counter()
        try:
            image = read_image(path)
            res = compute_saliency_info(image, dino_checkpoint=checkpoint, device=args.device,
                                        cache=cache)
            write_grey8_png(png, saliency_to_uint8(res.saliency))
            h, w = res.saliency.shape
            write_json(sidecar, {
                "format": "spam-saliency",
                "format_version": 1,
                "image": {"name": path.name, "sha256": hash_file(path), "width": w, "height": h},
                "saliency": {**res.info, "png": png.name, "scale": "0..255 = saliency 0..1"},
                "program": {"name": "spam", "version": __version__},
                "seconds": round(time.perf_counter() - t0, 3),
                "from_cache": res.from_cache,
            })
        except (ImageReadError, FileWriteError, CheckpointError, ValueError, OSError) as exc:
            msg = str(exc)
            _fail(msg if str(path) in msg else f"{path}: {msg}")
            failed += 1
            continue
        except MemoryError:
            _fail(f"{path}: out of memory (try a smaller image or --device cuda)")
            failed += 1
            continue
        note = " (cached)" if res.from_cache else ""
        print(f"{path} -> {png}  [{res.method}, {time.perf_counter() - t0:.2f} s{note}]")
    if failed:
        _fail(f"{failed} of {len(images)} image(s) failed")
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    from spam_gui.cli import main

    sys.exit(main([NAME, *sys.argv[1:]]))
