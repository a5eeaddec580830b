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


def _err(msg: object) -> None:
    print(f"error: {msg}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from spam_gui.commands import write_annotation_files
    from spam_gui.core.errors import EXIT_USAGE

    if args.format == "coco" and args.images is None:
        _err("--format coco needs --images IMAGE_DIR (the images' names and sizes)")
        return EXIT_USAGE
    if args.format == "coco" and args.out.is_dir():
        _err(f"{args.out}: is a folder; --out names the COCO JSON file to write")
        return EXIT_USAGE
    if args.format == "coco":
        from spam_gui.core.formats.coco import export_coco

        rc, n = write_annotation_files(
            args.out.parent, args.no_progress,
            lambda bar: export_coco(args.label_dir, args.images, args.out,
                                    overwrite=args.overwrite, progress=bar))
        if n is not None:
            print(f"{n['annotations']} annotations of {n['annotated']} images "
                  f"({n['images']} in {args.images}), {n['categories']} categories -> "
                  f"{args.out}", file=sys.stderr)
        return rc
    from spam_gui.core.formats.voc import export_voc

    rc, files = write_annotation_files(
        args.out, args.no_progress,
        lambda bar: export_voc(args.label_dir, args.out, overwrite=args.overwrite,
                               progress=bar))
    if files is not None:
        print(f"{(len(files) - 3) // 2} images -> {args.out} (SegmentationClass, "
              "SegmentationObject)", file=sys.stderr)
    return rc
