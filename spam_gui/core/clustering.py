"""Masked soft clustering of pixels into superpixels (docs/algorithm.md §4), in PyTorch.

The clustering is SSN's differentiable SLIC, constrained by a prior object map: each pixel
only considers the <= 9 candidate seeds of its initial seed, which all lie in the pixel's own
object (an uncertain pixel considers the 9 nearest seeds of any object).

Because a pixel's candidates are those of its initial seed, pixels are grouped by initial
seed and every group is processed with one small matrix product against its 9 candidate
centroids (``torch.bmm`` over groups). Groups larger than a chunk size are split into several
rows sharing the same candidates, so padding stays bounded whatever the object sizes and
ratios. The same code runs on CPU and CUDA, and is differentiable with respect to the
appearance features (the training path, :mod:`spam_gui.core.training`, relies on it).

Distances are squared Euclidean on ``[E, lambda_c * Lab]`` plus ``s_j^2 * |yx - yx_j|^2``,
where ``s_j`` is the position scale of candidate j's object (``s * sqrt(ratio)``, docs/algorithm.md §2);
centroid positions are kept unscaled so that objects with different scales can share
uncertain pixels.

References
----------
Jampani et al., "Superpixel Sampling Networks", ECCV 2018.
Walther, Giraud, Clément, "SPAM: SuperPixel Anything Model", 2025, §3.1.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

N_CANDIDATES = 9
CANDIDATE_RADIUS = 1.65  # x sqrt(H * W / K), docs/algorithm.md §4
EPS = 1e-8
# pixel slots per block of rows on the CPU (a few MB: the block stays in the caches)
BLOCK_PIXELS = 49152
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


def _initial_centroids(fg: torch.Tensor, ca_dim: int,
                       problem: ClusterProblem) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean features of each seed's initial pixels, from the grouped rows ``fg``
    ((R, n, Ca + 3): appearance, position, 1). Every row holds pixels of one initial seed,
    its first candidate. A seed that starts without pixels (two seeds on one pixel) sits at
    its own position with the appearance of its nearest candidate that has pixels."""
    K = problem.n_seeds
    sums = torch.zeros((K, fg.shape[-1]), dtype=fg.dtype, device=fg.device).index_add_(
        0, problem.rows_cand[:, 0], fg.sum(1))
    counts = sums[:, -1]
    mean = sums[:, :-1] / counts.clamp_min(1.0)[:, None]
    c_app, c_pos = mean[:, :ca_dim], mean[:, ca_dim:]
    empty = counts == 0
    if bool(empty.any()):
        idx = torch.nonzero(empty).flatten()
        cand = problem.seed_cand[idx]                                   # (e, 9)
        has = counts[cand] > 0
        first = torch.where(has.any(1), has.to(torch.int8).argmax(1), torch.zeros_like(idx))
        donor = torch.gather(cand, 1, first[:, None])[:, 0]
        total = sums.sum(0)
        fallback = (total[:ca_dim] / total[-1].clamp_min(1.0)).expand(idx.numel(), -1)
        c_app = c_app.clone()
        c_app[idx] = torch.where(has.any(1)[:, None], c_app[donor], fallback)
        c_pos = c_pos.clone()
        c_pos[idx] = problem.seed_pos[idx].to(c_pos.dtype)
    return c_app, c_pos


@dataclass
class SoftClustering:
    """Result of :func:`soft_cluster`."""

    labels: torch.Tensor          # (P,) int64 hard seed index of each pixel
    q: torch.Tensor               # (R, 9, n) soft association of the last iteration (masked)
    centroids_app: torch.Tensor   # (K, Ca) appearance centroids
    centroids_pos: torch.Tensor   # (K, 2) unscaled position centroids


def soft_cluster(
    appearance: torch.Tensor,
    positions: torch.Tensor,
    problem: ClusterProblem,
    n_iter: int = 10,
    hard_from_final: bool = True,
) -> SoftClustering:
    """Run ``n_iter`` soft-assignment / centroid-update iterations and the hard assignment.

    Parameters
    ----------
    appearance:
        (P, Ca) float appearance features ``[E, lambda_c * Lab]`` (may require grad).
    positions:
        (P, 2) float unscaled (y, x).
    problem:
        From :func:`build_problem`, on the same device.
    n_iter:
        T, the number of iterations (10 at inference, 5 in training).
    hard_from_final:
        Compute the hard labels from distances to the final centroids (True), or from the
        soft association of the last iteration (False).

    Notes
    -----
    Rows are laid out as (R, 9, n): candidates first, pixels last, so that the softmax over
    the 9 candidates and every element-wise step run along contiguous pixel vectors. The
    per-pixel term ``|a_p|^2`` is the same for all candidates and cancels in the softmax and
    the argmin, so it is never computed.
    """
    dev, dt = appearance.device, appearance.dtype
    P, K = problem.n_pixels, problem.n_seeds
    ca_dim = appearance.shape[1]
    n_feat = ca_dim + 2
    # [appearance, position, 1] per pixel: the trailing 1 makes one bmm give both the
    # weighted sums and the soft pixel counts; row P is the dummy padding pixel, all zeros,
    # so it adds nothing.
    feat = torch.empty((P + 1, n_feat + 1), dtype=dt, device=dev)
    feat[:P, :ca_dim] = appearance
    feat[:P, ca_dim:n_feat] = positions.to(dt)
    feat[:P, n_feat] = 1.0
    feat[P] = 0.0
    rp = problem.rows_pixels
    fg = feat[rp]                                                       # (R, n, Ca + 3)
    if fg.shape[-1] <= 10:
        # few feature columns: MKL's batched products are about twice as fast with both
        # operands contiguous along the pixels
        fg = fg.transpose(1, 2).contiguous().transpose(1, 2)
    fgt = fg.transpose(1, 2)[:, :n_feat]                                # (R, Ca + 2, n) view
    cand = problem.rows_cand
    cand_flat = cand.reshape(-1)
    s2 = problem.seed_scale2.to(dev, dt)[cand][..., None]               # (R, 9, 1)
    invalid = torch.zeros(cand.shape, dtype=dt, device=dev).masked_fill(
        ~problem.rows_valid, float("inf"))[..., None]                   # (R, 9, 1)
    # |x_p|^2 s_j^2 only matters when a row's candidates have different scales
    s2r = s2[..., 0]  # candidate 0 (the row's own seed) is always valid
    mixed = bool(((s2r != s2r[:, :1]) & problem.rows_valid).any())
    xg2 = (fgt[:, ca_dim:] ** 2).sum(1, keepdim=True) if mixed else None  # (R, 1, n)

    c_app, c_pos = _initial_centroids(fg, ca_dim, problem)

    # On the CPU the rows are processed in blocks whose working set stays in cache: a
    # distance / softmax / product pass over all rows at once streams ~10 MB tensors through
    # memory three times per iteration, which costs more than the arithmetic.
    n_rows = rp.shape[0]
    step = n_rows if dev.type != "cpu" else max(1, BLOCK_PIXELS // max(1, rp.shape[1]))
    blocks = [slice(b, min(b + step, n_rows)) for b in range(0, n_rows, step)]

    def centroid_terms(c_app: torch.Tensor, c_pos: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per row and candidate: the weights ``w`` (R, 9, Ca + 2) and ``-|c|^2`` (R, 9, 1)."""
        ca = c_app[cand]                                                # (R, 9, Ca)
        cx = c_pos[cand]                                                # (R, 9, 2)
        w = torch.cat([ca, s2 * cx], dim=2)
        cc = (ca * ca).sum(-1, keepdim=True) + s2 * (cx * cx).sum(-1, keepdim=True) + invalid
        return w, -cc

    def neg_distances(w: torch.Tensor, ncc: torch.Tensor, rows: slice) -> torch.Tensor:
        """(rows, 9, n) minus the squared distances, up to per-pixel constants."""
        nd = torch.baddbmm(ncc[rows], w[rows], fgt[rows], beta=1.0, alpha=2.0)
        return nd if xg2 is None else torch.addcmul(nd, -s2[rows], xg2[rows])

    q = None
    n_iter = max(0, int(n_iter))
    for it in range(n_iter):
        w, ncc = centroid_terms(c_app, c_pos)
        sums_parts, q_parts = [], []
        for rows in blocks:
            q_rows = torch.softmax(neg_distances(w, ncc, rows), dim=1)  # (rows, 9, n)
            sums_parts.append(torch.bmm(q_rows, fg[rows]))              # (rows, 9, Ca + 3)
            if it == n_iter - 1:
                q_parts.append(q_rows)
        sums = (torch.cat(sums_parts) if len(sums_parts) > 1 else sums_parts[0]
                ).reshape(-1, fg.shape[-1])                             # (R * 9, Ca + 3)
        tot = torch.zeros((K, fg.shape[-1]), dtype=dt, device=dev).index_add(0, cand_flat, sums)
        sd = tot[:, -1:]
        has = sd > EPS
        cen = tot[:, :-1] / (sd + EPS)
        c_app = torch.where(has, cen[:, :ca_dim], c_app)
        c_pos = torch.where(has, cen[:, ca_dim:], c_pos)
        if q_parts:
            q = torch.cat(q_parts) if len(q_parts) > 1 else q_parts[0]
    if q is not None:
        q = q * problem.rows_mask.to(dt)[:, None, :]

    with torch.no_grad():
        if hard_from_final or q is None:
            w, ncc = centroid_terms(c_app.detach(), c_pos.detach())
        best = torch.empty(rp.shape, dtype=torch.int64, device=dev)
        for rows in blocks:
            score = neg_distances(w, ncc, rows) if hard_from_final or q is None else q[rows]
            best[rows] = best_candidate(score)
        seed_of_slot = torch.gather(cand, 1, best)                      # (R, n)
        labels = torch.empty(P + 1, dtype=torch.int64, device=dev)
        labels[rp.reshape(-1)] = seed_of_slot.reshape(-1)
        labels = labels[:P]
    if q is None:
        q = torch.zeros((rp.shape[0], N_CANDIDATES, rp.shape[1]), dtype=dt, device=dev)
    return SoftClustering(labels=labels, q=q, centroids_app=c_app, centroids_pos=c_pos)


def best_candidate(score: torch.Tensor) -> torch.Tensor:
    """The index of each pixel's best candidate seed: ``score.argmax(1)`` as a running maximum
    over the (9) candidates, far faster on CPU than an argmax along a short, strided dimension.

    Parameters
    ----------
    score:
        (R, C, n) the score of each of a row's C candidates for its n pixels (higher is
        nearer).

    Returns
    -------
    torch.Tensor
        (R, n) int64, on the score's device; a tie goes to the first of the candidates.
    """
    best_val = score[:, 0].clone()
    best = torch.zeros(best_val.shape, dtype=torch.int64, device=score.device)
    for j in range(1, score.shape[1]):
        better = score[:, j] > best_val
        best_val = torch.where(better, score[:, j], best_val)
        best.masked_fill_(better, j)
    return best


# -- the inference path ---------------------------------------------------------------------

@dataclass
class PixelFeatures:
    """The per-pixel inputs of one clustering, as they are stored (no concatenation).

    Attributes
    ----------
    appearance:
        ``[(array, weight), ...]``: (P_all, c) float arrays (or CPU tensors) whose weighted
        columns, side by side, are the appearance features, e.g. ``[(deep, 1.0), (lab,
        lambda_c)]``.
    positions:
        (P_all, 2) float unscaled (y, x).
    pixels:
        (P,) int64 indices (into the P_all rows) of the pixels to cluster, or None for all.
    """

    appearance: Sequence[tuple[torch.Tensor | np.ndarray, float]]
    positions: torch.Tensor | np.ndarray
    pixels: np.ndarray | None = None

    @property
    def n_appearance(self) -> int:
        return int(sum(a.shape[1] for a, _ in self.appearance))

    def appearance_tensor(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """The (P, Ca) appearance and (P, 2) positions of the clustered pixels, as tensors."""
        def t(x: torch.Tensor | np.ndarray) -> torch.Tensor:
            return (x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
                    ).to(device, torch.float32)

        parts = [t(a) * float(wt) if wt != 1.0 else t(a) for a, wt in self.appearance]
        app = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        pos = t(self.positions)
        if self.pixels is not None:
            idx = torch.from_numpy(np.asarray(self.pixels, dtype=np.int64)).to(device)
            app, pos = app[idx], pos[idx]
        return app, pos


@dataclass
class HardClustering:
    """Result of :func:`cluster`."""

    labels: np.ndarray            # (P,) int64 seed index of each pixel
    centroids_app: torch.Tensor   # (K, Ca) final appearance centroids
    centroids_pos: torch.Tensor   # (K, 2) final unscaled position centroids


def kernels():
    """The compiled kernels (:mod:`spam_gui.core.cluster_kernels`), or None when numba is not
    installed (the torch paths are used then)."""
    global _KERNELS
    if _KERNELS is False:
        try:
            from spam_gui.core import cluster_kernels
        except ImportError:  # pragma: no cover  (numba is a dependency; this is a safety net)
            _KERNELS = None
        else:
            _KERNELS = cluster_kernels
    return _KERNELS


_KERNELS: object = False
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def worker_pool() -> ThreadPoolExecutor:
    """The threads the compiled kernels run on (they release the GIL); created once."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="spam-cluster")
        return _POOL


def _as_numpy(t: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu().numpy()
    a = np.asarray(t)
    if a.dtype != np.float32 or not a.flags.c_contiguous:
        a = np.ascontiguousarray(a, dtype=np.float32)
    return a


def _split_groups(offsets: np.ndarray, parts: int) -> list[tuple[int, int]]:
    """At most ``parts`` contiguous ranges of groups holding about as many pixels each."""
    n_groups = offsets.shape[0] - 1
    if parts <= 1 or offsets[-1] < 8192:
        return [(0, n_groups)]
    cuts = np.searchsorted(offsets, offsets[-1] * np.arange(1, parts) / parts)
    bounds = [0, *np.clip(cuts, 0, n_groups).tolist(), n_groups]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def uses_kernels(device: torch.device | str = "cpu") -> bool:
    """Whether :func:`cluster` runs the compiled kernels on ``device`` (CPU with numba)."""
    return torch.device(device).type == "cpu" and kernels() is not None


def cluster(features: PixelFeatures, groups: ClusterGroups, n_iter: int = 10,
            device: torch.device | str = "cpu", threads: int | None = None) -> HardClustering:
    """Hard seed index of every pixel after ``n_iter`` soft-clustering iterations (inference).

    The clustering of :func:`soft_cluster` with ``hard_from_final=True``: initial centroids
    from each seed's initial pixels, ``n_iter`` soft-assignment / centroid-update steps over
    the <= 9 candidates of each pixel's group, then the nearest candidate of each pixel to
    the final centroids. On the CPU it runs the fused kernels of
    :mod:`spam_gui.core.cluster_kernels` (no gradient, no 9 x P tensor, sums in float64);
    results agree with :func:`soft_cluster` up to float32 rounding (a few pixels in 10^5 may
    take the other of two near-equal candidates). On another device, or without numba, it
    calls :func:`soft_cluster`.

    Parameters
    ----------
    features:
        The pixels' features (:class:`PixelFeatures`).
    groups:
        From :func:`build_groups`, for the same pixels (in the order of ``features.pixels``).
    n_iter:
        T, the number of iterations.
    device:
        Where to compute.
    threads:
        CPU threads (default: ``torch.get_num_threads()``).

    Returns
    -------
    HardClustering
        Labels (seed indices) and the final centroids.

    References
    ----------
    Jampani et al., "Superpixel Sampling Networks", ECCV 2018, §3 (differentiable SLIC).
    """
    dev = torch.device(device)
    n_iter = max(0, int(n_iter))
    if not uses_kernels(dev):
        return _cluster_torch(features, groups, n_iter, dev)
    kern = kernels()
    index = groups.order if features.pixels is None else np.asarray(features.pixels)[groups.order]
    index = np.ascontiguousarray(index, dtype=np.int64)
    n_app = features.n_appearance
    n_feat = n_app + 2
    # rows: appearance, y, x, then ones (the soft counts come out of the same sums)
    A = np.empty((n_feat + 1, index.shape[0]), np.float32)
    offsets, cand, valid, s2 = groups.offsets, groups.cand, groups.valid, groups.seed_scale2
    ranges = _split_groups(offsets, threads if threads is not None else torch.get_num_threads())
    pool = worker_pool() if len(ranges) > 1 else None
    sources = [(_as_numpy(part), float(weight)) for part, weight in features.appearance]
    sources.append((_as_numpy(features.positions), 1.0))

    def gather(lo: int, hi: int) -> None:
        row = 0
        for src, weight in sources:
            kern.gather_rows(src, weight, index[lo:hi], A[:, lo:hi], row)
            row += src.shape[1]

    if pool is None:
        gather(0, index.shape[0])
    else:
        for f in [pool.submit(gather, offsets[a], offsets[b]) for a, b in ranges]:
            f.result()
    A[n_feat] = 1.0

    K = groups.n_seeds
    sums = np.zeros((K, n_feat + 1), np.float64)
    kern.group_sums(A, offsets, cand, sums)
    cen = _initial_centroids_np(sums, groups)
    for _ in range(n_iter):
        cen32 = np.ascontiguousarray(cen, dtype=np.float32)
        parts = [np.zeros((K, n_feat + 1), np.float64) for _ in ranges]
        if pool is None:
            kern.soft_pass(A, offsets, cand, valid, cen32, s2, n_app, *ranges[0], parts[0])
        else:
            for f in [pool.submit(kern.soft_pass, A, offsets, cand, valid, cen32, s2, n_app,
                                  a, b, part) for (a, b), part in zip(ranges, parts)]:
                f.result()
        sums = parts[0]
        for part in parts[1:]:
            sums += part
        count = sums[:, -1:]
        cen = np.where(count > EPS, sums[:, :-1] / (count + EPS), cen)

    best = np.empty(index.shape[0], np.int64)
    cen32 = np.ascontiguousarray(cen, dtype=np.float32)
    if pool is None:
        kern.hard_pass(A, offsets, cand, valid, cen32, s2, n_app, *ranges[0], best)
    else:
        for f in [pool.submit(kern.hard_pass, A, offsets, cand, valid, cen32, s2, n_app, a, b,
                              best) for a, b in ranges]:
            f.result()
    labels = np.empty(groups.n_pixels, np.int64)
    labels[groups.order] = best
    return HardClustering(labels, torch.from_numpy(cen32[:, :n_app].copy()),
                          torch.from_numpy(cen32[:, n_app:].copy()))


def _initial_centroids_np(sums: np.ndarray, groups: ClusterGroups) -> np.ndarray:
    """(K, F) mean features of each seed's initial pixels from their ``sums`` (last column:
    counts). As :func:`_initial_centroids`: a seed without pixels sits at its own position with
    the appearance of its first candidate that has pixels (else the mean of all pixels)."""
    counts = sums[:, -1]
    cen = sums[:, :-1] / np.maximum(counts, 1.0)[:, None]
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        K = groups.n_seeds
        n_app = cen.shape[1] - 2
        cand = groups.cand[:K][empty]
        has = counts[cand] > 0
        first = np.where(has.any(1), has.argmax(1), 0)
        donor = cand[np.arange(empty.size), first]
        total = sums.sum(0)
        fallback = total[:n_app] / max(total[-1], 1.0)
        cen[empty, :n_app] = np.where(has.any(1)[:, None], cen[donor, :n_app], fallback)
        cen[empty, n_app:] = groups.seed_pos[empty]
    return cen


def _cluster_torch(features: PixelFeatures, groups: ClusterGroups, n_iter: int,
                   device: torch.device) -> HardClustering:
    """:func:`cluster` through :func:`soft_cluster` (CUDA, or no numba)."""
    app, pos = features.appearance_tensor(device)
    with torch.inference_mode():
        sc = soft_cluster(app, pos, problem_from_groups(groups).to(device), n_iter)
    return HardClustering(sc.labels.cpu().numpy(), sc.centroids_app.float(),
                          sc.centroids_pos.float())


def warm_up_kernels() -> bool:
    """Compile (the first time on a machine) or load from numba's disk cache every kernel the
    engine uses, on tiny inputs, so that the first real image does not wait for them.

    The first compilation takes seconds; a process that finds the cache loads them in a
    fraction of one. Call it from a background thread (the app's engine warm-up). Returns
    whether the kernels are in use (False without numba: nothing to do).
    """
    kern = kernels()
    if kern is None:
        return False
    from spam_gui.core.connectivity import enforce_connectivity
    from spam_gui.core.seeds import kmeans_seeds, object_rng
    from spam_gui.core.smoothing import majority_filter

    rng = np.random.default_rng(0)
    h, w = 12, 16
    pos = np.stack(np.mgrid[0:h, 0:w], -1).reshape(-1, 2).astype(np.float32)
    objects = np.ones(h * w, np.int64)
    objects[: w] = 0
    seeds = kmeans_seeds(pos, 4, object_rng(0, 1))
    groups = build_groups(pos, objects, seeds, np.ones(4, np.int64), np.full(4, 8.0),
                          np.full(4, 0.5))
    feats = PixelFeatures([(rng.random((h * w, 3), dtype=np.float32), 1.0)], pos)
    labels = cluster(feats, groups, 1, threads=1).labels.reshape(h, w) + 1
    label_object = np.ones(6, np.int64)
    labels = majority_filter(labels, objects.reshape(h, w), label_object, passes=1)
    enforce_connectivity(labels, objects.reshape(h, w), label_object, {1: 40.0})
    taps = rng.random((3, 4, 3, 3, 2), dtype=np.float32)
    kern.add_upsampled_taps(taps, np.zeros((6, 8, 2), np.float32))
    return True
