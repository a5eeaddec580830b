"""``spam export``: an annotation folder as COCO instances, Pascal VOC masks, a YOLO-seg
dataset or labelme JSON files.

    spam export --format coco LABEL_DIR --images IMAGE_DIR --out FILE.json [--polygons]
    spam export --format voc LABEL_DIR --out DIR
    spam export --format yolo LABEL_DIR --out DIR
    spam export --format labelme LABEL_DIR --images IMAGE_DIR --out DIR
    (each with [--tolerance PX] for polygons, [--overwrite], [--no-progress])

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
HELP = ("export annotations (class and instance maps) as COCO instances JSON, Pascal VOC "
        "masks, a YOLO-seg dataset or labelme JSON")

FORMATS = ("coco", "voc", "yolo", "labelme")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from spam_gui.core.params import POLYGON_DEFAULTS

    p.add_argument("label_dir", metavar="LABEL_DIR", type=Path,
                   help="annotation folder: classes.json, <stem>_classes.png, <stem>_instances.png")
    p.add_argument("--format", required=True, choices=FORMATS,
                   help="coco: one instances JSON file (RLE masks, or --polygons); voc: "
                        "SegmentationClass/ and SegmentationObject/ palette PNGs; yolo: "
                        "labels/<stem>.txt polygons and dataset.yaml; labelme: <stem>.json "
                        "polygons per image")
    p.add_argument("--images", type=Path, metavar="IMAGE_DIR",
                   help="the images' folder (coco and labelme: required; gives the images' "
                        "names and sizes)")
    p.add_argument("--out", required=True, type=Path,
                   help="coco: the JSON file to write; voc, yolo, labelme: the folder to write "
                        "into")
    p.add_argument("--polygons", action="store_true",
                   help="coco: instances as polygons (holes joined by zero-width bridges) "
                        "instead of exact RLE")
    p.add_argument("--tolerance", type=float, default=POLYGON_DEFAULTS.tolerance, metavar="PX",
                   help="polygon simplification (Douglas-Peucker), pixels; 0 keeps the exact "
                        f"pixel outline (default {POLYGON_DEFAULTS.tolerance})")
    p.add_argument("--overwrite", action="store_true", help="replace files that exist already")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _err(msg: object) -> None:
    print(f"error: {msg}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from spam_gui.commands import write_annotation_files
    from spam_gui.core.errors import EXIT_USAGE
    from spam_gui.core.formats.polygons import check_tolerance

    fmt = args.format
    try:
        tol = check_tolerance(args.tolerance)
    except ValueError as exc:
        _err(exc)
        return EXIT_USAGE
    if fmt in ("coco", "labelme") and args.images is None:
        _err(f"--format {fmt} needs --images IMAGE_DIR (the images' names and sizes)")
        return EXIT_USAGE
    if args.polygons and fmt != "coco":
        _err("--polygons goes with --format coco (yolo and labelme are always polygons)")
        return EXIT_USAGE
    if fmt == "coco" and args.out.is_dir():
        _err(f"{args.out}: is a folder; --out names the COCO JSON file to write")
        return EXIT_USAGE
    if fmt == "coco":
        from spam_gui.core.formats.coco import export_coco

        rc, n = write_annotation_files(
            args.out.parent, args.no_progress,
            lambda bar: export_coco(args.label_dir, args.images, args.out,
                                    overwrite=args.overwrite, progress=bar,
                                    polygons=args.polygons, tolerance=tol))
        if n is not None:
            print(f"{n['annotations']} annotations of {n['annotated']} images "
                  f"({n['images']} in {args.images}), {n['categories']} categories -> "
                  f"{args.out}", file=sys.stderr)
        return rc
    if fmt == "voc":
        from spam_gui.core.formats.voc import export_voc

        rc, files = write_annotation_files(
            args.out, args.no_progress,
            lambda bar: export_voc(args.label_dir, args.out, overwrite=args.overwrite,
                                   progress=bar))
        if files is not None:
            print(f"{(len(files) - 3) // 2} images -> {args.out} (SegmentationClass, "
                  "SegmentationObject)", file=sys.stderr)
        return rc
    if fmt == "yolo":
        from spam_gui.core.formats.yolo import export_yolo

        rc, files = write_annotation_files(
            args.out, args.no_progress,
            lambda bar: export_yolo(args.label_dir, args.out, tolerance=tol,
                                    overwrite=args.overwrite, progress=bar))
        if files is not None:
            print(f"{len(files) - 2} label files -> {args.out / 'labels'}, dataset.yaml "
                  "(put the images in images/ beside labels/)", file=sys.stderr)
        return rc
    from spam_gui.core.formats.labelme import export_labelme

    rc, files = write_annotation_files(
        args.out, args.no_progress,
        lambda bar: export_labelme(args.label_dir, args.images, args.out, tolerance=tol,
                                   overwrite=args.overwrite, progress=bar))
    if files is not None:
        print(f"{len(files) - 1} labelme files -> {args.out}", file=sys.stderr)
    return rc
