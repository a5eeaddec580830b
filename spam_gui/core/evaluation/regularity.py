"""Shape regularity of superpixels: SRC, SMF and GR = SRC · SMF (Giraud, Ta, Papadakis,
ICIP 2017), with the traced perimeters and convex hulls they need.

Geometry used by the shape measures (a choice the definitions leave open, documented here)
-----------------------------------------------------------------------------------
A superpixel S is the set of the *centres* of its pixels, points of the integer lattice.
Every quantity of the convexity ratio is measured on that one geometry, so that a digitally
convex shape (a rectangle, a square) scores exactly 1:

- ``|S|`` is the pixel count.
- ``P(S)`` is the length of the contour traced through the centres of the boundary pixels,
  with steps of 1 (horizontal, vertical) and √2 (diagonal): the outer contour of the
  8-connected region as a Moore / chain-code trace gives it (a one-pixel-wide part is walked
  there and back, so counted twice). The contours of holes, if any, are included: a
  superpixel with a hole is less regular than the same one filled. It is computed without
  tracing, by summing the contribution of every 2 × 2 block of pixels (see
  :func:`traced_perimeters`).
- ``hull`` is the convex hull of the pixel centres; ``P(hull)`` its Euclidean perimeter (twice
  the segment length when the hull is flat) and ``|hull|`` the number of lattice points (pixel
  centres) inside or on it, counted exactly with Pick's theorem ``I + B = A + B/2 + 1``.
  ``|hull|`` is then a pixel count like ``|S|`` (it equals ``|S|`` for a digitally convex S).

With this choice an n × n square has ``|S| = |hull| = n²`` and ``P(S) = P(hull) = 4(n − 1)``,
so CR = 1. A one-pixel superpixel has zero perimeter and SRC 0 (docs/algorithm.md §8). For a
disconnected label, the sum of its pieces' contours can be shorter than the hull's perimeter;
CR is then capped at 1.

SMF aligns shapes on their barycentres rounded to the pixel grid (``floor(c + 0.5)`` on each
axis, the same rounding for every superpixel, so that identical shapes align exactly).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from spam_gui.core.evaluation.label_ids import as_label_map as _as_label_map
from spam_gui.core.evaluation.label_ids import compact as _compact

__all__ = ["convex_hull_measures", "shape_regularity", "smf", "src", "traced_perimeters"]

_SQRT2 = math.sqrt(2.0)


# --------------------------------------------------------------------------- shape regularity


def traced_perimeters(labels: Any) -> np.ndarray:
    """Traced contour length of every label, through the pixel centres, steps 1 and √2.

    Computed without tracing: the contour polygon through the centres of a region's boundary
    pixels is the union, over all 2 × 2 blocks of pixels, of the convex hull of the block's
    pixels that belong to the region. Its length is the sum of

    - √2 for each block holding exactly 3 pixels of the label (the triangle's diagonal side);
    - 2√2 for each block holding exactly 2 diagonal pixels of the label (walked both ways);
    - for each pair of 4-adjacent pixels of the label, 1 per side of the pair whose block
      holds no further pixel of the label (2 for a one-pixel-wide part, 0 inside).

    This equals the chain-code (Moore trace, 8-connected) length of the outer contour plus
    those of the holes; a single pixel has length 0.

    Parameters
    ----------
    labels : (H, W) array of int
        Label map, any ids.

    Returns
    -------
    perimeters : (n,) array of float
        One value per distinct label, in increasing id order.
    """
    lab = _as_label_map(labels)
    idx, n = _compact(lab)
    return _traced_perimeters_compact(idx, n)


def _traced_perimeters_compact(idx: np.ndarray, n: int) -> np.ndarray:
    h, w = idx.shape
    p = np.full((h + 2, w + 2), -1, dtype=np.int64)
    p[1:-1, 1:-1] = idx
    per = np.zeros(n, dtype=np.float64)

    # 2 x 2 blocks of the padded map (corners a b / c d)
    a, b, c, d = p[:-1, :-1], p[:-1, 1:], p[1:, :-1], p[1:, 1:]
    ab, ac, ad, bc, bd = a == b, a == c, a == d, b == c, b == d
    # exactly three equal corners: the label of the three, once per block
    three_a = (ab & ac & ~ad) | (ab & ad & ~ac) | (ac & ad & ~ab)  # a with two others, not all
    three_bcd = bc & bd & ~ab  # b, c, d equal, a different
    for mask, src_lab in ((three_a, a), (three_bcd, b)):
        labs = src_lab[mask]
        labs = labs[labs >= 0]
        per += _SQRT2 * np.bincount(labs, minlength=n)
    # exactly two diagonal corners of one label (the other two both different from it)
    diag_ad = ad & ~ab & ~ac
    diag_bc = bc & ~ab & ~bd
    for mask, src_lab in ((diag_ad, a), (diag_bc, b)):
        labs = src_lab[mask]
        labs = labs[labs >= 0]
        per += 2.0 * _SQRT2 * np.bincount(labs, minlength=n)

    # horizontal pairs (y, x)-(y, x+1) inside the image: padded rows 1..h, cols 1..w-1
    core = p[1:-1, 1:-1]
    pair_h = core[:, :-1] == core[:, 1:]
    lab_h = core[:, :-1]
    above = (p[:-2, 1:-2] == lab_h) | (p[:-2, 2:-1] == lab_h)
    below = (p[2:, 1:-2] == lab_h) | (p[2:, 2:-1] == lab_h)
    wts = 2 - above.astype(np.int8) - below.astype(np.int8)
    m = pair_h & (wts > 0)
    per += np.bincount(lab_h[m], weights=wts[m].astype(np.float64), minlength=n)
    # vertical pairs (y, x)-(y+1, x)
    pair_v = core[:-1, :] == core[1:, :]
    lab_v = core[:-1, :]
    left = (p[1:-2, :-2] == lab_v) | (p[2:-1, :-2] == lab_v)
    right = (p[1:-2, 2:] == lab_v) | (p[2:-1, 2:] == lab_v)
    wts = 2 - left.astype(np.int8) - right.astype(np.int8)
    m = pair_v & (wts > 0)
    per += np.bincount(lab_v[m], weights=wts[m].astype(np.float64), minlength=n)
    return per


def _row_extremes(idx: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per (label, row): leftmost and rightmost pixel. Returns (label, row, xmin, xmax) sorted
    by label then row."""
    h, w = idx.shape
    diff = idx[:, 1:] != idx[:, :-1]
    start = np.ones((h, w), dtype=bool)
    start[:, 1:] = diff
    end = np.ones((h, w), dtype=bool)
    end[:, :-1] = diff
    ys, x0 = np.nonzero(start)  # run starts, raster order
    _, x1 = np.nonzero(end)  # run ends, same runs in the same order
    labs = idx[ys, x0]
    code = labs * h + ys
    order = np.argsort(code, kind="stable")  # keeps x increasing inside a (label, row)
    code = code[order]
    x0, x1 = x0[order], x1[order]
    first = np.r_[True, code[1:] != code[:-1]]
    last = np.r_[code[1:] != code[:-1], True]
    gcode = code[first]
    return gcode // h, gcode % h, x0[first], x1[last]


def _hull_of_sorted(pts: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Andrew's monotone chain on points already sorted lexicographically; collinear points
    dropped. Returns the hull vertices in order (1 or 2 points when degenerate)."""
    if len(pts) <= 2:
        return pts if len(pts) < 2 or pts[0] != pts[1] else pts[:1]

    lower: list[tuple[int, int]] = []
    for q in pts:
        while len(lower) >= 2:
            (ox, oy), (px, py) = lower[-2], lower[-1]
            if (px - ox) * (q[1] - oy) - (py - oy) * (q[0] - ox) <= 0:
                lower.pop()
            else:
                break
        lower.append(q)
    upper: list[tuple[int, int]] = []
    for q in reversed(pts):
        while len(upper) >= 2:
            (ox, oy), (px, py) = upper[-2], upper[-1]
            if (px - ox) * (q[1] - oy) - (py - oy) * (q[0] - ox) <= 0:
                upper.pop()
            else:
                break
        upper.append(q)
    hull = lower[:-1] + upper[:-1]
    if not hull:  # all points identical
        return pts[:1]
    return hull


def convex_hull_measures(labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Convex hull of the pixel centres of every label: perimeter and lattice-point count.

    Parameters
    ----------
    labels : (H, W) array of int
        Label map, any ids.

    Returns
    -------
    perimeter : (n,) array of float
        Euclidean perimeter of each hull (twice its length when the hull is a segment,
        0 for a single pixel), in increasing id order.
    area : (n,) array of float
        Number of pixel centres inside or on each hull (Pick's theorem), so directly
        comparable with the pixel count.
    """
    lab = _as_label_map(labels)
    idx, n = _compact(lab)
    return _hull_measures_compact(idx, n)


def _hull_measures_compact(idx: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    labs, rows, xmin, xmax = _row_extremes(idx, n)
    # points per label, sorted by (row, x): (row, xmin), (row, xmax) for each row
    m = labs.size
    lab2 = np.repeat(labs, 2)
    ys = np.repeat(rows, 2).tolist()
    xs = np.empty(2 * m, dtype=np.int64)
    xs[0::2] = xmin
    xs[1::2] = xmax
    xs = xs.tolist()
    bounds = np.flatnonzero(np.r_[True, lab2[1:] != lab2[:-1], True]).tolist()
    lab_of_group = lab2[bounds[:-1]].tolist()

    perim = np.zeros(n, dtype=np.float64)
    area = np.ones(n, dtype=np.float64)
    gcd = math.gcd
    hypot = math.hypot
    for g, k in enumerate(lab_of_group):
        s, e = bounds[g], bounds[g + 1]
        hull = _hull_of_sorted(list(zip(ys[s:e], xs[s:e])))
        nv = len(hull)
        if nv == 1:
            continue
        per = 0.0
        twice_a = 0
        bnd = 0
        for i in range(nv):
            y0, x0 = hull[i - 1]
            y1, x1 = hull[i]
            dy, dx = y1 - y0, x1 - x0
            per += hypot(dy, dx)
            bnd += gcd(abs(dy), abs(dx))
            twice_a += x0 * y1 - x1 * y0
        # nv == 2: the loop walks the segment both ways (perimeter 2L, B = 2 gcd, area 0)
        perim[k] = per
        area[k] = abs(twice_a) / 2.0 + bnd / 2.0 + 1.0
    return perim, area


def _moments(idx: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """count, mean y, mean x, var y, var x per label."""
    h, w = idx.shape
    flat = idx.ravel()
    yy = np.repeat(np.arange(h, dtype=np.float64), w)
    xx = np.tile(np.arange(w, dtype=np.float64), h)
    cnt = np.bincount(flat, minlength=n).astype(np.float64)
    my = np.bincount(flat, weights=yy, minlength=n) / cnt
    mx = np.bincount(flat, weights=xx, minlength=n) / cnt
    vy = np.bincount(flat, weights=(yy - my[flat]) ** 2, minlength=n) / cnt
    vx = np.bincount(flat, weights=(xx - mx[flat]) ** 2, minlength=n) / cnt
    return cnt, my, mx, vy, vx


def _src_compact(idx: np.ndarray, n: int, moments: tuple[np.ndarray, ...] | None = None) -> float:
    cnt, _, _, vy, vx = moments if moments is not None else _moments(idx, n)
    per = _traced_perimeters_compact(idx, n)
    hull_per, hull_area = _hull_measures_compact(idx, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        cr = (cnt / hull_area) * (hull_per / per)
        sy, sx = np.sqrt(vy), np.sqrt(vx)
        v = np.sqrt(np.minimum(sy, sx) / np.maximum(sy, sx))
    cr = np.where(per > 0, np.minimum(cr, 1.0), 0.0)
    v = np.where(np.maximum(sy, sx) > 0, v, 0.0)
    val = np.where(cnt > 1, cr * v, 0.0)
    return float(np.sum(cnt * val) / np.sum(cnt))


def _smf_compact(idx: np.ndarray, n: int, moments: tuple[np.ndarray, ...] | None = None) -> float:
    cnt, my, mx, _, _ = moments if moments is not None else _moments(idx, n)
    h, w = idx.shape
    flat = idx.ravel()
    total = float(flat.size)
    cy = np.floor(my + 0.5).astype(np.int64)
    cx = np.floor(mx + 0.5).astype(np.int64)
    dy = np.repeat(np.arange(h, dtype=np.int64), w) - cy[flat] + (h - 1)
    dx = np.tile(np.arange(w, dtype=np.int64), h) - cx[flat] + (w - 1)
    code = dy * (2 * w - 1) + dx
    sbar = np.bincount(code, minlength=(2 * h - 1) * (2 * w - 1)).astype(np.float64) / total
    sp = sbar[code]
    # ||Sbar - S_k||_1 = 1 + sum over S_k's support of (|Sbar - 1/|S_k|| - Sbar): both sum to 1
    term = np.abs(sp - 1.0 / cnt[flat]) - sp
    dist = 1.0 + np.bincount(flat, weights=term, minlength=n)
    return float(1.0 - np.sum(cnt / total * 0.5 * dist))


def src(labels: Any) -> float:
    """Shape regularity criterion (SRC): convexity, contour smoothness and balance.

    ``SRC = Σ_k (|S_k| / |I|) · CR_k · V_k`` with the convexity ratio
    ``CR_k = (|S_k| / |hull_k|) · (P(hull_k) / P(S_k))`` and the balance
    ``V_k = √(min(σ_y, σ_x) / max(σ_y, σ_x))`` (standard deviations of the pixel coordinates).
    See the module docstring for how areas and perimeters are measured (pixel centres,
    traced contour with steps 1 and √2, hull lattice-point count). A one-pixel superpixel
    counts 0.

    Parameters
    ----------
    labels : (H, W) array of int
        Superpixel label map, any ids.

    Returns
    -------
    src : float
        In [0, 1]; 1 for a grid of squares.

    References
    ----------
    .. [1] R. Giraud, V.-T. Ta and N. Papadakis, "Robust shape regularity criteria for
           superpixel evaluation", ICIP 2017.
    """
    lab = _as_label_map(labels)
    idx, n = _compact(lab)
    return _src_compact(idx, n)


def smf(labels: Any) -> float:
    """Smooth matching factor (SMF): how alike the superpixel shapes are.

    ``SMF = 1 − Σ_k (|S_k| / |I|) · ½ ‖S̄ − Ŝ_k‖₁`` where ``Ŝ_k`` is the indicator of S_k moved
    so that its barycentre (rounded to the pixel grid, ``floor(c + 0.5)``) is at a common origin
    and divided by |S_k|, and ``S̄`` is the sum of the moved indicators divided by Σ_k |S_k|.

    Parameters
    ----------
    labels : (H, W) array of int
        Superpixel label map, any ids.

    Returns
    -------
    smf : float
        In [0, 1]; 1 when all superpixels have the same shape.

    References
    ----------
    .. [1] R. Giraud, V.-T. Ta and N. Papadakis, "Robust shape regularity criteria for
           superpixel evaluation", ICIP 2017.
    """
    lab = _as_label_map(labels)
    idx, n = _compact(lab)
    return _smf_compact(idx, n)


def shape_regularity(labels: Any) -> float:
    """Global regularity GR = SRC · SMF of a superpixel map.

    Parameters
    ----------
    labels : (H, W) array of int
        Superpixel label map, any ids.

    Returns
    -------
    gr : float
        In [0, 1]; 1 for a grid of identical squares, low for thin or ragged shapes.

    See Also
    --------
    src, smf

    References
    ----------
    .. [1] R. Giraud, V.-T. Ta and N. Papadakis, "Robust shape regularity criteria for
           superpixel evaluation", ICIP 2017.
    """
    lab = _as_label_map(labels)
    idx, n = _compact(lab)
    mom = _moments(idx, n)
    return _src_compact(idx, n, mom) * _smf_compact(idx, n, mom)
