"""Pascal VOC segmentation masks from class / instance maps.

For each annotated image ``<stem>`` of an annotation folder, :func:`export_voc` writes, in the
output folder:

* ``SegmentationClass/<stem>.png``: 8-bit palette PNG, pixel value = class id (0 =
  background), with Pascal VOC's colour map (:func:`voc_colormap`);
* ``SegmentationObject/<stem>.png``: 8-bit palette PNG, pixel value = instance (0 = none),
  same colour map; instance ids are kept when all are below 255, else renumbered 1.. in
  increasing order;
* ``ImageSets/Segmentation/default.txt``: the stems, one a line;
* ``labelmap.txt``: ``name:r,g,b::`` per class (the colour its index has in the colour map),
  value 0 first as ``background`` (as CVAT and Datumaro read it; ``_background_`` when a class
  is itself named "background", so that no name is listed twice, :func:`background_name`);
* ``classes.json``: the classes with their own colours (so that an import gives them back).

:func:`import_voc` reads such a folder back (and VOC folders of other tools: the classes from
``classes.json``, else ``labelmap.txt``, else labelme's ``class_names.txt``, else named by
their ids; masks as palette, grey or colour PNGs of the colour map), void (255) becoming
unlabelled.

Value 255 is VOC's "void" (the border left unlabelled around objects in the original data);
it is not written, so class ids must lie in 1..254.

References
----------
Everingham et al., "The PASCAL Visual Object Classes (VOC) Challenge", IJCV 2010; the colour
map is the development kit's ``VOClabelcolormap``.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from spam_gui.core.annotation import (
    CLASSES_FILE,
    Annotation,
    AnnotationError,
    ClassList,
    check_one_class_per_instance,
    encode_classes,
    read_classes,
)
from spam_gui.core.formats.common import (
    AnnotationSource,
    Progress,
    as_source,
    refuse_existing,
    write_annotation_folder,
)
from spam_gui.core.io.images import StagedFiles

__all__ = ["VOC_VOID", "background_name", "export_voc", "import_voc", "read_voc_classes", "voc_colormap"]

VOC_VOID = 255
"""Pascal VOC's "void" value (borders, ignored in evaluation): never written here."""



def voc_colormap(n: int = 256) -> np.ndarray:
    """Pascal VOC's colour map, ``(n, 3)`` uint8: the bits of each index spread over the high
    bits of red, green and blue in turn (index 1 = (128, 0, 0), 2 = (0, 128, 0), 255 =
    (224, 224, 192))."""
    cmap = np.zeros((n, 3), np.uint8)
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        cmap[i] = (r, g, b)
    return cmap


def background_name(classes: ClassList) -> str:
    """The name ``labelmap.txt`` gives value 0 (unlabelled): ``background``, as CVAT and
    Datumaro expect, unless a class has that name (compared without case); then the first of
    ``_background_`` (the VOC development kit's and labelme's name), ``background_0``,
    ``background_1``, ... that no class has, so that every name is listed once."""
    taken = {c.name.casefold() for c in classes}
    for name in ("background", "_background_"):
        if name not in taken:
            return name
    n = 0
    while f"background_{n}" in taken:
        n += 1
    return f"background_{n}"


def _palette_png(values: np.ndarray) -> bytes:
    im = Image.fromarray(values.astype(np.uint8))
    im.putpalette(voc_colormap().ravel().tolist())
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def _check_classes(classes: ClassList, where: Path) -> None:
    big = [c for c in classes if c.id >= VOC_VOID]
    if big:
        raise AnnotationError(
            f"{where}: class {big[0].name!r} has id {big[0].id}; Pascal VOC masks are 8-bit and "
            f"{VOC_VOID} means void, so class ids must lie in 1..{VOC_VOID - 1} (renumber the "
            "classes, or export COCO)")


def _objects(instances: np.ndarray, where: Path) -> np.ndarray:
    top = int(instances.max()) if instances.size else 0
    if top < VOC_VOID:
        return instances
    ids = np.unique(instances)
    ids = ids[ids != 0]
    if len(ids) >= VOC_VOID:
        raise AnnotationError(f"{where}: {len(ids)} instances; a Pascal VOC object mask holds "
                              f"at most {VOC_VOID - 1}")
    lut = np.zeros(top + 1, np.uint8)
    lut[ids] = np.arange(1, len(ids) + 1)
    return lut[instances]


def export_voc(label_dir: str | os.PathLike[str] | AnnotationSource,
               out_dir: str | os.PathLike[str], *,
               overwrite: bool = False, progress: Progress | None = None) -> list[Path]:
    """Write an annotation folder as Pascal VOC segmentation masks (see the module's notes).

    Every map is read and checked, and every file staged, before any file is renamed into
    place; files that exist already are kept (nothing is written) unless ``overwrite``.

    Parameters
    ----------
    label_dir:
        The annotation folder (``classes.json``, ``<stem>_classes.png``,
        ``<stem>_instances.png``), or annotations in memory
        (:class:`spam_gui.core.formats.common.MemorySource`).
    out_dir:
        The VOC folder (created if needed).
    overwrite:
        Replace files that exist already.
    progress:
        Called after each image.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    AnnotationError
        Naming the file: a bad ``classes.json``, a class id of 255 or more, more than 254
        instances in an image, a class map that breaks the folder's rules.
    """
    labels = as_source(label_dir)
    _check_classes(labels.classes, labels.folder / "classes.json")
    out = Path(out_dir)
    cls_dir, obj_dir = out / "SegmentationClass", out / "SegmentationObject"
    set_file = out / "ImageSets" / "Segmentation" / "default.txt"
    map_file = out / "labelmap.txt"
    class_file = out / CLASSES_FILE
    targets = [set_file, map_file, class_file]
    for stem in labels.stems:
        targets += [cls_dir / f"{stem}.png", obj_dir / f"{stem}.png"]
    refuse_existing(targets, overwrite)
    cmap = voc_colormap()
    lines = ["# label:color_rgb:parts:actions", f"{background_name(labels.classes)}:0,0,0::"]
    lines += [f"{c.name}:{','.join(str(int(v)) for v in cmap[c.id])}::" for c in labels.classes]
    with StagedFiles() as staged:
        for n, stem in enumerate(labels.stems, start=1):
            ann = labels.read(stem)
            staged.add(cls_dir / f"{stem}.png", _palette_png(ann.class_map))
            staged.add(obj_dir / f"{stem}.png",
                       _palette_png(_objects(ann.instance_map, labels.class_png(stem))))
            if progress is not None:
                progress(n, len(labels.stems), stem)
        staged.add(set_file, ("\n".join(labels.stems) + "\n").encode("utf-8"))
        staged.add(map_file, ("\n".join(lines) + "\n").encode("utf-8"))
        staged.add(class_file, encode_classes(labels.classes))
        written = list(staged)
    return written


# --------------------------------------------------------------------------------------------
# reading


def _color_index() -> dict[tuple[int, int, int], int]:
    return {tuple(int(v) for v in c): i for i, c in enumerate(voc_colormap())}


def read_voc_classes(voc_dir: str | os.PathLike[str], present: set[int]) -> ClassList:
    """The classes of a VOC folder: ``classes.json`` if there, else ``labelmap.txt``
    (``name:r,g,b:...``, the id being the colour's index in the colour map), else labelme's
    ``class_names.txt`` (line i = class i, ``_background_`` first), else ``class <id>`` for each
    id in ``present``. :class:`AnnotationError` naming the file and line when one is bad."""
    d = Path(voc_dir)
    if (d / CLASSES_FILE).is_file():
        return read_classes(d / CLASSES_FILE)
    entries: list[tuple[str, str | None, int | None]] = []
    lines: list[int] = []
    lmap, names = d / "labelmap.txt", d / "class_names.txt"
    if lmap.is_file():
        index = _color_index()
        for n, line in enumerate(lmap.read_text(encoding="utf-8-sig").splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split(":")
            try:
                rgb = tuple(int(v) for v in parts[1].split(","))
            except (IndexError, ValueError):
                raise AnnotationError(f"{lmap}: line {n}: expected name:r,g,b") from None
            cid = index.get(rgb)  # type: ignore[arg-type]
            if cid is None or cid == VOC_VOID:
                raise AnnotationError(f"{lmap}: line {n}: colour {parts[1]} is not one of "
                                      "Pascal VOC's colour map")
            if cid == 0:
                continue
            entries.append((parts[0], None, cid))
            lines.append(n)
        return ClassList().add_many(entries, where=lambda i: f"{lmap}: line {lines[i]}")
    if names.is_file():
        for n, line in enumerate(names.read_text(encoding="utf-8-sig").splitlines()):
            name = line.strip()
            if n == 0 or not name or name in ("_background_", "__ignore__", "background"):
                continue
            entries.append((name, None, n))
            lines.append(n + 1)
        return ClassList().add_many(entries, where=lambda i: f"{names}: line {lines[i]}")
    return ClassList().add_many((f"class {cid}", None, cid) for cid in sorted(present))


def _read_mask(path: Path) -> np.ndarray:
    """A VOC mask as indices: palette / grey PNG values, or colours of the colour map."""
    try:
        with Image.open(path) as im:
            if im.mode in ("P", "L"):
                return np.asarray(im).astype(np.uint16)
            rgb = np.asarray(im.convert("RGB"))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise AnnotationError(f"{path}: not a readable PNG ({exc})") from None
    key = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    index = _color_index()
    codes = np.array([(r << 16) | (g << 8) | b for (r, g, b) in index], np.int64)
    ids = np.array(list(index.values()), np.uint16)
    order = np.argsort(codes)
    pos = np.clip(np.searchsorted(codes[order], key), 0, len(codes) - 1)
    bad = codes[order][pos] != key
    if bad.any():
        y, x = (int(v[0]) for v in np.nonzero(bad))
        raise AnnotationError(f"{path}: colour {tuple(int(v) for v in rgb[y, x])} at row {y}, "
                              f"column {x} is not one of Pascal VOC's colour map")
    return ids[order][pos]


def _read_pair(cls_path: Path, obj_path: Path) -> Annotation:
    """One image's class mask and (when there) object mask, void made unlabelled, checked."""
    cls = _read_mask(cls_path)
    cls[cls == VOC_VOID] = 0
    if obj_path.is_file():
        inst = _read_mask(obj_path)
        if inst.shape != cls.shape:
            raise AnnotationError(f"{obj_path}: {inst.shape[1]}x{inst.shape[0]} pixels, but "
                                  f"{cls_path.name} is {cls.shape[1]}x{cls.shape[0]}")
        inst[(inst == VOC_VOID) | (cls == 0)] = 0
    else:
        inst = np.zeros_like(cls)
    ann = Annotation(cls, inst)
    check_one_class_per_instance(ann, obj_path)
    return ann


def import_voc(voc_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
               overwrite: bool = False, progress: Progress | None = None) -> list[Path]:
    """Write the annotation folder of a Pascal VOC folder: ``classes.json`` and, for each
    ``SegmentationClass/<stem>.png``, ``<stem>_classes.png`` and ``<stem>_instances.png``
    (from ``SegmentationObject/<stem>.png`` when there; void, 255, becomes unlabelled / no
    instance).

    Everything is read and checked first; the files are then written all or nothing.

    Parameters
    ----------
    voc_dir:
        The VOC folder (``SegmentationClass/``, optionally ``SegmentationObject/`` and a class
        list, see :func:`read_voc_classes`).
    out_dir:
        The annotation folder (created if needed).
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
        Naming the file: no ``SegmentationClass`` folder or mask, a mask that is not a PNG of
        the colour map, an object mask of another size, an object of two classes, a class id
        the class list lacks, files that exist already.
    """
    d = Path(voc_dir)
    cls_dir, obj_dir = d / "SegmentationClass", d / "SegmentationObject"
    if not cls_dir.is_dir():
        raise AnnotationError(f"{d}: no SegmentationClass folder (not a Pascal VOC folder)")
    masks = sorted(p for p in cls_dir.iterdir() if p.suffix.lower() == ".png"
                   and not p.name.startswith("."))
    if not masks:
        raise AnnotationError(f"{cls_dir}: no .png mask")
    has_list = any((d / f).is_file() for f in (CLASSES_FILE, "labelmap.txt", "class_names.txt"))
    present: set[int] = set()
    if not has_list:   # the classes are the ids found: one pass over the class masks first
        for path in masks:
            present |= set(np.unique(_read_mask(path)).tolist()) - {0, VOC_VOID}
    classes = read_voc_classes(d, present)
    return write_annotation_folder(
        out_dir, classes, [(path.stem, path.stem) for path in masks],
        lambda i: (_read_pair(masks[i], obj_dir / masks[i].name), str(masks[i])),
        overwrite=overwrite, progress=progress)
