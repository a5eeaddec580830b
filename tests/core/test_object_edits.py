"""Object-map edits (merge, split, draw, erase) and re-segmenting only the edited objects."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from spam_gui.core.engine import object_edits as oe

H, W = 40, 56


def _boxes() -> np.ndarray:
    m = np.ones((H, W), np.int32)
    m[5:30, 4:24] = 2
    m[10:36, 30:52] = 3
    return m


@st.composite
def object_maps(draw):
    """Maps of up to five axis-aligned boxes over a background, with some uncertain pixels."""
    m = np.ones((H, W), np.int32)
    for oid in range(2, 2 + draw(st.integers(0, 4))):
        y0 = draw(st.integers(0, H - 4))
        x0 = draw(st.integers(0, W - 4))
        m[y0:y0 + draw(st.integers(3, 20)), x0:x0 + draw(st.integers(3, 20))] = oid
    if draw(st.booleans()):
        y = draw(st.integers(0, H - 1))
        m[y, :] = 0
    return m


def _segments(m: np.ndarray) -> np.ndarray:
    """For each pixel, which connected component of its object it is in (for comparisons)."""
    out = np.zeros(m.shape, np.int64)
    n = 0
    for oid in np.unique(m):
        lab, k = ndimage.label(m == oid)
        out[lab > 0] = lab[lab > 0] + n
        n += k
    return out


@settings(max_examples=40, deadline=None)
@given(object_maps(), st.data())
def test_merge_joins_exactly_the_selected_objects(m, data):
    ids = sorted(int(i) for i in np.unique(m) if i > 0)
    if len(ids) < 2:
        with pytest.raises(oe.ObjectEditError):
            oe.merge_objects(m, ids)
        return
    pick = data.draw(st.lists(st.sampled_from(ids), min_size=2, max_size=len(ids), unique=True))
    e = oe.merge_objects(m, pick)
    sel = np.isin(m, pick)
    assert len(np.unique(e.objects[sel])) == 1                 # one object now
    keep = int(e.objects[sel][0])
    moved = e.objects[~sel] != m[~sel]                         # nothing else moved, but the
    assert np.all(m[~sel][moved] == 0) and np.all(e.objects[~sel][moved] == keep)  # band filled
    assert keep in pick and e.changed == {keep} and e.removed == set(pick) - {keep}


@settings(max_examples=40, deadline=None)
@given(object_maps(), st.integers(0, W - 1))
def test_split_gives_connected_parts_and_keeps_every_pixel(m, x):
    cut = np.zeros_like(m, bool)
    cut[:, x] = True
    try:
        e = oe.split_object(m, cut)
    except oe.ObjectEditError:
        # nothing fell apart: every crossed object is still one piece without the cut
        for oid in np.unique(m[cut]):
            if oid > 0:
                parts = ndimage.label((m == oid) & ~cut)[1]
                old = ndimage.label(m == oid)[1]
                assert parts <= max(old, 1)
        return
    assert np.array_equal(e.objects > 0, m > 0)                 # no pixel lost or gained
    for new_id, old_id in e.inherit.items():
        assert new_id not in np.unique(m)
        assert np.all(m[e.objects == new_id] == old_id)         # a part of what it came from
    for oid in set(e.inherit.values()):                         # parts of a split object
        for part in {oid} | {k for k, v in e.inherit.items() if v == oid}:
            assert ndimage.label(e.objects == part)[1] >= 1


def test_split_with_a_stroke_across_one_box():
    m = _boxes()
    cut = oe.stroke_mask(m.shape, [(14, 0), (14, 39)], radius=1)
    e = oe.split_object(m, cut, object_id=2)
    assert sorted(np.unique(e.objects).tolist()) == [1, 2, 3, 4]
    assert e.inherit == {4: 2}
    assert set(np.unique(e.objects[m == 2])) == {2, 4}
    assert ndimage.label(e.objects == 2)[1] == 1 and ndimage.label(e.objects == 4)[1] == 1
    with pytest.raises(oe.ObjectEditError, match="does not cut"):
        oe.split_object(m, oe.stroke_mask(m.shape, [(8, 8), (10, 10)]), object_id=2)


@settings(max_examples=40, deadline=None)
@given(object_maps(), st.integers(0, H - 5), st.integers(0, W - 5), st.integers(2, 15))
def test_draw_and_erase(m, y, x, size):
    mask = np.zeros_like(m, bool)
    mask[y:y + size, x:x + size] = True
    e = oe.paint_object(m, mask)
    new_id = int(e.objects[y, x])
    assert new_id not in np.unique(m)
    assert np.all(e.objects[mask] == new_id) and np.array_equal(e.objects[~mask], m[~mask])
    assert new_id in e.changed
    er = oe.erase_objects(e.objects, mask)
    assert np.all(er.objects[mask] == 0) and np.array_equal(er.objects[~mask], m[~mask])
    assert new_id in er.removed
    with pytest.raises(oe.ObjectEditError, match="already uncertain"):
        oe.erase_objects(er.objects, mask)


def test_stroke_mask_lasso_and_brush():
    lasso = oe.stroke_mask((H, W), [(5, 5), (20, 5), (20, 20), (5, 20)], closed=True)
    assert lasso[12, 12] and not lasso[30, 30] and lasso.sum() == 16 * 16
    line = oe.stroke_mask((H, W), [(0, 10), (W - 1, 10)], radius=2)
    assert line[:, 20].sum() == 5 and line.sum() == 5 * W
    dot = oe.stroke_mask((H, W), [(10, 10)], radius=3)
    assert dot[10, 10] and dot[10, 13] and not dot[10, 14]


def test_carry_ratios():
    m = _boxes()
    cut = oe.stroke_mask(m.shape, [(14, 0), (14, 39)], radius=1)
    e = oe.split_object(m, cut, object_id=2)
    assert oe.carry_ratios({2: 4.0, 3: 0.5}, e) == {2: 4.0, 4: 4.0, 3: 0.5}
    merged = oe.merge_objects(m, [2, 3])
    assert oe.carry_ratios({2: 4.0, 3: 0.5}, merged) == {3: 0.5}   # 3 is the larger one


# ----------------------------------------------------------------------------- resegment


@pytest.fixture(scope="module")
def engine():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from spam_gui.core.engine.spam import Spam

    return Spam(encoder="none", device="cpu")


def _image(m: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(0)
    colors = np.array([[0, 0, 0], [40, 90, 160], [200, 60, 50], [60, 180, 70], [220, 220, 40],
                       [120, 40, 160], [250, 250, 250], [10, 120, 120]])
    img = colors[np.clip(m, 0, len(colors) - 1)] + rng.integers(-10, 11, m.shape + (3,))
    return np.clip(img, 0, 255).astype(np.uint8)


def _check(result, objects):
    labels = result.labels
    n = result.n_superpixels
    assert np.array_equal(np.unique(labels), np.arange(1, n + 1))          # labels 1..N
    assert oe.superpixels_within_objects(labels, objects)                   # containment
    assert np.array_equal(result.objects, objects)
    for lab in range(1, n + 1):                                             # connectivity
        assert ndimage.label(labels == lab)[1] == 1
    certain = objects > 0
    owner = result.superpixel_object[labels]
    assert np.all(owner[certain] == objects[certain])
    assert set(result.objects_info) == {int(i) for i in np.unique(objects) if i > 0}


def _kept_superpixels(before, after, objects_unchanged: set[int]) -> bool:
    """Every superpixel of an unchanged object has exactly the same pixels after."""
    for oid in objects_unchanged:
        for lab in before.superpixels_of(oid):
            pix = before.labels == lab
            if not (before.objects[pix] > 0).any():
                continue
            vals = np.unique(after.labels[pix])
            if vals.size != 1 or not np.array_equal(after.labels == vals[0], pix):
                return False
    return True


@settings(max_examples=12, deadline=None)
@given(object_maps(), st.sampled_from(["merge", "split", "draw", "erase"]), st.data())
def test_resegment_keeps_the_properties(engine, m, kind, data):
    img = _image(m)
    res = engine.segment(img, n_segments=40, prior=m, n_iter=3)
    y = data.draw(st.integers(0, H - 6))
    x = data.draw(st.integers(0, W - 6))
    mask = np.zeros_like(m, bool)
    mask[y:y + 8, x:x + 8] = True
    ids = sorted(int(i) for i in np.unique(m) if i > 0)
    try:
        if kind == "merge":
            e = oe.merge_objects(m, ids[:2])
        elif kind == "split":
            cut = np.zeros_like(m, bool)
            cut[:, x] = True
            e = oe.split_object(m, cut)
        elif kind == "draw":
            e = oe.paint_object(m, mask)
        else:
            e = oe.erase_objects(m, mask)
    except oe.ObjectEditError:
        return
    out = oe.resegment_objects(engine, res, e.objects, oe.carry_ratios(res.ratios, e))
    _check(out, e.objects)
    untouched = (set(ids) - set(e.changed) - set(e.removed))
    # objects whose superpixels did not reach into a changed pixel keep them exactly
    diff = m != e.objects
    reached = {int(o) for o in np.unique(res.superpixel_object[np.unique(res.labels[diff])])}
    assert _kept_superpixels(res, out, untouched - reached)


def test_resegment_after_each_edit_and_rescale(engine):
    m = _boxes()
    img = _image(m)
    res = engine.segment(img, n_segments=50, prior=m, n_iter=3, ratios={3: 2.0})
    e = oe.merge_objects(m, [1, 2])
    res2 = oe.resegment_objects(engine, res, e.objects, oe.carry_ratios({3: 2.0}, e))
    _check(res2, e.objects)
    assert res2.objects_info[3].ratio == 2.0 and _kept_superpixels(res, res2, {3})
    assert "resegment" in res2.timings
    res3 = engine.rescale(res2, 3, 1.0)                  # the result can be rescaled later
    _check(res3, e.objects)
    same = oe.resegment_objects(engine, res3, res3.objects, {3: 3.0})   # ratios only
    _check(same, e.objects)
    assert same.objects_info[3].ratio == 3.0
    with pytest.raises(oe.ObjectEditError):
        oe.resegment_objects(engine, res3, np.ones((3, 3), np.int32))
    none = oe.resegment_objects(engine, res3, np.zeros_like(m))   # everything uncertain
    assert none.n_superpixels >= 1


# -- merges and splits that mean what they say (issue 25 #3) -----------------------------------


def _two_boxes_across_a_band(gap: int = 2) -> np.ndarray:
    """Objects 2 and 3 side by side, a band of ``gap`` uncertain columns between them."""
    m = np.ones((60, 90), np.int32)
    m[10:50, 10:40] = 2
    m[10:50, 40:40 + gap] = 0
    m[10:50, 40 + gap:80] = 3
    return m


def test_merge_fills_the_band_between_the_merged_objects():
    m = _two_boxes_across_a_band()
    e = oe.merge_objects(m, [2, 3])
    keep = int(e.objects[30, 20])
    assert np.all(e.objects[10:50, 40:42] == keep)             # the band is the object's now
    _, n = ndimage.label(e.objects == keep)
    assert n == 1                                              # one region
    assert "band" in e.description
    # an uncertain pixel beside only one of them stays uncertain
    m2 = m.copy()
    m2[5, 20] = 0
    assert oe.merge_objects(m2, [2, 3]).objects[5, 20] == 0


def test_merge_fills_the_band_on_a_large_map_without_reaching_further():
    """A 6 MP map: the band is found on a coarse sample (the fast path); the band between the
    pieces is filled, an uncertain area next to only one of them is not."""
    h, w = 2400, 2400
    objects = np.ones((h, w), np.int32)
    objects[:, 1206:] = 2
    objects[:, 1194:1206] = 0                      # a 12 px band between 1 and 2
    objects[200:260, 100:400] = 0                  # uncertain, inside object 1 only
    objects[2000:, :] = 3
    d = oe.band_reach(objects.shape)
    assert d // 4 > 1                              # the coarse path
    e = oe.merge_objects(objects, [1, 2])
    keep = next(iter(e.changed))
    assert (e.objects[:2000, 1194:1206] == keep).all()
    assert (e.objects[200:260, 100:400] == 0).all()
    assert (e.objects[2000:] == 3).all()
    lab, n = ndimage.label(e.objects == keep)
    assert n == 1
    assert e.removed == frozenset({1, 2}) - {keep}


@pytest.mark.parametrize("x", [15, 25, 60, 70])
def test_a_split_anywhere_never_undoes_a_merge(x):
    m = _two_boxes_across_a_band()
    merged = oe.merge_objects(m, [2, 3]).objects
    keep = int(merged[30, 20])
    cut = np.zeros_like(m, bool)
    cut[:, x] = True                       # a vertical line through one of the former objects
    e = oe.split_object(merged, cut, object_id=keep, min_area=1)
    # the former objects stay together on the side of the cut that holds the band
    near_band = (e.objects[30, 38], e.objects[30, 41], e.objects[30, 44])
    assert len(set(near_band)) == 1
    far = e.objects[30, 12] if x < 40 else e.objects[30, 78]
    assert far != near_band[0]             # and the line did cut


def test_a_split_of_one_piece_keeps_the_other_merged_piece():
    m = np.ones((60, 90), np.int32)
    m[10:50, 5:30] = 2
    m[10:50, 60:85] = 3                                        # far apart: no band between
    merged = oe.merge_objects(m, [2, 3]).objects
    keep = int(merged[30, 10])
    assert merged[30, 70] == keep
    cut = np.zeros_like(m, bool)
    cut[:, 17] = True                                          # cuts the left piece only
    e = oe.split_object(merged, cut, object_id=keep, min_area=1)
    assert e.objects[30, 70] == keep                           # the right piece stays merged
    assert e.objects[30, 10] == keep or e.objects[30, 25] == keep
    assert e.objects[30, 10] != e.objects[30, 25]


def test_no_sliver_is_left_by_a_cut():
    m = np.ones((60, 90), np.int32)
    m[10:50, 10:80] = 2
    cut = np.zeros_like(m, bool)
    cut[12, 10:80] = True                                      # cuts off two rows of 70 px
    with pytest.raises(oe.ObjectEditError, match="only cut off pieces"):
        oe.split_object(m, cut, object_id=2, min_area=200)
    cut2 = cut.copy()
    cut2[10:50, 45] = True                                     # and a real cut across it
    e = oe.split_object(m, cut2, object_id=2, min_area=200)
    ids, areas = np.unique(e.objects[m == 2], return_counts=True)
    assert ids.size == 2 and areas.min() >= 200
    assert "joined their neighbour" in e.description
    assert oe.sliver_area((321, 481)) == int(2 * 321 * 481 / 400)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), tile=st.integers(3, 12), margin=st.integers(1, 6))
def test_nearest_part_by_tiles_is_the_whole_map_answer(seed, tile, margin):
    """The tiled nearest-part fill (a split's stroke pixels) gives what one distance transform
    of the whole map gives, whatever the tile and margin (far pixels fall back to it)."""
    rng = np.random.default_rng(seed)
    parts = np.zeros((30, 37), np.int64)
    for lab in range(1, 5):
        y, x = rng.integers(0, 30), rng.integers(0, 37)
        parts[max(0, y - 3):y + 3, max(0, x - 4):x + 4] = lab
    need = (parts == 0) & (rng.random(parts.shape) < 0.3)
    _, (iy, ix) = ndimage.distance_transform_edt(parts == 0, return_indices=True)
    d_all = ndimage.distance_transform_edt(parts == 0)
    old = (oe.NEAREST_TILE, oe.NEAREST_MARGIN)
    oe.NEAREST_TILE, oe.NEAREST_MARGIN = tile, margin
    try:
        got = oe._nearest_part(parts, need)
    finally:
        oe.NEAREST_TILE, oe.NEAREST_MARGIN = old
    want = parts[iy, ix]
    assert np.array_equal(got[~need], parts[~need])
    # ties may pick another part at the same distance: compare distances to the chosen part
    for y, x in zip(*np.nonzero(need)):
        ys, xs = np.nonzero(parts == got[y, x])
        assert got[y, x] > 0
        assert np.isclose(np.sqrt(((ys - y) ** 2 + (xs - x) ** 2).min()), d_all[y, x])
    assert want.shape == got.shape
