"""Photos of any size: cluster on a working grid sized from K, label every full-resolution pixel.

A superpixel of a 12-megapixel photo at K = 400 holds about 30,000 pixels; deep features and
soft clustering do not need every one of them. Above :func:`exact_max_pixels` the engine
(:meth:`spam_gui.core.spam.Spam.segment`) therefore works in two stages:

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

Containment in the full-resolution prior, 4-connectivity (:mod:`spam_gui.core.connectivity`)
and labels 1..N hold at full resolution exactly as on the exact path. Images up to
:func:`exact_max_pixels` (0.5 MP at K = 400: BSDS500 and the like) never come here.

References
----------
Walther, Giraud, Clément, "SPAM: SuperPixel Anything Model", 2025, §3.1.
Jampani et al., "Superpixel Sampling Networks", ECCV 2018 (the soft clustering).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np
import torch
from scipy.spatial import cKDTree

from spam_gui.core.clustering import (CANDIDATE_RADIUS, N_CANDIDATES, HardClustering,
                                      PixelFeatures, best_candidate, build_groups, cluster)
from spam_gui.core.connectivity import enforce_connectivity, renumber
from spam_gui.core.features import position_scale, rgb_to_lab
from spam_gui.core.seeds import kmeans_seeds, object_rng
from spam_gui.core.smoothing import majority_filter

__all__ = [
    "ASPECT_TOLERANCE", "EXACT_MIN_PIXELS", "SMALL_POINTS_PER_SEED", "TILE_PIXELS", "WORK_MAX_PIXELS",
    "WORK_MIN_PIXELS", "WORK_PIXELS_PER_SUPERPIXEL", "WorkState", "WorkingGrid",
    "cluster_working", "exact_max_pixels", "map_onto", "object_areas", "plan_working_grid",
    "rescale_working", "sum_per_object", "working_pixels",
]

WORK_PIXELS_PER_SUPERPIXEL = 400
"""Working-grid pixels per superpixel wanted (BSDS500 at K = 400 has 385)."""
WORK_MIN_PIXELS = 160_000
"""The working grid never has fewer pixels than this (about a BSDS500 image)."""
WORK_MAX_PIXELS = 1_000_000
"""Nor more than this (reached at K = 2500): the grid's memory is that of a 1 MP image."""
EXACT_MIN_PIXELS = 500_000
"""Images of up to this many pixels always take the exact path (whatever K)."""
SMALL_POINTS_PER_SEED = 4
"""An object with fewer working cells than this per seed is clustered at full resolution."""
TILE_PIXELS = 1 << 20
"""Full-resolution pixels per row tile of the labelling pass (bounds its memory)."""
_ROW_LENGTH = 256          # pixel slots per row of the grouped distance products
_BLOCK_ROWS = 192          # rows per batched product (a few MB: stays in the caches)
_LUT_MAX_ID = 1 << 22      # object ids below this are looked up in a table, above by search


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


@dataclass(frozen=True)
class WorkingGrid:
    """The working grid of one photo and its correspondence with full-resolution pixels.

    Working pixel ``(y, x)`` is the area average of the full-resolution pixels mapping to it;
    full-resolution pixel ``(Y, X)`` sits at working coordinates
    ``((Y + 0.5) h / H - 0.5, (X + 0.5) w / W - 0.5)`` (the convention of bilinear resizing)
    and belongs to cell ``(row_cell[Y], col_cell[X])``, the nearest working pixel.

    Attributes
    ----------
    height, width:
        H, W: the full resolution.
    work_height, work_width:
        h, w: the working grid.
    """

    height: int
    width: int
    work_height: int
    work_width: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.work_height, self.work_width

    @property
    def work_pixels(self) -> int:
        return self.work_height * self.work_width

    def work_y(self, rows: np.ndarray) -> np.ndarray:
        """Working y coordinate (float32) of full-resolution rows."""
        return ((np.asarray(rows, np.float64) + 0.5) * (self.work_height / self.height)
                - 0.5).astype(np.float32)

    def work_x(self, cols: np.ndarray) -> np.ndarray:
        """Working x coordinate (float32) of full-resolution columns."""
        return ((np.asarray(cols, np.float64) + 0.5) * (self.work_width / self.width)
                - 0.5).astype(np.float32)

    def row_cell(self, rows: np.ndarray) -> np.ndarray:
        """Working row (cell) of full-resolution rows."""
        return np.minimum(((np.asarray(rows, np.int64) * 2 + 1) * self.work_height)
                          // (2 * self.height), self.work_height - 1)

    def col_cell(self, cols: np.ndarray) -> np.ndarray:
        """Working column (cell) of full-resolution columns."""
        return np.minimum(((np.asarray(cols, np.int64) * 2 + 1) * self.work_width)
                          // (2 * self.width), self.work_width - 1)

    def centre_rows(self) -> np.ndarray:
        """The full-resolution row at the centre of each working row (h,)."""
        return np.minimum(((np.arange(self.work_height) * 2 + 1) * self.height)
                          // (2 * self.work_height), self.height - 1)

    def centre_cols(self) -> np.ndarray:
        """The full-resolution column at the centre of each working column (w,)."""
        return np.minimum(((np.arange(self.work_width) * 2 + 1) * self.width)
                          // (2 * self.work_width), self.width - 1)

    def tiles(self, row_start: int = 0, row_stop: int | None = None,
              width: int | None = None) -> list[tuple[int, int]]:
        """Row ranges ``[y0, y1)`` covering rows ``row_start..row_stop`` in tiles of at most
        :data:`TILE_PIXELS` pixels of ``width`` columns (the image's by default)."""
        stop = self.height if row_stop is None else row_stop
        step = max(1, TILE_PIXELS // max(1, self.width if width is None else width))
        return [(y, min(y + step, stop)) for y in range(row_start, stop, step)]

    def resize(self, rgb: np.ndarray) -> np.ndarray:
        """The working image: ``rgb`` area-averaged to (h, w, 3) uint8."""
        return cv2.resize(rgb, (self.work_width, self.work_height), interpolation=cv2.INTER_AREA)


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


# -- maps of another resolution -----------------------------------------------------------
ASPECT_TOLERANCE = 0.02
"""A prior or saliency map of another size is resized onto the image when its aspect ratio is
within this fraction of the image's (a map computed on a downscaled copy); else refused."""


def map_onto(values: np.ndarray, height: int, width: int, what: str, nearest: bool) -> np.ndarray:
    """A 2-D map of another resolution, resized onto an H x W image.

    Parameters
    ----------
    values:
        (h', w') map: a prior's object ids (``nearest=True``: each pixel takes the id at its
        centre, no new ids appear) or a saliency map (bilinear, float32).
    height, width:
        The image's size.
    what:
        How a message names the map ("the prior", "the saliency map").
    nearest:
        Nearest-neighbour (ids) or bilinear (values) resampling.

    Returns
    -------
    (H, W) array: ``values`` itself when it already has that size.

    Raises
    ------
    ValueError
        When the map is not 2-D or its aspect ratio differs from the image's by more than
        :data:`ASPECT_TOLERANCE`, with both sizes in the message.
    """
    arr = np.asarray(values)
    if arr.shape == (height, width):
        return arr
    if arr.ndim != 2 or not arr.size:
        raise ValueError(f"{what} has shape {arr.shape}; the image is {width}x{height} (W x H)")
    mh, mw = arr.shape
    if abs((mw / mh) / (width / height) - 1.0) > ASPECT_TOLERANCE:
        raise ValueError(f"{what} has size {mw}x{mh} (W x H), the image {width}x{height}: "
                         "they must match, or have the same aspect ratio")
    if nearest:
        rows = np.minimum(((np.arange(height) * 2 + 1) * mh) // (2 * height), mh - 1)
        cols = np.minimum(((np.arange(width) * 2 + 1) * mw) // (2 * width), mw - 1)
        return arr[rows][:, cols]
    return cv2.resize(arr.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)


# -- object ids ---------------------------------------------------------------------------
class ObjectIndex:
    """Compact indices 0..n-1 of the (sorted) object ids of a prior; -1 for 0 or unknown ids."""

    def __init__(self, ids: np.ndarray) -> None:
        self.ids = np.asarray(ids, np.int64)
        top = int(self.ids.max()) if self.ids.size else 0
        self._lut: np.ndarray | None = None
        if top < _LUT_MAX_ID:
            self._lut = np.full(top + 1, -1, np.int32)
            self._lut[self.ids] = np.arange(self.ids.size, dtype=np.int32)

    def __call__(self, objects: np.ndarray) -> np.ndarray:
        obj = np.asarray(objects)
        if self._lut is not None:
            if not obj.size or int(obj.max()) < self._lut.size:
                return self._lut[obj]
            inside = obj < self._lut.size
            out = self._lut[np.where(inside, obj, 0)]   # (id 0 is never an object: -1)
            out[~inside] = -1
            return out
        pos = np.searchsorted(self.ids, obj)
        pos_c = np.minimum(pos, max(self.ids.size - 1, 0))
        found = (pos < self.ids.size) & (self.ids[pos_c] == obj) if self.ids.size else \
            np.zeros(obj.shape, bool)
        return np.where(found, pos_c, -1).astype(np.int32)


def object_areas(objects: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Object ids (> 0, sorted) and their pixel counts, without sorting the pixels.

    Parameters
    ----------
    objects:
        (H, W) non-negative int object map, 0 = uncertain.

    Returns
    -------
    ids, areas:
        int64 arrays.
    """
    flat = objects.ravel()
    top = int(flat.max()) if flat.size else 0
    if top < _LUT_MAX_ID:
        counts = np.bincount(flat, minlength=top + 1)
        ids = np.flatnonzero(counts)
        ids = ids[ids > 0]
        return ids.astype(np.int64), counts[ids].astype(np.int64)
    ids, counts = np.unique(flat, return_counts=True)
    keep = ids > 0
    return ids[keep].astype(np.int64), counts[keep].astype(np.int64)


def sum_per_object(values: np.ndarray, objects: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Sum of ``values`` over the pixels of each object of ``ids`` (float64), by tiles."""
    index = ObjectIndex(ids)
    out = np.zeros(ids.size, np.float64)
    h, w = objects.shape
    step = max(1, TILE_PIXELS // max(1, w))
    for y in range(0, h, step):
        oi = index(objects[y:y + step]).ravel()
        keep = oi >= 0
        out += np.bincount(oi[keep], weights=np.asarray(values[y:y + step], np.float64).ravel()[keep],
                           minlength=ids.size)
    return out


# -- features at full resolution -----------------------------------------------------------
def _bilinear_taps(coord: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    c = np.clip(coord, 0.0, size - 1).astype(np.float32)
    lo = np.floor(c).astype(np.int64)
    hi = np.minimum(lo + 1, size - 1)
    return lo, hi, (c - lo).astype(np.float32)


def full_res_appearance(rgb_pixels: np.ndarray, wy: np.ndarray, wx: np.ndarray,
                        deep: torch.Tensor | None, grid_shape: tuple[int, int],
                        lambda_c: float, out: torch.Tensor | None = None) -> torch.Tensor:
    """Appearance ``[E, lambda_c * Lab]`` of full-resolution pixels.

    Parameters
    ----------
    rgb_pixels:
        (n, 3) uint8 colours of the pixels.
    wy, wx:
        (n,) their working coordinates.
    deep:
        (h * w, d) deep features of the working grid, or None (no encoder).
    grid_shape:
        (h, w).
    lambda_c:
        λc.
    out:
        Optional (>= n, >= d + 3) float32 tensor whose first n rows and d + 3 columns
        receive the result.

    Returns
    -------
    (n, d + 3) float32 tensor on ``deep``'s device (CPU without an encoder): deep features
    bilinearly interpolated at (wy, wx), then λc times the pixels' own CIE Lab.
    """
    n = rgb_pixels.shape[0]
    d = 0 if deep is None else int(deep.shape[1])
    dev = torch.device("cpu") if deep is None else deep.device
    if out is None:
        out = torch.empty((n, d + 3), dtype=torch.float32, device=dev)
    res = out[:n, :d + 3]
    lab = rgb_to_lab(np.ascontiguousarray(rgb_pixels, np.uint8).reshape(n, 1, 3)).reshape(n, 3)
    res[:, d:] = torch.from_numpy(lab * np.float32(lambda_c))
    if deep is None:
        return res
    h, w = grid_shape
    y0, y1, ty = _bilinear_taps(wy, h)
    x0, x1, tx = _bilinear_taps(wx, w)

    def tap(yy: np.ndarray, xx: np.ndarray) -> torch.Tensor:
        return deep.index_select(0, torch.from_numpy(yy * w + xx).to(dev))

    tx_t = torch.from_numpy(tx).to(dev)[:, None]
    top = torch.lerp(tap(y0, x0), tap(y0, x1), tx_t)
    bottom = torch.lerp(tap(y1, x0), tap(y1, x1), tx_t)
    torch.lerp(top, bottom, torch.from_numpy(ty).to(dev)[:, None], out=top)
    res[:, :d] = top
    return res


# -- the labelling kernel ------------------------------------------------------------------
@dataclass
class Centroids:
    """Final centroids of a clustering, as the terms of its distances.

    ``score_j(p) = 2 [a_p, x_p] . W_j - |c_j|^2 - s_j^2 |x_p|^2`` is minus the squared
    distance of pixel p to centroid j up to a term that is the same for every candidate.
    """

    weights: torch.Tensor   # (K, Ca + 2): [c_app, s^2 c_pos]
    norm2: torch.Tensor     # (K,) |c_app|^2 + s^2 |c_pos|^2
    scale2: torch.Tensor    # (K,) s^2
    plain: np.ndarray | None = None   # (K, Ca + 2) float32 [c_app, c_pos] (compiled kernel)

    @classmethod
    def of(cls, hc: HardClustering, seed_scale2: np.ndarray) -> "Centroids":
        ca, cp = hc.centroids_app.detach().float(), hc.centroids_pos.detach().float()
        s2 = torch.as_tensor(seed_scale2).to(ca.device, ca.dtype)
        return cls(torch.cat([ca, s2[:, None] * cp], dim=1),
                   (ca * ca).sum(1) + s2 * (cp * cp).sum(1), s2,
                   np.ascontiguousarray(torch.cat([ca, cp], 1).cpu().numpy(), np.float32))


def _kernels():
    """The compiled clustering kernels (those of :func:`spam_gui.core.clustering.cluster`), or
    None (the torch path is used)."""
    from spam_gui.core.clustering import kernels

    return kernels()


def assign_nearest(features: torch.Tensor, key: np.ndarray, cand_of_key: np.ndarray,
                   cen: Centroids) -> np.ndarray:
    """For each pixel, its nearest centroid among the candidates of its key.

    Pixels are grouped by key (a counting sort) and laid out in rows of at most
    ``_ROW_LENGTH`` pixels sharing their 9 candidates, so that every row is one small matrix
    product against its candidates' centroids (``torch.baddbmm`` over blocks of rows).

    Parameters
    ----------
    features:
        (n + 1, Ca + 2) float32 ``[appearance, position]`` of the n pixels; row n is all
        zeros (the padding pixel).
    key:
        (n,) int64 key of each pixel (0..G-1).
    cand_of_key:
        (G, 9) int64 candidate seeds of each key.
    cen:
        The centroids.

    Returns
    -------
    (n,) int64 seed index of each pixel.
    """
    n = features.shape[0] - 1
    if n <= 0:
        return np.zeros(0, np.int64)
    dev = features.device
    n_keys = cand_of_key.shape[0]
    # a stable sort of small integers is a radix sort in NumPy
    order = np.argsort(key.astype(np.int16) if n_keys < 2**15 else key, kind="stable")
    counts = np.bincount(key, minlength=n_keys)
    kern = _kernels() if dev.type == "cpu" and cen.plain is not None else None
    if kern is not None:
        # the fused nearest-candidate pass of the clustering (tiles in L1, no 9 x n tensor)
        n_app = features.shape[1] - 2
        A = np.empty((n_app + 3, n), np.float32)
        A[:n_app + 2] = features[:n].numpy()[order].T
        A[n_app + 2] = 1.0
        valid = np.ones(cand_of_key.shape, bool)
        for j in range(1, N_CANDIDATES):
            valid[:, j] = ~(cand_of_key[:, :j] == cand_of_key[:, j:j + 1]).any(axis=1)
        best = np.empty(n, np.int64)
        kern.hard_pass(A, np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
                       np.ascontiguousarray(cand_of_key, np.int64), valid, cen.plain,
                       np.ascontiguousarray(cen.scale2.cpu().numpy(), np.float32), n_app, 0,
                       n_keys, best)
        out = np.empty(n, np.int64)
        out[order] = best
        return out
    rows_per_key = (counts + _ROW_LENGTH - 1) // _ROW_LENGTH
    row_start = np.concatenate([[0], np.cumsum(rows_per_key)[:-1]])
    key_start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    k_sorted = key[order]
    pos_in_key = np.arange(n) - key_start[k_sorted]
    row = row_start[k_sorted] + pos_in_key // _ROW_LENGTH
    col = pos_in_key % _ROW_LENGTH
    n_rows = int(rows_per_key.sum())
    width = int(min(_ROW_LENGTH, counts.max()))
    slots = np.full((n_rows, width), n, np.int64)
    slots[row, col] = order
    cand = torch.from_numpy(cand_of_key[np.repeat(np.arange(n_keys), rows_per_key)]).to(dev)
    slots_t = torch.from_numpy(slots).to(dev)
    best = torch.empty((n_rows, width), dtype=torch.int64, device=dev)
    s2 = cen.scale2[cand]                                               # (R, 9)
    mixed = bool((s2 != s2[:, :1]).any())
    for b in range(0, n_rows, _BLOCK_ROWS):
        rows = slice(b, min(b + _BLOCK_ROWS, n_rows))
        fr = features[slots_t[rows]]                                    # (r, n, F)
        c = cand[rows]
        score = torch.baddbmm(-cen.norm2[c][..., None], cen.weights[c], fr.transpose(1, 2),
                              beta=1.0, alpha=2.0)                      # (r, 9, n)
        if mixed:
            x2 = (fr[..., -2:] ** 2).sum(-1)                            # (r, n)
            score = torch.addcmul(score, -s2[rows][..., None], x2[:, None, :])
        best[rows] = best_candidate(score)
    seed_of_slot = torch.gather(cand, 1, best).cpu().numpy()
    out = np.empty(n + 1, np.int64)
    out[slots.ravel()] = seed_of_slot.ravel()
    return out[:n]


def _candidate_table(seed_pos: np.ndarray) -> np.ndarray:
    """(K, 9): each seed's 9 nearest seeds of any object (missing slots repeat the seed)."""
    k = seed_pos.shape[0]
    kk = min(N_CANDIDATES, k)
    idx = np.asarray(cKDTree(seed_pos).query(seed_pos, k=kk)[1]).reshape(k, kk)
    idx[:, 0] = np.arange(k)
    if kk < N_CANDIDATES:
        idx = np.concatenate([idx, np.repeat(idx[:, :1], N_CANDIDATES - kk, axis=1)], axis=1)
    return idx.astype(np.int64)


class _NearestSeed:
    """The nearest seed of a given object (or of any object, id 0) to working positions."""

    def __init__(self, seed_pos: np.ndarray, seed_obj: np.ndarray) -> None:
        self.seed_pos, self.seed_obj = seed_pos, seed_obj
        self._trees: dict[int, tuple[cKDTree, np.ndarray]] = {}

    def __call__(self, pos: np.ndarray, obj: np.ndarray) -> np.ndarray:
        out = np.zeros(pos.shape[0], np.int64)
        for o in np.unique(obj).tolist():
            if o not in self._trees:
                members = np.arange(self.seed_obj.size) if o == 0 else \
                    np.flatnonzero(self.seed_obj == o)
                self._trees[o] = (cKDTree(self.seed_pos[members]), members)
            tree, members = self._trees[o]
            sel = obj == o
            out[sel] = members[np.asarray(tree.query(pos[sel], k=1)[1], np.int64)]
        return out


def _settled_squares(work_labels: np.ndarray) -> np.ndarray:
    """(h, w) bool: the square between cell centres (y, x), (y, x + 1), (y + 1, x) and
    (y + 1, x + 1) (the bilinear taps of the full-resolution pixels in it) has one label >= 0
    at its four corners (the last row and column replicated)."""
    pad = np.pad(work_labels, ((0, 1), (0, 1)), mode="edge")
    h, w = work_labels.shape
    return ((work_labels >= 0) & (pad[:h, 1:] == work_labels) & (pad[1:, :w] == work_labels)
            & (pad[1:, 1:] == work_labels))


@dataclass
class _Labeller:
    """Everything the full-resolution labelling pass needs about one clustering."""

    grid: WorkingGrid
    rgb: np.ndarray
    objects: np.ndarray
    work_labels: np.ndarray      # (h, w) seed of each working cell, -1 where no point
    seed_obj: np.ndarray         # (K,)
    cand_same: np.ndarray        # (K, 9) candidates within the seed's object
    cand_any: np.ndarray         # (K, 9) candidates of any object
    cen: Centroids
    nearest: _NearestSeed
    deep: torch.Tensor | None
    lambda_c: float

    def label_box(self, out: np.ndarray, rows: tuple[int, int], cols: tuple[int, int],
                  todo_mask: np.ndarray) -> None:
        """Write the seed of every pixel of ``todo_mask`` (a box-sized bool map of the box
        ``rows`` x ``cols``) into ``out`` (box-sized), one row tile at a time."""
        g = self.grid
        y0, y1 = rows
        x0, x1 = cols
        k = self.seed_obj.size
        seed_obj_x = np.concatenate([self.seed_obj, [-1]])
        settled = _settled_squares(self.work_labels)
        cand_table = np.concatenate([self.cand_same, self.cand_any])
        cc = g.col_cell(np.arange(x0, x1))
        wx_all = g.work_x(np.arange(x0, x1))
        tap_x = _bilinear_taps(wx_all, g.work_width)[0]
        for ta, tb in g.tiles(y0, y1, width=x1 - x0):
            obj = self.objects[ta:tb, x0:x1]
            todo = todo_mask[ta - y0:tb - y0]
            o_tile = out[ta - y0:tb - y0]
            # a pixel whose four bilinear taps carry one label of its own object keeps it
            tap_y = _bilinear_taps(g.work_y(np.arange(ta, tb)), g.work_height)[0]
            wl = self.work_labels[tap_y][:, tap_x]
            direct = todo & settled[tap_y][:, tap_x] & (
                (seed_obj_x[np.where(wl < 0, k, wl)] == obj) | (obj == 0))
            o_tile[direct] = wl[direct]
            rest = todo & ~direct
            del wl
            # the others: the candidates of their nearest cell's seed, in their own object
            rc = g.row_cell(np.arange(ta, tb))
            wl = self.work_labels[rc][:, cc]
            wl = np.where(wl < 0, k, wl)
            same = (seed_obj_x[wl] == obj) | ((obj == 0) & (wl < k))
            ry, rx = np.nonzero(rest)
            if not ry.size:
                continue
            p_obj = obj[ry, rx].astype(np.int64)
            p_wy = g.work_y(ry + ta)
            p_wx = wx_all[rx]
            start = wl[ry, rx].astype(np.int64)
            bad = ~same[ry, rx]
            if bad.any():
                start[bad] = self.nearest(np.stack([p_wy[bad], p_wx[bad]], 1), p_obj[bad])
            key = start + k * (p_obj == 0)
            feats = torch.empty((ry.size + 1, self.cen.weights.shape[1]), dtype=torch.float32,
                                device=self.cen.weights.device)
            full_res_appearance(self.rgb[ry + ta, rx + x0], p_wy, p_wx, self.deep, g.shape,
                                self.lambda_c, out=feats)
            feats[:-1, -2] = torch.from_numpy(p_wy)
            feats[:-1, -1] = torch.from_numpy(p_wx)
            feats[-1] = 0.0
            o_tile[ry, rx] = assign_nearest(feats, key, cand_table, self.cen)


def majority_filter_tiled(labels: np.ndarray, objects: np.ndarray | None,
                          label_object: np.ndarray | None, passes: int,
                          tile_rows: int) -> np.ndarray:
    """:func:`spam_gui.core.smoothing.majority_filter` in place, by row tiles with a one-row
    halo: the same result as on the whole map, with the memory of one tile."""
    h = labels.shape[0]
    for _ in range(max(0, int(passes))):
        above: np.ndarray | None = None     # the unfiltered row above the current tile
        changed = False
        for y0 in range(0, h, tile_rows):
            y1 = min(y0 + tile_rows, h)
            a, b = max(0, y0 - 1), min(h, y1 + 1)
            block = labels[a:b].copy()
            if above is not None:
                block[0] = above
            above = labels[y1 - 1].copy()
            res = majority_filter(block, None if objects is None else objects[a:b],
                                  label_object, passes=1)
            inner = res[y0 - a:y0 - a + (y1 - y0)]
            if not changed and not np.array_equal(inner, labels[y0:y1]):
                changed = True
            labels[y0:y1] = inner
        if not changed:
            break
    return labels


# -- segmentation --------------------------------------------------------------------------
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
class _Points:
    """The points of one clustering: working cells and full-resolution pixels."""

    cells: np.ndarray          # (m,) flat working indices
    pixels: np.ndarray         # (n,) flat full-resolution indices
    pixel_obj: np.ndarray      # (n,) their objects
    pos: np.ndarray            # (m + n, 2) float32 working coordinates
    obj: np.ndarray            # (m + n,) int64 objects


def _pixel_positions(grid: WorkingGrid, flat: np.ndarray) -> np.ndarray:
    ys, xs = np.divmod(flat, grid.width)
    return np.stack([grid.work_y(ys), grid.work_x(xs)], 1)


def _points_appearance(pts: _Points, rgb: np.ndarray, app_w: torch.Tensor,
                       deep: torch.Tensor | None, grid: WorkingGrid, lambda_c: float
                       ) -> torch.Tensor:
    dev = app_w.device
    parts = [app_w[torch.from_numpy(pts.cells).to(dev)]]
    if pts.pixels.size:
        pp = pts.pos[pts.cells.size:]
        parts.append(full_res_appearance(rgb.reshape(-1, 3)[pts.pixels], pp[:, 0], pp[:, 1],
                                         deep, grid.shape, lambda_c).to(dev))
    return torch.cat(parts) if len(parts) > 1 else parts[0]


def _scan_pixels(objects: np.ndarray, wanted: Callable[[np.ndarray], np.ndarray],
                 tile_pixels: int = TILE_PIXELS) -> np.ndarray:
    """Flat indices of the pixels where ``wanted(objects tile)`` is True, by row tiles."""
    h, w = objects.shape
    step = max(1, tile_pixels // max(1, w))
    found = [np.flatnonzero(wanted(objects[y:y + step])) + y * w for y in range(0, h, step)]
    return np.concatenate(found) if found else np.zeros(0, np.int64)


def cluster_working(
    rgb: np.ndarray, objects: np.ndarray, grid: WorkingGrid, work_rgb: np.ndarray,
    app_w: torch.Tensor,
    deep_dim: int, ids: np.ndarray, areas: np.ndarray, k_obj: np.ndarray,
    density: np.ndarray, k_req: int, lambda_s: float, lambda_c: float, n_iter: int,
    seed: int, smoothing: int, device: torch.device,
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
        As in :meth:`spam_gui.core.spam.Spam.segment`.
    device:
        Torch device of the clustering.

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
    pixels = (_scan_pixels(objects, lambda t: small_lut[index(t)]) if small.any()
              else np.zeros(0, np.int64))
    pixel_obj = objects.reshape(-1)[pixels].astype(np.int64)
    cy, cx = np.divmod(cells, w)
    pts = _Points(cells, pixels, pixel_obj,
                  np.concatenate([np.stack([cy, cx], 1).astype(np.float32),
                                  _pixel_positions(grid, pixels)]),
                  np.concatenate([wobj.ravel()[cells].astype(np.int64), pixel_obj]))

    # seeds: k-means on each object's points, in working coordinates
    point_oi = index(pts.obj)
    by_obj = np.argsort(point_oi, kind="stable")
    starts = np.searchsorted(point_oi[by_obj], np.arange(ids.size + 1))
    seed_pos_a, seed_obj_a, seed_rad, seed_scale = object_seeds(
        lambda i: pts.pos[by_obj[starts[i]:starts[i + 1]]], ids, k_obj, density, h, w, k_req,
        lambda_s, seed)
    t1 = time.perf_counter()
    groups = build_groups(pts.pos, pts.obj, seed_pos_a, seed_obj_a, seed_rad, seed_scale)
    t2 = time.perf_counter()
    deep = app_w[:, :deep_dim] if deep_dim else None
    with torch.inference_mode():
        appearance = _points_appearance(pts, rgb, app_w, deep, grid, lambda_c)
        hc = cluster(PixelFeatures([(appearance, 1.0)], pts.pos), groups, n_iter, device)
        point_labels = hc.labels
        t3 = time.perf_counter()
        work_labels = np.full(h * w, -1, np.int64)
        work_labels[cells] = point_labels[:cells.size]
        lab = _Labeller(grid, rgb, objects, work_labels.reshape(h, w), seed_obj_a,
                        groups.cand[:groups.n_seeds], _candidate_table(seed_pos_a),
                        Centroids.of(hc, groups.seed_scale2), _NearestSeed(seed_pos_a, seed_obj_a),
                        deep, lambda_c)
        hard = np.empty((H, W), np.int32)
        todo = np.ones((H, W), bool)
        if pixels.size:
            hard.reshape(-1)[pixels] = point_labels[cells.size:]
            todo.reshape(-1)[pixels] = False
        lab.label_box(hard, (0, H), (0, W), todo)
        del todo
    hard += 1
    label_object = np.concatenate([[0], seed_obj_a])
    if smoothing:
        one_object = ids.size == 1 and not (objects == 0).any()
        majority_filter_tiled(hard, None if one_object else objects,
                              None if one_object else label_object, smoothing,
                              max(1, TILE_PIXELS // max(1, W)))
    t4 = time.perf_counter()
    mean_size = {int(o): float(a) / float(k) for o, a, k in zip(ids, areas, k_obj)}
    groups, piece_label = enforce_connectivity(hard, objects, label_object, mean_size)
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
        The run's seed (each object's generator: :func:`spam_gui.core.seeds.object_rng`).

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


# -- re-clustering one object ----------------------------------------------------------------
def relabel_values(old_sp_obj: np.ndarray, region_groups: np.ndarray, oid: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The label values of a re-clustered object's new superpixels, keeping every other
    superpixel's value, so that the labels stay exactly 1..N.

    New groups take the object's freed values in raster order of first appearance, then new
    values after N; when the object has fewer superpixels than before, the values above the
    new count move into the holes left (from the top). The one rule of
    :meth:`spam_gui.core.spam.Spam.rescale` at any size.

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
    uniq, first, inverse = np.unique(region_groups, return_index=True, return_inverse=True)
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


def rescale_working(
    rgb: np.ndarray, labels: np.ndarray, objects: np.ndarray, superpixel_object: np.ndarray,
    state: WorkState, app_w: torch.Tensor, deep_dim: int, oid: int, k_new: int,
    density: float, mean_size: float, n_segments_used: int, lambda_s: float,
    lambda_c: float, n_iter: int, seed: int, smoothing: int, device: torch.device,
) -> tuple[np.ndarray, np.ndarray]:
    """Re-cluster one object of a working-path result; every other superpixel is kept.

    The object's region (its pixels and the uncertain pixels of its superpixels) is
    re-clustered on the working grid (or with its full-resolution pixels when it is too small
    for the grid), labelled at full resolution inside the region's bounding box only, then
    smoothed, made 4-connected and relabelled there as on the exact path
    (:meth:`spam_gui.core.spam.Spam.rescale`).

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
        pos = _pixel_positions(grid, pixels)
        seed_from = pix_obj == oid
    else:
        pixels, pix_obj = np.zeros(0, np.int64), np.zeros(0, np.int64)
        pos = np.stack([wr[cy], wc[cx]], 1).astype(np.float32)
        seed_from = cell_of_oid
    pts = _Points(cells, pixels, pix_obj, pos, np.full(pos.shape[0], oid, np.int64))
    h, w = grid.shape
    seeds = kmeans_seeds(pos[seed_from], k_new, object_rng(seed, oid))
    s = position_scale(h, w, n_segments_used, lambda_s)
    radius = CANDIDATE_RADIUS * math.sqrt(h * w / n_segments_used) / math.sqrt(density)
    seed_obj = np.full(seeds.shape[0], oid, np.int64)
    groups = build_groups(pos, pts.obj, seeds, seed_obj, np.full(seeds.shape[0], radius),
                          np.full(seeds.shape[0], s * math.sqrt(density)))
    deep = app_w[:, :deep_dim] if deep_dim else None
    new_b = np.zeros(region.shape, np.int64)
    with torch.inference_mode():
        appearance = _points_appearance(pts, rgb, app_w, deep, grid, lambda_c)
        hc = cluster(PixelFeatures([(appearance, 1.0)], pos), groups, n_iter, device)
        point_labels = hc.labels
        if use_pixels:
            new_b[ry, rx] = point_labels
        else:
            work_labels = np.full(h * w, -1, np.int64)
            work_labels[cells] = point_labels
            lab = _Labeller(grid, rgb, objects, work_labels.reshape(h, w), seed_obj,
                            groups.cand[:groups.n_seeds], _candidate_table(seeds),
                            Centroids.of(hc, groups.seed_scale2), _NearestSeed(seeds, seed_obj),
                            deep, lambda_c)
            lab.label_box(new_b, (box[0].start, box[0].stop), (box[1].start, box[1].stop),
                          region)
    tmp = lab_b.astype(np.int64, copy=True)
    tmp[region] = n_old + 1 + new_b[region]
    label_object = np.concatenate([superpixel_object.astype(np.int64), seed_obj])
    new_label_ids = np.arange(n_old + 1, n_old + 1 + seeds.shape[0])
    if smoothing:
        allowed = np.zeros(label_object.shape[0], bool)
        allowed[new_label_ids] = True
        tmp = majority_filter(tmp, obj_b, label_object, passes=smoothing, mutable=region,
                              allowed_labels=allowed)
    groups, _ = enforce_connectivity(tmp, obj_b, label_object, {oid: mean_size},
                                     active_labels=new_label_ids)
    return _relabel_box(labels, superpixel_object, groups, region, box, oid)
