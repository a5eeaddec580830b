"""Photos of any size: cluster on a working grid sized from K, label every full-resolution pixel.

A superpixel of a 12-megapixel photo at K = 400 holds about 30,000 pixels; deep features and
soft clustering do not need every one of them. Above :func:`exact_max_pixels` the engine
(:meth:`spam_gui.core.engine.spam.Spam.segment`) therefore works in two stages:

1. **Working grid.** The image is area-averaged to a working size of
   :data:`WORK_PIXELS_PER_SUPERPIXEL` pixels per superpixel (:func:`working_pixels`); the
   encoder and the soft clustering (docs/algorithm.md §2-§4) run there, on the working cells
   whose centre lies in a large enough object or in the uncertain area. Objects too small for
   the grid (fewer than :data:`SMALL_POINTS_PER_SEED` cells per seed, or none at all) take part
   with their own full-resolution pixels instead, so that every object of the full-resolution
   prior gets its superpixels.
2. **Full-resolution labels.** Every full-resolution pixel is then given one of the candidate
   seeds of its own prior object (uncertain pixels: of any object), by the clustering's
   distance to the final centroids: deep features bilinearly interpolated from the working
   grid, Lab colour and position at full resolution. A pixel whose working cell and the cell's
   eight neighbours carry one label of its own object keeps that label directly. This pass,
   the 3 x 3 majority smoothing and everything before connectivity work in row tiles of at most
   :data:`TILE_PIXELS` pixels, so their memory does not grow with the photo.

Containment in the full-resolution prior, 4-connectivity (:mod:`spam_gui.core.engine.connectivity`)
and labels 1..N hold at full resolution exactly as on the exact path. Images up to
:func:`exact_max_pixels` (0.5 MP at K = 400: BSDS500 and the like) never come here.

The parts live in their own modules: :mod:`spam_gui.core.engine.fullres.grid`
(the grid, maps of another size), :mod:`spam_gui.core.engine.fullres.objects` (object-id tables),
:mod:`spam_gui.core.engine.fullres.points` (points, seeds, :class:`WorkState`),
:mod:`spam_gui.core.engine.fullres.labelling` (the full-resolution labelling pass) and
:mod:`spam_gui.core.engine.fullres.rescale` (re-clustering one object). This module keeps the sizes
(when the working path is taken, and on what grid) and :func:`cluster_working`.

References
----------
Walther, Giraud, Clément, "SPAM: SuperPixel Anything Model", 2025, §3.1.
Jampani et al., "Superpixel Sampling Networks", ECCV 2018 (the soft clustering).
"""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np
import torch

from spam_gui.core.engine.clustering import PixelFeatures, cluster
from spam_gui.core.engine.cluster_groups import build_groups
from spam_gui.core.engine.connectivity import enforce_connectivity, renumber
from spam_gui.core.engine.fullres.grid import TILE_PIXELS, WorkingGrid
from spam_gui.core.engine.fullres.labelling import (
    Centroids, candidate_table, Labeller,
    NearestSeed, majority_filter_tiled,
)
from spam_gui.core.engine.fullres.objects import (
    ObjectIndex,
)
from spam_gui.core.engine.fullres.points import (
    SMALL_POINTS_PER_SEED, WorkState, point_positions, Points, points_appearance, scan_pixels,
    object_seeds,
)

__all__ = [
    "EXACT_MIN_PIXELS",
    "WORK_MAX_PIXELS",
    "WORK_MIN_PIXELS",
    "WORK_PIXELS_PER_SUPERPIXEL",
    "cluster_working",
    "exact_max_pixels",
    "plan_working_grid",
    "working_pixels",
]

WORK_PIXELS_PER_SUPERPIXEL = 400
"""Working-grid pixels per superpixel wanted (BSDS500 at K = 400 has 385)."""
WORK_MIN_PIXELS = 160_000
"""The working grid never has fewer pixels than this (about a BSDS500 image)."""
WORK_MAX_PIXELS = 1_000_000
"""Nor more than this (reached at K = 2500): the grid's memory is that of a 1 MP image."""
EXACT_MIN_PIXELS = 500_000
"""Images of up to this many pixels always take the exact path (whatever K)."""


def working_pixels(n_segments: int) -> int:
    """The working grid's pixel count for K superpixels.

    Parameters
    ----------
    n_segments:
        K.

    Returns
    -------
    ``WORK_PIXELS_PER_SUPERPIXEL * K`` clipped to [:data:`WORK_MIN_PIXELS`,
    :data:`WORK_MAX_PIXELS`].
    """
    return int(min(max(WORK_PIXELS_PER_SUPERPIXEL * int(n_segments), WORK_MIN_PIXELS),
                   WORK_MAX_PIXELS))


def exact_max_pixels(n_segments: int) -> int:
    """The largest image (in pixels) segmented exactly, at full resolution, for K superpixels:
    ``max(EXACT_MIN_PIXELS, working_pixels(K))`` (0.5 MP at K = 400, 1 MP from K = 2500)."""
    return max(EXACT_MIN_PIXELS, working_pixels(n_segments))


def plan_working_grid(height: int, width: int, n_segments: int) -> WorkingGrid | None:
    """The working grid for an H x W image and K superpixels, or None for the exact path.

    Parameters
    ----------
    height, width:
        The image's size in pixels.
    n_segments:
        K (after clamping to the pixel count).

    Returns
    -------
    None when ``H * W <= exact_max_pixels(K)``; else a grid of about :func:`working_pixels`
    pixels with the image's aspect ratio (each side at least 1).
    """
    n_pix = int(height) * int(width)
    if n_pix <= exact_max_pixels(n_segments):
        return None
    f = math.sqrt(working_pixels(n_segments) / n_pix)
    return WorkingGrid(int(height), int(width), max(1, int(round(height * f))),
                       max(1, int(round(width * f))))


# -- segmentation --------------------------------------------------------------------------
def cluster_working(
    rgb: np.ndarray, objects: np.ndarray, grid: WorkingGrid, work_rgb: np.ndarray,
    app_w: torch.Tensor,
    deep_dim: int, ids: np.ndarray, areas: np.ndarray, k_obj: np.ndarray,
    density: np.ndarray, k_req: int, lambda_s: float, lambda_c: float, n_iter: int,
    seed: int, smoothing: int, device: torch.device,
    check: Callable[[], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, float], WorkState]:
    """Superpixels of a large photo: clustering on ``grid``, labels at full resolution.

    Parameters
    ----------
    rgb:
        (H, W, 3) uint8 full-resolution image.
    objects:
        (H, W) int32 full-resolution prior (0 = uncertain; every id of ``ids`` present).
    grid:
        From :func:`plan_working_grid`.
    work_rgb:
        ``grid.resize(rgb)``, the working image (kept in the returned state).
    app_w:
        (h * w, Ca) appearance ``[E, lambda_c * Lab]`` of the working image.
    deep_dim:
        d, the deep channels at the front of ``app_w`` (0 without an encoder).
    ids, areas, k_obj, density:
        Object ids, their full-resolution areas, budgets K_o and density ratios.
    k_req, lambda_s, lambda_c, n_iter, seed, smoothing:
        As in :meth:`spam_gui.core.engine.spam.Spam.segment`.
    device:
        Torch device of the clustering.
    check:
        Called between stages and row tiles; what it raises stops the run.

    Returns
    -------
    labels:
        (H, W) int32 superpixels 1..N, 4-connected, each inside one prior object.
    superpixel_object:
        (N + 1,) int32 object of each label (entry 0 unused).
    timings:
        Seconds of ``seeds``, ``candidates``, ``clustering``, ``labelling`` and
        ``connectivity``.
    state:
        The :class:`WorkState` for :func:`rescale_working`.
    """
    t0 = time.perf_counter()
    tick = check or (lambda: None)
    H, W = objects.shape
    h, w = grid.shape
    index = ObjectIndex(ids)
    wobj = objects[grid.centre_rows()][:, grid.centre_cols()]
    woi = index(wobj).ravel()
    n_cells = np.bincount(woi[woi >= 0], minlength=ids.size)
    small = n_cells < SMALL_POINTS_PER_SEED * k_obj
    # full-resolution points stay within a working grid's worth, smallest objects first;
    # an object with no cell at all always comes (it has no other way to its superpixels)
    order = np.argsort(areas, kind="stable")
    total = np.cumsum(np.where(small[order], areas[order], 0))
    small[order] &= (total <= grid.work_pixels) | (n_cells[order] == 0)
    small_lut = np.concatenate([small, [False]])
    cell_ok = (woi < 0) | ~small_lut[woi]
    cells = np.flatnonzero(cell_ok & ((woi >= 0) | (wobj.ravel() == 0)))
    pixels = (scan_pixels(objects, lambda t: small_lut[index(t)]) if small.any()
              else np.zeros(0, np.int64))
    pixel_obj = objects.reshape(-1)[pixels].astype(np.int64)
    cy, cx = np.divmod(cells, w)
    pts = Points(cells, pixels, pixel_obj,
                  np.concatenate([np.stack([cy, cx], 1).astype(np.float32),
                                  point_positions(grid, pixels)]),
                  np.concatenate([wobj.ravel()[cells].astype(np.int64), pixel_obj]))

    # seeds: k-means on each object's points, in working coordinates
    point_oi = index(pts.obj)
    by_obj = np.argsort(point_oi, kind="stable")
    starts = np.searchsorted(point_oi[by_obj], np.arange(ids.size + 1))
    seed_pos_a, seed_obj_a, seed_rad, seed_scale = object_seeds(
        lambda i: pts.pos[by_obj[starts[i]:starts[i + 1]]], ids, k_obj, density, h, w, k_req,
        lambda_s, seed)
    t1 = time.perf_counter()
    tick()
    groups = build_groups(pts.pos, pts.obj, seed_pos_a, seed_obj_a, seed_rad, seed_scale)
    t2 = time.perf_counter()
    deep = app_w[:, :deep_dim] if deep_dim else None
    with torch.inference_mode():
        appearance = points_appearance(pts, rgb, app_w, deep, grid, lambda_c)
        hc = cluster(PixelFeatures([(appearance, 1.0)], pts.pos), groups, n_iter, device)
        point_labels = hc.labels
        t3 = time.perf_counter()
        tick()
        work_labels = np.full(h * w, -1, np.int64)
        work_labels[cells] = point_labels[:cells.size]
        lab = Labeller(grid, rgb, objects, work_labels.reshape(h, w), seed_obj_a,
                        groups.cand[:groups.n_seeds], candidate_table(seed_pos_a),
                        Centroids.of(hc, groups.seed_scale2), NearestSeed(seed_pos_a, seed_obj_a),
                        deep, lambda_c)
        hard = np.empty((H, W), np.int32)
        todo = np.ones((H, W), bool)
        if pixels.size:
            hard.reshape(-1)[pixels] = point_labels[cells.size:]
            todo.reshape(-1)[pixels] = False
        lab.label_box(hard, (0, H), (0, W), todo, check=check)
        del todo
    hard += 1
    label_object = np.concatenate([[0], seed_obj_a])
    if smoothing:
        one_object = ids.size == 1 and not (objects == 0).any()
        majority_filter_tiled(hard, None if one_object else objects,
                              None if one_object else label_object, smoothing,
                              max(1, TILE_PIXELS // max(1, W)))
    t4 = time.perf_counter()
    tick()
    mean_size = {int(o): float(a) / float(k) for o, a, k in zip(ids, areas, k_obj)}
    groups, piece_label = enforce_connectivity(hard, objects, label_object, mean_size,
                                               check=check)
    del hard
    labels, old_ids = renumber(groups)
    del groups
    sp_obj = np.zeros(old_ids.size, dtype=np.int32)
    sp_obj[1:] = label_object[piece_label[old_ids[1:]]]
    t5 = time.perf_counter()
    state = WorkState(grid, work_rgb, wobj.astype(np.int32),
                      frozenset(int(o) for o in ids[small].tolist()))
    return labels.astype(np.int32, copy=False), sp_obj, {
        "seeds": t1 - t0, "candidates": t2 - t1, "clustering": t3 - t2,
        "labelling": t4 - t3, "connectivity": t5 - t4,
    }, state
