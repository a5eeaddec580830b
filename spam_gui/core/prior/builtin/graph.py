"""The built-in prior's region adjacency graph and its greedy merging.

The fine RAG (:func:`build_graph`: per-region sums of area, perimeter, Lab, deep features and
Lab / texton histograms, per-edge border sums of the gradients), the :data:`EDGE_FEATURES`
of its edges (:func:`edge_features`) and the greedy agglomeration scored by the
:class:`~spam_gui.core.prior.builtin.edge_model.EdgeModel` (:func:`agglomerate`).
Part of the built-in prior (:mod:`spam_gui.core.prior.builtin.compute`). No Qt here.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from spam_gui.core.prior.builtin.edge_model import EdgeModel


def _gradient_strength(img: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Per-pixel gradient magnitude of a (H, W, C) float32 image (Sobel, Gaussian ``sigma``)."""
    smooth = cv2.GaussianBlur(img, (0, 0), sigma)
    if smooth.ndim == 2:
        smooth = smooth[..., None]
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)
    if gx.ndim == 2:
        gx, gy = gx[..., None], gy[..., None]
    return np.sqrt((gx * gx + gy * gy).sum(axis=2)) / 8.0


def _split_channels(img: np.ndarray, size: int = 512) -> list[np.ndarray]:
    """OpenCV filters take at most 512 channels; the features have far fewer, but be safe."""
    return [img[..., i: i + size] for i in range(0, img.shape[2], size)]


LAB_BINS = 8
"""Bins per CIELAB channel of the region colour histograms (L in 0..100, a and b in -60..60)."""
_LAB_RANGES = ((0.0, 100.0), (-60.0, 60.0), (-60.0, 60.0))

COARSE_SIGMA = 4.0
"""Gaussian σ (pixels) of the coarse-scale Lab gradient (``border_coarse``)."""
STRONG_GRADIENT = 4.0
"""A border pixel pair is *strong* (``border_strong``) when its Lab gradient exceeds this."""
N_BORDER = 6
"""Columns of :attr:`Graph.borders`: pixel pairs, Lab gradient, Lab gradient², deep gradient,
coarse Lab gradient, strong pairs (each a sum over the shared border's pixel pairs)."""


@dataclass(frozen=True)
class _Layout:
    """Columns of the per-region sum matrix: area, perimeter, Lab, Lab², deep, histograms."""

    n_deep: int
    n_tex: int

    @cached_property
    def lab(self) -> slice:
        return slice(2, 5)

    @cached_property
    def lab_sq(self) -> slice:
        return slice(5, 8)

    @cached_property
    def deep(self) -> slice:
        return slice(8, 8 + self.n_deep)

    @cached_property
    def lab_hist(self) -> slice:
        s = 8 + self.n_deep
        return slice(s, s + 3 * LAB_BINS)

    @cached_property
    def tex_hist(self) -> slice:
        s = 8 + self.n_deep + 3 * LAB_BINS
        return slice(s, s + self.n_tex)

    @cached_property
    def sal(self) -> int:
        """The column of the saliency sum."""
        return 8 + self.n_deep + 3 * LAB_BINS + self.n_tex

    @cached_property
    def frame(self) -> int:
        """The column of the count of pixels on the image's frame (outermost rows, columns)."""
        return self.sal + 1

    @cached_property
    def width(self) -> int:
        return 8 + self.n_deep + 3 * LAB_BINS + self.n_tex + 2


@dataclass
class Graph:
    """The fine RAG: per-region sums (one row per region, :class:`_Layout` columns) and
    per-edge border sums (:data:`N_BORDER` columns)."""

    n: int
    regions: np.ndarray     # (n, layout.width)
    pairs: np.ndarray       # (m, 2), a < b
    borders: np.ndarray     # (m, N_BORDER)
    n_deep: int
    n_tex: int

    @property
    def layout(self) -> _Layout:
        return _Layout(self.n_deep, self.n_tex)


def _bin_codes(values: np.ndarray, lo: float, hi: float, bins: int) -> np.ndarray:
    q = np.floor((values - lo) * (bins / (hi - lo))).astype(np.int64)
    return np.clip(q, 0, bins - 1)


def texton_codes(deep: np.ndarray, textons: np.ndarray) -> np.ndarray:
    """The nearest texton (row of ``textons``, (T, d)) of every pixel of (H, W, d) features."""
    x = deep.reshape(-1, deep.shape[-1]).astype(np.float32)
    t = np.asarray(textons, dtype=np.float32)
    d2 = (t * t).sum(1)[None, :] - 2.0 * (x @ t.T)   # |x|² is the same for every texton
    return np.argmin(d2, axis=1)


def build_graph(fine: np.ndarray, lab: np.ndarray, deep: np.ndarray | None,
                textons: np.ndarray | None = None, saliency: np.ndarray | None = None) -> Graph:
    """The fine RAG of ``fine`` (H, W) labels 0..n-1, with the per-region sums of ``lab``
    (H, W, 3), ``deep`` (H, W, d) features and their texton histograms, ``saliency`` (H, W)
    in [0, 1] (None: 0), and the per-edge border sums of the gradients."""
    h, w = fine.shape
    n = int(fine.max()) + 1
    flat = fine.ravel().astype(np.int64)
    n_deep = 0 if deep is None else int(deep.shape[-1])
    use_tex = (textons is not None and n_deep > 0 and textons.ndim == 2
               and textons.shape[1] == n_deep and textons.shape[0] > 0)
    n_tex = int(textons.shape[0]) if use_tex else 0
    lay = _Layout(n_deep, n_tex)
    R = np.zeros((n, lay.width))
    R[:, 0] = np.bincount(flat, minlength=n)
    lab2 = lab.reshape(-1, 3).astype(np.float64)
    for c in range(3):
        R[:, 2 + c] = np.bincount(flat, lab2[:, c], n)
        R[:, 5 + c] = np.bincount(flat, lab2[:, c] ** 2, n)
        codes = _bin_codes(lab2[:, c], *_LAB_RANGES[c], LAB_BINS)
        s = lay.lab_hist.start + c * LAB_BINS
        R[:, s: s + LAB_BINS] = np.bincount(flat * LAB_BINS + codes,
                                            minlength=n * LAB_BINS).reshape(n, LAB_BINS)
    if saliency is not None:
        R[:, lay.sal] = np.bincount(flat, np.asarray(saliency, np.float64).ravel(), n)
    frame = np.concatenate([fine[0], fine[-1], fine[1:-1, 0], fine[1:-1, -1]]).astype(np.int64)
    R[:, lay.frame] = np.bincount(frame, minlength=n)
    lab32 = lab.astype(np.float32)
    g_lab = _gradient_strength(lab32)
    g_coarse = _gradient_strength(lab32, COARSE_SIGMA)
    if n_deep:
        d2 = deep.reshape(-1, n_deep).astype(np.float64)
        for c in range(n_deep):
            R[:, 8 + c] = np.bincount(flat, d2[:, c], n)
        g_deep = np.sqrt(sum(_gradient_strength(np.ascontiguousarray(part)) ** 2
                             for part in _split_channels(deep.astype(np.float32))))
        if use_tex:
            tc = texton_codes(deep, textons)
            R[:, lay.tex_hist] = np.bincount(flat * n_tex + tc,
                                             minlength=n * n_tex).reshape(n, n_tex)
    else:
        g_deep = np.zeros((h, w), dtype=np.float32)
    codes_l, gl_l, gd_l, gc_l = [], [], [], []
    for axis in (0, 1):
        s1 = (slice(0, -1), slice(None)) if axis == 0 else (slice(None), slice(0, -1))
        s2 = (slice(1, None), slice(None)) if axis == 0 else (slice(None), slice(1, None))
        a, b = fine[s1], fine[s2]
        m = a != b
        aa, bb = a[m].astype(np.int64), b[m].astype(np.int64)
        codes_l.append(np.minimum(aa, bb) * n + np.maximum(aa, bb))
        for out, g in ((gl_l, g_lab), (gd_l, g_deep), (gc_l, g_coarse)):
            out.append(((g[s1] + g[s2]) * 0.5)[m].astype(np.float64))
        R[:, 1] += np.bincount(aa, minlength=n) + np.bincount(bb, minlength=n)
    codes = np.concatenate(codes_l)
    gl = np.concatenate(gl_l)
    gd = np.concatenate(gd_l)
    gc = np.concatenate(gc_l)
    uniq, inv = np.unique(codes, return_inverse=True)
    m_e = uniq.size
    pairs = np.stack([uniq // n, uniq % n], axis=1)
    borders = np.stack([np.bincount(inv, minlength=m_e).astype(np.float64),
                        np.bincount(inv, gl, m_e), np.bincount(inv, gl * gl, m_e),
                        np.bincount(inv, gd, m_e), np.bincount(inv, gc, m_e),
                        np.bincount(inv, (gl > STRONG_GRADIENT).astype(np.float64), m_e)],
                       axis=1)
    return Graph(n=n, regions=R, pairs=pairs, borders=borders, n_deep=n_deep, n_tex=n_tex)


def _chi2(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Row-wise χ² distance ``0.5 Σ (p - q)² / (p + q)`` of histograms that sum to 1."""
    s = p + q
    d = p - q
    out = np.zeros_like(s)
    np.divide(d * d, s, out=out, where=s > 0)
    return 0.5 * np.sum(out, axis=1)


def _row_norm(x: np.ndarray) -> np.ndarray:
    """Euclidean norm of each row (as ``np.linalg.norm(x, axis=1)``, with less overhead)."""
    return np.sqrt(np.add.reduce(x * x, axis=1))


def edge_features(ra: np.ndarray, rb: np.ndarray, borders: np.ndarray, layout: _Layout,
                  total_area: float) -> np.ndarray:
    """The :data:`EDGE_FEATURES` of edges between regions ``a`` and ``b``.

    Parameters
    ----------
    ra, rb:
        (n_edges, layout.width) region sums of the two sides (area, perimeter, Lab, Lab²,
        deep features, Lab and texton histograms).
    borders:
        (n_edges, N_BORDER) sums over the shared border's pixel pairs: count, Lab gradient,
        squared Lab gradient, deep-feature gradient, coarse Lab gradient, strong pairs.
    layout:
        The columns of ``ra`` and ``rb``.
    total_area:
        The image's pixel count.

    Returns
    -------
    (n_edges, len(EDGE_FEATURES)) float64: every feature; a model takes its columns.
    """
    area_a = ra[:, 0:1]
    area_b = rb[:, 0:1]
    na, nb = ra / area_a, rb / area_b            # every per-region sum as a mean
    ma, mb = na[:, layout.lab], nb[:, layout.lab]
    sa = np.sqrt(np.maximum(na[:, layout.lab_sq] - ma * ma, 0.0))
    sb = np.sqrt(np.maximum(nb[:, layout.lab_sq] - mb * mb, 0.0))
    m = ra.shape[0]
    out = np.empty((m, 18))
    dl = ma - mb
    out[:, 0] = _row_norm(dl) / 10.0
    out[:, 1] = np.abs(dl[:, 0]) / 10.0
    out[:, 2] = _row_norm(sa - sb) / 10.0
    out[:, 3] = _row_norm(na[:, layout.deep] - nb[:, layout.deep]) if layout.n_deep else 0.0
    out[:, 4] = _chi2(na[:, layout.lab_hist], nb[:, layout.lab_hist]) / 3.0
    out[:, 5] = (_chi2(na[:, layout.tex_hist], nb[:, layout.tex_hist]) if layout.n_tex
                 else 0.0)
    a1, b1 = area_a[:, 0], area_b[:, 0]
    a_small = a1 <= b1
    bl = np.maximum(borders[:, 0], 1.0)
    out[:, 6] = borders[:, 1] / bl / 10.0
    out[:, 7] = borders[:, 3] / bl
    out[:, 8] = np.sqrt(borders[:, 2] / bl) / 10.0
    out[:, 9] = np.log(np.minimum(a1, b1) / total_area)
    out[:, 10] = np.log(np.maximum(a1, b1) / total_area)
    out[:, 11] = borders[:, 0] / np.maximum(np.where(a_small, ra[:, 1], rb[:, 1]), 1.0)
    sal_a, sal_b = na[:, layout.sal], nb[:, layout.sal]
    out[:, 12] = np.abs(sal_a - sal_b)
    out[:, 13] = np.maximum(sal_a, sal_b)
    frame_a = ra[:, layout.frame] / np.sqrt(a1)
    frame_b = rb[:, layout.frame] / np.sqrt(b1)
    out[:, 14] = np.where(a_small, frame_a, frame_b)
    out[:, 15] = np.where(a_small, frame_b, frame_a)
    out[:, 16] = borders[:, 4] / bl / 10.0
    out[:, 17] = borders[:, 5] / bl
    return out


def agglomerate(g: Graph, model: EdgeModel, total_area: float, record: list | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Greedy merging of the RAG: the pair with the lowest P(different) first.

    Returns ``(children, heights, areas, edge_ucm)``; ``record``, when a list, receives
    ``(features, node_a, node_b)`` of every batch of edges scored (for training).
    """
    n = g.n
    total = 2 * n - 1
    lay = g.layout
    R = np.zeros((total, lay.width))
    R[:n] = g.regions
    # adjacency: node -> {neighbour: [border sums (4,), fine edge indices]}
    adj: list[dict[int, list]] = [dict() for _ in range(total)]
    for e, (a, b) in enumerate(g.pairs.tolist()):
        entry = [g.borders[e].copy(), [e]]
        adj[a][b] = entry
        adj[b][a] = entry

    def score(ia: np.ndarray, ib: np.ndarray, borders: np.ndarray) -> np.ndarray:
        x = edge_features(R[ia], R[ib], borders, lay, total_area)
        if record is not None:
            record.append((x, ia, ib))
        return model.probability(x)

    heap: list[tuple[float, int, int]] = []
    if g.pairs.shape[0]:
        p0 = score(g.pairs[:, 0], g.pairs[:, 1], g.borders)
        heap = [(float(p), int(a), int(b)) for p, (a, b) in zip(p0.tolist(), g.pairs.tolist())]
        heapq.heapify(heap)
    alive = np.zeros(total, dtype=bool)
    alive[:n] = True
    children = np.zeros((max(n - 1, 0), 2), dtype=np.int64)
    heights = np.zeros(max(n - 1, 0))
    edge_ucm = np.ones(g.pairs.shape[0])
    sub_h = np.zeros(total)  # ultrametric height of each node
    nxt = n
    while heap and nxt < total:
        p, a, b = heapq.heappop(heap)
        if not (alive[a] and alive[b]):
            continue
        node = nxt
        nxt += 1
        alive[a] = alive[b] = False
        alive[node] = True
        hgt = max(p, sub_h[a], sub_h[b])
        sub_h[node] = hgt
        children[node - n] = (a, b)
        heights[node - n] = hgt
        shared = adj[a][b]
        edge_ucm[shared[1]] = hgt
        R[node] = R[a] + R[b]
        R[node, 1] -= 2.0 * shared[0][0]   # the shared border is inside the merged region
        merged: dict[int, list] = {}
        for src in (a, b):
            for c, ent in adj[src].items():
                if c == a or c == b:
                    continue
                cur = merged.get(c)
                if cur is None:
                    merged[c] = [ent[0].copy(), list(ent[1])]
                else:
                    cur[0] += ent[0]
                    cur[1].extend(ent[1])
                del adj[c][src]
        adj[a] = {}
        adj[b] = {}
        for c, ent in merged.items():
            adj[node][c] = ent
            adj[c][node] = ent
        if merged:
            cs = np.fromiter(merged, dtype=np.int64, count=len(merged))
            ps = score(np.full(cs.size, node, dtype=np.int64), cs,
                       np.stack([merged[int(c)][0] for c in cs]))
            for c, q in zip(cs.tolist(), ps.tolist()):
                heapq.heappush(heap, (q, node, c))
    if nxt < total:  # a disconnected graph (never for an image); join what is left at height 1
        roots = [int(r) for r in np.flatnonzero(alive)]
        while len(roots) > 1 and nxt < total:
            a, b = roots.pop(), roots.pop()
            children[nxt - n] = (a, b)
            heights[nxt - n] = 1.0
            R[nxt] = R[a] + R[b]
            roots.append(nxt)
            nxt += 1
    return children, heights, R[:, 0].astype(np.int64), edge_ucm
