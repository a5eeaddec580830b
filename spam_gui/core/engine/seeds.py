"""Seeds inside each object: random pixels refined by k-means on positions (docs/algorithm.md §3).

References
----------
Walther, Giraud, Clément, "SPAM: SuperPixel Anything Model", 2025, §3.1 (Fig. 2b).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

KMEANS_ITERATIONS = 5
# k-means runs on a random subset of at most this many points per seed (plenty for 5 Lloyd
# steps on 2-D positions, and it keeps seeding cheap on large objects).
POINTS_PER_SEED = 16


def object_rng(seed: int, object_id: int) -> np.random.Generator:
    """The random generator of one object: depends only on the user seed and the object id,
    so that re-seeding one object never changes another's seeds."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(object_id) & 0xFFFFFFFF, 0x5EED])


def kmeans_seeds(coords: np.ndarray, k: int, rng: np.random.Generator,
                 iterations: int = KMEANS_ITERATIONS) -> np.ndarray:
    """Place ``k`` seeds among the (n, 2) pixel ``coords`` of one object.

    ``k`` distinct pixels are drawn at random, then moved by ``iterations`` Lloyd (k-means)
    steps over the object's pixel positions. With ``k == 1`` the seed is the centroid.
    Each step assigns every point to its nearest seed: a k-d tree for the first step (seeds
    on pixels: its tie-breaking decides), then, with numba, the compiled exact grid search of
    :func:`spam_gui.core.engine.cluster_kernels.nearest_points`.

    Parameters
    ----------
    coords:
        (n, 2) float (y, x) positions of the object's pixels, n >= 1.
    k:
        Number of seeds, 1 <= k <= n.
    rng:
        Random generator (see :func:`object_rng`).

    Returns
    -------
    (k, 2) float64 seed positions.
    """
    n = coords.shape[0]
    if n == 0:
        raise ValueError("an object needs at least one pixel")
    k = int(min(max(k, 1), n))
    pts = coords.astype(np.float64, copy=False)
    if k == 1:
        return pts.mean(axis=0, keepdims=True)
    seeds = pts[rng.choice(n, size=k, replace=False)].copy()
    if n > POINTS_PER_SEED * k:
        sample = pts[rng.choice(n, size=POINTS_PER_SEED * k, replace=False)]
    else:
        sample = pts
    from spam_gui.core.engine.compiled import kernels

    kern = kernels()
    nearest = np.empty(sample.shape[0], np.int64)
    sample = np.ascontiguousarray(sample)
    for it in range(iterations):
        # the first step's seeds are pixels, whose equal distances to a pixel are common: the
        # k-d tree settles those ties as it always has; later seeds are means, and the exact
        # compiled search (ties to the lowest index) gives the same nearest seeds
        if kern is not None and it > 0:
            kern.nearest_points(sample, seeds, nearest)
        else:
            _, nearest = cKDTree(seeds).query(sample, k=1)
        counts = np.bincount(nearest, minlength=k).astype(np.float64)
        sums_y = np.bincount(nearest, weights=sample[:, 0], minlength=k)
        sums_x = np.bincount(nearest, weights=sample[:, 1], minlength=k)
        moved = counts > 0  # an empty cluster keeps its seed
        seeds[moved, 0] = sums_y[moved] / counts[moved]
        seeds[moved, 1] = sums_x[moved] / counts[moved]
    return seeds
