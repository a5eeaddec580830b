"""``spam import``: a COCO instances file, a Pascal VOC folder, a YOLO-seg dataset or a folder
of labelme JSON files as an annotation folder, to continue or correct the work.

    spam import --format coco FILE.json --out LABEL_DIR [--images IMAGE_DIR]
    spam import --format voc VOC_DIR --out LABEL_DIR
    spam import --format yolo DATASET_DIR --out LABEL_DIR [--images IMAGE_DIR]
    spam import --format labelme JSON_DIR --out LABEL_DIR
    (each with [--overwrite], [--no-progress])

Writes ``LABEL_DIR/classes.json`` (the classes) and, for each image with annotations,
``<stem>_classes.png`` and ``<stem>_instances.png``. Everything is decoded and checked before
anything is written; existing files are kept unless ``--overwrite``. Exit codes: 0 done, 2 bad
input (nothing written), 1 a write failed.

(The module is named ``import`` like the command; :mod:`spam_gui.cli` loads it by name.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "import"
HELP = ("import COCO instances, Pascal VOC masks, a YOLO-seg dataset or labelme JSON as class "
        "and instance maps (an annotation folder)")

FORMATS = ("coco", "voc", "yolo", "labelme")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SOURCE", type=Path,
                   help="coco: the instances JSON file; voc: the folder holding "
                        "SegmentationClass/; yolo: the dataset folder (labels/, a .yaml); "
                        "labelme: the folder of the JSON files")
    p.add_argument("--format", required=True, choices=FORMATS,
                   help="coco: COCO instances JSON; voc: Pascal VOC SegmentationClass / "
                        "SegmentationObject masks; yolo: YOLO-seg polygons; labelme: labelme "
                        "polygons, rectangles, circles")
    p.add_argument("--out", required=True, type=Path, metavar="LABEL_DIR",
                   help="annotation folder to write (e.g. <output>/spam_labels)")
    p.add_argument("--images", type=Path, metavar="IMAGE_DIR",
                   help="coco: check that every annotated image is in this folder, with its "
                        "size; yolo: the images (their sizes; default images/ beside labels/)")
    p.add_argument("--overwrite", action="store_true", help="replace files that exist already")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _err(msg: object) -> None:
    print(f"error: {msg}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from spam_gui.commands import write_annotation_files
    from spam_gui.core.errors import EXIT_USAGE

    if args.images is not None and args.format not in ("coco", "yolo"):
        _err("--images goes with --format coco or yolo")
        return EXIT_USAGE
    if args.images is not None and not args.images.is_dir():
        _err(f"{args.images}: no such image folder")
        return EXIT_USAGE
    if args.format == "coco":
        from spam_gui.core.formats.coco import import_coco

        def write(bar):  # noqa: ANN001, ANN202
            return import_coco(args.source, args.out, image_dir=args.images,
                               overwrite=args.overwrite, progress=bar)
    elif args.format == "voc":
        from spam_gui.core.formats.voc import import_voc

        def write(bar):  # noqa: ANN001, ANN202
            return import_voc(args.source, args.out, overwrite=args.overwrite, progress=bar)
    elif args.format == "yolo":
        from spam_gui.core.formats.yolo import import_yolo

        def write(bar):  # noqa: ANN001, ANN202
            return import_yolo(args.source, args.out, image_dir=args.images,
                               overwrite=args.overwrite, progress=bar)
    else:
        from spam_gui.core.formats.labelme import import_labelme

        def write(bar):  # noqa: ANN001, ANN202
            return import_labelme(args.source, args.out, overwrite=args.overwrite,
                                  progress=bar)
    rc, files = write_annotation_files(args.out, args.no_progress, write)
    if files is not None:
        print(f"{(len(files) - 1) // 2} annotated images from {args.source} -> {args.out}",
              file=sys.stderr)
    return rc
