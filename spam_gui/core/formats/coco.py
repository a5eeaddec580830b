"""COCO instance annotations from class / instance maps, and back.

Writing (:func:`build_coco`, :func:`export_coco`):

* ``images``: every image of the image folder (natural order, ids 1..), with its file name
  (relative to that folder), width and height;
* ``categories``: the classes of ``classes.json``, in display order (``id``, ``name``,
  ``supercategory`` empty, and the class's ``color``);
* ``annotations``: one per (image, instance), ``iscrowd: 0``, with the instance's class, its
  mask as RLE in pycocotools' compressed form (``counts`` a string), ``bbox`` ``[x, y, w, h]``
  and ``area`` (pixels), and ``instance_id`` (its id in the instance map, so that an import
  gives the same map back); the pixels of a class that belong to no instance make one
  ``iscrowd: 1`` annotation per class and image.

With ``polygons`` (``spam export --format coco --polygons``) each instance's mask is written as
polygons instead of RLE: one polygon per 4-connected part of the instance (COCO's list of
polygons of one annotation, their union), each hole joined to its part's outline by a
zero-width bridge (COCO polygons cannot cut holes otherwise; pycocotools' even-odd rasteriser
leaves the hole empty), simplified with a tolerance in pixels (1.4 by default); vertices in
pixel-edge coordinates. Crowd regions stay RLE. RLE is exact; polygons lose what the
simplification cuts (at 0 tolerance they are exact too).

Reading (:func:`read_coco`, :func:`import_coco`) accepts compressed and uncompressed RLE and
polygons. Every number is checked before any decoder sees it (:func:`check_segmentation`: RLE
runs whole, non-negative and adding up, as Python integers, to exactly H x W; polygon
coordinates finite and within the image), for the whole file before anything is decoded; a
file that fails is refused by name. Each annotation is then decoded into its own bounding box
and painted one at a time (:func:`spam_gui.core.formats.shapes.paint_shapes`). Crowd regions are painted first, then the instances from the largest to the smallest
(a smaller object lying over a larger one stays visible); each instance keeps its
``instance_id`` when every instance of the image has a distinct one, else instances are
numbered 1.. in the file's order.

References
----------
Lin et al., "Microsoft COCO: Common Objects in Context", ECCV 2014; the data format:
https://cocodataset.org/#format-data
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from spam_gui import __version__
from spam_gui.core.annotation import (
    Annotation,
    AnnotationError,
    ClassList,
    LabelClass,
)
from spam_gui.core.formats.common import (
    AnnotationSource,
    Progress,
    as_source,
    image_size,
    match_images,
    refuse_existing,
    write_annotation_folder,
)
from spam_gui.core.formats.polygons import DEFAULT_TOLERANCE, mask_polygons, regions
from spam_gui.core.formats.shapes import (
    Shape,
    coco_mask_api,
    check_polygons,
    counts_from_string,
    paint_shapes,
)
from spam_gui.core.io.images import MAX_PIXELS, atomic_write_bytes

__all__ = [
    "CocoImage",
    "CocoDataset",
    "annotation_entries",
    "build_coco",
    "check_segmentation",
    "export_coco",
    "import_coco",
    "mask_from_segmentation",
    "read_coco",
    "rle_from_band",
]

_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


def _int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# --------------------------------------------------------------------------------------------
# RLE


def _runs(flat: np.ndarray) -> list[int]:
    """Uncompressed COCO counts of a flat boolean vector: alternating runs, zeros first."""
    n = flat.size
    if n == 0:
        return [0]
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], change, [n]))
    runs = np.diff(bounds).tolist()
    return ([0] + runs) if flat[0] else runs


def rle_from_band(band: np.ndarray, x0: int, width: int) -> dict[str, Any]:
    """The compressed COCO RLE of a full-image mask that is zero outside columns
    ``x0 .. x0 + band.shape[1]``, from those columns only (``band``: (H, w) boolean).

    COCO's RLE runs down the columns (Fortran order), so the columns left and right of the
    band are just leading and trailing zeros: encoding costs the band's size, not the image's.

    Returns
    -------
    dict
        ``{"size": [H, W], "counts": str}``, as ``pycocotools.mask.encode`` gives it (with
        ``counts`` decoded to text).
    """
    h, w = band.shape
    runs = _runs(np.asarray(band, dtype=bool).ravel(order="F"))
    lead, trail = x0 * h, (width - x0 - w) * h
    runs[0] += lead
    if len(runs) % 2 == 1:      # ends on a zero run
        runs[-1] += trail
    elif trail:
        runs.append(trail)
    rle = coco_mask_api().frPyObjects({"counts": runs, "size": [h, width]}, h, width)
    return {"size": [int(h), int(width)], "counts": rle["counts"].decode("ascii")}


def _checked_counts(counts: list[int], height: int, width: int, where: str) -> np.ndarray:
    """Runs as int64 once they are known to be whole, non-negative and to cover the image
    exactly (summed as Python integers: no wrap-around past 2**64)."""
    if not all(_int(c) for c in counts):
        raise AnnotationError(f"{where}: RLE counts must be whole numbers")
    if any(c < 0 for c in counts):
        raise AnnotationError(f"{where}: RLE holds a negative run")
    total = sum(counts)
    if total != height * width:
        raise AnnotationError(f"{where}: RLE runs cover {total} pixels, not the image's "
                              f"{height * width}")
    return np.asarray(counts, dtype=np.int64)


def check_segmentation(segm: object, height: int, width: int, where: str) -> Shape:
    """Check a COCO ``segmentation`` (compressed RLE, uncompressed RLE or polygons) number by
    number before any decoder sees it: RLE of the image's size whose runs are whole,
    non-negative and add up (as Python integers) to exactly H x W; polygons of at least 3
    finite points within the image. :class:`AnnotationError` naming ``where`` otherwise."""
    if isinstance(segm, dict):
        size = segm.get("size")
        counts = segm.get("counts")
        if (not isinstance(size, list) or len(size) != 2 or not all(_int(v) for v in size)
                or list(size) != [height, width]):
            raise AnnotationError(f"{where}: RLE size {size!r} is not the image's "
                                  f"[{height}, {width}] (height, width)")
        if isinstance(counts, (str, bytes)):
            try:
                counts = counts_from_string(counts, where)
            except UnicodeEncodeError:
                raise AnnotationError(f"{where}: RLE string is not ASCII") from None
        elif not isinstance(counts, list):
            raise AnnotationError(f"{where}: RLE 'counts' must be a list or a string")
        return Shape(height, width, counts=_checked_counts(counts, height, width, where))
    if isinstance(segm, list):
        return Shape(height, width, polygons=check_polygons(segm, height, width, where))
    raise AnnotationError(f"{where}: 'segmentation' must be RLE or polygons")


def mask_from_segmentation(segm: object, height: int, width: int, where: str) -> np.ndarray:
    """Decode a COCO ``segmentation`` (compressed RLE, uncompressed RLE or polygons) to an
    (H, W) boolean mask, checked first (:func:`check_segmentation`); :class:`AnnotationError`
    naming ``where`` when it is malformed or of another size."""
    return check_segmentation(segm, height, width, where).full_mask()


# --------------------------------------------------------------------------------------------
# writing


def annotation_entries(ann: Annotation, image_id: int, first_id: int, polygons: bool = False,
                       tolerance: float = DEFAULT_TOLERANCE) -> list[dict[str, Any]]:
    """The COCO annotations of one image: one per instance (increasing instance id), then one
    ``iscrowd: 1`` per class (increasing id) for its pixels without an instance; annotation
    ids from ``first_id``.

    Masks are RLE (exact); with ``polygons`` an instance's mask is its polygons instead, one
    per 4-connected part, holes joined in by zero-width bridges, simplified with ``tolerance``
    pixels (:mod:`spam_gui.core.formats.polygons`); crowd regions stay RLE, as COCO has them.
    ``area`` and ``bbox`` are the pixels' in both cases.
    """
    h, w = ann.shape
    out: list[dict[str, Any]] = []
    for r in regions(ann, pieces=False):
        rh, rw = r.mask.shape
        if polygons and r.instance:
            segm: Any = [[round(float(v), 3) for v in p.ravel()]
                         for p in mask_polygons(r.mask, tolerance, r.y0, r.x0)]
        else:
            band = np.zeros((h, rw), bool)
            band[r.y0:r.y0 + rh] = r.mask
            segm = rle_from_band(band, r.x0, w)
        entry: dict[str, Any] = {
            "id": first_id + len(out), "image_id": image_id, "category_id": r.class_id,
            "segmentation": segm, "area": int(r.mask.sum()),
            "bbox": [float(r.x0), float(r.y0), float(rw), float(rh)],
            "iscrowd": 0 if r.instance else 1}
        if r.instance:
            entry["instance_id"] = r.instance
        out.append(entry)
    return out


def _category(c: LabelClass) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "supercategory": "", "color": c.color}


def build_coco(label_dir: str | os.PathLike[str] | AnnotationSource,
               image_dir: str | os.PathLike[str] | Sequence[Path],
               progress: Progress | None = None, *, polygons: bool = False,
               tolerance: float = DEFAULT_TOLERANCE) -> dict[str, Any]:
    """The COCO dataset of an annotation folder and its image folder (see the module's notes).

    Parameters
    ----------
    label_dir:
        The annotation folder (``classes.json``, ``<stem>_classes.png``,
        ``<stem>_instances.png``), or annotations in memory
        (:class:`spam_gui.core.formats.common.MemorySource`).
    image_dir:
        The folder of the images (or a list of images, listed in that order); each annotated
        stem must have exactly one image there, of the annotation's size.
    progress:
        Called after each image.
    polygons, tolerance:
        Instances as polygons simplified with ``tolerance`` pixels (see
        :func:`annotation_entries`); RLE by default.

    Returns
    -------
    dict
        ``{"info", "licenses", "images", "annotations", "categories"}``.

    Raises
    ------
    AnnotationError
        Naming the file: a bad ``classes.json``, a class map without an image or of another
        size than its image, a class not in ``classes.json``, an instance of two classes.
    """
    labels = as_source(label_dir)
    images, matched = match_images(labels, image_dir)
    image_root = images[0].parent if isinstance(image_dir, (list, tuple)) and images \
        else Path(image_dir)  # type: ignore[arg-type]
    stem_of = {p: s for s, p in matched.items()}
    entries: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for n, path in enumerate(images, start=1):
        h, w = image_size(path)
        entries.append({"id": n, "file_name": path.relative_to(image_root).as_posix(),
                        "width": w, "height": h})
        stem = stem_of.get(path)
        if stem is not None:
            ann = labels.read(stem, shape=(h, w))
            annotations += annotation_entries(ann, n, len(annotations) + 1, polygons, tolerance)
        if progress is not None:
            progress(n, len(images), path.name)
    return {
        "info": {"description": f"annotations of {image_root.name}",
                 "version": "1.0", "contributor": f"spam-studio {__version__}",
                 "date_created": datetime.now(timezone.utc).isoformat(timespec="seconds")},
        "licenses": [],
        "images": entries,
        "annotations": annotations,
        "categories": [_category(c) for c in labels.classes],
    }


def export_coco(label_dir: str | os.PathLike[str] | AnnotationSource,
                image_dir: str | os.PathLike[str] | Sequence[Path],
                out_file: str | os.PathLike[str], *, overwrite: bool = False,
                progress: Progress | None = None, polygons: bool = False,
                tolerance: float = DEFAULT_TOLERANCE) -> dict[str, int]:
    """Write :func:`build_coco`'s dataset to ``out_file`` (atomically: everything is checked
    before the file is written). An existing ``out_file`` is kept unless ``overwrite``.
    ``polygons`` / ``tolerance``: instances as polygons (:func:`annotation_entries`).

    Returns
    -------
    dict
        ``{"images": ..., "annotated": ..., "annotations": ..., "categories": ...}``.
    """
    out = Path(out_file)
    refuse_existing([out], overwrite)
    data = build_coco(label_dir, image_dir, progress, polygons=polygons, tolerance=tolerance)
    atomic_write_bytes(out, (json.dumps(data, ensure_ascii=False) + "\n").encode("utf-8"))
    return {"images": len(data["images"]),
            "annotated": len({a["image_id"] for a in data["annotations"]}),
            "annotations": len(data["annotations"]), "categories": len(data["categories"])}


# --------------------------------------------------------------------------------------------
# reading


@dataclass
class CocoImage:
    """One image of a COCO file and its annotations (the raw entries, checked)."""

    id: int
    file_name: str
    height: int
    width: int
    annotations: list[dict[str, Any]] = field(default_factory=list)
    shapes: list[Shape] | None = None      # each annotation's checked segmentation

    @property
    def stem(self) -> str:
        return Path(self.file_name).stem


@dataclass
class CocoDataset:
    """A COCO file, checked: its classes (from ``categories``) and images."""

    path: Path
    classes: ClassList
    images: list[CocoImage]

    def shapes(self, image: CocoImage) -> list[Shape]:
        """The checked segmentation of each of the image's annotations (checked once)."""
        if image.shapes is None or len(image.shapes) != len(image.annotations):
            image.shapes = [
                check_segmentation(a["segmentation"], image.height, image.width,
                                   f"{self.path}: annotation {a.get('id')} (image "
                                   f"{image.file_name!r})")
                for a in image.annotations]
        return image.shapes

    def annotation(self, image: CocoImage) -> Annotation:
        """The class and instance maps of one image (see the module's notes for overlaps and
        instance ids), painted one annotation at a time, each decoded into its own box only
        (:func:`spam_gui.core.formats.shapes.paint_shapes`)."""
        shapes = self.shapes(image)
        regions = [(a["category_id"],
                    None if a.get("iscrowd") else
                    (a["instance_id"] if a.get("instance_id") is not None else -1), sh)
                   for a, sh in zip(image.annotations, shapes)]
        return paint_shapes((image.height, image.width), regions,
                            f"{self.path}: image {image.file_name!r}")


def read_coco(path: str | os.PathLike[str]) -> CocoDataset:
    """Read and check a COCO instances file.

    Raises
    ------
    AnnotationError
        Naming the file and the entry: not JSON, no ``images`` / ``annotations`` /
        ``categories`` lists, a category id out of 1..65535 or repeated, an image without a
        file name or size, two images of one stem, an annotation naming an image or category
        the file does not list.
    """
    p = Path(path)
    if not p.is_file():
        raise AnnotationError(f"{p}: no such COCO file")
    try:
        data = json.loads(p.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AnnotationError(f"{p}: not valid JSON ({exc})") from None
    except RecursionError:
        raise AnnotationError(f"{p}: nested too deeply to be a COCO file; not read") from None
    except OSError as exc:
        raise AnnotationError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list)
                                             for k in ("images", "annotations", "categories")):
        raise AnnotationError(f"{p}: not a COCO file (it needs the lists 'images', "
                              "'annotations' and 'categories')")
    cats: list[tuple[str, str | None, int]] = []
    for n, cat in enumerate(data["categories"], start=1):
        if not isinstance(cat, dict) or not _int(cat.get("id")) or not isinstance(cat.get("name"), str):
            raise AnnotationError(f"{p}: category entry {n} needs an integer 'id' and a 'name'")
        color = cat.get("color")
        color = color if isinstance(color, str) and _COLOR.fullmatch(color) else None
        cats.append((cat["name"], color, cat["id"]))
    classes = ClassList().add_many(cats, where=lambda i: f"{p}: category entry {i + 1}")
    images: dict[int, CocoImage] = {}
    stems: dict[str, str] = {}
    for n, im in enumerate(data["images"], start=1):
        ok = (isinstance(im, dict) and _int(im.get("id")) and isinstance(im.get("file_name"), str)
              and im["file_name"] and _int(im.get("width")) and _int(im.get("height"))
              and im["width"] > 0 and im["height"] > 0)
        if not ok:
            raise AnnotationError(f"{p}: image entry {n} needs an integer 'id', a 'file_name' "
                                  "and a positive 'width' and 'height'")
        if "\0" in im["file_name"]:
            raise AnnotationError(f"{p}: image entry {n}: its 'file_name' holds a NUL byte")
        if im["id"] in images:
            raise AnnotationError(f"{p}: image id {im['id']} is used twice")
        if im["width"] * im["height"] > MAX_PIXELS:
            raise AnnotationError(f"{p}: image {im['file_name']!r} is {im['width']}x"
                                  f"{im['height']} pixels, above the limit of "
                                  f"{MAX_PIXELS / 1e6:.0f} million")
        entry = CocoImage(im["id"], im["file_name"], im["height"], im["width"])
        if entry.stem in stems:
            raise AnnotationError(f"{p}: images {stems[entry.stem]!r} and {entry.file_name!r} "
                                  "have the same name; their annotation files would collide")
        stems[entry.stem] = entry.file_name
        images[entry.id] = entry
    for n, a in enumerate(data["annotations"], start=1):
        if not isinstance(a, dict) or "segmentation" not in a:
            raise AnnotationError(f"{p}: annotation entry {n} has no 'segmentation'")
        a.setdefault("id", n)
        img = images.get(a["image_id"]) if _int(a.get("image_id")) else None
        if img is None:
            raise AnnotationError(f"{p}: annotation {a['id']} names image {a.get('image_id')!r}, "
                                  "which the file's 'images' does not list")
        if not _int(a.get("category_id")) or a["category_id"] not in classes:
            raise AnnotationError(f"{p}: annotation {a['id']} (image {img.file_name!r}) names "
                                  f"category {a.get('category_id')!r}, which 'categories' does "
                                  "not list")
        img.annotations.append(a)
    ds = CocoDataset(p, classes, list(images.values()))
    for img in ds.images:      # every number checked before anything is decoded or written
        ds.shapes(img)
    return ds


def _image_in_folder(root: Path, name: str, where: str) -> Path:
    """``root / name`` when ``name`` stays inside ``root`` (no absolute path, no ``..``, no
    NUL byte, no link leading out); else :class:`AnnotationError` naming the file."""
    parts = Path(name).parts
    if "\0" in name or Path(name).is_absolute() or ".." in parts or not parts:
        raise AnnotationError(f"{where}: the file name leaves the image folder {root}; refused")
    f = root / name
    try:
        inside = f.resolve().is_relative_to(root.resolve())
    except (OSError, ValueError, RuntimeError):
        inside = False
    if not inside:
        raise AnnotationError(f"{where}: the file name leads out of the image folder {root} "
                              "(a link); refused")
    return f


def import_coco(coco_file: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
                image_dir: str | os.PathLike[str] | None = None, overwrite: bool = False,
                progress: Progress | None = None) -> list[Path]:
    """Write the annotation folder of a COCO file: ``classes.json`` and, for each image with
    at least one annotation, ``<stem>_classes.png`` and ``<stem>_instances.png``.

    Everything is decoded and checked first; the files are then written all or nothing.

    Parameters
    ----------
    coco_file:
        The COCO instances file.
    out_dir:
        The annotation folder (created if needed).
    image_dir:
        When given, each annotated image must be there (``image_dir / file_name``) with the
        size the file says.
    overwrite:
        Replace files that exist already (else nothing is written when one does).
    progress:
        Called after each image.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    AnnotationError
        Naming the file and the image: see :func:`read_coco`; an annotated image missing from
        ``image_dir`` or of another size; files that exist already.
    """
    ds = read_coco(coco_file)
    out = Path(out_dir)
    todo = [im for im in ds.images if im.annotations]
    if image_dir is not None:
        root = Path(image_dir)
        for im in todo:
            f = _image_in_folder(root, im.file_name, f"{ds.path}: image {im.file_name!r}")
            if not f.is_file():
                raise AnnotationError(f"{ds.path}: image {im.file_name!r} (id {im.id}) is not in "
                                      f"{root}")
            h, w = image_size(f)
            if (h, w) != (im.height, im.width):
                raise AnnotationError(f"{ds.path}: image {im.file_name!r} is {w}x{h} pixels in "
                                      f"{root}, but {im.width}x{im.height} in the file")
    return write_annotation_folder(
        out, ds.classes, [(im.stem, im.file_name) for im in todo],
        lambda i: (ds.annotation(todo[i]), f"{ds.path}: image {todo[i].file_name!r}"),
        overwrite=overwrite, progress=progress)
