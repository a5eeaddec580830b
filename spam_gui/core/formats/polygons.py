"""Polygons of class and instance maps, for the polygon formats (YOLO-seg, labelme JSON, COCO
``--polygons``).

Tracing (:func:`mask_polygons`): each 4-connected part of a region is outlined along its
pixels' own borders (``skimage.measure.find_contours`` at level 0.5 on the part doubled in
size, each vertex rounded to its pixel corner), so that the traced outline covers exactly the
part's pixels (a pixel is inside when its centre is, and no pixel centre lies on an edge);
simplified by Douglas-Peucker
(``cv2.approxPolyDP``) with a tolerance in pixels (default
:data:`spam_gui.core.params.POLYGON_DEFAULTS`, 1.4 px; a part that would fall below 3 points
keeps its traced outline). Coordinates are pixel-edge coordinates (COCO's): pixel (row r,
column c) covers ``[c, c + 1] x [r, r + 1]`` and the image spans ``[0, W] x [0, H]``.

Holes: the polygon formats have none (COCO polygons are a union, labelme and YOLO-seg one
outline per shape), so each hole is joined to its part's outline by a zero-width bridge
between their closest vertices (a "keyhole"): the outline goes out along the bridge, round the
hole and back. Rasterisers that follow the even-odd rule (pycocotools, PIL, OpenCV) leave the
hole empty; the bridge itself has no area.

Several parts: COCO and labelme keep one polygon per part (COCO: the list of polygons of one
annotation; labelme: one shape per part, the same ``group_id``); YOLO-seg has one line per
instance, so :func:`join_parts` joins the parts into one outline by zero-width bridges between
their closest vertices, as Ultralytics' own COCO converter does (``merge_multi_segment``).

:func:`regions` lists what the formats write: each instance, then the class pixels without an
instance, per class or per 4-connected piece.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from spam_gui.core.annotation import Annotation
from spam_gui.core.params import POLYGON_DEFAULTS

__all__ = ["DEFAULT_TOLERANCE", "Region", "check_tolerance", "join_parts", "mask_polygons",
           "regions"]

DEFAULT_TOLERANCE = POLYGON_DEFAULTS.tolerance
"""Douglas-Peucker tolerance of the polygon exports, pixels."""


def check_tolerance(tolerance: float) -> float:
    """The tolerance as a float; ValueError unless it is a finite number from 0 to 100."""
    t = float(tolerance)
    if not 0.0 <= t <= 100.0:            # NaN fails too
        raise ValueError(f"polygon tolerance {tolerance!r} must be a number from 0 to 100 "
                         "(pixels)")
    return t


@dataclass(frozen=True)
class Region:
    """Pixels of one class that one format entry carries: ``mask`` (boolean, over the box
    whose top-left pixel is row ``y0``, column ``x0``), its class, and its instance (0: class
    pixels without an instance)."""

    class_id: int
    instance: int
    y0: int
    x0: int
    mask: np.ndarray


def regions(ann: Annotation, pieces: bool) -> Iterator[Region]:
    """Each instance (increasing id), then the class pixels without an instance: one region
    per class (increasing id), or, with ``pieces``, one per 4-connected piece of each class."""
    from scipy import ndimage

    inst_map, cls_map = ann.instance_map, ann.class_map
    for i, sl in enumerate(ndimage.find_objects(inst_map), start=1):
        if sl is None:
            continue
        m = inst_map[sl] == i
        yield Region(int(cls_map[sl][m][0]), i, sl[0].start, sl[1].start, m)
    loose = np.where(inst_map == 0, cls_map, np.uint16(0))
    for c, sl in enumerate(ndimage.find_objects(loose), start=1):
        if sl is None:
            continue
        m = loose[sl] == c
        if not pieces:
            yield Region(c, 0, sl[0].start, sl[1].start, m)
            continue
        lab, _ = ndimage.label(m)
        for k, psl in enumerate(ndimage.find_objects(lab), start=1):
            if psl is not None:
                yield Region(c, 0, sl[0].start + psl[0].start, sl[1].start + psl[1].start,
                             lab[psl] == k)


def _signed_area(ring: np.ndarray) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def _simplify(ring: np.ndarray, tolerance: float) -> np.ndarray:
    """A closed traced ring (first point repeated last) simplified by Douglas-Peucker
    (``cv2.approxPolyDP``, closed), as an open ring of at least 3 points."""
    import cv2

    pts = np.ascontiguousarray(ring[:-1], dtype=np.float32).reshape(-1, 1, 2)
    out = cv2.approxPolyDP(pts, float(tolerance), True)   # 0: only straight runs' points go
    if len(out) < 3:                      # fewer than 3 points: keep the corners
        out = cv2.approxPolyDP(pts, 0.0, True)
    return out.reshape(-1, 2).astype(np.float64)


def _crack(contour: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """A contour traced on the doubled mask as the pixels' own outline: each vertex rounded to
    the pixel corner it belongs to (the doubled grid's quarter-pixel corner cuts fall onto the
    corner), repeats dropped; closed (first point again last), x, y."""
    xy = np.rint((contour[:, ::-1] + 0.5) / 2.0)
    keep = np.ones(len(xy), bool)
    keep[1:] = np.any(xy[1:] != xy[:-1], axis=1)
    xy = xy[keep]
    if len(xy) > 1 and np.array_equal(xy[0], xy[-1]):
        xy = xy[:-1]
    return np.vstack([xy, xy[:1]]) + origin


def _splice(poly: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """``ring`` joined into ``poly`` by a zero-width bridge between their closest vertices:
    along ``poly`` to the bridge, round ``ring`` back to where it was entered, back across the
    bridge, and on along ``poly``."""
    from scipy.spatial import cKDTree

    dist, j = cKDTree(ring).query(poly)
    i = int(np.argmin(dist))
    j = int(j[i])
    return np.concatenate([poly[:i + 1], ring[j:], ring[:j + 1], poly[i:]])


def mask_polygons(mask: np.ndarray, tolerance: float = DEFAULT_TOLERANCE, y0: int = 0,
                  x0: int = 0) -> list[np.ndarray]:
    """The outline of each 4-connected part of ``mask`` (boolean; its top-left pixel at row
    ``y0``, column ``x0`` of the image), its holes joined in by bridges: (n, 2) float arrays of
    x, y in pixel-edge coordinates, the ring open (the last point is not the first again),
    parts in raster order of their first pixel."""
    from scipy import ndimage
    from skimage.measure import find_contours

    lab, _ = ndimage.label(mask)
    out = []
    for k, sl in enumerate(ndimage.find_objects(lab), start=1):
        if sl is None:
            continue
        part = np.pad(lab[sl] == k, 1).astype(np.uint8)
        twice = part.repeat(2, axis=0).repeat(2, axis=1)
        # (row, col) on the doubled, padded box -> x, y edge coordinates of the image
        origin = np.array([x0 + sl[1].start - 1, y0 + sl[0].start - 1])
        rings = [_simplify(_crack(r, origin), tolerance) for r in find_contours(twice, 0.5)]
        areas = [abs(_signed_area(r)) for r in rings]
        outer = int(np.argmax(areas))
        poly = rings[outer]
        for n, hole in enumerate(rings):
            if n != outer:
                poly = _splice(poly, hole)
        out.append(poly)
    return out


def join_parts(parts: list[np.ndarray]) -> np.ndarray:
    """One outline for several parts (YOLO-seg's one line per instance): each further part
    joined to the outline so far by a zero-width bridge between their closest vertices."""
    poly = parts[0]
    for p in parts[1:]:
        poly = _splice(poly, p)
    return poly
