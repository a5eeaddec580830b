"""The full-resolution labelling pass of the full-size engine: each pixel's nearest seed.

Full-resolution appearance (deep features bilinearly interpolated from the working grid, Lab
at full resolution: :func:`full_res_appearance`), the final :class:`Centroids`, the grouped
nearest-candidate kernel (:func:`assign_nearest`), the row-tiled labelling of a box
(``Labeller``) and the row-tiled 3 x 3 majority smoothing (:func:`majority_filter_tiled`).
Part of :mod:`spam_gui.core.engine.fullres.working`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from scipy.spatial import cKDTree

from spam_gui.core.engine.cluster_groups import N_CANDIDATES
from spam_gui.core.engine.clustering import HardClustering
from spam_gui.core.engine.soft_clustering import best_candidate
from spam_gui.core.engine.features import rgb_to_lab
from spam_gui.core.engine.fullres.grid import WorkingGrid
from spam_gui.core.engine.smoothing import majority_filter

_ROW_LENGTH = 256          # pixel slots per row of the grouped distance products
_BLOCK_ROWS = 192          # rows per batched product (a few MB: stays in the caches)


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
    """The compiled clustering kernels (those of :func:`spam_gui.core.engine.clustering.cluster`), or
    None (the torch path is used)."""
    from spam_gui.core.engine.compiled import kernels

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


def candidate_table(seed_pos: np.ndarray) -> np.ndarray:
    """(K, 9): each seed's 9 nearest seeds of any object (missing slots repeat the seed)."""
    k = seed_pos.shape[0]
    kk = min(N_CANDIDATES, k)
    idx = np.asarray(cKDTree(seed_pos).query(seed_pos, k=kk)[1]).reshape(k, kk)
    idx[:, 0] = np.arange(k)
    if kk < N_CANDIDATES:
        idx = np.concatenate([idx, np.repeat(idx[:, :1], N_CANDIDATES - kk, axis=1)], axis=1)
    return idx.astype(np.int64)


class NearestSeed:
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
class Labeller:
    """Everything the full-resolution labelling pass needs about one clustering."""

    grid: WorkingGrid
    rgb: np.ndarray
    objects: np.ndarray
    work_labels: np.ndarray      # (h, w) seed of each working cell, -1 where no point
    seed_obj: np.ndarray         # (K,)
    cand_same: np.ndarray        # (K, 9) candidates within the seed's object
    cand_any: np.ndarray         # (K, 9) candidates of any object
    cen: Centroids
    nearest: NearestSeed
    deep: torch.Tensor | None
    lambda_c: float

    def label_box(self, out: np.ndarray, rows: tuple[int, int], cols: tuple[int, int],
                  todo_mask: np.ndarray, check: Callable[[], None] | None = None) -> None:
        """Write the seed of every pixel of ``todo_mask`` (a box-sized bool map of the box
        ``rows`` x ``cols``) into ``out`` (box-sized), one row tile at a time; ``check`` is
        called before each tile (what it raises stops the pass)."""
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
            if check is not None:
                check()
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
    """:func:`spam_gui.core.engine.smoothing.majority_filter` in place, by row tiles with a one-row
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
