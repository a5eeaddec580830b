"""Re-clustering one object of a full-size result (:meth:`spam_gui.core.engine.spam.Spam.rescale`).

:func:`relabel_values` (the label values of the new superpixels, labels kept 1..N, at any
size) and :func:`rescale_working` (the working-path re-clustering, labelled at full resolution
inside the region's bounding box). Part of :mod:`spam_gui.core.engine.fullres.working`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from spam_gui.core.engine.cluster_groups import CANDIDATE_RADIUS, build_groups
from spam_gui.core.engine.clustering import PixelFeatures, cluster
from spam_gui.core.engine.connectivity import enforce_connectivity
from spam_gui.core.engine.features import position_scale
from spam_gui.core.engine.fullres.grid import TILE_PIXELS
from spam_gui.core.engine.fullres.labelling import (
    Centroids, candidate_table, Labeller, NearestSeed,
)
from spam_gui.core.engine.fullres.points import (
    SMALL_POINTS_PER_SEED, WorkState, point_positions, Points, points_appearance,
)
from spam_gui.core.engine.seeds import kmeans_seeds, object_rng
from spam_gui.core.engine.smoothing import majority_filter


def relabel_values(old_sp_obj: np.ndarray, region_groups: np.ndarray, oid: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The label values of a re-clustered object's new superpixels, keeping every other
    superpixel's value, so that the labels stay exactly 1..N.

    New groups take the object's freed values in raster order of first appearance, then new
    values after N; when the object has fewer superpixels than before, the values above the
    new count move into the holes left (from the top). The one rule of
    :meth:`spam_gui.core.engine.spam.Spam.rescale` at any size.

    Parameters
    ----------
    old_sp_obj:
        (N + 1,) the object of each label value before (index 0 unused).
    region_groups:
        The new group of each pixel of the object's region, in raster order.
    oid:
        The object re-clustered.

    Returns
    -------
    values : ndarray
        (len(region_groups),) int64, the new label value of each region pixel.
    superpixel_object : ndarray
        (N' + 1,) int32, the object of each label value after.
    mapping : ndarray or None
        (N + M + 1,) int64 to apply to the whole label map once ``values`` are written (value
        -> final value), or None where no label moves.
    """
    n_old = old_sp_obj.shape[0] - 1
    freed = sorted(np.flatnonzero(old_sp_obj == oid).tolist())
    g = np.asarray(region_groups).ravel()
    top = int(g.max()) + 1 if g.size else 0
    if g.size and int(g.min()) >= 0 and top <= 4 * g.size + 1024:
        # group ids are small: the first pixel of each by one reversed assignment (the
        # smallest index is written last), no sort of the region's pixels
        first = np.full(top, g.size, np.int64)
        first[g[::-1]] = np.arange(g.size - 1, -1, -1, dtype=np.int64)
        present = np.flatnonzero(first < g.size)
        order = present[np.argsort(first[present], kind="stable")]   # raster order
        m = order.size
        assigned = freed[:m] + list(range(n_old + 1, n_old + 1 + max(0, m - len(freed))))
        value_of = np.zeros(top, dtype=np.int64)
        value_of[order] = assigned
        values = value_of[g]
    else:
        uniq, first, inverse = np.unique(g, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")   # new groups in raster order of appearance
        m = uniq.size
        assigned = freed[:m] + list(range(n_old + 1, n_old + 1 + max(0, m - len(freed))))
        value_of_group = np.empty(m, dtype=np.int64)
        value_of_group[order] = assigned
        values = value_of_group[inverse.ravel()]
    n_new = n_old + max(0, m - len(freed))
    sp_obj = np.zeros(n_new + 1, dtype=np.int32)
    sp_obj[: n_old + 1] = old_sp_obj
    sp_obj[assigned] = oid
    holes = freed[m:]
    if not holes:
        return values, sp_obj, None
    # move the labels above the new count into the holes, so that values stay 1..N
    hole_set = set(holes)
    n_final = n_new - len(holes)
    movers = [i for i in range(n_final + 1, n_new + 1) if i not in hole_set]
    targets = [i for i in holes if i <= n_final]
    mapping = np.arange(n_new + 1, dtype=np.int64)
    mapping[movers] = targets
    used = np.array([i for i in range(1, n_new + 1) if i not in hole_set], dtype=np.int64)
    new_sp = np.zeros(n_final + 1, dtype=np.int32)
    new_sp[mapping[used]] = sp_obj[used]
    return values, new_sp, (mapping if movers else None)


def _relabel_box(old_labels: np.ndarray, old_sp_obj: np.ndarray, groups: np.ndarray,
                 region: np.ndarray, box: tuple[slice, slice], oid: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Give the re-clustered object's new groups label values (:func:`relabel_values`), with
    ``groups`` and ``region`` given on the region's bounding ``box`` only; the label map is
    remapped in row tiles."""
    values, sp_obj, mapping = relabel_values(old_sp_obj, groups[region], oid)
    labels = old_labels.astype(np.int32, copy=True)
    sub = labels[box]
    sub[region] = values
    if mapping is not None:
        step = max(1, TILE_PIXELS // max(1, labels.shape[1]))
        for y0 in range(0, labels.shape[0], step):
            rows = labels[y0:y0 + step]
            rows[...] = mapping[rows]
    return labels, sp_obj


@dataclass(frozen=True)
class CellClustering:
    """One object's clustering on the working grid (:func:`cluster_cells`): what
    :func:`rescale_working` labels at full resolution, and what an edit's preview shows.

    Attributes
    ----------
    oid, k:
        The object and the number of seeds asked for.
    cells:
        (m,) flat working indices of the clustered cells, in raster order.
    seeds, seed_obj:
        (k', 2) seed positions (working coordinates) and (k',) their object.
    groups:
        The clustering's groups (:func:`spam_gui.core.engine.cluster_groups.build_groups`).
    clustering:
        The result of :func:`spam_gui.core.engine.clustering.cluster` (``labels``: the seed of
        each cell, in ``cells`` order).
    """

    oid: int
    k: int
    cells: np.ndarray
    seeds: np.ndarray
    seed_obj: np.ndarray
    groups: Any
    clustering: Any


def object_cells(state: WorkState, labels: np.ndarray, objects: np.ndarray,
                 superpixel_object: np.ndarray, oid: int) -> tuple[np.ndarray, np.ndarray]:
    """The working cells whose centre pixel lies in object ``oid``'s region (its pixels and the
    uncertain pixels of its superpixels), and which of them lie in the object itself.

    Reads only the cells' centre pixels (h x w of them), never the whole full-resolution map.

    Returns
    -------
    cells : ndarray
        (m,) int64 flat working indices, raster order.
    of_object : ndarray
        (m,) bool, the cell is one of the object's on the working grid (its seeds go there).
    """
    grid = state.grid
    cr, cc = grid.centre_rows(), grid.centre_cols()
    obj_c = objects[cr][:, cc]
    in_mine = np.zeros(superpixel_object.shape[0], bool)
    in_mine[np.flatnonzero(superpixel_object == oid)] = True
    lab_c = labels[cr][:, cc]
    region = (obj_c == oid) | ((obj_c == 0) & in_mine[lab_c])
    cells = np.flatnonzero(region.ravel()).astype(np.int64)
    return cells, state.work_objects.ravel()[cells] == oid


def cluster_cells(rgb: np.ndarray, state: WorkState, app_w: torch.Tensor, deep_dim: int,
                  cells: np.ndarray, seed_from: np.ndarray, oid: int, k: int, density: float,
                  n_segments_used: int, lambda_s: float, lambda_c: float, n_iter: int,
                  seed: int, device: torch.device) -> CellClustering:
    """Cluster one object's working ``cells`` with ``k`` seeds at its ``density``: the
    working-grid recipe of :func:`rescale_working` (seeds placed among the ``seed_from``
    cells by the object's own generator, so the same call gives the same superpixels)."""
    pos = np.stack(np.divmod(cells, state.grid.work_width), 1).astype(np.float32)
    pts = Points(cells, np.zeros(0, np.int64), np.zeros(0, np.int64), pos,
                 np.full(pos.shape[0], oid, np.int64))
    return cluster_points(rgb, state, app_w, deep_dim, pts, seed_from, oid, k, density,
                          n_segments_used, lambda_s, lambda_c, n_iter, seed, device)


def cluster_points(rgb: np.ndarray, state: WorkState, app_w: torch.Tensor, deep_dim: int,
                   pts: Points, seed_from: np.ndarray, oid: int, k: int, density: float,
                   n_segments_used: int, lambda_s: float, lambda_c: float, n_iter: int,
                   seed: int, device: torch.device) -> CellClustering:
    """:func:`cluster_cells` for any points of one object: working cells and, for an object
    too small for the grid, its full-resolution pixels (``pts``)."""
    grid = state.grid
    h, w = grid.shape
    seeds = kmeans_seeds(pts.pos[seed_from], k, object_rng(seed, oid))
    s = position_scale(h, w, n_segments_used, lambda_s)
    radius = CANDIDATE_RADIUS * math.sqrt(h * w / n_segments_used) / math.sqrt(density)
    seed_obj = np.full(seeds.shape[0], oid, np.int64)
    groups = build_groups(pts.pos, pts.obj, seeds, seed_obj, np.full(seeds.shape[0], radius),
                          np.full(seeds.shape[0], s * math.sqrt(density)))
    deep = app_w[:, :deep_dim] if deep_dim else None
    with torch.inference_mode():
        appearance = points_appearance(pts, rgb, app_w, deep, grid, lambda_c)
        hc = cluster(PixelFeatures([(appearance, 1.0)], pts.pos), groups, n_iter, device)
    return CellClustering(int(oid), int(k), pts.cells, seeds, seed_obj, groups, hc)


def rescale_working(
    rgb: np.ndarray, labels: np.ndarray, objects: np.ndarray, superpixel_object: np.ndarray,
    state: WorkState, app_w: torch.Tensor, deep_dim: int, oid: int, k_new: int,
    density: float, mean_size: float, n_segments_used: int, lambda_s: float,
    lambda_c: float, n_iter: int, seed: int, smoothing: int, device: torch.device,
    clustered: CellClustering | None = None,
    check: Callable[[], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Re-cluster one object of a working-path result; every other superpixel is kept.

    The object's region (its pixels and the uncertain pixels of its superpixels) is
    re-clustered on the working grid (or with its full-resolution pixels when it is too small
    for the grid), labelled at full resolution inside the region's bounding box only, then
    smoothed, made 4-connected and relabelled there as on the exact path
    (:meth:`spam_gui.core.engine.spam.Spam.rescale`).

    Parameters
    ----------
    rgb, labels, objects, superpixel_object:
        The result's full-resolution image, labels, prior and label objects.
    state:
        The result's :class:`WorkState`.
    app_w, deep_dim:
        Working-image appearance and its deep channel count (see :func:`cluster_working`).
    oid, k_new, density, mean_size:
        The object, its new budget, density ratio and mean superpixel size (area / K_o).
    n_segments_used, lambda_s, lambda_c, n_iter, seed, smoothing:
        The result's parameters.
    device:
        Torch device.
    clustered:
        This object's working clustering when it was already made (an edit's preview,
        :func:`cluster_cells` with the same cells and ``k_new``): only its full-resolution
        labelling is left to do.
    check:
        Called between the steps and in every row tile of the labelling; it may raise to
        cancel (a newer click).

    Returns
    -------
    labels, superpixel_object:
        The new (H, W) int32 labels 1..N and (N + 1,) object of each label.
    """
    grid = state.grid
    H, W = labels.shape
    n_old = superpixel_object.shape[0] - 1
    in_mine = np.zeros(n_old + 1, bool)
    in_mine[np.flatnonzero(superpixel_object == oid)] = True
    region_full = (objects == oid) | ((objects == 0) & in_mine[labels])
    rows_any, cols_any = region_full.any(1), region_full.any(0)
    y0, y1 = int(np.argmax(rows_any)), H - int(np.argmax(rows_any[::-1]))
    x0, x1 = int(np.argmax(cols_any)), W - int(np.argmax(cols_any[::-1]))
    del region_full
    # one pixel wider than the region, to see the neighbours (smoothing, connectivity)
    box = (slice(max(y0 - 1, 0), min(y1 + 1, H)), slice(max(x0 - 1, 0), min(x1 + 1, W)))
    by0, bx0 = box[0].start, box[1].start
    lab_b, obj_b = labels[box], objects[box]
    region = (obj_b == oid) | ((obj_b == 0) & in_mine[lab_b])
    n_region = int(region.sum())
    # working cells whose centre pixel lies in the region
    cr, cc = grid.centre_rows(), grid.centre_cols()
    wr = np.flatnonzero((cr >= box[0].start) & (cr < box[0].stop))
    wc = np.flatnonzero((cc >= box[1].start) & (cc < box[1].stop))
    cell_in = region[cr[wr] - by0][:, cc[wc] - bx0]
    cy, cx = np.nonzero(cell_in)
    cells = (wr[cy] * grid.work_width + wc[cx]).astype(np.int64)
    cell_of_oid = state.work_objects.ravel()[cells] == oid
    too_few_cells = oid in state.small_ids or int(cell_of_oid.sum()) < SMALL_POINTS_PER_SEED * k_new
    use_pixels = (too_few_cells and n_region <= grid.work_pixels) or not cell_of_oid.any()
    if use_pixels:
        ry, rx = np.nonzero(region)
        pixels = ((ry + by0) * W + rx + bx0).astype(np.int64)
        pix_obj = obj_b[ry, rx].astype(np.int64)
        cells = np.zeros(0, np.int64)
        pos = point_positions(grid, pixels)
        seed_from = pix_obj == oid
    else:
        pixels, pix_obj = np.zeros(0, np.int64), np.zeros(0, np.int64)
        pos = np.stack([wr[cy], wc[cx]], 1).astype(np.float32)
        seed_from = cell_of_oid
    h, w = grid.shape
    deep = app_w[:, :deep_dim] if deep_dim else None
    new_b = np.zeros(region.shape, np.int32)
    if use_pixels:
        pts = Points(cells, pixels, pix_obj, pos, np.full(pos.shape[0], oid, np.int64))
        cc_ = cluster_points(rgb, state, app_w, deep_dim, pts, seed_from, oid, k_new, density,
                             n_segments_used, lambda_s, lambda_c, n_iter, seed, device)
    else:
        cc_ = clustered
        if cc_ is None or cc_.k != k_new or not np.array_equal(cc_.cells, cells):
            cc_ = cluster_cells(rgb, state, app_w, deep_dim, cells, seed_from, oid, k_new,
                                density, n_segments_used, lambda_s, lambda_c, n_iter, seed,
                                device)
    seeds, seed_obj, groups, hc = cc_.seeds, cc_.seed_obj, cc_.groups, cc_.clustering
    with torch.inference_mode():
        point_labels = hc.labels
        if use_pixels:
            new_b[ry, rx] = point_labels
        else:
            work_labels = np.full(h * w, -1, np.int64)
            work_labels[cells] = point_labels
            lab = Labeller(grid, rgb, objects, work_labels.reshape(h, w), seed_obj,
                            groups.cand[:groups.n_seeds], candidate_table(seeds),
                            Centroids.of(hc, groups.seed_scale2), NearestSeed(seeds, seed_obj),
                            deep, lambda_c)
            lab.label_box(new_b, (box[0].start, box[0].stop), (box[1].start, box[1].stop),
                          region, check=check)
    # int32 maps of the box, values written in place: a 12-megapixel object's box no longer
    # holds several int64 copies at once
    tmp = lab_b.astype(np.int32, copy=True)
    new_b += n_old + 1
    np.copyto(tmp, new_b, where=region)
    del new_b
    label_object = np.concatenate([superpixel_object.astype(np.int64), seed_obj])
    new_label_ids = np.arange(n_old + 1, n_old + 1 + seeds.shape[0])
    if smoothing:
        allowed = np.zeros(label_object.shape[0], bool)
        allowed[new_label_ids] = True
        tmp = majority_filter(tmp, obj_b, label_object, passes=smoothing, mutable=region,
                              allowed_labels=allowed)
    if check is not None:
        check()
    groups, _ = enforce_connectivity(tmp, obj_b, label_object, {oid: mean_size},
                                     active_labels=new_label_ids, check=check)
    return _relabel_box(labels, superpixel_object, groups, region, box, oid)
