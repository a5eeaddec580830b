"""Superpixel metrics: ASA, boundary recall / precision, EV, shape regularity (GR), ΔK.

Every metric takes label maps as (H, W) integer arrays with any ids (they need not be
contiguous, start at 1, or be non-negative) and returns a Python ``float``. Everything is
vectorised numpy (plus :mod:`scipy.ndimage`); nothing here imports Qt or torch.

The definitions follow ``docs/algorithm.md`` §8 and the superpixel evaluation framework of
Giraud et al. used by the SPAM paper (§4.1):

- **ASA** (achievable segmentation accuracy), from an *exact* contingency table.
- **BR / BP** (boundary recall / precision) with a tolerance window of (2r + 1)² pixels.
- **EV** (explained variation) of the image colours.
- **GR** (global regularity) = SRC · SMF, the shape regularity criteria of Giraud, Ta and
  Papadakis (ICIP 2017).
- **ΔK** = |K̂ − K| / K, the relative error on the number of superpixels.

BSDS500 has several annotators per image: evaluate each (image, annotator) pair, average over
annotators, then over images (see :mod:`spam_gui.core.evaluation.evaluate`).

The shape measures' geometry is described in :mod:`spam_gui.core.evaluation.regularity`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from spam_gui.core.evaluation.label_ids import as_label_map as _as_label_map
from spam_gui.core.evaluation.label_ids import check_same_shape as _check_same_shape
from spam_gui.core.evaluation.label_ids import compact as _compact
from spam_gui.core.params import EVAL_DEFAULTS

__all__ = [
    "asa",
    "boundary_map",
    "boundary_recall",
    "boundary_precision",
    "boundary_recall_precision",
    "explained_variation",
    "delta_k",
    "n_superpixels",
    "segmentation_covering",
]

_DENSE_CONTINGENCY_MAX = 1 << 25  # cells; above this the sparse path (np.unique) is used


# --------------------------------------------------------------------------- helpers


def n_superpixels(labels: Any) -> int:
    """Number of distinct labels in a label map (K̂).

    Parameters
    ----------
    labels : (H, W) array of int
        Superpixel label map, any ids.

    Returns
    -------
    n : int
        The number of distinct ids.
    """
    return _compact(_as_label_map(labels))[1]


# --------------------------------------------------------------------------- ASA


def asa(labels: Any, gt: Any) -> float:
    """Achievable segmentation accuracy of a superpixel map against one ground truth.

    ``ASA = (1/|I|) Σ_k max_j |S_k ∩ G_j|``: the accuracy of the best segmentation that can be
    built by giving each superpixel a single ground-truth label. The contingency table
    ``|S_k ∩ G_j|`` is exact (pair codes counted with ``np.bincount``, or ``np.unique`` when
    the table would be too large): no fixed-bin histogram, any number of labels.

    Parameters
    ----------
    labels : (H, W) array of int
        Superpixel label map, any ids.
    gt : (H, W) array of int
        Ground-truth segmentation, any ids, same shape.

    Returns
    -------
    asa : float
        In (0, 1]; 1 when every superpixel lies inside one ground-truth region.

    References
    ----------
    .. [1] M.-Y. Liu, O. Tuzel, S. Ramalingam and R. Chellappa, "Entropy rate superpixel
           segmentation", CVPR 2011.
    .. [2] R. Giraud, V.-T. Ta and N. Papadakis, "Robust superpixels using color and contour
           features along linear path", CVIU 170, 2018 (evaluation framework).
    """
    s = _as_label_map(labels)
    g = _as_label_map(gt, "gt")
    _check_same_shape(s, g)
    si, ns = _compact(s)
    gi, ng = _compact(g)
    code = si.ravel() * ng + gi.ravel()
    if ns * ng <= _DENSE_CONTINGENCY_MAX:
        table = np.bincount(code, minlength=ns * ng).reshape(ns, ng)
        best = table.max(axis=1)
    else:
        pairs, counts = np.unique(code, return_counts=True)
        rows = pairs // ng
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        best = np.maximum.reduceat(counts, starts)
    return float(best.sum()) / float(s.size)


# --------------------------------------------------------------------------- covering


def segmentation_covering(pred: Any, gt: Any) -> float:
    """Segmentation covering of a ground truth by a predicted segmentation.

    ``C(pred -> gt) = (1/N) Σ_{R ∈ gt} |R| max_{R' ∈ pred} |R ∩ R'| / |R ∪ R'|``: each
    ground-truth region is matched with the predicted region that overlaps it best
    (intersection over union), weighted by its area. Compute it for each annotator and
    average over annotators, then over images (BSDS500 protocol). The regions are the ids of
    the maps as given (a region need not be connected); the intersections come from an exact
    contingency table, as for :func:`asa`.

    Parameters
    ----------
    pred : (H, W) array of int
        Predicted segmentation (objects), any ids.
    gt : (H, W) array of int
        Ground-truth segmentation, any ids, same shape.

    Returns
    -------
    covering : float
        In (0, 1]; 1 when ``pred`` and ``gt`` are the same partition.

    References
    ----------
    .. [1] P. Arbelaez, M. Maire, C. Fowlkes and J. Malik, "Contour detection and
           hierarchical image segmentation", IEEE TPAMI 33(5), 2011, §3.1 (eq. 12).
    """
    s = _as_label_map(pred, "pred")
    g = _as_label_map(gt, "gt")
    _check_same_shape(s, g)
    si, ns = _compact(s)
    gi, ng = _compact(g)
    code = gi.ravel() * ns + si.ravel()
    pairs, inter = np.unique(code, return_counts=True)
    g_of, s_of = pairs // ns, pairs % ns
    g_area = np.bincount(gi.ravel(), minlength=ng)
    s_area = np.bincount(si.ravel(), minlength=ns)
    iou = inter / (g_area[g_of] + s_area[s_of] - inter)
    best = np.zeros(ng)
    np.maximum.at(best, g_of, iou)
    return float(np.sum(g_area * best)) / float(s.size)


# --------------------------------------------------------------------------- boundaries


def boundary_map(labels: Any) -> np.ndarray:
    """Boundary pixels of a label map: those whose label differs from the right or lower
    neighbour (on the last column only the lower one counts, on the last row only the right one).

    Parameters
    ----------
    labels : (H, W) array of int
        Label map.

    Returns
    -------
    boundary : (H, W) array of bool
    """
    lab = _as_label_map(labels)
    b = np.zeros(lab.shape, dtype=bool)
    b[:, :-1] = lab[:, :-1] != lab[:, 1:]
    b[:-1, :] |= lab[:-1, :] != lab[1:, :]
    return b


def dilate(boundary: np.ndarray, r: int) -> np.ndarray:
    """Binary dilation by a (2r + 1) × (2r + 1) square (separable maximum filter)."""
    if r <= 0:
        return boundary.copy()
    out = ndimage.maximum_filter(boundary.view(np.uint8), size=2 * r + 1, mode="constant", cval=0)
    return out.astype(bool, copy=False)


def check_radius(r: int) -> int:
    if int(r) != r or r < 0:
        raise ValueError(f"the boundary tolerance r must be an integer >= 0, got {r!r}")
    return int(r)


def hit_ratio(boundary: np.ndarray, other_dilated: np.ndarray) -> float:
    n = int(np.count_nonzero(boundary))
    if n == 0:
        return 1.0  # nothing to find: vacuously perfect
    return float(np.count_nonzero(boundary & other_dilated)) / n


def boundary_recall_precision(labels: Any, gt: Any, r: int = EVAL_DEFAULTS.boundary_r) -> tuple[float, float]:
    """Boundary recall and precision of a superpixel map against one ground truth.

    Parameters
    ----------
    labels : (H, W) array of int
        Superpixel label map.
    gt : (H, W) array of int
        Ground-truth segmentation, same shape.
    r : int, optional
        Tolerance: a boundary pixel is matched when the other map has a boundary pixel in the
        (2r + 1) × (2r + 1) window centred on it. Default 2.

    Returns
    -------
    recall, precision : float
        ``recall`` is the share of the ground truth's boundary pixels that are matched,
        ``precision`` the share of the superpixels' boundary pixels that are matched. A map
        without any boundary pixel gives 1 (nothing to find).

    References
    ----------
    .. [1] D. Martin, C. Fowlkes and J. Malik, "Learning to detect natural image boundaries
           using local brightness, color, and texture cues", TPAMI 26(5), 2004.
    .. [2] D. Stutz, A. Hermans and B. Leibe, "Superpixels: an evaluation of the
           state-of-the-art", CVIU 166, 2018.
    """
    r = check_radius(r)
    s = _as_label_map(labels)
    g = _as_label_map(gt, "gt")
    _check_same_shape(s, g)
    sb, gb = boundary_map(s), boundary_map(g)
    return hit_ratio(gb, dilate(sb, r)), hit_ratio(sb, dilate(gb, r))


def boundary_recall(labels: Any, gt: Any, r: int = EVAL_DEFAULTS.boundary_r) -> float:
    """Boundary recall: share of the ground truth's boundary pixels that have a superpixel
    boundary pixel in the (2r + 1)² window around them.

    Parameters
    ----------
    labels : (H, W) array of int
        Superpixel label map.
    gt : (H, W) array of int
        Ground-truth segmentation, same shape.
    r : int, optional
        Tolerance radius in pixels (Chebyshev distance). Default 2.

    Returns
    -------
    br : float
        In [0, 1]; 1 when the ground truth has no boundary.

    References
    ----------
    .. [1] D. Martin, C. Fowlkes and J. Malik, "Learning to detect natural image boundaries
           using local brightness, color, and texture cues", TPAMI 26(5), 2004.
    """
    r = check_radius(r)
    s = _as_label_map(labels)
    g = _as_label_map(gt, "gt")
    _check_same_shape(s, g)
    return hit_ratio(boundary_map(g), dilate(boundary_map(s), r))


def boundary_precision(labels: Any, gt: Any, r: int = EVAL_DEFAULTS.boundary_r) -> float:
    """Boundary precision: share of the superpixels' boundary pixels that have a ground-truth
    boundary pixel in the (2r + 1)² window around them.

    Parameters
    ----------
    labels : (H, W) array of int
        Superpixel label map.
    gt : (H, W) array of int
        Ground-truth segmentation, same shape.
    r : int, optional
        Tolerance radius in pixels (Chebyshev distance). Default 2.

    Returns
    -------
    bp : float
        In [0, 1]; 1 when the superpixel map has no boundary (a single superpixel).

    References
    ----------
    .. [1] D. Martin, C. Fowlkes and J. Malik, "Learning to detect natural image boundaries
           using local brightness, color, and texture cues", TPAMI 26(5), 2004.
    """
    r = check_radius(r)
    s = _as_label_map(labels)
    g = _as_label_map(gt, "gt")
    _check_same_shape(s, g)
    return hit_ratio(boundary_map(s), dilate(boundary_map(g), r))


# --------------------------------------------------------------------------- EV


def explained_variation(labels: Any, image: Any) -> float:
    """Explained variation of the image colours by the superpixels' mean colours.

    ``EV = Σ_k |S_k| ‖μ_k − μ‖² / Σ_p ‖I_p − μ‖²`` with μ_k the mean colour of superpixel k
    and μ that of the image, on the RGB values as given (uint8 0..255 or floats).

    Parameters
    ----------
    labels : (H, W) array of int
        Superpixel label map.
    image : (H, W, C) or (H, W) array
        The image (any number of channels; RGB for the standard metric).

    Returns
    -------
    ev : float
        In [0, 1]; 1 when every superpixel has one colour (and for a constant image).

    References
    ----------
    .. [1] A. P. Moore, S. J. D. Prince, J. Warrell, U. Mohammed and G. Jones, "Superpixel
           lattices", CVPR 2008.
    """
    lab = _as_label_map(labels)
    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[:2] != lab.shape:
        raise ValueError(f"labels have shape {lab.shape} but the image has shape {img.shape}")
    idx, n = _compact(lab)
    flat = idx.ravel()
    x = img.reshape(-1, img.shape[2])
    x = x - x.mean(axis=0)
    total = float(np.einsum("ij,ij->", x, x))
    if total <= 0.0:
        return 1.0
    counts = np.bincount(flat, minlength=n).astype(np.float64)
    between = 0.0
    for c in range(x.shape[1]):
        sums = np.bincount(flat, weights=x[:, c], minlength=n)
        between += float(np.sum(sums * sums / counts))
    return min(1.0, between / total)


# --------------------------------------------------------------------------- shape regularity
# SRC, SMF and GR live in :mod:`spam_gui.core.evaluation.regularity`.



# --------------------------------------------------------------------------- ΔK


def delta_k(labels_or_count: Any, k: int) -> float:
    """Relative error on the number of superpixels, ``ΔK = |K̂ − K| / K``.

    Parameters
    ----------
    labels_or_count : int or (H, W) array of int
        Either K̂ itself or a label map whose number of distinct labels is K̂.
    k : int
        The requested number of superpixels K (> 0).

    Returns
    -------
    dk : float
        0 when exactly K superpixels were produced.

    References
    ----------
    .. [1] J. Walther, R. Giraud and M. Clément, "SPAM: SuperPixel Anything Model", 2025, §4.1.
    """
    if k <= 0:
        raise ValueError(f"the requested number of superpixels must be > 0, got {k}")
    if isinstance(labels_or_count, (int, np.integer)):
        khat = int(labels_or_count)
    else:
        khat = n_superpixels(labels_or_count)
    return abs(khat - k) / float(k)
