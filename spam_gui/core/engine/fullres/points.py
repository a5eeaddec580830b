"""The points of a full-size clustering and their seeds.

Which points an object clusters with (working cells, or its own full-resolution pixels below
:data:`SMALL_POINTS_PER_SEED` cells per seed), their positions and appearance, the
:class:`WorkState` a working-path result keeps, and every object's k-means seeds
(:func:`object_seeds`, also used by the exact path). Part of :mod:`spam_gui.core.engine.fullres.working`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from spam_gui.core.engine.cluster_groups import CANDIDATE_RADIUS
from spam_gui.core.engine.features import position_scale
from spam_gui.core.engine.fullres.grid import TILE_PIXELS, WorkingGrid
from spam_gui.core.engine.fullres.labelling import full_res_appearance
from spam_gui.core.engine.seeds import kmeans_seeds, object_rng

SMALL_POINTS_PER_SEED = 4
"""An object with fewer working cells than this per seed is clustered at full resolution."""


@dataclass
class WorkState:
    """What a working-path result keeps for :func:`rescale_working`.

    Attributes
    ----------
    grid:
        The working grid.
    work_rgb:
        (h, w, 3) uint8 working image (its features are cached by content).
    work_objects:
        (h, w) int32 prior object at each working cell's centre.
    small_ids:
        Objects clustered with their full-resolution pixels.
    """

    grid: WorkingGrid
    work_rgb: np.ndarray
    work_objects: np.ndarray
    small_ids: frozenset[int]


@dataclass
class Points:
    """The points of one clustering: working cells and full-resolution pixels."""

    cells: np.ndarray          # (m,) flat working indices
    pixels: np.ndarray         # (n,) flat full-resolution indices
    pixel_obj: np.ndarray      # (n,) their objects
    pos: np.ndarray            # (m + n, 2) float32 working coordinates
    obj: np.ndarray            # (m + n,) int64 objects


def point_positions(grid: WorkingGrid, flat: np.ndarray) -> np.ndarray:
    ys, xs = np.divmod(flat, grid.width)
    return np.stack([grid.work_y(ys), grid.work_x(xs)], 1)


def points_appearance(pts: Points, rgb: np.ndarray, app_w: torch.Tensor,
                       deep: torch.Tensor | None, grid: WorkingGrid, lambda_c: float
                       ) -> torch.Tensor:
    dev = app_w.device
    parts = [app_w[torch.from_numpy(pts.cells).to(dev)]]
    if pts.pixels.size:
        pp = pts.pos[pts.cells.size:]
        parts.append(full_res_appearance(rgb.reshape(-1, 3)[pts.pixels], pp[:, 0], pp[:, 1],
                                         deep, grid.shape, lambda_c).to(dev))
    return torch.cat(parts) if len(parts) > 1 else parts[0]


def scan_pixels(objects: np.ndarray, wanted: Callable[[np.ndarray], np.ndarray],
                 tile_pixels: int = TILE_PIXELS) -> np.ndarray:
    """Flat indices of the pixels where ``wanted(objects tile)`` is True, by row tiles."""
    h, w = objects.shape
    step = max(1, tile_pixels // max(1, w))
    found = [np.flatnonzero(wanted(objects[y:y + step])) + y * w for y in range(0, h, step)]
    return np.concatenate(found) if found else np.zeros(0, np.int64)



def object_seeds(points_of: Callable[[int], np.ndarray], ids: np.ndarray, k_obj: np.ndarray,
                 density: np.ndarray, h: int, w: int, k_req: int, lambda_s: float, seed: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every object's seeds (k-means on its points), with their candidate radius and position
    scale: the seeding of the engine at any size.

    Parameters
    ----------
    points_of:
        ``points_of(i)``: (n, 2) float32 positions of object ``ids[i]``'s points (pixels or
        working cells); an object without points gets no seed.
    ids, k_obj, density:
        The objects, their superpixel counts and their seed densities (the ratio r_o).
    h, w:
        The size of the grid the positions are on.
    k_req:
        The requested superpixel count K (the mean superpixel size H W / K).
    lambda_s:
        The position weight.
    seed:
        The run's seed (each object's generator: :func:`spam_gui.core.engine.seeds.object_rng`).

    Returns
    -------
    seed_pos : ndarray
        (S, 2) float32 seed positions, object by object.
    seed_object : ndarray
        (S,) int64 object of each seed.
    seed_radius : ndarray
        (S,) candidate radius 1.65 sqrt(H W / K) / sqrt(r_o).
    seed_scale : ndarray
        (S,) position scale of each seed's object (times sqrt(r_o)).

    References
    ----------
    ``docs/algorithm.md`` §3 (seeds) and §4 (candidates).
    """
    s = position_scale(h, w, k_req, lambda_s)
    base_radius = CANDIDATE_RADIUS * math.sqrt(h * w / k_req)
    seed_pos, seed_obj, seed_rad, seed_scale = [], [], [], []
    for i, oid in enumerate(ids.tolist()):
        pts = points_of(i)
        if not pts.shape[0]:
            continue
        sp = kmeans_seeds(pts, int(k_obj[i]), object_rng(seed, oid))
        seed_pos.append(sp)
        seed_obj.append(np.full(sp.shape[0], oid, np.int64))
        seed_rad.append(np.full(sp.shape[0], base_radius / math.sqrt(density[i])))
        seed_scale.append(np.full(sp.shape[0], s * math.sqrt(density[i])))
    return (np.concatenate(seed_pos), np.concatenate(seed_obj), np.concatenate(seed_rad),
            np.concatenate(seed_scale))
