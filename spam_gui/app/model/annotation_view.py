"""The annotation's pixels for the canvas and the paint tool's geometry (no Qt).

The class layer is one premultiplied BGRA image: every labelled pixel in its class's colour,
the edges between instances in a darker shade of it, unlabelled pixels transparent. After a
paint stroke only the changed bounding box (grown by one pixel, so that instance edges at its
border are redrawn) is recomputed (:func:`class_layer_region`), whatever the image's size.

The drag of the paint tool is interpolated between two pointer events: :func:`segment_pixels`
gives every pixel the pointer passed over, :func:`labels_on_segment` the superpixels (or
objects) under them (the pixel brush is the core's
:func:`~spam_gui.core.annotation.paint_segment`).

The export of one image's annotation runs in a worker thread; :func:`annotation_writer`
makes the call it needs from copies taken on the GUI thread (or from the autosaved rasters).

References
----------
The file formats are those of :mod:`spam_gui.core.annotation` (``<stem>_classes.png``,
``<stem>_instances.png``, ``classes.json``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from spam_gui.core.annotation import MAX_ID, Annotation, BBox, ClassList, write_annotation

EDGE_SHADE = 0.45
"""Instance edges are drawn in the class colour times this factor."""

AnnotationWriter = Callable[[Path, tuple[int, int]], dict[str, Path]]


def class_lut(classes: ClassList) -> np.ndarray:
    """Fill and edge colours indexed by class id: a (65536, 2, 4) BGRA uint8 table.

    Parameters
    ----------
    classes:
        The folder's classes; ids no class has (and 0) are transparent.

    Returns
    -------
    numpy.ndarray
        ``lut[id, 0]`` the fill colour, ``lut[id, 1]`` the edge colour, both opaque.
    """
    lut = np.zeros((MAX_ID + 1, 2, 4), np.uint8)
    for c in classes:
        r, g, b = c.rgb
        lut[c.id, 0] = (b, g, r, 255)
        lut[c.id, 1] = (int(b * EDGE_SHADE), int(g * EDGE_SHADE), int(r * EDGE_SHADE), 255)
    return lut


def _lut32(lut: np.ndarray) -> np.ndarray:
    """The table as one uint32 per entry, flat: entry ``2 * id + edge``."""
    return np.ascontiguousarray(lut).view(np.uint32).reshape(-1)


def _grow(box: BBox, shape: tuple[int, int], pad: int) -> BBox:
    y0, y1, x0, x1 = box
    return max(0, y0 - pad), min(shape[0], y1 + pad), max(0, x0 - pad), min(shape[1], x1 + pad)


def class_layer_region(ann: Annotation, lut: np.ndarray, box: BBox | None = None
                       ) -> tuple[BBox, np.ndarray]:
    """The class layer's pixels over ``box`` grown by one pixel (the whole image for None).

    Parameters
    ----------
    ann:
        The class and instance maps.
    lut:
        :func:`class_lut` of the folder's classes.
    box:
        ``(y0, y1, x0, x1)`` of the pixels that changed.

    Returns
    -------
    (BBox, numpy.ndarray)
        The region drawn and its (h, w, 4) BGRA pixels: the class colour, the darker edge
        colour where the pixel's instance differs from its right or lower neighbour's (or its
        left or upper one: both sides of an edge), transparent where unlabelled.
    """
    shape = ann.shape
    region = (0, shape[0], 0, shape[1]) if box is None else _grow(box, shape, 1)
    y0, y1, x0, x1 = region
    # one more pixel around, so that the edges at the region's border are right
    wy0, wy1, wx0, wx1 = _grow(region, shape, 1)
    inst = ann.instance_map[wy0:wy1, wx0:wx1]
    # index = 2 * class + edge, built in place (a few passes over the region, no temporaries
    # of the image's size: this runs on every pointer move of a stroke)
    edge = np.zeros(inst.shape, np.uint8)
    dx = inst[:, 1:] != inst[:, :-1]
    dy = inst[1:, :] != inst[:-1, :]
    edge[:, :-1] |= dx
    edge[:, 1:] |= dx
    edge[:-1, :] |= dy
    edge[1:, :] |= dy
    index = ann.class_map[y0:y1, x0:x1].astype(np.intp)    # take's own index type: no cast
    index <<= 1
    index += edge[y0 - wy0:y1 - wy0, x0 - wx0:x1 - wx0]
    out = _lut32(lut).take(index, mode="clip")     # 2 * 65535 + 1 at most: no bounds checks
    return region, out.view(np.uint8).reshape(index.shape + (4,))


def segment_pixels(x0: int, y0: int, x1: int, y1: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pixel on the straight segment from (x0, y0) to (x1, y1), both ends included
    (one sample per pixel of the longer axis), as (xs, ys) int arrays."""
    n = max(abs(int(x1) - int(x0)), abs(int(y1) - int(y0))) + 1
    t = np.linspace(0.0, 1.0, n)
    xs = np.rint(x0 + (x1 - x0) * t).astype(np.int64)
    ys = np.rint(y0 + (y1 - y0) * t).astype(np.int64)
    return xs, ys


def labels_on_segment(labels: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """The distinct labels under the segment from (x0, y0) to (x1, y1), in the order met.

    Parameters
    ----------
    labels:
        (H, W) label map (superpixels, or prior objects).
    x0, y0, x1, y1:
        The segment's ends in image pixels (clipped to the image).

    Returns
    -------
    numpy.ndarray
        The labels crossed, each once.
    """
    h, w = labels.shape
    xs, ys = segment_pixels(x0, y0, x1, y1)
    xs, ys = np.clip(xs, 0, w - 1), np.clip(ys, 0, h - 1)
    vals = labels[ys, xs]
    _, first = np.unique(vals, return_index=True)
    return vals[np.sort(first)]


def annotation_writer(stem: str, classes: ClassList,
                      maps: tuple[np.ndarray, np.ndarray] | None = None,
                      load: Callable[[tuple[int, int]], tuple[np.ndarray, np.ndarray]] | None = None
                      ) -> AnnotationWriter:
    """A call that writes one image's annotation into the export folder (for the worker).

    Parameters
    ----------
    stem:
        The image's base name (``<stem>_classes.png``, ``<stem>_instances.png``).
    classes:
        The folder's class list (immutable), written as ``classes.json`` beside them.
    maps:
        Copies of (class map, instance map) taken on the GUI thread; or
    load:
        A function of the image's (H, W) returning the maps (the autosaved rasters of an image
        not opened in this run); it raises when they cannot be used.

    Returns
    -------
    callable
        ``writer(out_dir, shape) -> paths written`` (:func:`spam_gui.core.annotation.write_annotation`).
    """
    if (maps is None) == (load is None):
        raise ValueError("give either the maps or a loader")

    def write(out_dir: Path, shape: tuple[int, int]) -> dict[str, Path]:
        cm, im = maps if maps is not None else load(shape)  # type: ignore[misc]
        if tuple(cm.shape) != tuple(shape[:2]):
            raise ValueError(f"the annotation of {stem} is {cm.shape[1]}x{cm.shape[0]} pixels, "
                             f"the image {shape[1]}x{shape[0]}; not exported")
        return write_annotation(out_dir, stem, Annotation(cm, im), classes)

    return write
