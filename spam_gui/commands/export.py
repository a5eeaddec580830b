"""``spam export``: an annotation folder as COCO instances or Pascal VOC masks.

    spam export --format coco LABEL_DIR --images IMAGE_DIR --out FILE.json [--overwrite]
    spam export --format voc LABEL_DIR --out DIR [--overwrite]

``LABEL_DIR`` holds ``classes.json`` and ``<stem>_classes.png`` / ``<stem>_instances.png``
(``spam_labels/`` beside the app's outputs). Everything is read and checked before anything is
written; existing files are kept unless ``--overwrite``. Exit codes: 0 done, 2 bad input
(nothing written), 1 a write failed (full disk...).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "export"
HELP = "export annotations (class and instance maps) as COCO instances JSON or Pascal VOC masks"

FORMATS = ("coco", "voc")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("label_dir", metavar="LABEL_DIR", type=Path,
                   help="annotation folder: classes.json, <stem>_classes.png, <stem>_instances.png")
    p.add_argument("--format", required=True, choices=FORMATS,
                   help="coco: one instances JSON file (RLE masks); voc: SegmentationClass/ and "
                        "SegmentationObject/ palette PNGs")
    p.add_argument("--images", type=Path, metavar="IMAGE_DIR",
                   help="the images' folder (coco: required; gives the images' names and sizes)")
    p.add_argument("--out", required=True, type=Path,
                   help="coco: the JSON file to write; voc: the folder to write into")
    p.add_argument("--overwrite", action="store_true", help="replace files that exist already")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


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


def _err(msg: object) -> None:
    print(f"error: {msg}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from spam_gui.core.annotation import AnnotationError
    from spam_gui.core.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
    from spam_gui.core.export import OutputFolderError, check_output_folder
    from spam_gui.core.image_io import FileWriteError

    if args.format == "coco" and args.images is None:
        _err("--format coco needs --images IMAGE_DIR (the images' names and sizes)")
        return EXIT_USAGE
    if args.format == "coco" and args.out.is_dir():
        _err(f"{args.out}: is a folder; --out names the COCO JSON file to write")
        return EXIT_USAGE
    try:
        check_output_folder(args.out.parent if args.format == "coco" else args.out)
    except OutputFolderError as exc:
        _err(exc)
        return EXIT_USAGE
    bar = ProgressBar(args.no_progress)
    try:
        if args.format == "coco":
            from spam_gui.core.formats.coco import export_coco

            n = export_coco(args.label_dir, args.images, args.out, overwrite=args.overwrite,
                            progress=bar)
            bar.close()   # before the summary line
            print(f"{n['annotations']} annotations of {n['annotated']} images "
                  f"({n['images']} in {args.images}), {n['categories']} categories -> {args.out}",
                  file=sys.stderr)
        else:
            from spam_gui.core.formats.voc import export_voc

            files = export_voc(args.label_dir, args.out, overwrite=args.overwrite, progress=bar)
            bar.close()   # before the summary line
            print(f"{(len(files) - 3) // 2} images -> {args.out} (SegmentationClass, "
                  "SegmentationObject)", file=sys.stderr)
    except AnnotationError as exc:
        bar.close()
        _err(exc)
        return EXIT_USAGE
    except (FileWriteError, OSError) as exc:
        bar.close()
        _err(exc)
        return EXIT_FAILURE
    return EXIT_OK
