"""Compiled CPU kernels of the inference clustering (numba), used by :mod:`spam_gui.core.engine.clustering`.

One soft-clustering iteration is a single pass over the pixels, grouped by initial seed: for
each group, the distances to its (at most 9) candidate centroids, the softmax over them and
the weighted sums of the pixels' features are computed on a tile of pixels that stays in the
L1 cache, and only the (K, F + 1) sums leave the kernel. Nothing of size 9 x P is ever
written to memory, which is what the batched-matrix-product form of
:func:`spam_gui.core.engine.soft_clustering.soft_cluster` (kept for training and CUDA) pays for on a CPU.

Features are laid out "structure of arrays": ``A[f, i]`` is feature ``f`` of the i-th pixel in
group order, so every inner loop runs along contiguous pixels and is vectorised by LLVM. The
exponential of the softmax is a branch-free polynomial (vectorisable, unlike a call to the C
library's ``exp``), accurate to 3e-7 relative; terms below ``exp(-EXP_CUTOFF)`` of the
largest one are dropped (they are below float32's resolution of a sum that contains 1).

The kernels release the GIL: :mod:`spam_gui.core.engine.clustering` runs two halves of the groups
on two Python threads (no numba threading layer, so the app's two worker threads may call
the engine at the same time).

References
----------
Jampani et al., "Superpixel Sampling Networks", ECCV 2018 (the soft clustering).
Lam, Pitrou, Seibert, "Numba: a LLVM-based Python JIT compiler", LLVM-HPC 2015.
"""

from __future__ import annotations

import numba as nb
import numpy as np

# softmax terms exp(d - max) below exp(-EXP_CUTOFF) = 2e-9 are dropped
EXP_CUTOFF = 20.0
# pixels per tile: the tile's distances (9 x TILE) and features (F x TILE) stay in L1 / L2
TILE = 128

_JIT = {"nogil": True, "cache": True, "fastmath": True, "boundscheck": False, "error_model": "numpy"}


@nb.njit(**_JIT)
def gather_rows(src: np.ndarray, weight: float, index: np.ndarray, out: np.ndarray,
                row0: int) -> None:
    """``out[row0 + c, i] = weight * src[index[i], c]``: columns of ``src`` (P, C) for the
    pixels ``index`` (n,) as rows of ``out`` (F, n), one source pixel at a time."""
    n_col = src.shape[1]
    w = np.float32(weight)
    for i in range(index.shape[0]):
        p = index[i]
        for c in range(n_col):
            out[row0 + c, i] = src[p, c] * w


@nb.njit(**_JIT)
def _candidate_weights(g: int, cand: np.ndarray, valid: np.ndarray, cen: np.ndarray,
                       s2: np.ndarray, n_app: int, w: np.ndarray, bias: np.ndarray,
                       s2j: np.ndarray, kj: np.ndarray) -> tuple[int, bool]:
    """Group ``g``'s distinct candidates: ``2 c`` (positions times s_j^2) in ``w[j]``, ``-|c|^2``
    in ``bias[j]``; returns their number and whether their position scales differ."""
    n_feat = cen.shape[1]
    nj = 0
    mixed = False
    for j in range(cand.shape[1]):
        if not valid[g, j]:
            continue
        k = cand[g, j]
        sk = s2[k]
        cc = 0.0
        for f in range(n_app):
            c = cen[k, f]
            w[nj, f] = 2.0 * c
            cc += c * c
        cp = 0.0
        for f in range(n_app, n_feat):
            c = cen[k, f]
            w[nj, f] = 2.0 * sk * c
            cp += c * c
        bias[nj] = -(cc + sk * cp)
        s2j[nj] = sk
        kj[nj] = k
        if sk != s2j[0]:
            mixed = True
        nj += 1
    return nj, mixed


@nb.njit(**_JIT)
def _tile_scores(A: np.ndarray, t0: int, tn: int, nj: int, mixed: bool, n_app: int,
                 w: np.ndarray, bias: np.ndarray, s2j: np.ndarray, D: np.ndarray) -> None:
    """``D[j, t] = 2 w_j . a_t - |c_j|^2 (- s_j^2 |x_t|^2)``: minus the squared distance of
    pixel ``t0 + t`` to candidate j, up to a per-pixel constant.

    Features are taken four at a time, so that each pass over a row of ``D`` does four
    multiply-adds per load and store (the loop is vectorised along the pixels)."""
    n_feat = n_app + 2
    for j in range(nj):
        b = bias[j]
        d = D[j]
        for t in range(tn):
            d[t] = b
    f = 0
    while f + 4 <= n_feat:
        a0 = A[f, t0:t0 + tn]
        a1 = A[f + 1, t0:t0 + tn]
        a2 = A[f + 2, t0:t0 + tn]
        a3 = A[f + 3, t0:t0 + tn]
        for j in range(nj):
            d = D[j]
            w0, w1, w2, w3 = w[j, f], w[j, f + 1], w[j, f + 2], w[j, f + 3]
            for t in range(tn):
                d[t] += w0 * a0[t] + w1 * a1[t] + w2 * a2[t] + w3 * a3[t]
        f += 4
    while f < n_feat:
        a0 = A[f, t0:t0 + tn]
        for j in range(nj):
            d = D[j]
            w0 = w[j, f]
            for t in range(tn):
                d[t] += w0 * a0[t]
        f += 1
    if mixed:
        ay = A[n_app, t0:t0 + tn]
        ax = A[n_app + 1, t0:t0 + tn]
        for j in range(nj):
            d = D[j]
            sk = s2j[j]
            for t in range(tn):
                d[t] -= sk * (ay[t] * ay[t] + ax[t] * ax[t])


@nb.njit(**_JIT)
def _tile_sums(A: np.ndarray, t0: int, tn: int, D: np.ndarray, rows: np.ndarray, nr: int,
               acc: np.ndarray) -> None:
    """``acc[j, f] += sum_t D[j, t] A[f, t0 + t]`` for the ``nr`` rows ``j`` listed in
    ``rows``, over all F + 1 rows of ``A`` (the last one is all ones: soft counts).

    Two candidates and four features at a time: eight running sums per pass over the
    pixels, each load feeding two or four multiply-adds."""
    n_rows = A.shape[0]
    i = 0
    while i < nr:
        j0 = rows[i]
        j1 = rows[i + 1] if i + 1 < nr else j0
        d0 = D[j0]
        d1 = D[j1]
        f = 0
        while f < n_rows:
            f1 = min(f + 1, n_rows - 1)
            f2 = min(f + 2, n_rows - 1)
            f3 = min(f + 3, n_rows - 1)
            a0 = A[f, t0:t0 + tn]
            a1 = A[f1, t0:t0 + tn]
            a2 = A[f2, t0:t0 + tn]
            a3 = A[f3, t0:t0 + tn]
            s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = np.float32(0.0)
            for t in range(tn):
                q0 = d0[t]
                q1 = d1[t]
                x0, x1, x2, x3 = a0[t], a1[t], a2[t], a3[t]
                s00 += q0 * x0
                s01 += q0 * x1
                s02 += q0 * x2
                s03 += q0 * x3
                s10 += q1 * x0
                s11 += q1 * x1
                s12 += q1 * x2
                s13 += q1 * x3
            # (a clamped feature index repeats f: its sums are dropped)
            acc[j0, f] += s00
            if f1 > f:
                acc[j0, f1] += s01
            if f2 > f1:
                acc[j0, f2] += s02
            if f3 > f2:
                acc[j0, f3] += s03
            if j1 != j0:
                acc[j1, f] += s10
                if f1 > f:
                    acc[j1, f1] += s11
                if f2 > f1:
                    acc[j1, f2] += s12
                if f3 > f2:
                    acc[j1, f3] += s13
            f += 4
        i += 2


@nb.njit(**_JIT)
def _exp_neg(v: np.float32) -> np.float32:
    """``exp(v)`` in float32 for ``v <= 0``, 0 below ``-EXP_CUTOFF`` (relative error < 3e-7).

    ``v = k ln 2 + r`` with ``|r| <= ln(2) / 2`` (Cody-Waite: ln 2 in two parts), ``exp(r)`` by
    its degree-6 Taylor polynomial and ``2^k`` (0 <= -k <= 29) as a product selected by the
    bits of -k: only multiplications and selections, which LLVM vectorises.
    """
    x = v if v > np.float32(-EXP_CUTOFF) else np.float32(-EXP_CUTOFF)
    kf = np.floor(x * np.float32(1.4426950408889634) + np.float32(0.5))
    r = x - kf * np.float32(0.693359375) - kf * np.float32(-2.12194440e-4)
    p = np.float32(1.0) + r * (np.float32(1.0) + r * (np.float32(0.5) + r * (
        np.float32(1.0 / 6.0) + r * (np.float32(1.0 / 24.0) + r * (
            np.float32(1.0 / 120.0) + r * np.float32(1.0 / 720.0))))))
    k = np.int32(-kf)
    p *= np.float32(0.5) if k & 1 else np.float32(1.0)
    p *= np.float32(0.25) if k & 2 else np.float32(1.0)
    p *= np.float32(0.0625) if k & 4 else np.float32(1.0)
    p *= np.float32(0.00390625) if k & 8 else np.float32(1.0)
    p *= np.float32(1.52587890625e-05) if k & 16 else np.float32(1.0)
    return p if v > np.float32(-EXP_CUTOFF) else np.float32(0.0)


@nb.njit(**_JIT)
def soft_pass(A: np.ndarray, offsets: np.ndarray, cand: np.ndarray, valid: np.ndarray,
              cen: np.ndarray, s2: np.ndarray, n_app: int, g0: int, g1: int,
              sums: np.ndarray) -> None:
    """One soft-assignment step over groups ``g0 .. g1 - 1``, adding into ``sums``.

    Parameters
    ----------
    A:
        (F + 1, P) float32 features in group order: appearance (``n_app`` rows), unscaled y
        and x, and a row of ones.
    offsets:
        (G + 1,) start of each group in ``A``'s columns.
    cand, valid:
        (G, 9) candidate seeds of each group and whether each slot counts (first occurrence).
    cen:
        (K, F) float32 centroids (appearance, unscaled position).
    s2:
        (K,) float32 squared position scale of each seed.
    n_app:
        Number of appearance features (F - 2).
    g0, g1:
        The range of groups to process.
    sums:
        (K, F + 1) float64: receives, per seed, the soft-weighted feature sums and (last
        column) the soft pixel counts.
    """
    n_rows = A.shape[0]
    m9 = cand.shape[1]
    w = np.empty((m9, n_rows), np.float32)
    bias = np.empty(m9, np.float32)
    s2j = np.empty(m9, np.float32)
    kj = np.empty(m9, np.int64)
    D = np.empty((m9, TILE), np.float32)
    mx = np.empty(TILE, np.float32)
    tot = np.empty(TILE, np.float32)
    rows = np.empty(m9, np.int64)
    acc = np.zeros((m9, n_rows), np.float64)
    for g in range(g0, g1):
        s, e = offsets[g], offsets[g + 1]
        if e <= s:
            continue
        nj, mixed = _candidate_weights(g, cand, valid, cen, s2, n_app, w, bias, s2j, kj)
        acc[:nj] = 0.0
        for t0 in range(s, e, TILE):
            tn = min(TILE, e - t0)
            _tile_scores(A, t0, tn, nj, mixed, n_app, w, bias, s2j, D)
            d = D[0]
            for t in range(tn):
                mx[t] = d[t]
                tot[t] = 0.0
            # (comparisons written out: numba's max() does not vectorise)
            for j in range(1, nj):
                d = D[j]
                for t in range(tn):
                    x, m = d[t], mx[t]
                    mx[t] = x if x > m else m
            nr = 0
            for j in range(nj):
                d = D[j]
                mass = np.float32(0.0)
                for t in range(tn):
                    q = _exp_neg(d[t] - mx[t])
                    tot[t] += q
                    mass += q
                    d[t] = q
                if mass > 0.0:  # a candidate no pixel of the tile is near adds nothing
                    rows[nr] = j
                    nr += 1
            for t in range(tn):
                tot[t] = np.float32(1.0) / tot[t]
            for i in range(nr):
                d = D[rows[i]]
                for t in range(tn):
                    d[t] *= tot[t]
            _tile_sums(A, t0, tn, D, rows, nr, acc)
        for j in range(nj):
            k = kj[j]
            for f in range(n_rows):
                sums[k, f] += acc[j, f]


@nb.njit(**_JIT)
def hard_pass(A: np.ndarray, offsets: np.ndarray, cand: np.ndarray, valid: np.ndarray,
              cen: np.ndarray, s2: np.ndarray, n_app: int, g0: int, g1: int,
              out: np.ndarray) -> None:
    """The nearest candidate of every pixel of groups ``g0 .. g1 - 1``: ``out[i]`` is the seed
    of column ``i`` of ``A`` (ties go to the earlier candidate slot). Arguments as for
    :func:`soft_pass`."""
    m9 = cand.shape[1]
    w = np.empty((m9, A.shape[0]), np.float32)
    bias = np.empty(m9, np.float32)
    s2j = np.empty(m9, np.float32)
    kj = np.empty(m9, np.int64)
    D = np.empty((m9, TILE), np.float32)
    mx = np.empty(TILE, np.float32)
    arg = np.empty(TILE, np.int64)
    for g in range(g0, g1):
        s, e = offsets[g], offsets[g + 1]
        if e <= s:
            continue
        nj, mixed = _candidate_weights(g, cand, valid, cen, s2, n_app, w, bias, s2j, kj)
        for t0 in range(s, e, TILE):
            tn = min(TILE, e - t0)
            _tile_scores(A, t0, tn, nj, mixed, n_app, w, bias, s2j, D)
            for t in range(tn):
                mx[t] = D[0, t]
                arg[t] = kj[0]
            for j in range(1, nj):
                k = kj[j]
                d = D[j]
                for t in range(tn):
                    better = d[t] > mx[t]
                    mx[t] = d[t] if better else mx[t]
                    arg[t] = k if better else arg[t]
            for t in range(tn):
                out[t0 + t] = arg[t]


@nb.njit(**_JIT)
def group_sums(A: np.ndarray, offsets: np.ndarray, cand: np.ndarray, sums: np.ndarray) -> None:
    """Per seed, the sums of its initial pixels' rows of ``A`` (the last one, all ones, gives
    their count): the pixels of group g start at seed ``cand[g, 0]``."""
    for g in range(offsets.shape[0] - 1):
        s, e = offsets[g], offsets[g + 1]
        if e <= s:
            continue
        k = cand[g, 0]
        for f in range(A.shape[0]):
            a = A[f, s:e]
            acc = 0.0
            for i in range(e - s):
                acc += a[i]
            sums[k, f] += acc


# -- the encoder's output layer (spam_gui.core.engine.encoder.InferenceEncoder) --------------------

@nb.njit(**_JIT)
def _source_index(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PyTorch's bilinear source coordinates (``align_corners=False``, output size given):
    for each output index, the two input indices and the weight of the second."""
    scale = n_in / n_out
    i0 = np.empty(n_out, np.int64)
    i1 = np.empty(n_out, np.int64)
    lam = np.empty(n_out, np.float32)
    for o in range(n_out):
        src = scale * (o + 0.5) - 0.5
        if src < 0.0:
            src = 0.0
        a = int(src)
        i0[o] = a
        i1[o] = a + 1 if a < n_in - 1 else a
        lam[o] = src - a
    return i0, i1, lam


@nb.njit(**_JIT)
def taps_rows(taps: np.ndarray, width: int, out: np.ndarray, i0: int, i1: int) -> None:
    """Horizontal half of :func:`add_upsampled_taps`, for low-resolution rows ``i0 .. i1 - 1``:
    ``out[dy, i, x] = sum_dx up_x(taps[i, :, dy, dx])[x + dx - 1]`` (zero outside the row).

    ``taps`` is (h, w, 3, 3, C), ``out`` (3, h, width, C)."""
    w, C = taps.shape[1], taps.shape[4]
    ci0, ci1, cl = _source_index(width, w)
    for i in range(i0, i1):
        for dy in range(3):
            row = out[dy, i]
            for x in range(width):
                acc = row[x]
                for c in range(C):
                    acc[c] = 0.0
                for dx in range(3):
                    xx = x + dx - 1
                    if xx < 0 or xx >= width:
                        continue
                    lx = cl[xx]
                    t0 = taps[i, ci0[xx], dy, dx]
                    t1 = taps[i, ci1[xx], dy, dx]
                    for c in range(C):
                        acc[c] += t0[c] + lx * (t1[c] - t0[c])


@nb.njit(**_JIT)
def add_taps_columns(rows: np.ndarray, out: np.ndarray, r0: int, r1: int) -> None:
    """Vertical half of :func:`add_upsampled_taps`, for output rows ``r0 .. r1 - 1``:
    ``out[y] += sum_dy up_y(rows[dy])[y + dy - 1]`` (zero outside the image).

    ``rows`` is (3, h, W, C) from :func:`taps_rows`, ``out`` (H, W, C)."""
    h = rows.shape[1]
    H, W, C = out.shape
    ri0, ri1, rl = _source_index(H, h)
    for y in range(r0, r1):
        o = out[y]
        for dy in range(3):
            yy = y + dy - 1
            if yy < 0 or yy >= H:
                continue
            ly = rl[yy]
            ra = rows[dy, ri0[yy]]
            rb = rows[dy, ri1[yy]]
            for x in range(W):
                oc, pa, pb = o[x], ra[x], rb[x]
                for c in range(C):
                    oc[c] += pa[c] + ly * (pb[c] - pa[c])


def add_upsampled_taps(taps: np.ndarray, out: np.ndarray, pool=None, parts: int = 1) -> None:
    """``out[y, x] += sum_{dy, dx} up(taps[..., dy, dx, :])[y + dy - 1, x + dx - 1]``: a 3 x 3
    convolution (zero padding) of a bilinearly upsampled map, from the low-resolution products
    of the map with each tap's weights.

    Parameters
    ----------
    taps:
        (h, w, 3, 3, C) float32: at each low-resolution pixel, the map times the weights of
        tap (dy, dx) (a 1 x 1 convolution with 9 C outputs).
    out:
        (H, W, C) float32 full-resolution output, added to in place.
    pool, parts:
        An executor and the number of row ranges to run on it (1: in this thread).

    Notes
    -----
    ``up`` is PyTorch's ``interpolate(mode="bilinear", align_corners=False)`` to (H, W).
    Upsampling and 1 x 1 products commute, so this equals the convolution of the upsampled
    map up to float rounding, without the (H, W, channels) upsampled map: separable, a
    horizontal pass on the low-resolution rows (:func:`taps_rows`) then a vertical one
    (:func:`add_taps_columns`).
    """
    h = taps.shape[0]
    H, W, C = out.shape
    rows = np.empty((3, h, W, C), np.float32)
    if pool is None or parts <= 1:
        taps_rows(taps, W, rows, 0, h)
        add_taps_columns(rows, out, 0, H)
        return
    for fut in [pool.submit(taps_rows, taps, W, rows, a, b) for a, b in _ranges(h, parts)]:
        fut.result()
    for fut in [pool.submit(add_taps_columns, rows, out, a, b) for a, b in _ranges(H, parts)]:
        fut.result()


def _ranges(n: int, parts: int) -> list[tuple[int, int]]:
    cuts = [n * i // parts for i in range(parts + 1)]
    return [(a, b) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]


# -- smoothing (spam_gui.core.engine.smoothing.majority_filter) ------------------------------------

@nb.njit(nogil=True, cache=True, boundscheck=False)
def majority_pass(lab: np.ndarray, obj: np.ndarray, lab_obj: np.ndarray, constrained: bool,
                  mutable: np.ndarray, use_mutable: bool, allowed: np.ndarray,
                  use_allowed: bool, out: np.ndarray) -> bool:
    """One pass of :func:`spam_gui.core.engine.smoothing.majority_filter` from ``lab`` into ``out``
    (both (H, W) int32); returns whether any pixel changed.

    Exactly the rule of the NumPy version: borders replicated; the pixel's own label counts
    its occurrences in the 3 x 3 window; its up, left, right and down neighbours' labels, in
    that order, replace the current best only with a strictly higher count, and only when
    allowed (same object unless the pixel is uncertain, in ``allowed`` when given); pixels
    outside ``mutable`` keep their label.
    """
    h, w = lab.shape
    changed = False
    win = np.empty(9, np.int32)
    for y in range(h):
        y0 = y - 1 if y > 0 else 0
        y2 = y + 1 if y < h - 1 else h - 1
        for x in range(w):
            cur = lab[y, x]
            if use_mutable and not mutable[y, x]:
                out[y, x] = cur
                continue
            x0 = x - 1 if x > 0 else 0
            x2 = x + 1 if x < w - 1 else w - 1
            win[0] = lab[y0, x0]
            win[1] = lab[y0, x]
            win[2] = lab[y0, x2]
            win[3] = lab[y, x0]
            win[4] = cur
            win[5] = lab[y, x2]
            win[6] = lab[y2, x0]
            win[7] = lab[y2, x]
            win[8] = lab[y2, x2]
            best = cur
            best_count = 0
            for i in range(9):
                best_count += win[i] == cur
            for c in (1, 3, 5, 7):
                cand = win[c]
                if cand == best:
                    continue  # its count equals best_count: never strictly better
                count = 0
                for i in range(9):
                    count += win[i] == cand
                if count <= best_count:
                    continue
                if constrained and lab_obj[cand] != obj[y, x] and obj[y, x] != 0:
                    continue
                if use_allowed and not allowed[cand]:
                    continue
                best = cand
                best_count = count
            out[y, x] = best
            if best != cur:
                changed = True
    return changed


# -- nearest seed (spam_gui.core.engine.seeds.kmeans_seeds) -----------------------------------------

@nb.njit(nogil=True, cache=True, boundscheck=False)
def nearest_points(points: np.ndarray, seeds: np.ndarray, out: np.ndarray) -> None:
    """``out[i]``: the index of the seed nearest to ``points[i]`` (squared Euclidean distance,
    exact; ties go to the lowest index). ``points`` (n, 2) and ``seeds`` (k, 2) float64.

    The seeds are bucketed in a grid of about one seed per cell; each point searches rings of
    cells around its own until the next ring cannot hold anything as near as its best.
    """
    n, k = points.shape[0], seeds.shape[0]
    lo_y = min(points[:, 0].min(), seeds[:, 0].min())
    lo_x = min(points[:, 1].min(), seeds[:, 1].min())
    hi_y = max(points[:, 0].max(), seeds[:, 0].max())
    hi_x = max(points[:, 1].max(), seeds[:, 1].max())
    span = max(hi_y - lo_y, hi_x - lo_x, 1e-9)
    cell = max(np.sqrt(max(hi_y - lo_y, 1.0) * max(hi_x - lo_x, 1.0) / k), span / 4096.0)
    gh = int((hi_y - lo_y) / cell) + 1
    gw = int((hi_x - lo_x) / cell) + 1
    # counting sort of the seeds by cell (stable: increasing index inside a cell)
    seed_cell = np.empty(k, np.int64)
    start = np.zeros(gh * gw + 1, np.int64)
    for s in range(k):
        cy = min(int((seeds[s, 0] - lo_y) / cell), gh - 1)
        cx = min(int((seeds[s, 1] - lo_x) / cell), gw - 1)
        seed_cell[s] = cy * gw + cx
        start[seed_cell[s] + 1] += 1
    for c in range(gh * gw):
        start[c + 1] += start[c]
    fill = start[:-1].copy()
    members = np.empty(k, np.int64)
    for s in range(k):
        members[fill[seed_cell[s]]] = s
        fill[seed_cell[s]] += 1
    for i in range(n):
        py, px = points[i, 0], points[i, 1]
        cy = min(int((py - lo_y) / cell), gh - 1)
        cx = min(int((px - lo_x) / cell), gw - 1)
        best_d = np.inf
        best = -1
        r = 0
        while True:
            for yy in range(cy - r, cy + r + 1):
                if yy < 0 or yy >= gh:
                    continue
                edge_row = yy == cy - r or yy == cy + r
                step = 1 if edge_row else 2 * r
                xx = cx - r
                while xx <= cx + r:
                    if 0 <= xx < gw:
                        c = yy * gw + xx
                        for m in range(start[c], start[c + 1]):
                            s = members[m]
                            dy = seeds[s, 0] - py
                            dx = seeds[s, 1] - px
                            d = dy * dy + dx * dx
                            if d < best_d or (d == best_d and s < best):
                                best_d = d
                                best = s
                    xx += step if step > 0 else 1
            # every cell of ring r + 1 is at least r whole cells away
            reach = r * cell
            if best >= 0 and reach * reach > best_d:
                break
            if r > gh + gw:
                break
            r += 1
        out[i] = best


# -- connectivity (spam_gui.core.engine.connectivity.find_pieces) -----------------------------------

@nb.njit(nogil=True, cache=True, boundscheck=False)
def piece_stats(comp: np.ndarray, certain: np.ndarray, n: int, size: np.ndarray,
                first: np.ndarray, n_certain: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per piece of ``comp`` ((H, W) ids 0..n-1): its pixel count, first raster index and
    number of ``certain`` pixels (into the (n,) output arrays); returns the sorted codes
    ``lo * n + hi`` of the 4-adjacent piece pairs (lo < hi) and their border lengths."""
    h, w = comp.shape
    for c in range(n):
        size[c] = 0
        first[c] = -1
        n_certain[c] = 0
    for y in range(h):
        for x in range(w):
            c = comp[y, x]
            size[c] += 1
            if first[c] < 0:
                first[c] = y * w + x
            if certain[y, x]:
                n_certain[c] += 1
    codes = np.empty(2 * h * w, np.int64)
    m = 0
    for y in range(h):
        for x in range(w):
            a = comp[y, x]
            if x + 1 < w:
                b = comp[y, x + 1]
                if a != b:
                    codes[m] = min(a, b) * np.int64(n) + max(a, b)
                    m += 1
            if y + 1 < h:
                b = comp[y + 1, x]
                if a != b:
                    codes[m] = min(a, b) * np.int64(n) + max(a, b)
                    m += 1
    srt = np.sort(codes[:m])
    uniq = np.empty(m, np.int64)
    count = np.empty(m, np.int64)
    u = 0
    for i in range(m):
        if u > 0 and srt[i] == uniq[u - 1]:
            count[u - 1] += 1
        else:
            uniq[u] = srt[i]
            count[u] = 1
            u += 1
    return uniq[:u], count[:u]


@nb.njit(nogil=True, cache=True, boundscheck=False)
def value_range(labels: np.ndarray, values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)``: the smallest and largest positive value of ``values`` over the pixels of
    each label ``0..n-1`` (flat arrays of one size); labels without one get ``lo`` = int64 max
    and ``hi`` = -1. One pass (the object edits' "is each superpixel still in one object")."""
    lo = np.full(n, np.iinfo(np.int64).max, np.int64)
    hi = np.full(n, -1, np.int64)
    for i in range(labels.shape[0]):
        v = np.int64(values[i])
        if v > 0:
            k = labels[i]
            if v < lo[k]:
                lo[k] = v
            if v > hi[k]:
                hi[k] = v
    return lo, hi


@nb.njit(nogil=True, cache=True, boundscheck=False)
def id_counts(values: np.ndarray, n: int) -> np.ndarray:
    """How many times each value ``0..n-1`` occurs in the flat non-negative int array
    ``values`` (values >= n are not counted): ``np.bincount`` without its int64 copy of the
    input (the object edits count a 12-megapixel map in milliseconds)."""
    out = np.zeros(n, np.int64)
    for i in range(values.shape[0]):
        v = values[i]
        if v < n:
            out[v] += 1
    return out
