"""labelme JSON from class / instance maps, and back.

Writing (:func:`export_labelme`): one ``<stem>.json`` per annotated image in the output folder,
as labelme (5.x) saves it: ``version``, ``flags``, ``shapes``, ``imagePath`` (the image,
relative to the JSON file's folder), ``imageData`` null (no embedded image), ``imageHeight``,
``imageWidth``; and ``classes.json`` (the classes' ids and colours, so that an import gives
them back). Each shape is a ``polygon`` with the class name as ``label``:

* an instance gives one shape per 4-connected part, all with ``group_id`` = the instance's id
  (labelme's way of making one object of several shapes);
* the class pixels without an instance give one shape per 4-connected piece, ``group_id``
  null;
* labelme has no holes: each hole is joined to its part's outline by a zero-width bridge
  between their closest vertices (a "keyhole"; even-odd rasterisers, labelme's PIL included,
  leave it empty).

Outlines are simplified with a tolerance in pixels (1.4 by default), see
:mod:`spam_gui.core.formats.polygons`; points are pixel-edge coordinates (a pixel's outline runs
along its borders on labelme's canvas, and ``labelme2coco`` passes them on to COCO as they are).

Reading (:func:`import_labelme`): every ``*.json`` of a folder (``classes.json`` aside) that
is a labelme file; the stem from ``imagePath`` (else the JSON's name); classes from
``classes.json`` when the folder has one, else the labels in order of first appearance
(``_background_`` and ``__ignore__`` skipped). Shapes of one ``label`` and ``group_id`` are one
instance (the union of their polygons), keeping ``group_id`` as its id when the ids are
distinct; shapes without ``group_id`` are class pixels without an instance. ``polygon``,
``rectangle`` and ``circle`` shapes are read; shapes without an area (``point``, ``line``,
``linestrip``, ``points``) and ``mask`` shapes are skipped. Every number is checked first
(finite, within the image).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Sequence

from spam_gui.core.annotation import CLASSES_FILE, AnnotationError, ClassList, encode_classes, read_classes
from spam_gui.core.formats.common import (
    AnnotationSource,
    Progress,
    as_source,
    match_images,
    refuse_existing,
    write_annotation_folder,
)
from spam_gui.core.formats.polygons import DEFAULT_TOLERANCE, mask_polygons, regions
from spam_gui.core.formats.shapes import Shape, check_polygons, paint_shapes
from spam_gui.core.io.images import MAX_PIXELS, StagedFiles

__all__ = ["LABELME_VERSION", "export_labelme", "import_labelme", "labelme_document"]

LABELME_VERSION = "5.4.1"
"""The labelme file version written (labelme warns about files of another major version)."""

_SKIP_LABELS = ("_background_", "__ignore__")
_CIRCLE_POINTS = 64


def labelme_document(ann: Any, classes: ClassList, image_path: str,
                     tolerance: float = DEFAULT_TOLERANCE) -> dict[str, Any]:
    """One image's labelme document (see the module's notes)."""
    h, w = ann.shape
    shapes = []
    for r in regions(ann, pieces=True):
        c = classes.by_id(r.class_id)
        label = c.name if c is not None else f"class {r.class_id}"
        for poly in mask_polygons(r.mask, tolerance, r.y0, r.x0):
            shapes.append({"label": label,
                           "points": [[round(float(x), 3), round(float(y), 3)] for x, y in poly],
                           "group_id": r.instance or None, "description": "",
                           "shape_type": "polygon", "flags": {}, "mask": None})
    return {"version": LABELME_VERSION, "flags": {}, "shapes": shapes, "imagePath": image_path,
            "imageData": None, "imageHeight": int(h), "imageWidth": int(w)}


def export_labelme(label_dir: str | os.PathLike[str] | AnnotationSource,
                   image_dir: str | os.PathLike[str] | Sequence[Path],
                   out_dir: str | os.PathLike[str], *, tolerance: float = DEFAULT_TOLERANCE,
                   overwrite: bool = False, progress: Progress | None = None) -> list[Path]:
    """Write an annotation folder (or annotations in memory) as labelme JSON files (see the
    module's notes).

    Every map is read and checked against its image's size, and every file staged, before any
    file is renamed into place; files that exist already are kept (nothing is written) unless
    ``overwrite``.

    Parameters
    ----------
    label_dir:
        The annotation folder, or a :class:`spam_gui.core.formats.common.MemorySource`.
    image_dir:
        The images' folder (or a list of images): each annotated stem's image, named by
        ``imagePath`` relative to ``out_dir``.
    out_dir:
        The folder of the JSON files (created if needed); labelme opens a JSON file beside its
        image most easily, so the image folder itself is a good choice.
    tolerance:
        Douglas-Peucker tolerance of the outlines, pixels.
    overwrite, progress:
        Replace files that exist already; called after each image.

    Returns
    -------
    list of Path
        The files written: each image's JSON, then ``classes.json``.

    Raises
    ------
    AnnotationError
        Naming the file: a bad ``classes.json``, a class map without an image or of another
        size, a map that breaks the folder's rules, files that exist already.
    """
    from spam_gui.core.formats.common import image_size

    labels = as_source(label_dir)
    _, matched = match_images(labels, image_dir)
    out = Path(out_dir)
    targets = [out / f"{stem}.json" for stem in labels.stems] + [out / CLASSES_FILE]
    refuse_existing(targets, overwrite)
    with StagedFiles() as staged:
        for n, stem in enumerate(labels.stems, start=1):
            img = matched[stem]
            ann = labels.read(stem, shape=image_size(img))
            rel = Path(os.path.relpath(img.resolve(), out.resolve())).as_posix()
            doc = labelme_document(ann, labels.classes, rel, tolerance)
            staged.add(out / f"{stem}.json",
                       (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
            if progress is not None:
                progress(n, len(labels.stems), img.name)
        staged.add(out / CLASSES_FILE, encode_classes(labels.classes))
        return list(staged)


# --------------------------------------------------------------------------------------------
# reading


def _points(shape: dict[str, Any], where: str) -> list[float] | None:
    """A shape's outline as a flat polygon (None for shapes without an area)."""
    kind = shape.get("shape_type") or "polygon"
    pts = shape.get("points")
    if kind not in ("polygon", "rectangle", "circle"):
        return None
    if not isinstance(pts, list) or not all(
            isinstance(p, list) and len(p) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p)
            for p in pts):
        raise AnnotationError(f"{where}: 'points' must be a list of [x, y] numbers")
    flat = [v for p in pts for v in p]
    if kind == "rectangle":
        if len(pts) != 2:
            raise AnnotationError(f"{where}: a rectangle has 2 points")
        (x0, y0), (x1, y1) = pts
        return [x0, y0, x1, y0, x1, y1, x0, y1]
    if kind == "circle":
        if len(pts) != 2:
            raise AnnotationError(f"{where}: a circle has 2 points (centre, a point on it)")
        (cx, cy), (px, py) = pts
        if not all(-1e9 < v < 1e9 for v in flat):        # NaN, infinities and 10**400 fail
            raise AnnotationError(f"{where}: circle points must be finite numbers within the "
                                  "image")
        r = math.hypot(px - cx, py - cy)
        return [v for k in range(_CIRCLE_POINTS)
                for v in (cx + r * math.cos(2 * math.pi * k / _CIRCLE_POINTS),
                          cy + r * math.sin(2 * math.pi * k / _CIRCLE_POINTS))]
    return flat


def _read_document(path: Path) -> dict[str, Any] | None:
    """A labelme document, its size checked; None for a JSON file that is not one."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise AnnotationError(f"{path}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise AnnotationError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        return None
    h, w = data.get("imageHeight"), data.get("imageWidth")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (h, w)):
        raise AnnotationError(f"{path}: 'imageHeight' and 'imageWidth' must be positive whole "
                              "numbers")
    if h * w > MAX_PIXELS:
        raise AnnotationError(f"{path}: the image is {w}x{h} pixels, above the limit of "
                              f"{MAX_PIXELS / 1e6:.0f} million")
    return data


def _stem(path: Path, data: dict[str, Any]) -> str:
    ip = data.get("imagePath")
    if isinstance(ip, str) and ip.strip() and "\0" not in ip:
        stem = Path(ip.replace("\\", "/")).stem
        if stem not in ("", ".", ".."):
            return stem
    return path.stem


def import_labelme(src_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
                   overwrite: bool = False, progress: Progress | None = None) -> list[Path]:
    """Write the annotation folder of a folder of labelme JSON files: ``classes.json`` and,
    for each file, ``<stem>_classes.png`` and ``<stem>_instances.png`` (see the module's
    notes).

    Everything is read and checked first; the files are then written all or nothing.

    Raises
    ------
    AnnotationError
        Naming the file and shape: no labelme file in the folder, bad JSON, a bad size, a
        label not in ``classes.json``, points that are not finite numbers within the image, two
        files of one image, files that exist already.
    """
    src = Path(src_dir)
    if not src.is_dir():
        raise AnnotationError(f"{src}: no such folder of labelme files")
    docs: list[tuple[Path, str, dict[str, Any]]] = []
    stems: dict[str, Path] = {}
    for f in sorted(src.glob("*.json")):
        if f.name == CLASSES_FILE or f.name.startswith("."):
            continue
        data = _read_document(f)
        if data is None:
            continue
        stem = _stem(f, data)
        if stem in stems:
            raise AnnotationError(f"{stems[stem]} and {f}: two labelme files of image {stem!r}")
        stems[stem] = f
        docs.append((f, stem, data))
    if not docs:
        raise AnnotationError(f"{src}: no labelme JSON file (with 'shapes', 'imageHeight' and "
                              "'imageWidth')")
    if (src / CLASSES_FILE).is_file():
        classes = read_classes(src / CLASSES_FILE)
    else:
        seen: dict[str, None] = {}
        for f, _, data in docs:
            for n, sh in enumerate(data["shapes"], start=1):
                label = sh.get("label") if isinstance(sh, dict) else None
                if not isinstance(label, str):
                    raise AnnotationError(f"{f}: shape {n} has no 'label'")
                if label.strip() and label not in _SKIP_LABELS:
                    seen.setdefault(label.strip(), None)
        classes = ClassList().add_many((name, None, None) for name in seen)
    by_name = {c.name: c for c in classes}
    regions_of: list[list[tuple[int, object, Shape]]] = []
    for f, _, data in docs:       # every number checked before anything is written
        h, w = data["imageHeight"], data["imageWidth"]
        groups: dict[tuple[int, object], list[Any]] = {}
        loose: list[tuple[int, object, Shape]] = []
        for n, sh in enumerate(data["shapes"], start=1):
            where = f"{f}: shape {n}"
            if not isinstance(sh, dict) or not isinstance(sh.get("label"), str):
                raise AnnotationError(f"{where} has no 'label'")
            label = sh["label"].strip()
            if not label or label in _SKIP_LABELS:
                continue
            c = by_name.get(label)
            if c is None:
                raise AnnotationError(f"{where}: label {label!r} is not in {src / CLASSES_FILE}")
            flat = _points(sh, where)
            if flat is None:
                continue
            polys = check_polygons([flat], h, w, where)
            gid = sh.get("group_id")
            if gid is None:
                loose.append((c.id, None, Shape(h, w, polygons=polys)))
            else:
                groups.setdefault((c.id, json.dumps(gid)), []).extend(polys)
        things = [(cid, json.loads(g), Shape(h, w, polygons=p)) for (cid, g), p in groups.items()]
        regions_of.append(loose + things)
    return write_annotation_folder(
        out_dir, classes, [(stem, f.name) for f, stem, _ in docs],
        lambda i: (paint_shapes((docs[i][2]["imageHeight"], docs[i][2]["imageWidth"]),
                                regions_of[i], str(docs[i][0])), str(docs[i][0])),
        overwrite=overwrite, progress=progress)
