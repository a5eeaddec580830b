"""Regions of an image as the exchange formats carry them, checked and decoded on demand.

A :class:`Shape` is one region given as COCO RLE runs or as polygons (COCO, labelme, YOLO-seg),
its numbers checked before any decoder sees them (:func:`check_polygons`, and the RLE checks of
:func:`spam_gui.core.formats.coco.check_segmentation`), decoded into its own bounding box only
(:meth:`Shape.box_mask`), so that a 100 MP image with many small regions never holds an
image-sized mask per region. :func:`paint_shapes` paints regions into class and instance maps,
one at a time.

Polygon coordinates are pixel-edge coordinates (COCO's): pixel (row r, column c) covers
``[c, c + 1] x [r, r + 1]``, the image spans ``[0, W] x [0, H]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from spam_gui.core.annotation import MAX_ID, Annotation, AnnotationError

__all__ = ["Shape", "check_polygons", "counts_from_string", "paint_shapes", "polygon_box"]


def coco_mask_api() -> Any:
    from pycocotools import mask as mask_utils

    return mask_utils


def counts_from_string(text: str | bytes, where: str = "RLE") -> list[int]:
    """The run lengths of pycocotools' compressed RLE string (its ``rleFrString``, in Python).

    Decoding is done here, not by pycocotools' C code, which trusts the runs to add up to the
    image's size; :class:`AnnotationError` naming ``where`` for a string cut short.
    """
    s = text.encode("ascii") if isinstance(text, str) else bytes(text)
    counts: list[int] = []
    p, n = 0, len(s)
    while p < n:
        x, k, more = 0, 0, True
        while more:
            if p >= n:
                raise AnnotationError(f"{where}: RLE string cut short")
            c = s[p] - 48
            if not 0 <= c < 64:
                raise AnnotationError(f"{where}: RLE string holds a character outside its "
                                      "alphabet")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if k > 13:       # 65 bits: no run of any image is that long (and no slow bignum)
                raise AnnotationError(f"{where}: RLE string holds a run longer than any image")
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


_POLY_MARGIN = 1.0
"""How far (pixels) a polygon vertex may lie outside the image (exporters round outwards);
vertices in the margin are moved onto the image's edge."""


@dataclass
class Shape:
    """One annotation's ``segmentation``, checked (:func:`check_segmentation`) and decoded
    only on demand, into its own bounding box: a 100 MP image with many small instances never
    holds an image-sized mask per instance.

    RLE keeps its runs (non-negative, covering exactly the image); polygons keep their vertices
    (finite, on the image), rasterised by pycocotools inside their box.
    """

    height: int
    width: int
    counts: np.ndarray | None = None            # RLE: the runs (int64), zeros first
    polygons: list[np.ndarray] | None = None    # polygons: (n, 2) x, y of each
    _area: int | None = field(default=None, repr=False)

    @property
    def area(self) -> int:
        """The mask's pixel count."""
        if self._area is None:
            if self.counts is not None:
                self._area = int(self.counts[1::2].sum())
            else:
                box = self.box_mask()
                self._area = 0 if box is None else int(box[2].sum())
        return self._area

    def box_mask(self) -> tuple[int, int, np.ndarray] | None:
        """``(y0, x0, mask)``: the mask over its bounding box (``mask`` boolean, its top-left
        pixel at row ``y0``, column ``x0``), or None when it is empty."""
        if self.counts is not None:
            return _rle_box(self.counts, self.height)
        return polygon_box(self.polygons or [], self.height, self.width)

    def full_mask(self) -> np.ndarray:
        """The (H, W) boolean mask (for small images and tests; the import paints box-wise)."""
        out = np.zeros((self.height, self.width), bool)
        box = self.box_mask()
        if box is not None:
            y0, x0, m = box
            out[y0:y0 + m.shape[0], x0:x0 + m.shape[1]] = m
        return out


def _rle_box(counts: np.ndarray, h: int) -> tuple[int, int, np.ndarray] | None:
    """Decode checked runs over the columns their ones touch only (COCO runs go down the
    columns), then crop to the rows they touch."""
    ends = np.cumsum(counts)
    starts = ends - counts
    on_s, on_e = starts[1::2], ends[1::2]
    nz = on_e > on_s
    if not nz.any():
        return None
    x0 = int(on_s[nz][0]) // h
    x1 = (int(on_e[nz][-1]) - 1) // h + 1
    lo, hi = x0 * h, x1 * h
    lengths = np.clip(ends, lo, hi) - np.clip(starts, lo, hi)
    flat = np.repeat((np.arange(counts.size) % 2).astype(bool), lengths)
    band = flat.reshape(x1 - x0, h).T
    rows = np.flatnonzero(band.any(axis=1))
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    return y0, x0, np.ascontiguousarray(band[y0:y1])


def polygon_box(polygons: list[np.ndarray], h: int, w: int
                ) -> tuple[int, int, np.ndarray] | None:
    """Rasterise checked polygons (:func:`check_polygons`; x, y in pixel-edge coordinates)
    inside their bounding box: pycocotools' rasteriser (a pixel is in when its centre is;
    several polygons give their union, a polygon's own crossings follow the even-odd rule, so
    a hole joined to its outline by a zero-width bridge stays a hole). ``(y0, x0, mask)`` or
    None when nothing is covered."""
    if not polygons:
        return None
    pts = np.concatenate(polygons)
    x0 = max(int(np.floor(pts[:, 0].min())) - 1, 0)
    y0 = max(int(np.floor(pts[:, 1].min())) - 1, 0)
    x1 = min(int(np.ceil(pts[:, 0].max())) + 2, w)
    y1 = min(int(np.ceil(pts[:, 1].max())) + 2, h)
    if x1 <= x0 or y1 <= y0:
        return None
    mu = coco_mask_api()
    moved = [(p - (x0, y0)).ravel().tolist() for p in polygons]
    rle = mu.merge(mu.frPyObjects(moved, y1 - y0, x1 - x0))
    box = _rle_box(np.asarray(counts_from_string(rle["counts"]), np.int64), y1 - y0)
    if box is None:
        return None
    return y0 + box[0], x0 + box[1], box[2]


def check_polygons(segm: list[Any], height: int, width: int, where: str) -> list[np.ndarray]:
    """Flat polygons ``[[x1, y1, x2, y2, ...], ...]`` (COCO's and, scaled, YOLO's form) as
    (n, 2) float arrays, once every number is known to be finite and on the image: at least 3
    points each, every coordinate compared as a Python number (NaN, infinities, 1e300 and
    10**400 all fail) against ``[-1, W + 1]`` / ``[-1, H + 1]``; a vertex in that one-pixel
    margin is moved onto the image's edge. :class:`AnnotationError` naming ``where``."""
    out = []
    for p in segm:
        if not (isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p)):
            raise AnnotationError(f"{where}: a polygon must be a list of at least 3 x, y pairs")
        xs, ys = p[0::2], p[1::2]
        # compared as Python numbers: NaN, infinities and 1e300 (or 10**400) all fail here
        for v, top in zip(p, (width, height) * (len(p) // 2)):
            if not -_POLY_MARGIN <= v <= top + _POLY_MARGIN:
                raise AnnotationError(f"{where}: polygon coordinate {v!r} is not a finite "
                                      f"number within the image ({width}x{height})")
        arr = np.array([xs, ys], dtype=np.float64).T
        arr[:, 0] = np.clip(arr[:, 0], 0, width)
        arr[:, 1] = np.clip(arr[:, 1], 0, height)
        out.append(arr)
    if not out:
        raise AnnotationError(f"{where}: a polygon must be a list of at least 3 x, y pairs")
    return out




def paint_shapes(shape: tuple[int, int], regions: Sequence[tuple[int, object, Shape]],
                 where: str) -> Annotation:
    """Class and instance maps from regions ``(class id, instance, shape)``, ``instance``
    None for class pixels without an instance (COCO's crowd regions), else the instance's id
    as the file gives it (anything: see below); painted
    one at a time, each decoded into its box: the regions without an instance first (in
    order), then the instances from the largest to the smallest (a smaller object lying over
    a larger one stays visible).

    Instance ids are kept when every instance region has a distinct one in 1..65535; else the
    instances are numbered 1.. in the given order. :class:`AnnotationError` naming ``where``
    when there are more than 65,535 instances.
    """
    ann = Annotation.empty(shape)
    cls_map, inst_map = ann.class_map, ann.instance_map
    things = [k for k, r in enumerate(regions) if r[1] is not None]
    ids = [regions[k][1] for k in things]
    keep = (all(isinstance(i, int) and not isinstance(i, bool) and 1 <= i <= MAX_ID
                for i in ids) and len(set(ids)) == len(ids))
    inst_ids: list[int] = ids if keep else list(range(1, len(things) + 1))  # type: ignore[assignment]
    if len(inst_ids) > MAX_ID:
        raise AnnotationError(f"{where}: {len(inst_ids)} instances; at most {MAX_ID}")

    def paint(k: int, inst: int) -> None:
        box = regions[k][2].box_mask()
        if box is None:
            return
        y0, x0, m = box
        sl = (slice(y0, y0 + m.shape[0]), slice(x0, x0 + m.shape[1]))
        cls_map[sl][m] = regions[k][0]
        inst_map[sl][m] = inst

    for k, r in enumerate(regions):
        if r[1] is None:
            paint(k, 0)
    order = sorted(range(len(things)), key=lambda j: -regions[things[j]][2].area)
    for j in order:
        paint(things[j], inst_ids[j])
    ann.invalidate()
    return ann
