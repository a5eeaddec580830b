"""Properties of the SPAM engine (issue 2, SPEC §1-4) on random small images and priors.

Every result must be a partition of the image into 4-connected superpixels labelled exactly
1..N, each superpixel's certain pixels inside one prior object, every object covered, the same
seed giving the same result, and ``rescale`` touching only the clicked object.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi
from skimage.measure import label as cc_label

from spam_gui.core import Spam

PROPS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# object ids drawn from here: non-contiguous, some large
OBJECT_IDS = [1, 2, 5, 9, 17, 300, 4242]


@pytest.fixture(scope="module")
def spam() -> Spam:
    return Spam(encoder=None, device="cpu")


# -- strategies ------------------------------------------------------------------------------

def _make_image(kind: str, h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "noise":
        return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    if kind == "constant":
        return np.full((h, w, 3), rng.integers(0, 256), dtype=np.uint8)
    smooth = ndi.gaussian_filter(rng.random((h, w, 3)), (2.0, 2.0, 0))
    smooth = (smooth - smooth.min()) / max(np.ptp(smooth), 1e-9)
    rgb = (smooth * 255).astype(np.uint8)
    if kind == "grey":
        return rgb[..., 0]
    if kind == "rgba":
        return np.dstack([rgb, np.full((h, w), 200, np.uint8)])
    return rgb


@st.composite
def images(draw, min_side: int = 8, max_side: int = 48) -> np.ndarray:
    h = draw(st.integers(min_side, max_side))
    w = draw(st.integers(min_side, max_side))
    kind = draw(st.sampled_from(["smooth", "noise", "constant", "grey", "rgba"]))
    return _make_image(kind, h, w, draw(st.integers(0, 2**16)))


@st.composite
def priors(draw, h: int, w: int) -> np.ndarray:
    """A random object map: a background id, rectangles and blobs with non-contiguous ids,
    optional uncertain (0) bands, sometimes an object in two disconnected pieces."""
    ids = draw(st.lists(st.sampled_from(OBJECT_IDS), min_size=1, max_size=5, unique=True))
    prior = np.full((h, w), ids[0], dtype=np.int64)
    yy, xx = np.mgrid[0:h, 0:w]
    for oid in ids[1:]:
        y0, x0 = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
        y1, x1 = draw(st.integers(y0 + 1, h)), draw(st.integers(x0 + 1, w))
        if draw(st.booleans()):
            prior[y0:y1, x0:x1] = oid
        else:
            cy, cx = (y0 + y1 - 1) / 2, (x0 + x1 - 1) / 2
            ry, rx = max((y1 - y0) / 2, 1.0), max((x1 - x0) / 2, 1.0)
            prior[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0] = oid
    if draw(st.booleans()):  # an object in two disconnected pieces
        oid = draw(st.sampled_from(ids))
        prior[: max(1, h // 6), : max(1, w // 6)] = oid
        prior[h - max(1, h // 6):, w - max(1, w // 6):] = oid
    n_bands = draw(st.integers(0, 2))
    for _ in range(n_bands):  # uncertain pixels: thin bands and a small block
        if draw(st.booleans()):
            r = draw(st.integers(0, h - 1))
            prior[r, :] = 0
        else:
            c = draw(st.integers(0, w - 1))
            prior[:, c] = 0
    if draw(st.booleans()):
        y0, x0 = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
        prior[y0:y0 + 3, x0:x0 + 3] = 0
    if not (prior > 0).any():
        prior[0, 0] = ids[0]
    return prior


@st.composite
def cases(draw, with_prior=True):
    img = draw(images())
    h, w = img.shape[:2]
    prior = draw(priors(h, w)) if with_prior and draw(st.integers(0, 4)) > 0 else None
    k = draw(st.integers(1, min(150, h * w)))
    seed = draw(st.integers(0, 1000))
    return img, prior, k, seed


# -- checks ------------------------------------------------------------------------------

def check_result(res, prior: np.ndarray | None, shape: tuple[int, int]) -> None:
    labels = res.labels
    h, w = shape
    assert labels.shape == (h, w) and labels.dtype == np.int32
    n = res.n_superpixels
    # labels are exactly 1..N
    assert np.array_equal(np.unique(labels), np.arange(1, n + 1))
    assert res.superpixel_object.shape == (n + 1,)
    # every superpixel is one 4-connected region: as many 4-components as labels
    comp = cc_label(labels, background=0, connectivity=1)
    assert comp.max() == n
    # prior object per pixel
    expected_objects = np.ones((h, w), np.int32) if prior is None else prior.astype(np.int32)
    assert np.array_equal(res.objects, expected_objects)
    obj = res.objects.ravel()
    lab = labels.ravel()
    certain = obj > 0
    # every superpixel's certain pixels lie in one object, the one superpixel_object names
    pairs = np.unique(np.stack([lab[certain], obj[certain]], 1), axis=0)
    assert np.unique(pairs[:, 0]).size == pairs.shape[0], "a superpixel spans two objects"
    assert np.array_equal(res.superpixel_object[pairs[:, 0]], pairs[:, 1])
    # every object gets at least one superpixel, and the object table is right
    ids, areas = np.unique(obj[certain], return_counts=True)
    assert set(ids.tolist()) <= set(res.superpixel_object[1:].tolist())
    assert sorted(res.objects_info) == ids.tolist()
    for oid, area in zip(ids.tolist(), areas.tolist()):
        info = res.objects_info[oid]
        assert info.id == oid and info.area == area and info.k >= 1


def other_superpixels_unchanged(before, after, oid: int, values_too: bool) -> None:
    """Every superpixel of another object keeps its pixel set (and, if asked, its value)."""
    for lab in np.flatnonzero(before.superpixel_object != oid):
        if lab == 0:
            continue
        mask = before.labels == lab
        vals = np.unique(after.labels[mask])
        assert vals.size == 1, f"superpixel {lab} was split"
        assert np.array_equal(after.labels == vals[0], mask), f"superpixel {lab} changed pixels"
        assert after.superpixel_object[vals[0]] == before.superpixel_object[lab]
        if values_too:
            assert vals[0] == lab, f"superpixel {lab} was renumbered to {vals[0]}"


# -- properties ------------------------------------------------------------------------------

@PROPS
@given(cases(), st.sampled_from([0, 1, 2]))
def test_segment_invariants(spam, case, smoothing):
    img, prior, k, seed = case
    res = spam.segment(img, n_segments=k, prior=prior, seed=seed, smoothing=smoothing)
    check_result(res, prior, img.shape[:2])


@FEW
@given(cases())
def test_same_seed_same_result(spam, case):
    img, prior, k, seed = case
    a = spam.segment(img, n_segments=k, prior=prior, seed=seed)
    b = Spam(encoder=None, device="cpu").segment(img, n_segments=k, prior=prior, seed=seed)
    assert np.array_equal(a.labels, b.labels)
    assert np.array_equal(a.superpixel_object, b.superpixel_object)


@PROPS
@given(cases(), st.data())
def test_rescale_touches_only_the_clicked_object(spam, case, data):
    img, prior, k, seed = case
    assume(prior is not None)
    smoothing = data.draw(st.sampled_from([0, 1]))
    res = spam.segment(img, n_segments=k, prior=prior, seed=seed, smoothing=smoothing)
    check_result(res, prior, img.shape[:2])
    oid = data.draw(st.sampled_from(sorted(res.objects_info)))
    ratio = data.draw(st.sampled_from([0.25, 0.5, 1.0, 1.5, 2.0, 3.0]))
    res2 = spam.rescale(res, oid, ratio)
    check_result(res2, prior, img.shape[:2])
    assert res2.objects_info[oid].ratio == ratio
    for o, info in res.objects_info.items():
        if o != oid:
            assert res2.objects_info[o] == info
    # when the clicked object does not lose superpixels, other labels keep their values
    grows = res2.superpixel_counts().get(oid, 0) >= res.superpixel_counts().get(oid, 0)
    other_superpixels_unchanged(res, res2, oid, values_too=grows)


@FEW
@given(st.integers(0, 1000), st.sampled_from([0.5, 2.0, 3.0]))
def test_rescale_changes_count_by_about_the_ratio(spam, seed, ratio):
    img = _make_image("smooth", 64, 64, seed)
    prior = np.full((64, 64), 4, np.int64)
    prior[:, :40] = 11                     # a large object: 64 x 40 pixels
    prior[5:15, 45:60] = 0
    res = spam.segment(img, n_segments=120, prior=prior, seed=seed)
    res2 = spam.rescale(res, 11, ratio)
    before = res.superpixel_counts()[11]
    after = res2.superpixel_counts()[11]
    lo, hi = (0.6 * ratio, 1.3 * ratio) if ratio < 1 else (0.75 * ratio, 1.3 * ratio)
    assert lo * before <= after <= hi * before, (before, after)
    assert res2.objects_info[11].k == round(ratio * res.objects_info[11].k) or \
        abs(res2.objects_info[11].k - ratio * res.objects_info[11].k) <= 1


def test_rescale_back_to_one_restores_the_budget(spam):
    img = _make_image("smooth", 40, 40, 3)
    prior = np.full((40, 40), 2, np.int64)
    prior[:20] = 7
    res = spam.segment(img, n_segments=60, prior=prior)
    back = spam.rescale(spam.rescale(res, 7, 2.0), 7, 1.0)
    assert back.objects_info[7].k == res.objects_info[7].k
    assert back.objects_info[7].ratio == 1.0
    check_result(back, prior, (40, 40))


def test_rescale_down_keeps_other_pixels_and_moves_few_values(spam):
    """When the clicked object loses superpixels, labels stay exactly 1..N: the highest label
    values move into the freed ones. Other objects keep their pixel sets; only superpixels whose
    value was above the new N are renumbered."""
    img = _make_image("smooth", 60, 60, 0)
    prior = np.zeros((60, 60), np.int64)
    prior[:30] = 3
    prior[30:, :40] = 7
    prior[35:, 45:] = 9
    res = spam.segment(img, n_segments=60, prior=prior)
    res2 = spam.rescale(res, 3, 0.5)
    other_superpixels_unchanged(res, res2, 3, values_too=False)
    n2 = res2.n_superpixels
    keep = (res.objects != 3) & (res.labels <= n2) & (res.superpixel_object[res.labels] != 3)
    assert np.array_equal(res.labels[keep], res2.labels[keep])


def test_rescale_errors(spam):
    img = _make_image("smooth", 20, 20, 0)
    prior = np.full((20, 20), 5, np.int64)
    res = spam.segment(img, n_segments=10, prior=prior)
    with pytest.raises(ValueError, match="object 6"):
        spam.rescale(res, 6, 2.0)
    with pytest.raises(ValueError, match="positive"):
        spam.rescale(res, 5, 0.0)


# -- edge cases ------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 2, 10, 63, 64])
def test_8x8_images(spam, k):
    img = _make_image("noise", 8, 8, k)
    res = spam.segment(img, n_segments=k)
    check_result(res, None, (8, 8))
    if k == 64:
        assert res.n_superpixels <= 64


def test_k_equal_one_without_prior_is_one_superpixel(spam):
    img = _make_image("smooth", 30, 20, 1)
    res = spam.segment(img, n_segments=1)
    check_result(res, None, (30, 20))
    assert res.n_superpixels == 1


def test_k_equal_one_with_prior_gives_one_per_object_piece(spam):
    img = _make_image("smooth", 30, 30, 1)
    prior = np.full((30, 30), 8, np.int64)
    prior[10:20, 10:20] = 3
    res = spam.segment(img, n_segments=1, prior=prior)
    check_result(res, prior, (30, 30))
    assert {o: i.k for o, i in res.objects_info.items()} == {3: 1, 8: 1}
    assert res.superpixel_counts() == {3: 1, 8: 1}


def test_k_larger_than_pixel_count_is_clamped_with_a_warning(spam):
    img = _make_image("noise", 9, 11, 0)
    with pytest.warns(UserWarning, match=r"99"):
        res = spam.segment(img, n_segments=500)
    check_result(res, None, (9, 11))
    assert res.params["n_segments_used"] == 99
    assert res.n_superpixels <= 99


def test_non_contiguous_ids_and_an_object_in_two_pieces(spam):
    img = _make_image("smooth", 32, 32, 5)
    prior = np.full((32, 32), 1000, np.int64)
    prior[:8, :8] = 77
    prior[24:, 24:] = 77           # 77 in two disconnected pieces
    prior[12:20, :] = 0            # an uncertain band
    prior[14:18, 10:20] = 3
    res = spam.segment(img, n_segments=40, prior=prior)
    check_result(res, prior, (32, 32))
    # each piece of object 77 has its own superpixel(s)
    sp77 = set(res.superpixels_of(77).tolist())
    assert set(np.unique(res.labels[:8, :8])) <= sp77
    assert set(np.unique(res.labels[24:, 24:])) <= sp77
    assert not set(np.unique(res.labels[:8, :8])) & set(np.unique(res.labels[24:, 24:]))


def test_all_uncertain_prior(spam):
    img = _make_image("smooth", 24, 24, 2)
    prior = np.zeros((24, 24), np.int64)
    res = spam.segment(img, n_segments=20, prior=prior)
    assert res.objects_info == {}
    assert np.array_equal(res.objects, prior)
    assert np.array_equal(np.unique(res.labels), np.arange(1, res.n_superpixels + 1))
    assert cc_label(res.labels, background=0, connectivity=1).max() == res.n_superpixels
    assert res.n_superpixels >= 1


def test_prior_of_the_wrong_size(spam):
    img = _make_image("smooth", 24, 30, 2)
    with pytest.raises(ValueError, match=r"30x24") as exc:
        spam.segment(img, n_segments=20, prior=np.ones((30, 24), np.int64))
    assert re.search(r"24x30", str(exc.value))


def test_prior_rejects_negative_and_fractional_ids(spam):
    img = _make_image("smooth", 10, 10, 2)
    with pytest.raises(ValueError, match="negative"):
        spam.segment(img, n_segments=5, prior=-np.ones((10, 10), np.int64))
    with pytest.raises(ValueError, match="integer"):
        spam.segment(img, n_segments=5, prior=np.full((10, 10), 0.5))


@pytest.mark.parametrize("kind", ["grey", "rgba"])
def test_grey_and_rgba_input_equal_their_rgb(spam, kind):
    img = _make_image(kind, 20, 26, 4)
    rgb = np.repeat(img[..., None], 3, 2) if kind == "grey" else img[..., :3]
    a = spam.segment(img, n_segments=30)
    b = spam.segment(rgb, n_segments=30)
    check_result(a, None, (20, 26))
    assert np.array_equal(a.labels, b.labels)


def test_bad_arguments(spam):
    img = _make_image("smooth", 10, 10, 2)
    with pytest.raises(ValueError):
        spam.segment(img, n_segments=0)
    with pytest.raises(ValueError, match="ratio_mode"):
        spam.segment(img, n_segments=5, ratio_mode="global")
    # a ratio of an object the prior does not have (a changed prior) is dropped and reported
    with pytest.warns(UserWarning, match="object 4 not used"):
        res = spam.segment(img, n_segments=5, prior=np.ones((10, 10), int), ratios={4: 2.0})
    assert res.params["dropped_ratios"] == {"4": 2.0}
    with pytest.raises(ValueError):
        spam.segment(np.zeros((10, 10, 5), np.uint8), n_segments=5)


# -- budgets through the API -------------------------------------------------------------

@FEW
@given(st.integers(0, 100), st.sampled_from([0.5, 2.0, 3.0]))
def test_keep_total_sums_to_k(spam, seed, ratio):
    img = _make_image("smooth", 48, 48, seed)
    prior = np.full((48, 48), 2, np.int64)
    prior[:20, :20] = 6
    prior[30:, :] = 13
    k = 90
    res = spam.segment(img, n_segments=k, prior=prior, ratios={6: ratio}, ratio_mode="keep-total")
    check_result(res, prior, (48, 48))
    ks = {o: i.k for o, i in res.objects_info.items()}
    assert sum(ks.values()) == k
    quota6 = k * res.objects_info[6].area / (48 * 48)
    assert abs(ks[6] - ratio * quota6) <= 1
    local = spam.segment(img, n_segments=k, prior=prior, ratios={6: ratio})
    # local mode: only object 6's budget changes
    uni = spam.segment(img, n_segments=k, prior=prior)
    assert local.objects_info[2].k == uni.objects_info[2].k
    assert local.objects_info[13].k == uni.objects_info[13].k
    assert local.objects_info[6].k == ks[6]


def _salient_case(fraction_side: int):
    h = w = 64
    img = _make_image("smooth", h, w, 9)
    prior = np.full((h, w), 2, np.int64)
    prior[32:, :] = 5
    prior[:, 50:] = 12
    prior[4:4 + fraction_side, 4:4 + fraction_side] = 1
    sal = (prior == 1).astype(np.float64)
    return img, prior, sal


def test_visual_attention_density(spam):
    r = 2.5
    k = 400
    img, prior, sal = _salient_case(13)    # object 1: 169 px, about 4 % of the image
    res = spam.segment(img, n_segments=k, prior=prior, saliency=sal, attention_ratio=r)
    check_result(res, prior, (64, 64))
    info = res.objects_info
    assert info[1].salient is True
    assert all(info[o].salient is False for o in info if o != 1)
    assert sum(i.k for i in info.values()) == k
    d1 = info[1].k / info[1].area
    d_bg = sum(info[o].k for o in info if o != 1) / sum(info[o].area for o in info if o != 1)
    assert abs(d1 / (r * d_bg) - 1) <= 0.10, (d1, d_bg)
    # per background object too
    for o in info:
        if o != 1:
            assert abs(d1 / (r * info[o].k / info[o].area) - 1) <= 0.10
    # SPEC §3: K_f = r K a_f / A
    assert abs(info[1].k - r * k * info[1].area / prior.size) <= 1
    assert res.params["attention"] is True and res.params["attention_ratio"] == r


@FEW
@given(st.integers(6, 30), st.sampled_from([1.5, 2.5, 4.0]))
def test_visual_attention_budget_per_spec(spam, side, r):
    k = 300
    img, prior, sal = _salient_case(side)
    res = spam.segment(img, n_segments=k, prior=prior, saliency=sal, attention_ratio=r)
    info = res.objects_info
    assert sum(i.k for i in info.values()) == k
    kf = r * k * info[1].area / prior.size
    # capped so that the background keeps a fifth of its uniform share (issue 12, item 8)
    cap = k - 0.2 * k * (prior.size - info[1].area) / prior.size
    assert abs(info[1].k - min(kf, cap)) <= 1
    if abs(kf - cap) > 1:  # (within one superpixel of the cap, rounding decides)
        assert info[1].attention_capped is (kf > cap)
    assert all(info[o].k >= 1 for o in info)


def test_no_salient_object_gives_the_uniform_budget(spam):
    img, prior, _ = _salient_case(10)
    uni = spam.segment(img, n_segments=100, prior=prior)
    va = spam.segment(img, n_segments=100, prior=prior, saliency=np.zeros(prior.shape))
    assert {o: i.k for o, i in va.objects_info.items()} == {o: i.k for o, i in uni.objects_info.items()}
    assert np.array_equal(va.labels, uni.labels)


# -- with an encoder -----------------------------------------------------------------------

def test_random_weight_encoder_features_are_cached(tmp_path, monkeypatch):
    from spam_gui.core.engine.encoder import InferenceEncoder, SSNEncoder, save_encoder

    torch.manual_seed(0)
    model = SSNEncoder(feature_dim=20)
    path = save_encoder(tmp_path / "rand.pt", model, meta={"note": "random"})
    spam = Spam(encoder=path, device="cpu")
    assert spam.feature_dim == 20
    assert spam.encoder_sha256 is not None and "rand.pt" in spam.encoder_name

    calls = []
    original = InferenceEncoder.__call__

    def counting(self, lab):
        calls.append(lab.shape)
        return original(self, lab)

    monkeypatch.setattr(InferenceEncoder, "__call__", counting)
    img = _make_image("smooth", 30, 34, 1)
    feats = spam.features(img)
    assert feats.deep is not None and tuple(feats.deep.shape) == (30 * 34, 15)
    assert torch.isfinite(feats.deep).all()
    assert len(calls) == 1
    a = spam.segment(img, n_segments=40)
    b = spam.segment(img, n_segments=25, lambda_s=3.0, lambda_c=0.5)
    prior = np.full((30, 34), 1, np.int64)
    prior[:, 17:] = 2
    c = spam.segment(img, n_segments=40, prior=prior, ratios={2: 2.0})
    spam.rescale(c, 1, 3.0)
    assert len(calls) == 1, "re-segmenting the same image re-ran the network"
    assert spam.features(img) is feats
    for res, pr in ((a, None), (b, None), (c, prior)):
        check_result(res, pr, (30, 34))
    assert a.params["feature_dim"] == 20 and a.params["encoder_sha256"] == spam.encoder_sha256
    # another image runs the network once more; clearing the cache does too
    spam.features(_make_image("smooth", 30, 34, 2))
    assert len(calls) == 2
    spam.clear_cache()
    spam.features(img)
    assert len(calls) == 3
