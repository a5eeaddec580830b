"""Edits of an object map (the prior), and re-segmenting only the objects an edit changed.

An object map is an (H, W) integer array: 0 = uncertain, every other value one object. The
edits here are what an annotator does to the objects of one image — merge some objects, cut one
with a stroke, draw a new one, erase to uncertain — each a pure function that returns a new map
and an :class:`ObjectEdit` saying which objects changed and where new objects came from (so
their density ratios can be carried over, :func:`carry_ratios`).

:func:`resegment_objects` then turns the segmentation of the old map into one of the new map
by re-clustering only the superpixels the edit made invalid (those that now straddle two
objects): after a merge nothing is re-clustered, after a split only the superpixels the cut
crosses; every other superpixel keeps its pixels. Superpixels never cross an object of the new
map (:func:`superpixels_within_objects` checks it).

No Qt here.

>>> edit = merge_objects(objects, [2, 3])                           # doctest: +SKIP
>>> result = resegment_objects(spam, result, edit.objects, ratios)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Sequence

import cv2
import numpy as np
from scipy import ndimage

from spam_gui.core.engine.cluster_groups import CANDIDATE_RADIUS, build_groups
from spam_gui.core.engine.clustering import PixelFeatures, cluster
from spam_gui.core.engine.compiled import kernels
from spam_gui.core.engine.fullres.objects import id_counts
from spam_gui.core.engine.fullres.rescale import rescale_working
from spam_gui.core.engine.connectivity import renumber
from spam_gui.core.errors import SpamError
from spam_gui.core.engine.features import pixel_positions, position_scale
from spam_gui.core.engine.seeds import kmeans_seeds, object_rng

from spam_gui.core.engine.spam import ObjectInfo, smooth_and_connect_region

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.core.engine.spam import SegmentationResult, Spam

__all__ = [
    "ObjectEdit",
    "ObjectEditError",
    "band_reach",
    "carry_ratios",
    "changed_objects",
    "erase_objects",
    "merge_objects",
    "paint_object",
    "resegment_objects",
    "sliver_area",
    "split_object",
    "stroke_mask",
    "superpixels_within_objects",
]

MAX_OBJECT_ID = 65535   # the object PNG is 16-bit


class ObjectEditError(SpamError):
    """An object edit that cannot be made (nothing to merge, a stroke that cuts nothing...)."""


@dataclass(frozen=True)
class ObjectEdit:
    """The outcome of one edit of an object map.

    Attributes
    ----------
    objects:
        The new (H, W) int32 object map (0 = uncertain).
    changed:
        Ids (in the new map) of the objects whose pixels changed, new objects included.
    removed:
        Ids of the old map that are gone from the new one.
    inherit:
        ``{new id: old id}`` for new objects that continue an old one (the parts of a split
        object): they take its density ratio (:func:`carry_ratios`).
    description:
        What was done, in words (the undo step's text).
    """

    objects: np.ndarray
    changed: frozenset[int] = frozenset()
    removed: frozenset[int] = frozenset()
    inherit: Mapping[int, int] = field(default_factory=dict)
    description: str = ""


def _as_map(objects: np.ndarray, copy: bool = True) -> np.ndarray:
    arr = np.asarray(objects)
    if arr.ndim != 2:
        raise ObjectEditError(f"an object map is (H, W), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ObjectEditError(f"an object map holds integer ids, got {arr.dtype}")
    if arr.size and int(arr.min()) < 0:
        raise ObjectEditError("an object map holds no negative ids (0 = uncertain)")
    return arr.astype(np.int32, copy=copy)


def _as_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    m = np.asarray(mask, dtype=bool)
    if m.shape != shape:
        raise ObjectEditError(f"the mask has shape {m.shape}, the object map {shape}")
    return m


def value_range(labels: np.ndarray, values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The smallest and largest positive value over each label's pixels (flat arrays);
    ``lo`` = int64 max and ``hi`` = -1 for a label with none. The compiled one-pass kernel
    (:func:`spam_gui.core.engine.cluster_kernels.value_range`), or NumPy without numba."""
    lab = np.ascontiguousarray(labels.ravel())
    val = np.ascontiguousarray(values.ravel())
    k = kernels()
    if k is not None:
        return k.value_range(lab, val, int(n))
    lo = np.full(n, np.iinfo(np.int64).max, np.int64)
    hi = np.full(n, -1, np.int64)
    m = val > 0
    np.minimum.at(lo, lab[m], val[m].astype(np.int64))
    np.maximum.at(hi, lab[m], val[m].astype(np.int64))
    return lo, hi


def _ids(arr: np.ndarray) -> set[int]:
    return {int(i) for i in np.flatnonzero(id_counts(arr)) if i > 0}


def _next_ids(used: set[int], n: int) -> list[int]:
    """``n`` fresh object ids above every used one (ids stay below 65536 when possible)."""
    start = max(used, default=0) + 1
    if start + n - 1 > MAX_OBJECT_ID:   # fill the holes first
        free = [i for i in range(1, MAX_OBJECT_ID + 1) if i not in used][:n]
        if len(free) < n:
            raise ObjectEditError(f"more than {MAX_OBJECT_ID} objects: a 16-bit object map "
                                  "cannot hold them")
        return free
    return list(range(start, start + n))


def changed_objects(old: np.ndarray, new: np.ndarray) -> tuple[set[int], set[int]]:
    """(ids of ``new`` whose pixels differ from the same id in ``old``, ids of ``old`` gone).

    Parameters
    ----------
    old, new:
        Two (H, W) object maps of the same image.

    Returns
    -------
    changed, removed
    """
    old, new = np.asarray(old), np.asarray(new)
    if old.shape != new.shape:
        raise ObjectEditError(f"object maps of shapes {old.shape} and {new.shape}")
    diff = old != new
    changed = {int(i) for i in np.unique(new[diff]) if i > 0}
    changed |= {int(i) for i in np.unique(old[diff]) if i > 0} & _ids(new)
    return changed, _ids(old) - _ids(new)


def _edit(old: np.ndarray, new: np.ndarray, inherit: Mapping[int, int], text: str) -> ObjectEdit:
    changed, removed = changed_objects(old, new)
    return ObjectEdit(objects=new, changed=frozenset(changed), removed=frozenset(removed),
                      inherit=dict(inherit), description=text)


# --------------------------------------------------------------------------- the edits


def merge_objects(objects: np.ndarray, ids: Iterable[int]) -> ObjectEdit:
    """Merge objects into one, which keeps the id of the largest of them.

    Parameters
    ----------
    objects:
        (H, W) object map, 0 = uncertain.
    ids:
        At least two ids present in the map.

    Returns
    -------
    ObjectEdit
        The merged object is in ``changed``, the others in ``removed``.

    Raises
    ------
    ObjectEditError
        Fewer than two of the ids are objects of the map.
    """
    arr = _as_map(objects, copy=False)    # read only: the new map is made by the lookup
    counts = id_counts(arr)
    want = sorted(i for i in {int(i) for i in ids} if 0 < i < counts.shape[0] and counts[i])
    if len(want) < 2:
        raise ObjectEditError("select at least two objects to merge")
    keep = max(want, key=lambda i: (int(counts[i]), -i))
    lut = np.arange(counts.shape[0], dtype=np.int32)
    lut[want] = keep
    new = lut[arr]                      # one pass over the map, no per-id scan
    filled = _fill_band_between(arr, new, want, keep)
    text = f"merge objects {', '.join(map(str, want))} into {keep}"
    # a merge changes exactly the kept object and removes the others: no scan of the maps
    return ObjectEdit(objects=new, changed=frozenset({keep}),
                      removed=frozenset(set(want) - {keep}), inherit={},
                      description=text + (f" (the {filled} px uncertain band between them "
                                          "filled)" if filled else ""))


def band_reach(shape: tuple[int, ...]) -> int:
    """How far (pixels) an uncertain band between two objects may reach: the built-in prior's
    band (``2 * band_width + 1`` pixels on its working grid) at this image's scale."""
    from spam_gui.core.params import PRIOR_DEFAULTS

    from spam_gui.core.engine.fullres.working import WORK_MIN_PIXELS

    scale = max(1.0, math.sqrt(int(shape[0]) * int(shape[1]) / WORK_MIN_PIXELS))
    return int(math.ceil(scale * (2 * PRIOR_DEFAULTS.band_width + 1)))


def _fill_band_between(old: np.ndarray, new: np.ndarray, ids: Sequence[int], keep: int) -> int:
    """Give ``keep`` the uncertain pixels (0) lying between two of the merged objects: within
    :func:`band_reach` of at least two of them. The merged object is then one region where its
    pieces touched across the band. Works on the pieces' bounding box; returns the pixels
    filled."""
    d = band_reach(old.shape)
    f = max(1, d // 4)
    if f > 1:
        return _fill_band_coarse(old, new, ids, keep, d, f)
    mask = new == keep          # the merged pieces (``new`` is not filled yet)
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if not rows.size:
        return 0
    y0, y1 = max(int(rows[0]) - d, 0), min(int(rows[-1]) + d + 1, old.shape[0])
    x0, x1 = max(int(cols[0]) - d, 0), min(int(cols[-1]) + d + 1, old.shape[1])
    box = old[y0:y1, x0:x1]
    uncertain = box == 0
    if not uncertain.any():
        return 0
    near = np.zeros(box.shape, np.uint8)
    for i in ids:
        piece = box == i
        if piece.any():   # distance to the piece (cv2: distance to the nearest zero pixel)
            dist = cv2.distanceTransform((~piece).view(np.uint8), cv2.DIST_L2, 3)
            near += (dist <= d).view(np.uint8)
    fill = uncertain & (near >= 2)
    new[y0:y1, x0:x1][fill] = keep
    return int(fill.sum())


def _fill_band_coarse(old: np.ndarray, new: np.ndarray, ids: Sequence[int], keep: int,
                      d: int, f: int) -> int:
    """:func:`_fill_band_between` on a large photo: which places lie within ``d`` of two
    pieces is decided on the map sampled every ``f`` pixels (the band is ``d >= 4 f`` wide),
    and only the full-resolution pixels of those places are read and filled, so a merge on a
    12-megapixel map never scans it whole."""
    small = old[f // 2::f, f // 2::f]
    reach = d / f + 1.0
    near = np.zeros(small.shape, np.uint8)
    for i in ids:
        piece = small == i
        if piece.any():
            dist = cv2.distanceTransform((~piece).view(np.uint8), cv2.DIST_L2, 3)
            near += (dist <= reach).view(np.uint8)
    cand = near >= 2
    rows, cols = np.flatnonzero(cand.any(1)), np.flatnonzero(cand.any(0))
    if not rows.size:
        return 0
    cy0, cy1, cx0, cx1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    y0, y1 = cy0 * f, min(cy1 * f, old.shape[0])      # cell j covers rows j f .. (j + 1) f
    x0, x1 = cx0 * f, min(cx1 * f, old.shape[1])
    up = np.repeat(np.repeat(cand[cy0:cy1, cx0:cx1], f, 0), f, 1)[:y1 - y0, :x1 - x0]
    fill = (old[y0:y1, x0:x1] == 0) & up
    new[y0:y1, x0:x1][fill] = keep
    return int(fill.sum())


def split_object(objects: np.ndarray, cut: np.ndarray, object_id: int | None = None,
                 connectivity: int = 1, min_area: int | None = None) -> ObjectEdit:
    """Cut objects along a stroke: each crossed object becomes its connected parts.

    The stroke's pixels are taken out of the crossed objects; each object that then falls apart
    is split into its connected parts (4-connected with ``connectivity`` 1, 8 with 2), and the
    stroke's pixels go back to the nearest part. The largest part keeps the object's id, the
    others get new ids (and inherit its density ratio). An object the stroke does not cut
    across stays as it is.

    Parameters
    ----------
    objects:
        (H, W) object map, 0 = uncertain.
    cut:
        (H, W) bool, the stroke's pixels (:func:`stroke_mask`).
    object_id:
        Only cut this object (None: every object the stroke crosses).
    connectivity:
        1 (4-connected parts) or 2 (8-connected).
    min_area:
        A cut-off part smaller than this (pixels) is no object of its own: it joins the part
        it is nearest to (said in the edit's description). Default :func:`sliver_area`.

    Only the pieces the stroke touches are cut: pieces of the object that were apart before
    (objects merged across a gap) stay one object, so a split never undoes a merge.

    Raises
    ------
    ObjectEditError
        The stroke cuts no object in two (or only slivers off it).
    """
    arr = _as_map(objects, copy=False)    # read only: ``new`` is the copy edited
    m = _as_mask(cut, arr.shape)
    crossed = sorted(_ids(arr[m]))
    if object_id is not None:
        crossed = [i for i in crossed if i == int(object_id)]
    new = arr.copy()
    used = _ids(arr)
    inherit: dict[int, int] = {}
    structure = ndimage.generate_binary_structure(2, connectivity)
    small = sliver_area(arr.shape) if min_area is None else int(min_area)
    slivers = 0
    for oid in crossed:
        # everything below happens in the object's bounding box
        mine_full = arr == oid
        rows, cols = np.flatnonzero(mine_full.any(1)), np.flatnonzero(mine_full.any(0))
        y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        mine = mine_full[y0:y1, x0:x1]
        del mine_full
        mb = m[y0:y1, x0:x1]
        # the pieces of the object the stroke touches; the others stay as they are
        pieces, n_pieces = ndimage.label(mine, structure=structure)
        if n_pieces == 1:
            cut_here = mine
        else:
            touched = np.zeros(n_pieces + 1, bool)
            touched[np.unique(pieces[mb & mine])] = True
            touched[0] = False
            cut_here = touched[pieces]
        rest = cut_here & ~mb
        parts, n = ndimage.label(rest, structure=structure)
        if n < 2:
            continue
        sizes = np.bincount(parts.ravel(), minlength=n + 1)
        sizes[0] = 0
        tiny = (sizes < small) & (np.arange(n + 1) > 0)
        if n - int(tiny[1:].sum()) < 2:     # only slivers come off: no cut
            slivers += int(tiny[1:].sum()) if n - int(tiny[1:].sum()) == 1 else 0
            continue
        if tiny.any():   # slivers join the part they are nearest to
            slivers += int(tiny.sum())
            parts[tiny[parts]] = 0
        order = np.argsort(-sizes[1:], kind="stable") + 1    # part labels, largest first
        order = order[~tiny[order]]
        fresh = _next_ids(used, order.size - 1)
        used.update(fresh)
        part_id = np.zeros(n + 1, np.int64)
        part_id[order[0]] = oid
        part_id[order[1:]] = fresh
        # the stroke's pixels (and the slivers) of the cut pieces go to the nearest part
        nearest = _nearest_part(parts, cut_here & (parts == 0))
        sub = new[y0:y1, x0:x1]
        sub[cut_here] = part_id[nearest[cut_here]]
        inherit.update({f: oid for f in fresh})
    if not inherit:
        raise ObjectEditError(
            "the stroke does not cut an object in two: draw it across the object, from one "
            "side to the other" + (f" (it only cut off pieces under {small} px)" if slivers
                                  else ""))
    text = ("split object" + ("s " if len(set(inherit.values())) > 1 else " ")
            + ", ".join(map(str, sorted(set(inherit.values())))))
    if slivers:
        text += f" ({slivers} piece(s) under {small} px joined their neighbour)"
    # a split changes the objects it cut and makes their new parts, and removes none: no
    # scan of the maps
    return ObjectEdit(objects=new, changed=frozenset(set(inherit) | set(inherit.values())),
                      removed=frozenset(), inherit=dict(inherit), description=text)


NEAREST_TILE = 512
"""Side of the tiles in which :func:`_nearest_part` looks for each pixel's nearest part."""
NEAREST_MARGIN = 96
"""How far around a tile it looks; a pixel whose nearest part may lie beyond is done again
over the whole map."""


def _nearest_part(parts: np.ndarray, need: np.ndarray) -> np.ndarray:
    """``parts`` with every ``need`` pixel (0 in ``parts``) given the label of the nearest
    part pixel (Euclidean, as a distance transform of the whole map gives). Computed tile by
    tile around the pixels that need it, with a margin: a pixel's answer is kept when its
    nearest part is closer than the margin's edge (then nothing beyond can be nearer), so a
    long stroke across a 12-megapixel object costs its own length, not the object's area."""
    out = parts.copy()
    if not need.any():
        return out
    h, w = parts.shape
    t, mg = NEAREST_TILE, NEAREST_MARGIN
    missed = np.zeros_like(need)
    for ty in range(0, h, t):
        for tx in range(0, w, t):
            tile = need[ty:ty + t, tx:tx + t]
            if not tile.any():
                continue
            sy0, sx0 = max(ty - mg, 0), max(tx - mg, 0)
            sy1, sx1 = min(ty + t + mg, h), min(tx + t + mg, w)
            sub = parts[sy0:sy1, sx0:sx1]
            if not (sub > 0).any():
                missed[ty:ty + t, tx:tx + t] = tile
                continue
            dist, (iy, ix) = ndimage.distance_transform_edt(sub == 0, return_indices=True)
            ry, rx = ty - sy0, tx - sx0
            th, tw = tile.shape
            near = sub[iy[ry:ry + th, rx:rx + tw], ix[ry:ry + th, rx:rx + tw]]
            d = dist[ry:ry + th, rx:rx + tw]
            # room around each pixel inside the window (an image border counts as endless)
            yy = np.arange(th)[:, None] + ry
            xx = np.arange(tw)[None, :] + rx
            room = np.full((th, tw), np.inf)
            if sy0 > 0:
                room = np.minimum(room, yy)
            if sy1 < h:
                room = np.minimum(room, sub.shape[0] - 1 - yy)
            if sx0 > 0:
                room = np.minimum(room, xx)
            if sx1 < w:
                room = np.minimum(room, sub.shape[1] - 1 - xx)
            sure = tile & (d <= room)
            dst = out[ty:ty + t, tx:tx + t]
            dst[sure] = near[sure]
            missed[ty:ty + t, tx:tx + t] |= tile & ~sure
    if missed.any():   # a part may lie beyond the margin: the whole map, once
        _, (iy, ix) = ndimage.distance_transform_edt(parts == 0, return_indices=True)
        out[missed] = parts[iy, ix][missed]
    return out


def sliver_area(shape: tuple[int, ...]) -> int:
    """The smallest object a cut may leave: two superpixels at the default K (pixels)."""
    from spam_gui.core.params import DEFAULTS

    return max(1, int(2 * int(shape[0]) * int(shape[1]) / DEFAULTS.n_segments))


def paint_object(objects: np.ndarray, mask: np.ndarray, object_id: int | None = None
                 ) -> ObjectEdit:
    """Draw an object: the mask's pixels leave the objects they were in and form one object.

    Parameters
    ----------
    objects:
        (H, W) object map, 0 = uncertain.
    mask:
        (H, W) bool, the new object's pixels.
    object_id:
        Add the pixels to this existing object instead of a new one (None: a new object).

    Raises
    ------
    ObjectEditError
        An empty mask, or ``object_id`` not in the map.
    """
    arr = _as_map(objects)
    m = _as_mask(mask, arr.shape)
    if not m.any():
        raise ObjectEditError("the drawn shape covers no pixel")
    used = _ids(arr)
    if object_id is None:
        oid = _next_ids(used, 1)[0]
        text = f"draw object {oid}"
    else:
        oid = int(object_id)
        if oid not in used:
            raise ObjectEditError(f"object {oid} is not in this image")
        text = f"add pixels to object {oid}"
    new = arr.copy()
    new[m] = oid
    return _edit(arr, new, {}, text)


def erase_objects(objects: np.ndarray, mask: np.ndarray) -> ObjectEdit:
    """Make the mask's pixels uncertain (0): they belong to no object.

    Raises
    ------
    ObjectEditError
        The mask covers no pixel of any object.
    """
    arr = _as_map(objects)
    m = _as_mask(mask, arr.shape)
    if not (arr[m] > 0).any():
        raise ObjectEditError("nothing to erase there: those pixels are already uncertain")
    new = arr.copy()
    new[m] = 0
    return _edit(arr, new, {}, "erase to uncertain")


def stroke_mask(shape: tuple[int, int], points: Sequence[tuple[float, float]], radius: float = 0,
                closed: bool = False) -> np.ndarray:
    """The pixels of a stroke: a polyline of half-width ``radius``, or a filled lasso.

    Parameters
    ----------
    shape:
        (H, W) of the image.
    points:
        (x, y) image positions along the stroke.
    radius:
        Half-width of the line in pixels (0: one pixel wide, 8-connected).
    closed:
        True: the polygon through the points, filled (a lasso), plus its outline.

    Returns
    -------
    (H, W) bool.
    """
    h, w = int(shape[0]), int(shape[1])
    out = np.zeros((h, w), np.uint8)
    if not len(points):
        return out.astype(bool)
    pts = np.round(np.asarray(points, np.float64)).astype(np.int32).reshape(-1, 1, 2)
    if closed and len(points) >= 3:
        cv2.fillPoly(out, [pts], 1)
    cv2.polylines(out, [pts], bool(closed), 1, thickness=1, lineType=cv2.LINE_8)
    xy = pts.reshape(-1, 2)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
    out[xy[inside, 1], xy[inside, 0]] = 1   # a single point is a dot
    r = max(0, int(round(float(radius))))
    if r:   # the line swept by a disk of that radius
        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        out = cv2.dilate(out, disk)
    return out.astype(bool)


@dataclass(frozen=True)
class Stroke:
    """A stroke drawn on an image of ``shape`` (H, W): its pixels at that size or at any other,
    e.g. a working grid's for an edit's preview (:meth:`mask`).

    Attributes
    ----------
    shape:
        (H, W) of the image the points are on.
    points:
        (x, y) image positions along the stroke.
    radius:
        Half-width of the line in that image's pixels (0: one pixel wide).
    closed:
        A filled lasso (True) or a line.
    """

    shape: tuple[int, int]
    points: tuple[tuple[float, float], ...]
    radius: float = 0
    closed: bool = False

    def mask(self, shape: tuple[int, ...] | None = None) -> np.ndarray:
        """(h, w) bool: the stroke's pixels on an image of ``shape`` (its own by default), the
        points and the radius scaled to it (pixel centres onto pixel centres)."""
        if shape is None or tuple(shape[:2]) == tuple(self.shape):
            return stroke_mask(self.shape, self.points, self.radius, self.closed)
        sy, sx = shape[0] / self.shape[0], shape[1] / self.shape[1]
        pts = [((x + 0.5) * sx - 0.5, (y + 0.5) * sy - 0.5) for x, y in self.points]
        return stroke_mask((int(shape[0]), int(shape[1])), pts, self.radius * min(sx, sy),
                           self.closed)


def carry_ratios(ratios: Mapping[int, float], edit: ObjectEdit) -> dict[int, float]:
    """Density ratios after an edit: kept objects keep theirs, gone ones are dropped, parts of a
    split object take the object's ratio, new objects start at 1 (not listed)."""
    present = _ids(edit.objects)
    out = {int(k): float(v) for k, v in ratios.items() if int(k) in present}
    for new_id, old_id in edit.inherit.items():
        if int(old_id) in ratios and int(new_id) in present:
            out[int(new_id)] = float(ratios[int(old_id)])
    return {k: v for k, v in out.items() if not math.isclose(v, 1.0)}


def superpixels_within_objects(labels: np.ndarray, objects: np.ndarray) -> bool:
    """Whether every superpixel's certain pixels (object > 0) all lie in one object."""
    lab = np.asarray(labels).ravel()
    obj = np.asarray(objects).ravel()
    sel = obj > 0
    if not sel.any():
        return True
    pairs = np.unique(np.stack([lab[sel], obj[sel]], axis=1), axis=0)
    return bool(np.unique(pairs[:, 0]).size == pairs.shape[0])


# --------------------------------------------------------------------------- re-segmentation


def resegment_objects(engine: "Spam", result: "SegmentationResult", objects: np.ndarray,
                      ratios: Mapping[int, float] | None = None,
                      check: Callable[[], None] | None = None) -> "SegmentationResult":
    """The segmentation of the same image with another object map, re-clustering only the
    superpixels the change made invalid.

    A superpixel stays as it is when its certain pixels (object > 0) all lie in one object of
    the new map (it then belongs to that object: after a merge every superpixel stays, after a
    split only those the cut crosses are redone); a superpixel that now straddles two objects,
    or that covers only uncertain pixels of an object that is gone, is dropped. The dropped
    superpixels' pixels are clustered again, each object's part of them with seeds at the
    object's own density (its mean superpixel size before the edit; SPAM's uniform density for
    a new object), by the engine's clustering, smoothing and connectivity steps. Labels stay
    1..N (renumbered in raster order). Objects whose ratio in ``ratios`` differs from the one
    they had are then rescaled (:meth:`Spam.rescale`), and so is an object that took in others
    (a merge), at its ratio: its parts would otherwise keep their old, different densities.

    Parameters
    ----------
    engine:
        The :class:`~spam_gui.core.engine.spam.Spam` engine that made ``result`` (its feature cache
        is reused).
    result:
        A segmentation of the image (:meth:`Spam.segment`, :meth:`Spam.rescale` or this).
    objects:
        The new (H, W) object map, 0 = uncertain.
    ratios:
        ``{object id: ratio}`` of the new map's objects (missing: 1). New objects take theirs
        when they are clustered.
    check:
        Called during a large photo's full-resolution labelling; it may raise to cancel (a
        newer edit).

    Returns
    -------
    SegmentationResult
        With ``objects`` as its objects; ``timings["resegment"]`` is the time this took.

    References
    ----------
    docs/algorithm.md §3–§4 (seeds, clustering and connectivity per object).
    """
    t0 = time.perf_counter()
    new = _as_map(objects)
    old = np.asarray(result.objects)
    if new.shape != old.shape:
        raise ObjectEditError(f"the object map is {new.shape[1]}x{new.shape[0]}, the "
                              f"segmentation {old.shape[1]}x{old.shape[0]}")
    if result._image is None:
        raise ObjectEditError("this result carries no image; segment the image again")
    ratios = {int(k): float(v) for k, v in (ratios or {}).items()}
    p = result.params
    new_ids = _ids(new)
    if not new_ids or not result.objects_info:   # nothing to keep: segment anew
        return _full(engine, result, new, ratios, t0)
    h, w = new.shape
    labels = np.asarray(result.labels)
    sp_obj = np.asarray(result.superpixel_object).astype(np.int64)
    n_old = sp_obj.shape[0] - 1
    lab, nf = labels.ravel(), new.ravel()

    # which superpixels are still valid, and whose they are now
    cert = nf > 0
    lo, hi = value_range(lab, nf, n_old + 1)
    has_cert = hi >= 0
    owner = np.where(has_cert, lo, sp_obj)
    valid = np.where(has_cert, lo == hi, np.isin(sp_obj, list(new_ids)))
    valid[0] = True
    region = ~valid[labels]
    work = getattr(result, "_work", None)
    if work is not None:
        # the working cells take the new objects
        g = work.grid
        wobj = new[g.centre_rows()][:, g.centre_cols()].astype(np.int32)
        result = replace(result, _work=replace(
            work, work_objects=wobj, small_ids=frozenset(o for o in work.small_ids
                                                         if o in new_ids)))

    k_req = int(p["n_segments_used"])
    areas_all = np.bincount(nf[cert], minlength=max(new_ids) + 1)
    area_of = {int(i): int(areas_all[i]) for i in np.flatnonzero(areas_all)}
    total = float(sum(area_of.values()))
    uniform_size = h * w / float(k_req)
    old_info = result.objects_info
    counted = id_counts(old) if region.any() else np.zeros(1, np.int64)
    old_area = {o: int(counted[o]) if o < counted.shape[0] else 0 for o in old_info}

    def mean_size(oid: int) -> float:
        oi = old_info.get(oid)
        if oi is not None and oi.k > 0:
            return old_area.get(oid, oi.area) / float(oi.k)
        return uniform_size / max(ratios.get(oid, 1.0), 1e-6)

    if region.any() and work is not None:
        # a large photo: each object with cut superpixels is re-clustered whole on the
        # working grid and labelled at full resolution in its own box; the others keep theirs
        labels_new, owner = _recluster_working(engine, result, new, labels, owner, region,
                                               area_of, mean_size, uniform_size, check)
    elif region.any():
        labels_new, owner = _recluster(engine, result, new, labels, owner, region, area_of,
                                       mean_size, ratios, uniform_size, k_req)
    else:
        labels_new = labels.astype(np.int64)
    final, old_ids = renumber(labels_new)
    sp_new = np.zeros(old_ids.shape[0], np.int32)
    sp_new[1:] = owner[old_ids[1:]]
    counts = np.bincount(sp_new[1:], minlength=max(new_ids) + 1)

    # per-object information: objects whose pixels or superpixels changed get new figures
    touched = {o for o in new_ids if o not in old_info or area_of.get(o, 0) != old_info[o].area}
    touched |= {int(o) for o in np.unique(sp_new[1:]) if o > 0}
    touched = {o for o in touched if o in new_ids and (
        o not in old_info or counts[o] != old_info[o].k or area_of[o] != old_info[o].area)}
    capped = next(iter(old_info.values())).attention_capped
    info: dict[int, ObjectInfo] = {}
    quota_d, base_d, dens_d = {}, {}, {}
    for oid in sorted(new_ids):
        oi = old_info.get(oid)
        if oi is not None and oid not in touched:
            info[oid] = oi
            quota_d[oid] = result._quota.get(oid, 0.0)
            base_d[oid] = result._base_k.get(oid, oi.k)
            dens_d[oid] = result._density.get(oid, 1.0)
            continue
        va = float(result._density.get(oid, 1.0))
        r = float(oi.ratio) if oi is not None else ratios.get(oid, 1.0)
        quota = k_req * area_of[oid] / total * va
        info[oid] = ObjectInfo(oid, area_of[oid], r, int(max(counts[oid], 1)),
                               None if oi is None else oi.salient, capped)
        quota_d[oid], base_d[oid], dens_d[oid] = float(quota), max(1, int(round(quota))), va
    res = replace(result, labels=final.astype(np.int32), objects=new, superpixel_object=sp_new,
                  objects_info=info, _quota=quota_d, _base_k=base_d, _density=dens_d,
                  timings=dict(result.timings))
    merged = _merged_objects(old, new, new_ids & set(old_info))
    for oid, oi in info.items():       # ratios that differ from what an object had
        want = ratios.get(oid, 1.0)
        if oid in merged:
            # an object that took in others keeps their superpixels at their old sizes:
            # re-cluster it whole at its own ratio (one density, K_o from its ratio)
            if math.isclose(want, oi.ratio):     # rescale keeps k at the same ratio
                k_t = base_d[oid] if math.isclose(want, 1.0) else max(
                    1, int(round(want * quota_d[oid])))
                cur = res.objects_info[oid]
                res = replace(res, objects_info={**res.objects_info, oid: replace(
                    cur, k=int(min(k_t, cur.area)))})
            res = engine.rescale(res, oid, want, check=check)
        elif oid in old_info and not math.isclose(want, oi.ratio):
            res = engine.rescale(res, oid, want, check=check)
    return replace(res, timings={**result.timings, "resegment": time.perf_counter() - t0})


def _merged_objects(old: np.ndarray, new: np.ndarray, ids: set[int]) -> set[int]:
    """The objects of ``ids`` whose pixels in the new map come from more than one object of
    the old map (a merge took others into them)."""
    if not ids:
        return set()
    of, nf = old.ravel(), new.ravel()
    top = max(ids) + 1
    # the old objects under each new one (pixels of other new objects, or of none, count 0)
    keep = np.zeros(int(nf.max(initial=0)) + 1, bool)
    keep[list(ids)] = True
    lo, hi = value_range(np.where(keep[nf], nf, 0), of, top)
    return {o for o in ids if hi[o] >= 0 and lo[o] != hi[o]}


def _recluster(engine: "Spam", result: "SegmentationResult", new: np.ndarray,
               labels: np.ndarray, owner: np.ndarray, region: np.ndarray,
               area_of: Mapping[int, int], mean_size: Callable[[int], float],
               ratios: Mapping[int, float], uniform_size: float, k_req: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """Cluster the pixels of ``region`` again (see :func:`resegment_objects`): returns the
    (H, W) labels (old values outside the region, new ones above them inside) and the owner
    of every label value."""
    p = result.params
    h, w = new.shape
    n_old = owner.shape[0] - 1
    flat = new.ravel()
    pix = np.flatnonzero(region.ravel())
    in_region = flat[pix]
    ids_r = sorted(int(i) for i in np.unique(in_region) if i > 0)
    pos_all = pixel_positions(h, w)
    s = position_scale(h, w, k_req, p["lambda_s"])
    base_radius = CANDIDATE_RADIUS * math.sqrt(h * w / k_req)
    seeds, seed_obj, seed_rad, seed_scale = [], [], [], []

    def add(oid: int, coords: np.ndarray, k: int) -> None:
        size = mean_size(oid)
        density = max(uniform_size / size, 1e-6)
        sp = kmeans_seeds(coords, int(min(max(k, 1), coords.shape[0])),
                          object_rng(p["seed"], oid))
        seeds.append(sp)
        seed_obj.append(np.full(sp.shape[0], oid, np.int64))
        seed_rad.append(np.full(sp.shape[0], base_radius / math.sqrt(density)))
        seed_scale.append(np.full(sp.shape[0], s * math.sqrt(density)))

    for oid in ids_r:
        coords = pos_all[pix[in_region == oid]]
        add(oid, coords, int(round(coords.shape[0] / mean_size(oid))))
    if not ids_r:   # only uncertain pixels: the neighbouring object with most contact takes them
        grown = ndimage.binary_dilation(region, iterations=2) & ~region
        near, cnt = np.unique(new[grown & (new > 0)], return_counts=True)
        if near.size == 0:
            near, cnt = np.array(sorted(area_of)), np.ones(len(area_of))
        oid = int(near[np.argmax(cnt)])
        coords = pos_all[pix]
        add(oid, coords, int(round(coords.shape[0] / mean_size(oid))))
    seed_pos = np.concatenate(seeds)
    seed_o = np.concatenate(seed_obj)
    groups = build_groups(pos_all[pix], in_region.astype(np.int64), seed_pos, seed_o,
                          np.concatenate(seed_rad), np.concatenate(seed_scale))
    feats = engine.features(result._image)
    colour = (feats.lab, float(p["lambda_c"]))
    parts = [colour] if feats.deep is None else [(feats.deep, 1.0), colour]
    sc = cluster(PixelFeatures(parts, feats.positions, pix), groups, p["n_iter"], engine.device)
    tmp = labels.astype(np.int64).copy()
    tmp.ravel()[pix] = n_old + 1 + np.asarray(sc.labels)
    label_object = np.concatenate([owner, seed_o])
    new_label_ids = np.arange(n_old + 1, n_old + 1 + seed_o.shape[0])
    box, groups_box, piece_label = smooth_and_connect_region(
        tmp, new, label_object, new_label_ids, region, int(p.get("smoothing", 0)),
        {o: mean_size(o) for o in area_of})
    offset = int(label_object.shape[0]) + 1
    reg_box = region[box]
    sub = tmp[box]
    sub[reg_box] = offset + groups_box[reg_box]
    tmp[box] = sub
    n_groups = int(groups_box.max()) + 1
    owner_all = np.zeros(offset + n_groups, np.int64)
    owner_all[: label_object.shape[0]] = label_object
    owner_all[offset:] = label_object[piece_label[:n_groups]]
    return tmp, owner_all


def _recluster_working(engine: "Spam", result: "SegmentationResult", new: np.ndarray,
                       labels: np.ndarray, owner: np.ndarray, region: np.ndarray,
                       area_of: Mapping[int, int], mean_size: Callable[[int], float],
                       uniform_size: float, check: Callable[[], None] | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_recluster` on a large photo (a working-path result): every object of the new
    map that has pixels in ``region`` (the superpixels the edit cut) is re-clustered whole at
    its density by the working path's rescale
    (:func:`spam_gui.core.engine.fullres.rescale.rescale_working`), so only the edited
    objects' superpixels change and no full-resolution pass covers the whole photo. Returns
    the labels (1..N) and the object of each label."""
    p = result.params
    work = result._work
    assert work is not None
    feats = engine.features(work.work_rgb)
    app_w = feats.appearance(p["lambda_c"])
    deep_dim = 0 if feats.deep is None else int(feats.deep.shape[1])
    in_region = id_counts(np.where(region, new, 0))
    ids = [int(i) for i in np.flatnonzero(in_region) if i > 0 and area_of.get(int(i), 0) > 0]
    lab = labels.astype(np.int32, copy=True)
    sp = owner.astype(np.int32, copy=True)
    for oid in ids:
        size = mean_size(oid)
        k = int(min(max(1, round(area_of[oid] / size)), area_of[oid]))
        density = max(uniform_size / size, 1e-6)
        lab, sp = rescale_working(
            result._image, lab, new, sp, work, app_w, deep_dim, oid, k, density,
            area_of[oid] / k, p["n_segments_used"], p["lambda_s"], p["lambda_c"],
            p["n_iter"], p["seed"], int(p.get("smoothing", 0)), engine.device, check=check)
    return lab.astype(np.int64), sp.astype(np.int64)


def _with_ratios(engine: "Spam", result: "SegmentationResult", objects: np.ndarray,
                 ratios: Mapping[int, float], t0: float) -> "SegmentationResult":
    """Same objects: apply the ratios that differ by :meth:`Spam.rescale`."""
    res = replace(result, objects=objects)
    for oid, oi in result.objects_info.items():
        r = float(ratios.get(oid, 1.0))
        if not math.isclose(r, oi.ratio):
            res = engine.rescale(res, oid, r)
    return replace(res, timings={**res.timings, "resegment": time.perf_counter() - t0})


def _full(engine: "Spam", result: "SegmentationResult", objects: np.ndarray,
          ratios: Mapping[int, float], t0: float) -> "SegmentationResult":
    """No object to keep (an all-uncertain map, or a result without objects): segment anew."""
    p = result.params
    res = engine.segment(result._image, n_segments=p["n_segments"], prior=objects,
                         ratios=dict(ratios) or None, lambda_s=p["lambda_s"],
                         lambda_c=p["lambda_c"], n_iter=p["n_iter"], seed=p["seed"],
                         ratio_mode=p["ratio_mode"], smoothing=p.get("smoothing", 0))
    return replace(res, timings={**res.timings, "resegment": time.perf_counter() - t0})
