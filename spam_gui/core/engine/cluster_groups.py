"""Seeds, candidates and pixel groups of one clustering (docs/algorithm.md §4).

The fixed structure both clustering paths of :mod:`spam_gui.core.engine.clustering` share: every
pixel's initial (nearest) seed, the <= 9 candidate seeds of each seed (in the same object; an
uncertain pixel's are the 9 nearest seeds of any object), the pixels grouped by initial seed
(:class:`ClusterGroups`, :func:`build_groups`), and those groups laid out in padded rows for
the batched products of :func:`spam_gui.core.engine.soft_clustering.soft_cluster`
(:class:`ClusterProblem`, :func:`build_problem`, :func:`problem_from_groups`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

N_CANDIDATES = 9
CANDIDATE_RADIUS = 1.65  # x sqrt(H * W / K), docs/algorithm.md §4
# default row length, as a fraction of the mean pixel group size (see build_problem)
ROW_FRACTION = 0.25


@dataclass
class ClusterProblem:
    """The fixed structure of one clustering: seeds, candidates and pixel groups.

    Attributes
    ----------
    n_pixels, n_seeds:
        P pixels and K seeds.
    init_labels:
        (P,) int64 initial seed of each pixel (its nearest seed, same object when it has one).
    rows_pixels:
        (R, n) int64 pixel index of each slot; padding slots hold P (a dummy pixel).
    rows_mask:
        (R, n) bool, True for real pixels.
    rows_cand:
        (R, 9) int64 candidate seeds of each row.
    rows_valid:
        (R, 9) bool, False for repeated candidates (missing slots repeat the seed itself).
    seed_scale2:
        (K,) float32 squared position scale of each seed's object.
    seed_pos:
        (K, 2) float32 seed positions.
    seed_cand:
        (K, 9) int64 candidates of each seed (same object).
    """

    n_pixels: int
    n_seeds: int
    init_labels: torch.Tensor
    rows_pixels: torch.Tensor
    rows_mask: torch.Tensor
    rows_cand: torch.Tensor
    rows_valid: torch.Tensor
    seed_scale2: torch.Tensor
    seed_pos: torch.Tensor
    seed_cand: torch.Tensor

    def to(self, device: torch.device | str) -> "ClusterProblem":
        return ClusterProblem(
            self.n_pixels, self.n_seeds,
            *(t.to(device) for t in (self.init_labels, self.rows_pixels, self.rows_mask,
                                     self.rows_cand, self.rows_valid, self.seed_scale2,
                                     self.seed_pos, self.seed_cand)),
        )


def nearest_seed(pixel_pos: np.ndarray, seed_pos: np.ndarray) -> np.ndarray:
    """Index of the nearest seed of each pixel (integer pixel positions).

    On the bounding box of the pixels and seeds, an exact Euclidean distance transform from
    the seeds' (rounded) positions gives every pixel its nearest seed in linear time; when
    that box is much larger than the pixel set (a thin object spread over the image), a k-d
    tree is used instead. Two seeds rounding to the same pixel share it: one of them then
    starts without pixels, which :func:`soft_cluster` handles.
    """
    n, k = pixel_pos.shape[0], seed_pos.shape[0]
    if k == 1 or n == 0:
        return np.zeros(n, dtype=np.int64)
    py = np.rint(pixel_pos[:, 0]).astype(np.int32)
    px = np.rint(pixel_pos[:, 1]).astype(np.int32)
    sd = np.rint(seed_pos).astype(np.int64)
    lo = (min(int(py.min()), int(sd[:, 0].min())), min(int(px.min()), int(sd[:, 1].min())))
    hi = (max(int(py.max()), int(sd[:, 0].max())), max(int(px.max()), int(sd[:, 1].max())))
    shape = (hi[0] - lo[0] + 1, hi[1] - lo[1] + 1)
    if shape[0] * shape[1] > 16 * n + 4096:
        return cKDTree(seed_pos).query(pixel_pos, k=1)[1].astype(np.int64)
    free = np.ones(shape, dtype=bool)
    lut = np.zeros(shape, dtype=np.int64)
    sy, sx = sd[:, 0] - lo[0], sd[:, 1] - lo[1]
    free[sy, sx] = False
    lut[sy, sx] = np.arange(k)
    iy, ix = ndi.distance_transform_edt(free, return_distances=False, return_indices=True)
    nearest = lut[iy, ix].ravel()                     # the nearest seed of every box pixel
    flat = (py - lo[0]) * shape[1] + (px - lo[1])
    return nearest if n == nearest.size and _is_range(flat) else nearest[flat]


def _is_range(a: np.ndarray) -> bool:
    """Whether ``a`` is exactly 0, 1, ..., len(a) - 1 (cheap test first)."""
    return a.size == 0 or (a[0] == 0 and a[-1] == a.size - 1 and bool((np.diff(a) == 1).all()))


def _candidates(seed_pos: np.ndarray, k: int, radius: float | np.ndarray | None) -> np.ndarray:
    """(m, 9) indices (into ``seed_pos``) of each seed's <= k nearest seeds within ``radius``;
    missing slots repeat the seed itself."""
    m = seed_pos.shape[0]
    kk = min(k, m)
    tree = cKDTree(seed_pos)
    if radius is None:
        dist, idx = tree.query(seed_pos, k=kk)
    else:
        dist, idx = tree.query(seed_pos, k=kk, distance_upper_bound=float(np.max(radius)))
    idx = np.asarray(idx).reshape(m, kk)
    dist = np.asarray(dist).reshape(m, kk)
    self_idx = np.arange(m)[:, None]
    bad = ~np.isfinite(dist) | (idx >= m)
    if radius is not None and np.ndim(radius) > 0:
        bad |= dist > np.asarray(radius)[:, None]
    idx = np.where(bad, self_idx, idx)
    idx[:, 0] = np.arange(m)  # a seed is always its own first candidate
    if kk < N_CANDIDATES:
        idx = np.concatenate([idx, np.repeat(self_idx, N_CANDIDATES - kk, axis=1)], axis=1)
    return idx


@dataclass
class ClusterGroups:
    """Pixels grouped by initial seed, each group with its candidate seeds.

    Attributes
    ----------
    n_pixels, n_seeds:
        P pixels and K seeds.
    init_labels:
        (P,) int64 initial seed of each pixel (its nearest seed, same object when it has one).
    order:
        (P,) int64 the pixels sorted by group (stable: raster order inside a group).
    offsets:
        (2K + 1,) int64: group g holds ``order[offsets[g]:offsets[g + 1]]``. Group k < K holds
        the pixels of seed k's object whose nearest seed is k; group K + k the uncertain pixels
        whose nearest seed is k.
    cand:
        (2K, 9) int64 candidate seeds of each group; the first is the group's own seed.
    valid:
        (2K, 9) bool, False for repeated candidates (missing slots repeat the seed itself).
    seed_scale2:
        (K,) float32 squared position scale of each seed's object.
    seed_pos:
        (K, 2) float32 seed positions.
    """

    n_pixels: int
    n_seeds: int
    init_labels: np.ndarray
    order: np.ndarray
    offsets: np.ndarray
    cand: np.ndarray
    valid: np.ndarray
    seed_scale2: np.ndarray
    seed_pos: np.ndarray


def build_groups(
    pixel_pos: np.ndarray,
    pixel_object: np.ndarray,
    seed_pos: np.ndarray,
    seed_object: np.ndarray,
    seed_radius: np.ndarray,
    seed_scale: np.ndarray,
) -> ClusterGroups:
    """Assign initial seeds, pick candidates and group the pixels by initial seed.

    Parameters
    ----------
    pixel_pos:
        (P, 2) (y, x) positions of the pixels to cluster.
    pixel_object:
        (P,) object id of each pixel, 0 = uncertain.
    seed_pos, seed_object:
        (K, 2) seed positions and (K,) their object ids (never 0).
    seed_radius:
        (K,) candidate search radius of each seed (``1.65 sqrt(HW/K) / sqrt(r)``).
    seed_scale:
        (K,) position scale of each seed's object (``s * sqrt(r)``).

    Returns
    -------
    ClusterGroups
        The structure both clustering paths use (:func:`build_problem` lays it out in rows
        for :func:`soft_cluster`; :func:`cluster_labels` uses it as it is).

    Raises
    ------
    ValueError
        Without seeds, or when some pixels belong to an object that has no seed.
    """
    P = pixel_pos.shape[0]
    K = seed_pos.shape[0]
    if K == 0:
        raise ValueError("no seeds")
    init = np.empty(P, dtype=np.int64)
    group = np.empty(P, dtype=np.int64)
    cand_of_group = np.empty((2 * K, N_CANDIDATES), dtype=np.int64)
    cand_of_group[:] = np.arange(2 * K)[:, None] % K

    if P and pixel_object.min() == pixel_object.max():  # one object: nothing to sort
        by_object = np.arange(P)
        obj_ids, obj_counts = pixel_object[:1].copy(), np.array([P])
    else:
        by_object = np.argsort(pixel_object, kind="stable")
        obj_ids, obj_counts = np.unique(pixel_object[by_object], return_counts=True)
    obj_start = dict(zip(obj_ids.tolist(), np.concatenate([[0], np.cumsum(obj_counts)]).tolist()))
    obj_count = dict(zip(obj_ids.tolist(), obj_counts.tolist()))
    for oid in np.unique(seed_object):
        s_idx = np.flatnonzero(seed_object == oid)
        o = int(oid)
        if obj_count.get(o, 0):
            p_idx = by_object[obj_start[o]:obj_start[o] + obj_count[o]]
            pts = pixel_pos if p_idx.size == P else pixel_pos[p_idx]   # (one object: no copy)
            nearest = s_idx[nearest_seed(pts, seed_pos[s_idx])]
            init[p_idx] = nearest
            group[p_idx] = nearest
        local = _candidates(seed_pos[s_idx], N_CANDIDATES, seed_radius[s_idx])
        cand_of_group[s_idx] = s_idx[local]
    if obj_count.get(0, 0):
        unc = by_object[:obj_count[0]]
        nearest = nearest_seed(pixel_pos[unc], seed_pos)
        init[unc] = nearest
        group[unc] = K + nearest
        cand_of_group[K:] = _candidates(seed_pos, N_CANDIDATES, None)
    missing = set(obj_ids.tolist()) - set(np.unique(seed_object).tolist()) - {0}
    if missing:
        raise ValueError("some pixels belong to an object that has no seed")

    # a stable sort of small integers is a radix sort in NumPy
    order = np.argsort(group.astype(np.int16) if 2 * K < 2**15 else group, kind="stable")
    counts = np.bincount(group, minlength=2 * K)
    # a candidate repeated in a group (missing slots) must count once in the softmax
    first = np.ones_like(cand_of_group, dtype=bool)
    for j in range(1, N_CANDIDATES):
        first[:, j] = ~(cand_of_group[:, :j] == cand_of_group[:, j : j + 1]).any(axis=1)
    return ClusterGroups(
        n_pixels=P,
        n_seeds=K,
        init_labels=init,
        order=order.astype(np.int64, copy=False),
        offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        cand=cand_of_group,
        valid=first,
        seed_scale2=(np.asarray(seed_scale, dtype=np.float64) ** 2).astype(np.float32),
        seed_pos=np.asarray(seed_pos, dtype=np.float32),
    )


def build_problem(
    pixel_pos: np.ndarray,
    pixel_object: np.ndarray,
    seed_pos: np.ndarray,
    seed_object: np.ndarray,
    seed_radius: np.ndarray,
    seed_scale: np.ndarray,
    chunk: int | None = None,
) -> ClusterProblem:
    """Assign initial seeds, pick candidates and lay pixels out in rows for :func:`soft_cluster`.

    Parameters
    ----------
    pixel_pos, pixel_object, seed_pos, seed_object, seed_radius, seed_scale:
        As for :func:`build_groups`.
    chunk:
        Maximum pixels per row (default: a quarter of the mean group size, at least 32:
        short rows waste less padding, about 12 %, and the batched products do not mind
        many rows).

    Returns
    -------
    ClusterProblem
        The groups of :func:`build_groups`, each split into rows of at most ``chunk`` pixels.
    """
    return problem_from_groups(build_groups(pixel_pos, pixel_object, seed_pos, seed_object,
                                            seed_radius, seed_scale), chunk)


def problem_from_groups(groups: ClusterGroups, chunk: int | None = None) -> ClusterProblem:
    """Lay the pixel groups out in padded rows of at most ``chunk`` pixels (see
    :func:`build_problem`)."""
    P, K = groups.n_pixels, groups.n_seeds
    order = groups.order
    counts = np.diff(groups.offsets)
    nonempty = counts > 0
    if chunk is None:
        chunk = max(32, int(np.ceil(ROW_FRACTION * P / max(1, nonempty.sum()))))
    rows_per_group = (counts + chunk - 1) // chunk
    row_start = np.concatenate([[0], np.cumsum(rows_per_group)[:-1]])
    group_start = groups.offsets[:-1]
    g_sorted = np.repeat(np.arange(2 * K), counts)
    pos_in_group = np.arange(P) - group_start[g_sorted]
    row = row_start[g_sorted] + pos_in_group // chunk
    col = pos_in_group % chunk
    n_rows = int(rows_per_group.sum())
    width = int(min(chunk, counts.max(initial=1)))
    rows_pixels = np.full((n_rows, width), P, dtype=np.int64)
    rows_pixels[row, col] = order
    row_group = np.repeat(np.arange(2 * K), rows_per_group)
    return ClusterProblem(
        n_pixels=P,
        n_seeds=K,
        init_labels=torch.from_numpy(groups.init_labels),
        rows_pixels=torch.from_numpy(rows_pixels),
        rows_mask=torch.from_numpy(rows_pixels < P),
        rows_cand=torch.from_numpy(groups.cand[row_group]),
        rows_valid=torch.from_numpy(groups.valid[row_group]),
        seed_scale2=torch.from_numpy(groups.seed_scale2),
        seed_pos=torch.from_numpy(groups.seed_pos),
        seed_cand=torch.from_numpy(groups.cand[:K].copy()),
    )
