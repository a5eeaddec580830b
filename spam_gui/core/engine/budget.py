"""How many superpixels each prior object gets (docs/algorithm.md §3).

All functions take object areas (pixel counts, uncertain pixels excluded) and return integer
budgets ``K_o >= 1`` in the same order.

References
----------
Walther, Giraud, Clément, "SPAM: SuperPixel Anything Model", 2025, §3.1 and §3.3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from spam_gui.core.params import DEFAULTS, RATIO_MODES


def largest_remainder(quotas: np.ndarray, total: int,
                      minimum: int | np.ndarray = 1) -> np.ndarray:
    """Integers close to ``quotas`` that sum to ``total``, each at least ``minimum``.

    Hamilton's method: floor the quotas, then hand the remaining units to the largest
    fractional parts (ties broken by index). When the minimum alone exceeds ``total``, every
    entry gets the minimum and the sum is larger than ``total``.

    Parameters
    ----------
    quotas:
        Non-negative real quotas, one per object.
    total:
        The sum wanted.
    minimum:
        Lower bound of every entry: one integer, or one per entry.
    """
    q = np.asarray(quotas, dtype=np.float64)
    if q.size == 0:
        return np.zeros(0, dtype=np.int64)
    if np.any(q < 0) or not np.all(np.isfinite(q)):
        raise ValueError("quotas must be finite and non-negative")
    minimum = np.broadcast_to(np.asarray(minimum, dtype=np.int64), q.shape)
    base = np.maximum(np.floor(q).astype(np.int64), minimum)
    remaining = int(total) - int(base.sum())
    if remaining > 0:
        frac = q - np.floor(q)
        frac[np.floor(q) < minimum] = -1.0  # already lifted to the minimum: served last
        order = np.lexsort((np.arange(q.size), -frac))
        n = q.size
        base[order[np.arange(remaining) % n]] += 1 + np.arange(remaining) // n
    elif remaining < 0:
        # Too many after applying the minimum: take units back from the largest overshoots.
        for _ in range(-remaining):
            excess = base - np.maximum(q, minimum)
            excess[base <= minimum] = -np.inf
            i = int(np.argmax(excess))
            if not np.isfinite(excess[i]):
                break
            base[i] -= 1
    return base


def uniform_budget(areas: Sequence[int] | np.ndarray, n_segments: int) -> np.ndarray:
    """``K_o ∝ K * a_o / A``, rounded by largest remainder so that ``sum K_o = K``, ``K_o >= 1``.

    With more objects than K, every object still gets one superpixel (the total is then the
    number of objects).
    """
    a = np.asarray(areas, dtype=np.float64)
    if a.size == 0:
        return np.zeros(0, dtype=np.int64)
    total_area = a.sum()
    if total_area <= 0:
        raise ValueError("objects have no area")
    return largest_remainder(n_segments * a / total_area, n_segments)


def ratio_budget(areas: Sequence[int] | np.ndarray, n_segments: int, ratios: Sequence[float],
                 mode: str = "local") -> np.ndarray:
    """Budgets with per-object density ratios (paper Fig. 4b).

    Parameters
    ----------
    areas, n_segments:
        As for :func:`uniform_budget`.
    ratios:
        Density multiplier per object (1 = uniform).
    mode:
        ``"local"``: objects with ratio 1 keep their uniform budget, the others get
        ``round(r * K * a / A)``; the total becomes the sum. ``"keep-total"``: the changed
        objects get ``round(r * K * a / A)`` and the others share what is left of K in
        proportion to their areas.
    """
    if mode not in RATIO_MODES:
        raise ValueError(f"ratio mode must be one of {RATIO_MODES}, got {mode!r}")
    a = np.asarray(areas, dtype=np.float64)
    r = np.asarray(ratios, dtype=np.float64)
    if r.shape != a.shape:
        raise ValueError("one ratio per object is needed")
    if np.any(r <= 0):
        raise ValueError("ratios must be positive")
    base = uniform_budget(a, n_segments)
    changed = ~np.isclose(r, 1.0)
    if not changed.any():
        return base
    quota = n_segments * a / a.sum()
    out = base.copy()
    out[changed] = np.maximum(1, np.rint(r[changed] * quota[changed])).astype(np.int64)
    if mode == "keep-total" and (~changed).any():
        rest = max(int(n_segments - out[changed].sum()), int((~changed).sum()))
        out[~changed] = largest_remainder(rest * a[~changed] / a[~changed].sum(), rest)
    return out


# Under visual attention the background objects together keep at least this fraction of the
# superpixels they would get with uniform density (the authors' code caps the foreground at
# K - N_b / 5).
BACKGROUND_MIN_SHARE = 0.2


@dataclass(frozen=True)
class AttentionBudget:
    """Visual-attention budgets and how the foreground cap acted (see :func:`attention_allocation`).

    Attributes
    ----------
    k:
        (n,) int64 budget ``K_o`` of each object.
    capped:
        Whether the foreground cap lowered the foreground's total (and so raised the
        background's): the salient objects then have less than ``r`` times the density.
    foreground_quota:
        ``r * K * A_f / A``, the foreground total asked for (0 without a foreground).
    foreground_cap:
        The most the foreground may take: K minus the background's reserve (and at least one
        per salient object); see :func:`attention_allocation`. ``K`` when there is no
        background.
    """

    k: np.ndarray
    capped: bool
    foreground_quota: float
    foreground_cap: float


def attention_allocation(areas: Sequence[int] | np.ndarray, n_segments: int,
                         salient: Sequence[bool], ratio: float = DEFAULTS.attention_ratio,
                         background_min_share: float = BACKGROUND_MIN_SHARE) -> AttentionBudget:
    """Visual-attention budgets (paper §3.3) with the background protected by a cap.

    Foreground (salient) objects get ``r`` times the uniform density: the foreground total is
    ``r * K * A_f / A``, shared in proportion to area; background objects share what is left
    of K in proportion to their areas, each at least 1, so the total stays K.

    When salient objects cover more than about ``1 / r`` of the image, that leaves the
    background (almost) nothing. The foreground total is therefore capped at ``K - R``, with
    the background's reserve ``R = max(s * N_b, sum_b max(1, floor(s * q_b)))``:
    ``q_b = K * a_b / A`` is background object b's uniform share, ``N_b = sum_b q_b`` the
    number of superpixels the background would get with uniform density, and
    ``s = background_min_share`` (1/5: the authors' code caps the foreground at
    ``K - N_b / 5``; the second term only matters when many tiny background objects each need
    their one superpixel). The capped total is rounded down, so the background keeps at
    least ``ceil(R)`` superpixels and every background object at least
    ``max(1, floor(s * q_b))``. Below the cap the result is the plain §3.3 budget.

    Without any foreground or any background object the budget is uniform (never capped).

    Parameters
    ----------
    areas:
        Pixel count of each object.
    n_segments:
        K.
    salient:
        Foreground flag of each object.
    ratio:
        r, the density multiplier of the foreground (> 0).
    background_min_share:
        s in [0, 1]: the fraction of its uniform share the background keeps at least.
    """
    a = np.asarray(areas, dtype=np.float64)
    fg = np.asarray(salient, dtype=bool)
    if fg.shape != a.shape:
        raise ValueError("one salient flag per object is needed")
    if ratio <= 0:
        raise ValueError("the attention ratio must be positive")
    if not 0.0 <= background_min_share <= 1.0:
        raise ValueError("background_min_share must be in [0, 1]")
    if not fg.any() or fg.all():
        k_uniform = uniform_budget(a, n_segments)
        return AttentionBudget(k_uniform, False, float(n_segments) if fg.any() else 0.0,
                               float(n_segments))
    n_bg = int((~fg).sum())
    n_fg = int(fg.sum())
    total_area = a.sum()
    fg_quota = ratio * n_segments * a[fg].sum() / total_area
    bg_quota = n_segments * a[~fg] / total_area                     # q_b; N_b = their sum
    bg_minimum = np.maximum(1, np.floor(background_min_share * bg_quota + 1e-9)).astype(np.int64)
    reserve = max(background_min_share * float(bg_quota.sum()), float(bg_minimum.sum()))
    fg_cap = float(max(n_segments - reserve, n_fg))
    fg_cap_int = int(math.floor(fg_cap + 1e-9))
    fg_total_int = int(round(fg_quota))
    capped = fg_total_int > fg_cap_int
    if capped:
        fg_total_int = fg_cap_int
    out = np.zeros(a.size, dtype=np.int64)
    out[fg] = largest_remainder(fg_total_int * a[fg] / a[fg].sum(), fg_total_int)
    rest = max(n_segments - int(out[fg].sum()), n_bg)
    # each background object keeps its minimum; rest >= sum(bg_minimum) unless the salient
    # objects' one superpixel each leaves less, and then the minimum is waived
    minimum = bg_minimum if rest >= bg_minimum.sum() else 1
    out[~fg] = largest_remainder(rest * a[~fg] / a[~fg].sum(), rest, minimum)
    return AttentionBudget(out, bool(capped), float(fg_quota), fg_cap)


def attention_budget(areas: Sequence[int] | np.ndarray, n_segments: int,
                     salient: Sequence[bool], ratio: float = DEFAULTS.attention_ratio) -> np.ndarray:
    """The budgets of :func:`attention_allocation` alone (``K_o`` of each object)."""
    return attention_allocation(areas, n_segments, salient, ratio).k


def density_ratios(areas: Sequence[int] | np.ndarray, budgets: Sequence[int] | np.ndarray,
                   n_segments: int) -> np.ndarray:
    """Each object's superpixel density relative to the uniform one: ``K_o / (K * a_o / A)``."""
    a = np.asarray(areas, dtype=np.float64)
    k = np.asarray(budgets, dtype=np.float64)
    return k / (n_segments * a / a.sum())


def split_ratios(object_ids: Sequence[int], ratios: Mapping[int, float] | None
                 ) -> tuple[dict[int, float], dict[int, float]]:
    """``ratios`` split into those of objects in ``object_ids`` and those of objects that are
    not there (a ratio saved for an object of an earlier prior map): ``(kept, dropped)``."""
    ids = {int(i) for i in object_ids}
    kept: dict[int, float] = {}
    dropped: dict[int, float] = {}
    for oid, r in (ratios or {}).items():
        (kept if int(oid) in ids else dropped)[int(oid)] = float(r)
    return kept, dropped


def ratios_array(object_ids: Sequence[int], ratios: Mapping[int, float] | None) -> np.ndarray:
    """The ratio of each object id (1 where none is given); an unknown id or a ratio that is not
    positive raises :class:`~spam_gui.core.errors.SpamError` (see :func:`split_ratios` to drop
    the unknown ones first)."""
    from spam_gui.core.errors import SpamError

    ids = [int(i) for i in object_ids]
    out = np.ones(len(ids), dtype=np.float64)
    if not ratios:
        return out
    index = {oid: i for i, oid in enumerate(ids)}
    for oid, r in ratios.items():
        if int(oid) not in index:
            raise SpamError(f"ratio given for object {oid}, which is not in the prior")
        if not float(r) > 0:
            raise SpamError(f"ratio of object {oid} must be positive, got {r}")
        out[index[int(oid)]] = float(r)
    return out
