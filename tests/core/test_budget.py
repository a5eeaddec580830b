"""Budgets K_o per object (SPEC §3): uniform, ratios (local, keep-total), visual attention."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spam_gui.core.engine.budget import (
    BACKGROUND_MIN_SHARE, attention_allocation, attention_budget, density_ratios, largest_remainder,
    ratio_budget, ratios_array, uniform_budget,
)

PROPS = settings(max_examples=150, deadline=None)
areas_st = st.lists(st.integers(1, 100_000), min_size=1, max_size=12)


# -- largest remainder ---------------------------------------------------------------------

def test_largest_remainder_by_hand():
    assert largest_remainder(np.array([1.5, 1.5, 1.0]), 4).tolist() == [2, 1, 1]  # tie: index
    assert largest_remainder(np.array([2.7, 1.2, 0.1]), 4).tolist() == [2, 1, 1]  # lifted 0.1 costs
    assert largest_remainder(np.array([2.7, 1.2, 0.1]), 5).tolist() == [3, 1, 1]
    assert largest_remainder(np.array([0.2, 0.2, 0.2]), 1).tolist() == [1, 1, 1]  # minimum wins
    assert largest_remainder(np.array([]), 5).tolist() == []


def test_largest_remainder_rejects_bad_quotas():
    with pytest.raises(ValueError):
        largest_remainder(np.array([1.0, -1.0]), 2)
    with pytest.raises(ValueError):
        largest_remainder(np.array([np.nan]), 2)


@PROPS
@given(areas_st, st.integers(1, 5000))
def test_uniform_budget_properties(areas, k):
    b = uniform_budget(areas, k)
    a = np.asarray(areas, float)
    quota = k * a / a.sum()
    assert b.dtype == np.int64 and (b >= 1).all()
    if k >= len(areas):
        assert b.sum() == k
    else:
        assert b.sum() == len(areas)  # every object keeps one superpixel
    if (quota >= 1).all():
        # Hamilton rounding: each K_o is the floor or the ceiling of its quota
        assert (np.abs(b - quota) < 1).all()


def test_uniform_budget_by_hand():
    assert uniform_budget([100, 300], 8).tolist() == [2, 6]
    assert uniform_budget([1, 1, 1], 2).tolist() == [1, 1, 1]
    assert uniform_budget([5], 1).tolist() == [1]
    with pytest.raises(ValueError):
        uniform_budget([0, 0], 3)


# -- ratios ------------------------------------------------------------------------------------

def test_ratio_budget_local_by_hand():
    areas = [100, 300, 600]
    assert uniform_budget(areas, 100).tolist() == [10, 30, 60]
    assert ratio_budget(areas, 100, [2.0, 1.0, 1.0]).tolist() == [20, 30, 60]
    assert ratio_budget(areas, 100, [1.0, 0.5, 1.0]).tolist() == [10, 15, 60]
    assert ratio_budget(areas, 100, [1.0, 1.0, 1.0]).tolist() == [10, 30, 60]
    # a tiny ratio still leaves one superpixel
    assert ratio_budget(areas, 100, [0.001, 1.0, 1.0]).tolist() == [1, 30, 60]


def test_ratio_budget_keep_total_by_hand():
    areas = [100, 300, 600]
    b = ratio_budget(areas, 100, [2.0, 1.0, 1.0], mode="keep-total")
    assert b.tolist() == [20, 27, 53] and b.sum() == 100
    b = ratio_budget(areas, 100, [1.0, 1.0, 0.5], mode="keep-total")
    assert b[2] == 30 and b.sum() == 100 and b[1] / b[0] == pytest.approx(3, rel=0.05)


@PROPS
@given(areas_st.filter(lambda a: len(a) >= 2), st.integers(50, 3000),
       st.lists(st.sampled_from([0.25, 0.5, 1.0, 1.5, 2.0, 3.0]), min_size=12, max_size=12))
def test_ratio_budget_properties(areas, k, ratios):
    r = np.array(ratios[: len(areas)])
    a = np.asarray(areas, float)
    quota = k * a / a.sum()
    uni = uniform_budget(areas, k)
    local = ratio_budget(areas, k, r, mode="local")
    keep = ratio_budget(areas, k, r, mode="keep-total")
    changed = ~np.isclose(r, 1.0)
    assert (local >= 1).all() and (keep >= 1).all()
    # local: unchanged objects keep their uniform budget, changed ones get round(r * quota)
    assert np.array_equal(local[~changed], uni[~changed])
    assert np.array_equal(local[changed], np.maximum(1, np.rint(r * quota))[changed])
    assert np.array_equal(keep[changed], local[changed])
    if changed.any() and (~changed).any():
        rest = k - keep[changed].sum()
        if rest >= (~changed).sum():
            assert keep.sum() == k
        else:
            assert (keep[~changed] == 1).all()


def test_ratio_budget_errors():
    with pytest.raises(ValueError, match="mode"):
        ratio_budget([1, 2], 10, [1, 2], mode="global")
    with pytest.raises(ValueError, match="one ratio"):
        ratio_budget([1, 2], 10, [1.0])
    with pytest.raises(ValueError, match="positive"):
        ratio_budget([1, 2], 10, [0.0, 1.0])


def test_ratios_array():
    assert ratios_array([3, 7, 9], {7: 2.0}).tolist() == [1.0, 2.0, 1.0]
    assert ratios_array([3, 7], None).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="object 5"):
        ratios_array([3, 7], {5: 2.0})
    with pytest.raises(ValueError, match="positive"):
        ratios_array([3, 7], {3: -1.0})


def test_density_ratios():
    d = density_ratios([100, 300], [20, 30], 40)
    assert d.tolist() == pytest.approx([2.0, 1.0])


# -- visual attention --------------------------------------------------------------------------

def test_attention_budget_by_hand():
    # A = 1000, K = 100, r = 2.5: K_f = 2.5 * 100 * 100 / 1000 = 25; the rest share 75 by area
    b = attention_budget([100, 300, 600], 100, [True, False, False], 2.5)
    assert b.tolist() == [25, 25, 50]


@PROPS
@given(areas_st.filter(lambda a: len(a) >= 2), st.integers(10, 3000), st.data(),
       st.sampled_from([1.0, 1.5, 2.5, 4.0]))
def test_attention_budget_properties(areas, k, data, r):
    n = len(areas)
    salient = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    b = attention_budget(areas, k, salient, r)
    a = np.asarray(areas, float)
    assert (b >= 1).all()
    if not salient.any() or salient.all():
        assert np.array_equal(b, uniform_budget(areas, k))
        return
    if k >= n:
        assert b.sum() == k  # the total stays K
    kf_total = r * k * a[salient].sum() / a.sum()
    n_bg = int((~salient).sum())
    bg_quota = k * a[~salient] / a.sum()
    # the background's reserve under the foreground cap (see attention_allocation)
    bg_floor = max(BACKGROUND_MIN_SHARE * bg_quota.sum(),
                   np.maximum(1, np.floor(BACKGROUND_MIN_SHARE * bg_quota + 1e-9)).sum(), n_bg)
    if kf_total <= k - bg_floor - 1 and (kf_total * a[salient] / a[salient].sum() >= 1).all():
        # foreground: K_f = r K a_f / A, up to rounding
        assert abs(b[salient].sum() - kf_total) <= 0.5 + 1e-9
        assert np.all(np.abs(b[salient] - r * k * a[salient] / a.sum()) < 1.5)


def test_attention_budget_caps_a_huge_foreground():
    b = attention_budget([900, 50, 50], 100, [True, False, False], 2.5)
    assert b.tolist() == [98, 1, 1]


def test_attention_budget_errors():
    with pytest.raises(ValueError, match="salient"):
        attention_budget([1, 2], 10, [True])
    with pytest.raises(ValueError, match="positive"):
        attention_budget([1, 2], 10, [True, False], 0.0)


# -- the foreground cap (the background keeps a fifth of its uniform share) -----------------

# salient objects cover 60 % of the image: r * 0.6 > 1 for r >= 2, so without a cap the
# background would be left with (almost) nothing
SIXTY = ([3_000, 2_000, 1_000], [2_500, 1_000, 400, 100])


@pytest.mark.parametrize("r", [2.0, 2.5, 4.0, 10.0])
@pytest.mark.parametrize("k", [100, 400, 1000])
def test_attention_cap_keeps_a_fifth_of_the_background(r, k):
    fg_areas, bg_areas = SIXTY
    areas = np.array(fg_areas + bg_areas)
    salient = np.array([True] * len(fg_areas) + [False] * len(bg_areas))
    alloc = attention_allocation(areas, k, salient, r)
    b = alloc.k
    uniform_quota = k * areas / areas.sum()
    n_b = uniform_quota[~salient].sum()                     # N_b = 0.4 K
    minimum = np.maximum(1, np.floor(uniform_quota[~salient] / 5 + 1e-9))
    # K - N_b / 5, unless the small objects' one superpixel each asks for more
    reserve = max(n_b / 5, minimum.sum())
    assert alloc.capped
    assert b.sum() == k                                     # the total stays K
    assert alloc.foreground_cap == pytest.approx(k - reserve)
    assert b[salient].sum() == int(np.floor(k - reserve + 1e-9))
    assert b[~salient].sum() >= np.ceil(n_b / 5 - 1e-9)
    # every background object keeps at least a fifth of its uniform share (rounded down)
    assert np.all(b[~salient] >= minimum)
    # the foreground still has the higher density, the background the lower one
    assert np.all(b[salient] >= np.floor(uniform_quota[salient]))
    assert b[~salient].sum() < n_b


def test_attention_cap_by_hand():
    # A = 1000, K = 100, r = 2.5; the foreground (600 px) asks for 150 > K. N_b = 40, so the
    # foreground is capped at 100 - 40 / 5 = 92 and the background shares 8 by area.
    alloc = attention_allocation([600, 300, 100], 100, [True, False, False], 2.5)
    assert alloc.k.tolist() == [92, 6, 2]
    assert alloc.capped and alloc.foreground_quota == pytest.approx(150.0)
    assert attention_budget([600, 300, 100], 100, [True, False, False], 2.5).tolist() == [92, 6, 2]


@PROPS
@given(areas_st.filter(lambda a: len(a) >= 2), st.integers(10, 3000), st.data(),
       st.sampled_from([1.0, 1.5, 2.5, 4.0, 10.0]))
def test_attention_cap_properties(areas, k, data, r):
    n = len(areas)
    salient = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    a = np.asarray(areas, float)
    alloc = attention_allocation(areas, k, salient, r)
    b = alloc.k
    assert (b >= 1).all()
    if not salient.any() or salient.all():
        assert not alloc.capped
        return
    n_fg = int(salient.sum())
    if k >= n:
        assert b.sum() == k
    uniform_quota = k * a / a.sum()
    n_b = uniform_quota[~salient].sum()
    minimum = np.maximum(1, np.floor(uniform_quota[~salient] / 5 + 1e-9))
    reserve = max(n_b / 5, minimum.sum())
    if k - reserve >= n_fg:
        # nothing forces more than the cap onto the foreground: the background keeps at
        # least a fifth of its uniform share, in total and per object (rounded down, >= 1)
        assert b[~salient].sum() >= np.ceil(reserve - 1e-9)
        assert np.all(b[~salient] >= minimum)
    # below the cap the budget is the plain SPEC §3.3 one, as without any background share
    if r * k * a[salient].sum() / a.sum() + 1 <= k - reserve:
        assert not alloc.capped
        plain = attention_allocation(areas, k, salient, r, background_min_share=0.0)
        assert np.array_equal(b, plain.k)


def test_small_foreground_is_not_capped():
    # 10 % salient with r = 2.5: 25 % of K, far below the cap; the §3.3 budget unchanged
    alloc = attention_allocation([100, 300, 600], 100, [True, False, False], 2.5)
    assert not alloc.capped and alloc.k.tolist() == [25, 25, 50]


def test_attention_allocation_errors():
    with pytest.raises(ValueError, match="share"):
        attention_allocation([1, 2], 10, [True, False], 2.5, background_min_share=1.5)
