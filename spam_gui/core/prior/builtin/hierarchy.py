"""The built-in prior's merge tree and its cuts: :class:`ObjectHierarchy`.

A merge tree over fine superpixels cut at any coarseness without recomputation
(:meth:`ObjectHierarchy.partition`, :meth:`ObjectHierarchy.prior` with its uncertain band
along weak borders, :meth:`ObjectHierarchy.ucm`), and the helpers of the cut (small objects
absorbed by their neighbour, raster numbering, 4-connected cleaning).
Part of the built-in prior (:mod:`spam_gui.core.prior.builtin.compute`). No Qt here.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from spam_gui.core.params import PRIOR_DEFAULTS
from spam_gui.core.prior.builtin.edge_model import BuiltinPriorError


@dataclass
class ObjectHierarchy:
    """A merge tree over fine superpixels, cut at any coarseness without recomputation.

    Attributes
    ----------
    fine:
        (H, W) int32 fine superpixel labels 0..n-1 (the leaves).
    children:
        (n - 1, 2) int64: merge ``i`` joins nodes ``children[i]`` into node ``n + i``.
    heights:
        (n - 1,) float64 ultrametric heights in [0, 1], non-decreasing along the tree.
    areas:
        (2n - 1,) int64 pixel count of every node.
    edge_ucm:
        (n_edges,) float64: the height at which the two sides of each fine edge join.
    edge_pairs:
        (n_edges, 2) int64 leaf ids of each fine edge.
    seconds:
        Time spent: ``{"superpixels": ..., "graph": ..., "merge": ...}``.
    """

    fine: np.ndarray
    children: np.ndarray
    heights: np.ndarray
    areas: np.ndarray
    edge_ucm: np.ndarray
    edge_pairs: np.ndarray
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def n_leaves(self) -> int:
        return int(self.areas.shape[0] - self.children.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.fine.shape)  # type: ignore[return-value]

    def _leaf_roots(self, threshold: float) -> np.ndarray:
        """The root node (in the cut at ``threshold``) of every leaf."""
        n = self.n_leaves
        total = self.areas.shape[0]
        root = np.arange(total, dtype=np.int64)
        # top-down: a child takes its parent's root when the parent's merge is below threshold
        for i in range(self.children.shape[0] - 1, -1, -1):
            node = n + i
            if self.heights[i] <= threshold:
                r = root[node]
                a, b = self.children[i]
                root[a] = r
                root[b] = r
        return root[:n]

    def partition(self, coarseness: float | None = None, *, a_min: float | None = None
                  ) -> np.ndarray:
        """The cut at ``coarseness`` as an (H, W) int32 map of objects 1..N, no uncertain pixel.

        Objects smaller than ``a_min`` pixels (default ``sqrt(H * W) / 4``) join the
        neighbour they are closest to in the hierarchy (the lowest shared-border height),
        the smallest first. Objects are numbered in raster order of their first pixel.
        """
        t = check_coarseness(coarseness)
        h, w = self.shape
        a_min = math.sqrt(h * w) / 4.0 if a_min is None else float(a_min)
        roots = self._leaf_roots(t)
        _, leaf_obj = np.unique(roots, return_inverse=True)
        leaf_obj = _absorb_small(leaf_obj.astype(np.int64), self.areas[: self.n_leaves],
                                 self.edge_pairs, self.edge_ucm, a_min)
        return _raster_numbering(leaf_obj[self.fine] + 1)

    def ucm(self) -> np.ndarray:
        """(H, W) float32 boundary strength: the height at which each pixel's boundary with
        its right or lower neighbour disappears (0 inside fine superpixels)."""
        h, w = self.shape
        out = np.zeros((h, w), dtype=np.float32)
        lut = _edge_lookup(self.edge_pairs, self.n_leaves)
        for a, b, sl_a in _crossings(self.fine):
            idx = lut(a, b)
            np.maximum.at(out, sl_a, self.edge_ucm[idx].astype(np.float32))
        return out

    def prior(self, coarseness: float | None = None, *, band_width: int | None = None,
              band_margin: float | None = None, a_min: float | None = None) -> np.ndarray:
        """The prior map: the :meth:`partition` with an uncertain band (0) along weak borders.

        Parameters
        ----------
        coarseness:
            The cut threshold in [0, 1]; None: :data:`spam_gui.core.params.PRIOR_DEFAULTS`.
        band_width:
            Half-width in pixels of the uncertain band (0: no band).
        band_margin:
            A border between two objects is weak, and gets the band, when the height at which
            they would merge is less than ``coarseness + band_margin``.
        a_min:
            Minimum object area in pixels (default ``sqrt(H * W) / 4``).

        Returns
        -------
        (H, W) int32, 0 = uncertain, objects 1..N (each 4-connected) in raster order.
        """
        t = check_coarseness(coarseness)
        bw = PRIOR_DEFAULTS.band_width if band_width is None else int(band_width)
        margin = PRIOR_DEFAULTS.band_margin if band_margin is None else float(band_margin)
        if bw < 0 or margin < 0:
            raise BuiltinPriorError("band_width and band_margin must not be negative")
        h, w = self.shape
        a_min = math.sqrt(h * w) / 4.0 if a_min is None else float(a_min)
        objects = self.partition(t, a_min=a_min)
        if bw == 0 or margin == 0 or objects.max() <= 1:
            return objects
        weak = np.zeros((h, w), dtype=bool)
        lut = _edge_lookup(self.edge_pairs, self.n_leaves)
        for axis in (0, 1):
            o1, o2, f1, f2, s1, s2 = _pairs(objects, self.fine, axis)
            cross = o1 != o2
            if not cross.any():
                continue
            ucm = self.edge_ucm[lut(f1[cross], f2[cross])]
            wk = np.zeros(o1.shape, dtype=bool)
            wk[cross] = ucm < t + margin
            weak[s1] |= wk
            weak[s2] |= wk
        if not weak.any():
            return objects
        if bw > 1:
            weak = ndimage.binary_dilation(weak, structure=band_disk(bw - 1))
        out = objects.copy()
        out[weak] = 0
        return _clean_objects(out, max(1.0, a_min / 4.0))


def check_coarseness(coarseness: float | None) -> float:
    c = PRIOR_DEFAULTS.coarseness if coarseness is None else coarseness
    try:
        c = float(c)
    except (TypeError, ValueError):
        raise BuiltinPriorError(f"coarseness must be a number in [0, 1], got {coarseness!r}") from None
    if not 0.0 <= c <= 1.0:
        raise BuiltinPriorError(f"coarseness must be in [0, 1], got {coarseness!r}")
    return c


def band_disk(r: int) -> np.ndarray:
    """The structuring element of the uncertain band: a disk of radius ``r`` (a rounder one
    than the strict ``y² + x² <= r²``)."""
    yy, xx = np.mgrid[-r: r + 1, -r: r + 1]
    return (yy * yy + xx * xx) <= r * r + r  # a rounder disk than the strict one


def _pairs(objects: np.ndarray, fine: np.ndarray, axis: int):
    """Neighbouring pixel pairs along ``axis``: object ids, fine ids and the two slices."""
    if axis == 0:
        s1 = (slice(0, -1), slice(None))
        s2 = (slice(1, None), slice(None))
    else:
        s1 = (slice(None), slice(0, -1))
        s2 = (slice(None), slice(1, None))
    return objects[s1], objects[s2], fine[s1], fine[s2], s1, s2


def _crossings(fine: np.ndarray):
    """(a, b, mask-slice-of-a) for the horizontal and vertical crossings of fine labels."""
    for axis in (0, 1):
        if axis == 0:
            a, b = fine[:-1, :], fine[1:, :]
            full = np.zeros(fine.shape, dtype=bool)
            m = a != b
            full[:-1, :] = m
        else:
            a, b = fine[:, :-1], fine[:, 1:]
            full = np.zeros(fine.shape, dtype=bool)
            m = a != b
            full[:, :-1] = m
        yield a[m], b[m], np.nonzero(full)


def _edge_lookup(edge_pairs: np.ndarray, n: int):
    """A vectorised (a, b) -> edge index function for the fine RAG's edges."""
    codes = np.minimum(edge_pairs[:, 0], edge_pairs[:, 1]) * n + np.maximum(edge_pairs[:, 0],
                                                                             edge_pairs[:, 1])
    order = np.argsort(codes)
    sorted_codes = codes[order]

    def lookup(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        c = np.minimum(a, b) * n + np.maximum(a, b)
        return order[np.searchsorted(sorted_codes, c)]

    return lookup


def _raster_numbering(objects: np.ndarray) -> np.ndarray:
    """Renumber positive ids 1..N in raster order of their first pixel (0 stays 0)."""
    flat = objects.ravel()
    ids, first = np.unique(flat, return_index=True)
    keep = ids != 0
    ids, first = ids[keep], first[keep]
    out = np.zeros(flat.shape, dtype=np.int32)
    if ids.size == 0:
        return out.reshape(objects.shape)
    rank = np.empty(ids.size, dtype=np.int32)
    rank[np.argsort(first)] = np.arange(1, ids.size + 1, dtype=np.int32)
    nz = flat != 0
    out[nz] = rank[np.searchsorted(ids, flat[nz])]
    return out.reshape(objects.shape)


def _clean_objects(objects: np.ndarray, min_area: float) -> np.ndarray:
    """Keep each object's largest 4-connected piece of at least ``min_area`` pixels; the rest
    becomes uncertain. Renumbered 1..N in raster order."""
    out = np.zeros_like(objects, dtype=np.int32)
    boxes = ndimage.find_objects(objects)
    for oid, sl in enumerate(boxes, start=1):
        if sl is None:
            continue
        mask = objects[sl] == oid
        lab, m = ndimage.label(mask)
        if m == 0:
            continue
        areas = np.bincount(lab.ravel(), minlength=m + 1)
        areas[0] = 0
        best = int(np.argmax(areas))
        if areas[best] < min_area:
            continue
        region = out[sl]
        region[lab == best] = oid
    return _raster_numbering(out)


def _absorb_small(leaf_obj: np.ndarray, leaf_area: np.ndarray, edge_pairs: np.ndarray,
                  edge_ucm: np.ndarray, a_min: float) -> np.ndarray:
    """Merge objects under ``a_min`` pixels into the neighbour with the lowest border height."""
    n_obj = int(leaf_obj.max()) + 1 if leaf_obj.size else 0
    area = np.bincount(leaf_obj, weights=leaf_area, minlength=n_obj)
    if n_obj <= 1 or area.min() >= a_min:
        return leaf_obj
    oa = leaf_obj[edge_pairs[:, 0]]
    ob = leaf_obj[edge_pairs[:, 1]]
    cross = oa != ob
    # object adjacency with the lowest fine-edge height on each shared border
    nbr: dict[int, dict[int, float]] = {}
    for a, b, u in zip(oa[cross].tolist(), ob[cross].tolist(), edge_ucm[cross].tolist()):
        for x, y in ((a, b), (b, a)):
            d = nbr.setdefault(x, {})
            if u < d.get(y, math.inf):
                d[y] = u
    parent = np.arange(n_obj, dtype=np.int64)
    heap = [(float(area[o]), o) for o in range(n_obj) if area[o] < a_min]
    heapq.heapify(heap)
    alive = np.ones(n_obj, dtype=bool)
    while heap:
        ar, o = heapq.heappop(heap)
        if not alive[o] or ar != area[o] or area[o] >= a_min:
            continue
        ns = nbr.get(o)
        if not ns:
            continue
        target = min(ns, key=lambda k: (ns[k], -area[k], k))
        # merge o into target
        alive[o] = False
        parent[o] = target
        area[target] += area[o]
        tn = nbr.setdefault(target, {})
        for k, u in ns.items():
            if k == target:
                continue
            kn = nbr[k]
            kn.pop(o, None)
            if u < kn.get(target, math.inf):
                kn[target] = u
            if u < tn.get(k, math.inf):
                tn[k] = u
        tn.pop(o, None)
        del nbr[o]
        if area[target] < a_min:
            heapq.heappush(heap, (float(area[target]), target))
    # resolve chains
    for o in range(n_obj):
        r = o
        while parent[r] != r:
            r = parent[r]
        parent[o] = r
    return parent[leaf_obj]
