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

The module is the inference path (:func:`cluster`: the compiled kernels of
:mod:`spam_gui.core.engine.cluster_kernels` on the CPU); the seeds, candidates and pixel groups are
built in :mod:`spam_gui.core.engine.cluster_groups`, the differentiable PyTorch clustering is
:mod:`spam_gui.core.engine.soft_clustering`.

References
----------
Jampani et al., "Superpixel Sampling Networks", ECCV 2018.
Walther, Giraud, Clément, "SPAM: SuperPixel Anything Model", 2025, §3.1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from spam_gui.core.engine.compiled import kernels, worker_pool
from spam_gui.core.engine.cluster_groups import (
    ClusterGroups, build_groups, problem_from_groups,
)
from spam_gui.core.engine.soft_clustering import (
    EPS, soft_cluster,
)

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
    :mod:`spam_gui.core.engine.cluster_kernels` (no gradient, no 9 x P tensor, sums in float64);
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
    from spam_gui.core.engine.connectivity import enforce_connectivity
    from spam_gui.core.engine.seeds import kmeans_seeds, object_rng
    from spam_gui.core.engine.smoothing import majority_filter

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
