"""Overlay pixels as numpy arrays (no Qt): colours, boundaries, mean colours, heatmap, patches.

Every function returns BGRA uint8 arrays (premultiplied, ready to be copied into an ARGB32
image); :mod:`spam_gui.app.overlays` wraps them in QImages for the canvas. After a rescale only
the changed object's bounding box is recomputed (:func:`make_patch`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

Region = tuple[int, int, int, int]  # y0, y1, x0, x1 (half-open)


@dataclass(frozen=True)
class OverlayStyle:
    """How the boundaries are drawn (the other layers have no style beyond their opacity)."""

    boundary_color: tuple[int, int, int] = (255, 230, 0)
    boundary_width: int = 1


# ----------------------------------------------------------------------------- colours


# Kelly's colours of maximum contrast, without the yellows (the default boundary colour) and grey.
PALETTE = [
    (0x87, 0x56, 0x92), (0xF3, 0x84, 0x00), (0xA1, 0xCA, 0xF1), (0xBE, 0x00, 0x32),
    (0x00, 0x88, 0x56), (0xE6, 0x8F, 0xAC), (0x00, 0x67, 0xA5), (0xF9, 0x93, 0x79),
    (0x60, 0x4E, 0x97), (0xB3, 0x44, 0x6C), (0x88, 0x2D, 0x17), (0x8D, 0xB6, 0x00),
    (0xE2, 0x58, 0x22),
]


def object_color(object_id: int) -> tuple[int, int, int]:
    """A stable RGB colour for an object id, without looking at its neighbours (0 is grey)."""
    if object_id <= 0:
        return (128, 128, 128)
    return PALETTE[(object_id * 7) % len(PALETTE)]


def _ids_and_areas(objects: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ids of a map (sorted) and their pixel counts: one counting pass when the ids are
    small non-negative integers (object maps), a sort otherwise. (Not numba's: loading the
    compiled kernels would cost a reopened photo, which runs none, a fraction of a second.)"""
    flat = objects.ravel()
    if flat.size and np.issubdtype(flat.dtype, np.integer):
        lo, hi = int(flat.min()), int(flat.max())
        if lo >= 0 and hi < 1 << 20:
            counts = np.bincount(flat, minlength=hi + 1)
            ids = np.flatnonzero(counts)
            return ids.astype(flat.dtype), counts[ids]
    return np.unique(flat, return_counts=True)


ADJACENCY_SAMPLE_PIXELS = 1_000_000
"""Object colours find touching objects on the map sampled down to about this many pixels
(every pixel of a BSDS-sized map; every third row and column of a 12-megapixel one)."""


def object_colors(objects: np.ndarray) -> dict[int, tuple[int, int, int]]:
    """Colours for the objects of a map such that touching objects differ (greedy colouring of
    the adjacency graph, largest objects first; objects across a thin uncertain gap count as
    touching)."""
    ids, areas = _ids_and_areas(objects)
    keep = ids > 0
    ids, areas = ids[keep], areas[keep]
    if ids.size == 0:
        return {}
    pairs = set()
    top = int(ids[-1]) + 1
    step = max(1, int(math.sqrt(objects.size / ADJACENCY_SAMPLE_PIXELS)))
    sample = np.ascontiguousarray(objects[::step, ::step]) if step > 1 else objects
    for gap in (1, 3):
        for a, b in ((sample[:, :-gap], sample[:, gap:]), (sample[:-gap, :], sample[gap:, :])):
            m = (a != b) & (a > 0) & (b > 0)
            if m.any():   # each touching pair once, as one int64 code (a 1-D unique is fast)
                codes = np.unique(a[m].astype(np.int64) * top + b[m])
                pairs.update(zip((codes // top).tolist(), (codes % top).tolist()))
    neigh: dict[int, set[int]] = {int(i): set() for i in ids}
    for a, b in pairs:
        neigh[int(a)].add(int(b))
        neigh[int(b)].add(int(a))
    used = np.zeros(len(PALETTE), np.int64)
    chosen: dict[int, int] = {}
    for i in np.argsort(-areas, kind="stable"):
        oid = int(ids[i])
        taken = {chosen[n] for n in neigh[oid] if n in chosen}
        free = [c for c in range(len(PALETTE)) if c not in taken] or list(range(len(PALETTE)))
        # the least used free colour; ties broken by the id, so the result is stable
        c = min(free, key=lambda c: (used[c], (c - oid * 7) % len(PALETTE)))
        chosen[oid] = c
        used[c] += 1
    return {oid: PALETTE[c] for oid, c in chosen.items()}


def _object_lut(objects: np.ndarray, colors: dict[int, tuple[int, int, int]] | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """(index map, BGRA LUT) so that ``lut[index]`` colours every pixel of ``objects``."""
    ids = _ids_and_areas(objects)[0]
    lut = np.zeros((len(ids), 4), np.uint8)
    for i, oid in enumerate(ids):
        if oid > 0:
            r, g, b = (colors or {}).get(int(oid)) or object_color(int(oid))
            lut[i] = (b, g, r, 255)
    if len(ids) and ids[0] >= 0 and ids[-1] < 1 << 20:
        dense = np.zeros(int(ids[-1]) + 1, np.int32)
        dense[ids] = np.arange(len(ids), dtype=np.int32)
        index = dense[objects]
    else:
        index = np.searchsorted(ids, objects)
    return index, lut


# Five stops of a perceptual "inferno"-like map (RGB), interpolated to 256 entries.
_HEAT_STOPS = np.array(
    [[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], np.float64
)
_HEAT_LUT = np.stack(
    [np.interp(np.linspace(0, 4, 256), np.arange(5), _HEAT_STOPS[:, c]) for c in range(3)], axis=1
).astype(np.uint8)


# ----------------------------------------------------------------------------- rasters


def thin_boundaries(labels: np.ndarray) -> np.ndarray:
    """Boolean map of pixels whose label differs from their right or lower neighbour."""
    b = np.zeros(labels.shape, bool)
    b[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    b[:-1, :] |= labels[:-1, :] != labels[1:, :]
    return b


def boundary_mask(labels: np.ndarray, width: int = 1) -> np.ndarray:
    """Boundary pixels, dilated to ``width`` pixels."""
    b = thin_boundaries(labels)
    if width > 1:
        k = np.ones((int(width), int(width)), np.uint8)
        b = cv2.dilate(b.view(np.uint8), k).astype(bool)
    return b


def boundaries_bgra(mask: np.ndarray, color: tuple[int, int, int],
                    out: np.ndarray | None = None) -> np.ndarray:
    """The boundary ``mask`` in ``color`` (opaque) on transparent BGRA; written into ``out``
    ((H, W, 4) uint8, e.g. a QImage's pixels) when given."""
    if out is None:
        out = np.zeros(mask.shape + (4,), np.uint8)
    else:
        out[...] = 0
    r, g, b = color
    out[mask] = (b, g, r, 255)
    return out


def objects_bgra(objects: np.ndarray, colors: dict[int, tuple[int, int, int]] | None = None,
                 out: np.ndarray | None = None) -> np.ndarray:
    """Every object in its colour (opaque BGRA; uncertain pixels transparent), written into
    ``out`` ((H, W, 4) uint8) when given: one lookup of 4-byte pixels."""
    if colors and max(colors) <= LOOKUP_MAX_ID:
        # a table of every id up to the colours' largest (those they miss in their own
        # colour): no counting pass over the map; an id past the table is found by the lookup
        # (IndexError), and the map is counted then
        try:
            return _objects_lookup(objects, np.arange(max(colors) + 1), colors, out)
        except IndexError:
            pass
    ids = _ids_and_areas(objects)[0]
    if not (len(ids) and ids[0] >= 0 and ids[-1] < 1 << 20):
        index, lut = _object_lut(objects, colors)
        if out is None:
            return lut[index]
        out[...] = lut[index]
        return out
    return _objects_lookup(objects, ids, colors, out)


LOOKUP_MAX_ID = 4096
"""Up to this id, :func:`objects_bgra` makes a colour table of every id instead of counting."""


def _objects_lookup(objects: np.ndarray, ids: np.ndarray,
                    colors: dict[int, tuple[int, int, int]] | None, out: np.ndarray | None
                    ) -> np.ndarray:
    """:func:`objects_bgra` by one lookup in a table of ``ids`` (IndexError: an id past it)."""
    lut = np.zeros((int(ids[-1]) + 1, 4), np.uint8)
    for oid in ids.tolist():
        if oid > 0:
            r, g, b = (colors or {}).get(int(oid)) or object_color(int(oid))
            lut[oid] = (b, g, r, 255)
    lut32 = lut.view(np.uint32).reshape(-1)
    if out is None:
        out = np.empty(objects.shape + (4,), np.uint8)
    np.take(lut32, objects, out=out.view(np.uint32)[..., 0])
    return out


def mean_color_lut(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N + 1, 3) uint8 mean RGB of each label (index 0 unused when labels start at 1)."""
    return _label_means(labels.ravel(), np.asarray(image).reshape(-1, 3), int(labels.max()) + 1)


def _label_means(flat: np.ndarray, rgb: np.ndarray, n: int) -> np.ndarray:
    """(n, 3) uint8 mean of the (P, 3) colours ``rgb`` of each label in ``flat`` (P,)."""
    counts = np.maximum(np.bincount(flat, minlength=n), 1).astype(np.float64)
    lut = np.empty((n, 3), np.uint8)
    for c in range(3):
        sums = np.bincount(flat, weights=rgb[:, c], minlength=n)
        lut[:, c] = np.clip(np.rint(sums / counts), 0, 255).astype(np.uint8)
    return lut


def meanfill_bgra(lut: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each pixel in its label's colour ((N + 1, 3) RGB ``lut``), opaque BGRA: one gather of
    4-byte pixels from a BGRA table."""
    bgra = np.empty((lut.shape[0], 4), np.uint8)
    bgra[:, :3] = lut[:, ::-1]
    bgra[:, 3] = 255
    return bgra.view(np.uint32).reshape(-1)[labels].view(np.uint8).reshape(labels.shape + (4,))


def heatmap_bgra(saliency: np.ndarray) -> np.ndarray:
    """Saliency in [0, 1] → premultiplied BGRA, more opaque where more salient."""
    s = np.clip(np.nan_to_num(np.asarray(saliency, np.float32)), 0.0, 1.0)
    idx = np.rint(s * 255).astype(np.uint8)
    rgb = _HEAT_LUT[idx].astype(np.float32)
    alpha = 90.0 + 150.0 * s
    out = np.empty(s.shape + (4,), np.uint8)
    for dst, src in ((0, 2), (1, 1), (2, 0)):
        out[..., dst] = np.rint(rgb[..., src] * alpha / 255.0).astype(np.uint8)
    out[..., 3] = np.rint(alpha).astype(np.uint8)
    return out


@dataclass
class Patch:
    """New pixels for the region of one object after a rescale.

    ``meanfill_mask`` (region-sized, or None for all of it) says which mean-colour pixels are
    new: those of the changed objects' superpixels. Every other superpixel kept its pixels, so
    its colour on screen is already right, and its mean never needs its whole extent.
    """

    region: Region
    boundaries: np.ndarray
    meanfill: np.ndarray | None      # None: made for layers without the mean-colour layer
    style: OverlayStyle
    meanfill_mask: np.ndarray | None = None


def _box(mask: np.ndarray, offset: tuple[int, int] = (0, 0)) -> Region | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    oy, ox = offset
    return oy + int(rows[0]), oy + int(rows[-1]) + 1, ox + int(cols[0]), ox + int(cols[-1]) + 1


def _union(a: Region | None, b: Region | None) -> Region | None:
    if a is None or b is None:
        return a if b is None else b
    return min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])


def changed_region(old: Any, new: Any, object_ids: set[int] | list[int]) -> Region | None:
    """Bounding box of every pixel that belongs to a superpixel of ``object_ids`` before or after.

    Parameters
    ----------
    old, new:
        Two results of the same image (``labels``, ``objects``, ``superpixel_object``).
    object_ids:
        The objects whose superpixels changed.

    Returns
    -------
    ``(y0, y1, x0, x1)``, half-open, or None when nothing belongs to those objects.

    Notes
    -----
    Without a full-image gather: a superpixel lies in one object and the uncertain pixels (0)
    it took (the engine's containment guarantee), so the box is the objects' own pixels (the
    same map before and after) plus the uncertain pixels whose superpixel belongs to them. Only
    when the two object maps differ is every pixel's owner looked up.
    """
    ids = np.asarray(sorted(int(i) for i in object_ids), np.int64)
    if ids.size == 0:
        return None
    objects = np.asarray(old.objects)
    if objects is not np.asarray(new.objects) and not np.array_equal(objects, new.objects):
        return _owner_region(old, new, ids)
    box = _box(np.isin(objects, ids) if ids.size > 1 else objects == ids[0])
    unc = np.flatnonzero(objects.ravel() == 0)
    if unc.size:
        w = objects.shape[1]
        hit = np.zeros(unc.size, bool)
        for r in (old, new):
            hit |= np.isin(np.asarray(r.superpixel_object)[np.asarray(r.labels).ravel()[unc]], ids)
        if hit.any():
            ys, xs = np.divmod(unc[hit], w)
            box = _union(box, (int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1))
    return box


def _owner_region(old: Any, new: Any, ids: np.ndarray) -> Region | None:
    """:func:`changed_region` by looking up the owner of every pixel (the general case)."""
    m = np.isin(np.asarray(old.superpixel_object)[old.labels], ids)
    m |= np.isin(np.asarray(new.superpixel_object)[new.labels], ids)
    return _box(m)


def make_patch(image: np.ndarray, result: Any, region: Region, style: OverlayStyle,
               object_ids: set[int] | list[int] | None = None, meanfill: bool = True) -> Patch:
    """Overlay pixels of ``region`` for ``result`` (boundaries and mean colours).

    Parameters
    ----------
    image:
        The (H, W, 3) RGB image.
    result:
        The new result (``labels``, ``superpixel_object``).
    region:
        ``(y0, y1, x0, x1)`` from :func:`changed_region`; grown by the boundary width so that
        lines at its edge are redrawn whole.
    style:
        How the boundaries are drawn.
    object_ids:
        The objects that changed. Given, only their superpixels' mean colours are computed,
        from the region alone (they lie inside it), and the patch's ``meanfill_mask`` marks
        them: the cost is the changed superpixels', not the image's. None: every superpixel
        seen in the region, each over its whole extent (a full-image pass).
    meanfill:
        False: no mean colours (for layers that do not hold the mean-colour layer).

    Returns
    -------
    The :class:`Patch` to paste with :meth:`~spam_gui.app.overlays.LayerSet.apply`.
    """
    labels = np.asarray(result.labels)
    h, w = labels.shape
    pad = int(style.boundary_width) + 1
    y0, y1, x0, x1 = region
    y0, y1, x0, x1 = max(0, y0 - pad), min(h, y1 + pad), max(0, x0 - pad), min(w, x1 + pad)
    # Compute on a window one margin larger so that the crop's edges are right.
    wy0, wy1, wx0, wx1 = max(0, y0 - pad), min(h, y1 + pad), max(0, x0 - pad), min(w, x1 + pad)
    window = labels[wy0:wy1, wx0:wx1]
    bmask = boundary_mask(window, style.boundary_width)[y0 - wy0:y1 - wy0, x0 - wx0:x1 - wx0]
    sub = labels[y0:y1, x0:x1]
    boundaries = boundaries_bgra(bmask, style.boundary_color)
    if object_ids is not None:
        sp_obj = np.asarray(result.superpixel_object)
        changed = np.zeros(sp_obj.shape[0], bool)
        changed[np.isin(sp_obj, np.asarray(sorted(int(i) for i in object_ids), np.int64))] = True
        if not meanfill:
            return Patch(region=(y0, y1, x0, x1), boundaries=boundaries, meanfill=None,
                         style=style)
        mask = changed[sub]          # the pixels of the changed objects' superpixels
        sel = mask.ravel()
        lut = _label_means(sub.ravel()[sel], image[y0:y1, x0:x1].reshape(-1, 3)[sel],
                           sp_obj.shape[0])
        return Patch(region=(y0, y1, x0, x1), boundaries=boundaries,
                     meanfill=meanfill_bgra(lut, np.where(mask, sub, 0)), style=style,
                     meanfill_mask=mask)
    ids = np.unique(sub)
    # Mean colours of the superpixels seen in the region, each over its whole extent.
    n = int(labels.max()) + 1
    lut = np.zeros((n, 3), np.uint8)
    wanted = np.zeros(n, bool)
    wanted[ids] = True
    sel = wanted[labels]
    flat = labels[sel]
    counts = np.maximum(np.bincount(flat, minlength=n), 1).astype(np.float64)
    for c in range(3):
        sums = np.bincount(flat, weights=image[..., c][sel], minlength=n)
        lut[:, c] = np.clip(np.rint(sums / counts), 0, 255).astype(np.uint8)
    return Patch(region=(y0, y1, x0, x1), boundaries=boundaries,
                 meanfill=meanfill_bgra(lut, sub), style=style)


# ----------------------------------------------------------------------------- previews


PREVIEW_SCREEN_FACTOR = 3
"""A preview raster has this many times fewer pixels per side than the photo, at most (about a
screen pixel per preview pixel when a 12-megapixel photo fits the window)."""


@dataclass(frozen=True)
class PreviewRaster:
    """An edit's preview, ready for the canvas (:meth:`spam_gui.app.canvas.Canvas.set_preview`).

    Attributes
    ----------
    box:
        (y0, y1, x0, x1) full-resolution pixels the rasters cover.
    boundaries:
        (h', w', 4) BGRA new superpixel boundaries over the changed cells (transparent elsewhere).
    objects:
        (h', w', 4) BGRA object colours over the changed cells, or None (objects unchanged).
    rects:
        (n, 4) int (x, y, width, height) full-resolution rectangles covering the changed
        cells: the old layers are hidden there while the preview shows.
    """

    box: Region
    boundaries: np.ndarray
    objects: np.ndarray | None
    rects: np.ndarray


def preview_raster(preview: Any, style: OverlayStyle,
                   colors: dict[int, tuple[int, int, int]] | None = None) -> PreviewRaster | None:
    """The rasters of an edit's working-grid preview
    (:class:`spam_gui.core.engine.fullres.preview.EditPreview`): the cells' labels repeated
    ``u`` times per side (``u`` = the working cell's size / :data:`PREVIEW_SCREEN_FACTOR`), so
    the boundaries are as thin on screen as the full-resolution ones, without labelling a
    single full-resolution pixel. None when the preview changes nothing."""
    from spam_gui.core.engine.fullres.preview import cell_edge

    cb = preview.cell_box()
    if cb is None:
        return None
    g = preview.grid
    r0, r1, c0, c1 = cb
    cell = max(g.height / g.work_height, g.width / g.work_width)
    u = int(max(1, min(8, round(cell / PREVIEW_SCREEN_FACTOR))))
    cells = preview.cells[r0:r1, c0:c1]
    lab = np.where(cells, preview.labels[r0:r1, c0:c1], 0)
    up = np.repeat(np.repeat(lab, u, 0), u, 1)
    inside = np.repeat(np.repeat(cells, u, 0), u, 1)
    edge = thin_boundaries(up) & inside & (up > 0)
    if style.boundary_width > 1:
        k = np.ones((int(style.boundary_width),) * 2, np.uint8)
        edge = cv2.dilate(edge.view(np.uint8), k).astype(bool) & inside
    bounds = boundaries_bgra(edge, style.boundary_color)
    objs = None
    if preview.objects is not None:
        o = np.where(cells, preview.objects[r0:r1, c0:c1], 0)
        index, lut = _object_lut(o, colors)
        objs_small = lut[index]      # uncertain cells (0) stay transparent
        objs = np.repeat(np.repeat(objs_small, u, 0), u, 1)
    # the changed cells as row runs (x, y, width, height) at full resolution; equal runs of
    # consecutive rows are joined into one rectangle
    runs: list[tuple[int, int, int, int]] = []
    open_: dict[tuple[int, int], list[int]] = {}
    ys = [cell_edge(r, g.height, g.work_height) for r in range(r0, r1 + 1)]
    xs = [cell_edge(c, g.width, g.work_width) for c in range(c0, c1 + 1)]
    for i in range(cells.shape[0]):
        row = np.concatenate(([False], cells[i], [False])).view(np.int8)
        d = np.flatnonzero(np.diff(row))
        now = {(int(a), int(b)) for a, b in zip(d[::2], d[1::2])}
        for key in list(open_):
            if key not in now:
                a, b = key
                start = open_.pop(key)[0]
                runs.append((xs[a], ys[start], xs[b] - xs[a], ys[i] - ys[start]))
        for key in now:
            open_.setdefault(key, [i])
    for (a, b), (start,) in open_.items():
        runs.append((xs[a], ys[start], xs[b] - xs[a], ys[cells.shape[0]] - ys[start]))
    box = (ys[0], ys[-1], xs[0], xs[-1])
    return PreviewRaster(box, bounds, objs, np.asarray(runs, np.int64).reshape(-1, 4))
