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
  ``background`` first, as CVAT and Datumaro read it.

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
from typing import Callable

import numpy as np
from PIL import Image

from spam_gui.core.annotation import AnnotationError, ClassList
from spam_gui.core.formats.common import StagedFiles, open_label_folder, refuse_existing

__all__ = ["VOC_VOID", "export_voc", "voc_colormap"]

VOC_VOID = 255
"""Pascal VOC's "void" value (borders, ignored in evaluation): never written here."""

Progress = Callable[[int, int, str], None]


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


def export_voc(label_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
               overwrite: bool = False, progress: Progress | None = None) -> list[Path]:
    """Write an annotation folder as Pascal VOC segmentation masks (see the module's notes).

    Every map is read and checked, and every file staged, before any file is renamed into
    place; files that exist already are kept (nothing is written) unless ``overwrite``.

    Parameters
    ----------
    label_dir:
        The annotation folder (``classes.json``, ``<stem>_classes.png``,
        ``<stem>_instances.png``).
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
    labels = open_label_folder(label_dir)
    _check_classes(labels.classes, labels.folder / "classes.json")
    out = Path(out_dir)
    cls_dir, obj_dir = out / "SegmentationClass", out / "SegmentationObject"
    set_file = out / "ImageSets" / "Segmentation" / "default.txt"
    map_file = out / "labelmap.txt"
    targets = [set_file, map_file]
    for stem in labels.stems:
        targets += [cls_dir / f"{stem}.png", obj_dir / f"{stem}.png"]
    refuse_existing(targets, overwrite)
    cmap = voc_colormap()
    lines = ["# label:color_rgb:parts:actions", "background:0,0,0::"]
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
        written = list(staged)
    return written
