"""Aggregation of mask proposals into a prior object map (SPEC §5): properties and helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spam_gui.core.io.images import write_label_png
from spam_gui.core.prior.maps import (
    SOURCE_BACKGROUND, SOURCE_PROMPT, SOURCE_PROPOSAL, PriorError, aggregate_proposals,
    default_a_min, merge_mask, pack_masks, prior_from_arrays, prior_to_arrays, read_masks_npz,
    read_prior, unpack_masks, write_masks_npz,
)

H, W = 28, 36
A_MIN = 12.0

PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def shapes(draw, h=H, w=W):
    """One proposal: a rectangle or an ellipse, sometimes with a rectangular hole."""
    kind = draw(st.sampled_from(["rect", "ellipse"]))
    y0 = draw(st.integers(0, h - 2))
    x0 = draw(st.integers(0, w - 2))
    y1 = draw(st.integers(y0 + 1, h))
    x1 = draw(st.integers(x0 + 1, w))
    m = np.zeros((h, w), dtype=bool)
    if kind == "rect":
        m[y0:y1, x0:x1] = True
    else:
        yy, xx = np.mgrid[0:h, 0:w]
        cy, cx = (y0 + y1 - 1) / 2, (x0 + x1 - 1) / 2
        ry, rx = max((y1 - y0) / 2, 0.5), max((x1 - x0) / 2, 0.5)
        m = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
    if draw(st.booleans()):
        hy, hx = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
        m[hy:hy + 3, hx:hx + 3] = False
    return m


@st.composite
def proposal_sets(draw, min_n=0, max_n=7):
    masks = draw(st.lists(shapes(), min_size=min_n, max_size=max_n))
    if masks and draw(st.booleans()):  # a duplicate, to exercise the tie-break
        masks.append(masks[draw(st.integers(0, len(masks) - 1))].copy())
    if not masks:
        return np.zeros((0, H, W), dtype=bool)
    return np.stack(masks)


def _check_partition(prior, shape):
    om = prior.object_map
    assert om.shape == shape and om.dtype == np.int32
    assert om.min() >= 0
    ids = set(np.unique(om).tolist()) - {0}
    assert ids == set(prior.objects)
    for oid, obj in prior.objects.items():
        assert obj.id == oid
        assert obj.area == int((om == oid).sum())


@PROPS
@given(proposal_sets())
def test_result_is_a_partition_with_provenance(masks):
    prior = aggregate_proposals(masks, a_min=A_MIN)
    _check_partition(prior, (H, W))
    om = prior.object_map
    for obj in prior.objects.values():
        if obj.source == SOURCE_PROPOSAL:
            # an object from a proposal lies inside that proposal
            assert masks[obj.proposal][om == obj.id].all()
            assert obj.proposal_area == int(masks[obj.proposal].sum())
        else:
            assert obj.source == SOURCE_BACKGROUND
            # a background object covers no pixel of a surviving proposal object
            assert obj.proposal is None


@PROPS
@given(proposal_sets())
def test_no_object_smaller_than_a_min(masks):
    prior = aggregate_proposals(masks, a_min=A_MIN)
    assert all(obj.area >= A_MIN for obj in prior.objects.values())
    areas = np.bincount(prior.object_map.ravel())
    assert all(areas[k] >= A_MIN for k in prior.objects)


@PROPS
@given(proposal_sets(min_n=2))
def test_smaller_proposal_owns_the_overlap(masks):
    prior = aggregate_proposals(masks, a_min=A_MIN)
    om = prior.object_map
    kept = {o.proposal: o.id for o in prior.objects.values() if o.source == SOURCE_PROPOSAL}
    areas = masks.reshape(len(masks), -1).sum(1)
    for i in kept:
        for j, oid_j in kept.items():
            if areas[i] < areas[j]:
                overlap = masks[i] & masks[j]
                # pixels both cover never go to the larger one
                assert not (om[overlap] == oid_j).any()


@PROPS
@given(proposal_sets(), st.randoms(use_true_random=False))
def test_result_does_not_depend_on_proposal_order(masks, rnd):
    n = len(masks)
    perm = list(range(n))
    rnd.shuffle(perm)
    scores = np.linspace(0.5, 1.0, n) if n else None
    a = aggregate_proposals(masks, a_min=A_MIN, scores=scores)
    b = aggregate_proposals(masks[perm], a_min=A_MIN,
                            scores=None if scores is None else scores[perm])
    np.testing.assert_array_equal(a.object_map, b.object_map)
    assert a.objects.keys() == b.objects.keys()
    for oid, oa in a.objects.items():
        ob = b.objects[oid]
        assert (oa.source, oa.area, oa.proposal_area) == (ob.source, ob.area, ob.proposal_area)
        if oa.source == SOURCE_PROPOSAL:
            # same mask content, whichever index it had
            np.testing.assert_array_equal(masks[oa.proposal], masks[perm][ob.proposal])


@PROPS
@given(
    gap=st.integers(1, 4),
    split=st.integers(8, W - 12),
    top=st.integers(0, 6),
    bottom=st.integers(H - 6, H),
)
def test_thin_gap_between_two_objects_is_uncertain(gap, split, top, bottom):
    left = np.zeros((H, W), dtype=bool)
    right = np.zeros((H, W), dtype=bool)
    left[top:bottom, :split] = True
    right[top:bottom, split + gap:] = True
    prior = aggregate_proposals(np.stack([left, right]), a_min=A_MIN)
    om = prior.object_map
    assert (om[top:bottom, split:split + gap] == 0).all()
    assert len({int(om[top, 0]), int(om[top, W - 1])} - {0}) == 2


@PROPS
@given(
    masks=proposal_sets(max_n=5),
    rh=st.integers(5, 12),
    rw=st.integers(5, 14),
    ry=st.integers(0, H - 12),
    rx=st.integers(0, W - 14),
)
def test_large_uncovered_region_becomes_an_object(masks, rh, rw, ry, rx):
    region = np.zeros((H, W), dtype=bool)
    region[ry:ry + rh, rx:rx + rw] = True
    masks = masks & ~region  # nothing covers the region
    a_min = min(A_MIN, rh * rw)
    prior = aggregate_proposals(masks, a_min=a_min)
    ids = np.unique(prior.object_map[region])
    assert len(ids) == 1 and ids[0] != 0
    assert prior.objects[int(ids[0])].source == SOURCE_BACKGROUND


def test_defaults_and_empty_input():
    assert default_a_min((321, 481)) == pytest.approx(math.sqrt(321 * 481) / 4)
    prior = aggregate_proposals(np.zeros((0, 20, 30), dtype=bool))
    assert prior.n_objects == 1  # the whole image is one background object
    assert (prior.object_map == 1).all()
    assert prior.a_min == pytest.approx(math.sqrt(600) / 4)


def test_small_remainder_frees_pixels_for_larger_proposals():
    # tiny (area 16) sits in `mid` (area 30) which sits in `big`; `mid` minus `tiny` is 14 < 15,
    # so `mid` is dropped and its other pixels go to `big`, not to uncertainty.
    big = np.zeros((20, 20), dtype=bool); big[:, :] = True
    mid = np.zeros_like(big); mid[2:8, 2:7] = True
    tiny = np.zeros_like(big); tiny[2:6, 2:6] = True
    prior = aggregate_proposals(np.stack([big, mid, tiny]), a_min=15)
    om = prior.object_map
    by_prop = {o.proposal: o.id for o in prior.objects.values()}
    assert set(by_prop) == {0, 2}
    assert (om[tiny] == by_prop[2]).all()
    assert (om[mid & ~tiny] == by_prop[0]).all()
    assert prior.stats["n_absorbed"] == 1


def test_scores_and_json():
    a = np.zeros((30, 30), dtype=bool); a[:15] = True
    b = np.zeros_like(a); b[15:] = True
    prior = aggregate_proposals(np.stack([a, b]), scores=[0.9, 0.95], stability=[0.97, 0.99])
    js = prior.to_json()
    assert js["size"] == [30, 30] and js["n_objects"] == 2
    objs = {o["proposal"]: o for o in js["objects"]}
    assert objs[1]["score"] == pytest.approx(0.95) and objs[0]["stability"] == pytest.approx(0.97)
    assert objs[0]["bbox"] == [0, 0, 30, 15]
    with pytest.raises(PriorError, match="scores"):
        aggregate_proposals(np.stack([a, b]), scores=[0.9])


def test_merge_mask_adds_a_smaller_object_and_keeps_ids():
    h, w = 40, 40
    a = np.zeros((h, w), dtype=bool); a[:, :20] = True
    b = np.zeros((h, w), dtype=bool); b[:, 20:] = True
    prior = aggregate_proposals(np.stack([a, b]), a_min=20)
    click = np.zeros((h, w), dtype=bool); click[10:20, 15:25] = True   # straddles both
    new, nid = merge_mask(prior, click, score=0.9)
    assert nid == 3
    assert (new.object_map[click] == nid).all()
    assert new.objects[nid].source == SOURCE_PROMPT and new.objects[nid].score == pytest.approx(0.9)
    assert set(new.objects) == {1, 2, 3}
    assert new.objects[1].area == 800 - 50 and new.objects[2].area == 800 - 50
    _check_partition(new, (h, w))
    # the original prior is untouched
    assert prior.objects[1].area == 800 and (prior.object_map != 3).all()


def test_merge_mask_larger_mask_loses_overlap_and_replace():
    h, w = 40, 40
    small = np.zeros((h, w), dtype=bool); small[5:15, 5:15] = True
    prior = aggregate_proposals(small[None], a_min=20)   # small object + background
    sid = prior.object_map[10, 10]
    big = np.zeros((h, w), dtype=bool); big[0:30, 0:30] = True
    new, nid = merge_mask(prior, big)
    assert nid is not None
    assert (new.object_map[small] == sid).all()           # the smaller object keeps its pixels
    assert (new.object_map[big & ~small] == nid).all()
    _check_partition(new, (h, w))
    # replacing the small object with a different mask
    fix = np.zeros((h, w), dtype=bool); fix[5:20, 5:20] = True
    new2, nid2 = merge_mask(new, fix, replace=int(sid))
    assert int(sid) not in new2.objects and (new2.object_map[fix] == nid2).all()
    # a mask below a_min is refused and changes nothing
    dot = np.zeros((h, w), dtype=bool); dot[0, 0] = True
    same, none = merge_mask(new2, dot)
    assert none is None and same is new2
    with pytest.raises(PriorError, match="40x40"):
        merge_mask(new2, np.zeros((10, 10), dtype=bool))


def test_read_prior_checks_size(tmp_path):
    labels = np.zeros((12, 16), dtype=np.int32); labels[:, 8:] = 300
    path = write_label_png(tmp_path / "p.png", labels)
    prior = read_prior(path, (12, 16, 3))
    np.testing.assert_array_equal(prior.object_map, labels)
    assert set(prior.objects) == {300} and prior.objects[300].area == 96
    with pytest.raises(PriorError, match=r"p\.png.*16x12.*20x12"):
        read_prior(path, (12, 20))
    with pytest.raises(PriorError, match="missing.png"):
        read_prior(tmp_path / "missing.png", (12, 16))


def test_masks_npz_roundtrip_and_errors(tmp_path):
    masks = np.zeros((3, 10, 12), dtype=bool); masks[0, :5] = True; masks[2, :, :3] = True
    path = write_masks_npz(tmp_path / "m.npz", masks, scores=[0.9, 0.8, 0.7])
    got, scores, stab = read_masks_npz(path, (10, 12))
    np.testing.assert_array_equal(got, masks)
    assert scores.shape == (3,) and stab is None
    with pytest.raises(PriorError, match=r"m\.npz.*12x10.*13x10"):
        read_masks_npz(path, (10, 13))
    np.savez(tmp_path / "bad.npz", other=np.zeros(3))
    with pytest.raises(PriorError, match=r"bad\.npz.*no array named 'masks'"):
        read_masks_npz(tmp_path / "bad.npz")
    np.savez(tmp_path / "flat.npz", masks=np.zeros((10, 12), dtype=bool))
    with pytest.raises(PriorError, match=r"flat\.npz.*\(n, H, W\)"):
        read_masks_npz(tmp_path / "flat.npz")
    np.savez(tmp_path / "grey.npz", masks=np.full((1, 4, 4), 7, dtype=np.uint8))
    with pytest.raises(PriorError, match=r"grey\.npz.*boolean"):
        read_masks_npz(tmp_path / "grey.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(PriorError, match=r"junk\.npz"):
        read_masks_npz(tmp_path / "junk.npz")


def test_pack_and_prior_arrays_roundtrip():
    rng = np.random.default_rng(0)
    masks = rng.random((4, 13, 17)) > 0.5
    packed = pack_masks(masks)
    np.testing.assert_array_equal(unpack_masks(packed["bits"], packed["shape"]), masks)
    prior = aggregate_proposals(masks, a_min=5, scores=[0.1, 0.2, 0.3, 0.4])
    empty = pack_masks(np.zeros((0, 13, 17), dtype=bool))
    assert unpack_masks(empty["bits"], empty["shape"]).shape == (0, 13, 17)
    back = prior_from_arrays(prior_to_arrays(prior))
    np.testing.assert_array_equal(back.object_map, prior.object_map)
    assert back.objects == prior.objects and back.stats == prior.stats
    assert back.a_min == prior.a_min and back.opening == prior.opening
