"""The built-in object prior (spam_gui.core.prior.builtin.compute) and the segmentation covering."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi

from spam_gui.core import Spam, builtin_prior
from spam_gui.core.evaluation.metrics import segmentation_covering
from spam_gui.core.params import PRIOR_DEFAULTS
from spam_gui.core.prior.builtin.edge_model import (
    EDGE_FEATURES, BuiltinPriorError, EdgeModel, default_edge_model,
)
from spam_gui.core.prior.builtin.compute import build_hierarchy, fine_segments_for

FEW = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def spam() -> Spam:
    return Spam(encoder="default", device="cpu")


def _scene(h: int = 64, w: int = 80, seed: int = 0) -> np.ndarray:
    """Four flat, differently coloured regions (a disc on a two-tone background), with noise."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), dtype=np.float64)
    img[:, : w // 2] = (200, 40, 40)
    img[:, w // 2:] = (40, 60, 200)
    yy, xx = np.mgrid[0:h, 0:w]
    img[(yy - h / 2) ** 2 + (xx - w / 4) ** 2 < (h / 5) ** 2] = (240, 230, 60)
    img[h - h // 4:, w // 2:] = (30, 180, 60)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _smooth_image(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    s = ndi.gaussian_filter(rng.random((h, w, 3)), (3.0, 3.0, 0))
    s = (s - s.min()) / max(np.ptp(s), 1e-9)
    return (s * 255).astype(np.uint8)


def _check_prior_map(prior: np.ndarray, shape: tuple[int, int]) -> int:
    """Shape, dtype, ids 0..N contiguous, every object 4-connected. Returns N."""
    assert prior.shape == shape and prior.dtype == np.int32
    ids = np.unique(prior)
    n = int(prior.max())
    assert set(ids.tolist()) - {0} == set(range(1, n + 1))
    for oid in range(1, n + 1):
        _, pieces = ndi.label(prior == oid)  # default structure: 4-connectivity
        assert pieces == 1, f"object {oid} is in {pieces} pieces"
    return n


# -- the prior ------------------------------------------------------------------------------


def test_builtin_prior_finds_the_regions(spam):
    img = _scene()
    prior = builtin_prior(img, spam=spam)
    n = _check_prior_map(prior, img.shape[:2])
    assert 2 <= n <= 8
    # the objects follow the colour regions: covering of the four regions is high
    truth = np.zeros(img.shape[:2], dtype=np.int32)
    truth[:, 40:] = 1
    yy, xx = np.mgrid[0:64, 0:80]
    truth[(yy - 32) ** 2 + (xx - 20) ** 2 < (64 / 5) ** 2] = 2
    truth[48:, 40:] = 3
    part = build_hierarchy(img, spam=spam).partition()
    assert segmentation_covering(part, truth) > 0.8


def test_deterministic_and_engine_shared(spam):
    img = _scene(seed=3)
    a = builtin_prior(img, 0.5, spam=spam)
    b = builtin_prior(img, 0.5, spam=spam)
    np.testing.assert_array_equal(a, b)
    c = builtin_prior(img, 0.5, encoder="default", device="cpu")  # its own engine
    np.testing.assert_array_equal(a, c)


def test_coarseness_is_monotone(spam):
    img = _smooth_image(56, 72, seed=1)
    hier = build_hierarchy(img, spam=spam)
    counts = [int(hier.partition(c).max()) for c in np.linspace(0.0, 1.0, 11)]
    assert counts == sorted(counts, reverse=True), counts
    assert counts[0] > counts[-1] == 1
    prior_counts = [int(hier.prior(c, band_width=0).max()) for c in (0.2, 0.5, 0.8)]
    assert prior_counts == sorted(prior_counts, reverse=True)


def test_partitions_are_nested(spam):
    hier = build_hierarchy(_smooth_image(48, 48, seed=2), spam=spam)
    fine = hier.partition(0.3, a_min=0)
    coarse = hier.partition(0.7, a_min=0)
    # every fine object lies inside one coarse object
    for oid in np.unique(fine):
        assert np.unique(coarse[fine == oid]).size == 1


def test_uncertain_band_along_weak_borders(spam):
    img = _scene(seed=5)
    hier = build_hierarchy(img, spam=spam)
    c = 0.5
    no_band = hier.prior(c, band_width=0)
    assert (no_band > 0).all()
    wide = hier.prior(c, band_width=3, band_margin=1.0)  # every border counts as weak
    _check_prior_map(wide, img.shape[:2])
    if no_band.max() > 1:
        assert (wide == 0).any()
        # uncertain pixels lie near a border of the partition
        border = np.zeros(no_band.shape, dtype=bool)
        border[:, 1:] |= no_band[:, 1:] != no_band[:, :-1]
        border[1:, :] |= no_band[1:, :] != no_band[:-1, :]
        near = ndi.binary_dilation(border, iterations=4)
        assert near[wide == 0].all()
    # a hierarchy is re-cut without recomputation, with the same result as builtin_prior
    np.testing.assert_array_equal(builtin_prior(img, c, hierarchy=hier),
                                  builtin_prior(img, c, spam=spam))


def test_small_objects_are_absorbed(spam):
    img = _smooth_image(60, 60, seed=7)
    hier = build_hierarchy(img, spam=spam)
    part = hier.partition(0.2, a_min=200)
    areas = np.bincount(part.ravel())[1:]
    assert areas.min() >= 200 or part.max() == 1


def test_constant_and_tiny_images(spam):
    flat = np.full((20, 30, 3), 128, dtype=np.uint8)
    prior = builtin_prior(flat, spam=spam)
    assert _check_prior_map(prior, (20, 30)) == 1
    tiny = builtin_prior(np.zeros((3, 4, 3), dtype=np.uint8), spam=spam)
    assert tiny.shape == (3, 4) and (tiny == 1).all()
    grey = builtin_prior(_smooth_image(24, 24, 0)[..., 0], spam=spam)
    _check_prior_map(grey, (24, 24))


def test_fine_labels_and_no_encoder():
    img = _scene(seed=2)
    grid = (np.arange(64)[:, None] // 8) * 10 + np.arange(80)[None, :] // 8
    eng = Spam(encoder=None, device="cpu")
    hier = build_hierarchy(img, spam=eng, fine_labels=grid)
    assert hier.n_leaves == 80
    _check_prior_map(hier.prior(), (64, 80))


def test_parameter_errors(spam, tmp_path):
    img = _scene()
    with pytest.raises(BuiltinPriorError, match="coarseness"):
        builtin_prior(img, 1.5, spam=spam)
    with pytest.raises(BuiltinPriorError, match="coarseness"):
        builtin_prior(img, "fine", spam=spam)  # type: ignore[arg-type]
    hier = build_hierarchy(img, spam=spam)
    with pytest.raises(BuiltinPriorError, match="80x64"):
        builtin_prior(img[:32], hierarchy=hier)
    with pytest.raises(BuiltinPriorError, match="fine_labels"):
        build_hierarchy(img, spam=spam, fine_labels=np.zeros((3, 3), dtype=int))
    assert fine_segments_for((481, 321)) == PRIOR_DEFAULTS.fine_segments
    assert fine_segments_for((4, 4)) == 1


def test_edge_model_file_round_trip(tmp_path):
    model = default_edge_model()
    path = model.save(tmp_path / "m.npz")
    back = EdgeModel.load(path)
    x = np.random.default_rng(0).random((5, len(EDGE_FEATURES)))
    np.testing.assert_allclose(back.probability(x), model.probability(x))
    assert back.meta == model.meta
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(BuiltinPriorError, match="bad.npz"):
        EdgeModel.load(tmp_path / "bad.npz")
    with pytest.raises(BuiltinPriorError, match="missing.npz"):
        EdgeModel.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(BuiltinPriorError, match="not a built-in prior edge model"):
        EdgeModel.load(tmp_path / "other.npz")
    nf = len(EDGE_FEATURES)
    with pytest.raises(BuiltinPriorError, match="layer 0"):
        EdgeModel(layers=((np.zeros((2, 1)), np.zeros(1)),), mean=np.zeros(nf),
                  scale=np.ones(nf))
    with pytest.raises(BuiltinPriorError, match="one output"):
        EdgeModel(layers=((np.zeros((nf, 3)), np.zeros(3)),), mean=np.zeros(nf),
                  scale=np.ones(nf))
    with pytest.raises(BuiltinPriorError, match="mean"):
        EdgeModel(layers=((np.zeros((nf, 1)), np.zeros(1)),), mean=np.zeros(2),
                  scale=np.ones(nf))
    # a logistic regression is a one-layer model: p = sigmoid(w . z + b)
    w = np.linspace(-1, 1, nf)
    logistic = EdgeModel(layers=((w[:, None], np.array([0.5])),), mean=np.zeros(nf),
                         scale=np.full(nf, 2.0))
    np.testing.assert_allclose(logistic.probability(x), 1 / (1 + np.exp(-(x / 2 @ w + 0.5))))


# -- SPAM with the built-in prior: the engine's properties hold --------------------------------


@FEW
@given(h=st.integers(12, 40), w=st.integers(12, 40), seed=st.integers(0, 2**16),
       coarseness=st.floats(0.0, 1.0), k=st.integers(4, 60))
def test_spam_inside_builtin_objects(spam, h, w, seed, coarseness, k):
    img = _smooth_image(h, w, seed)
    prior = builtin_prior(img, coarseness, spam=spam)
    _check_prior_map(prior, (h, w))
    res = spam.segment(img, n_segments=k, prior=prior)
    labels = res.labels
    n = int(labels.max())
    assert set(np.unique(labels).tolist()) == set(range(1, n + 1))       # labels 1..N
    for lab in range(1, n + 1):                                          # 4-connected
        assert ndi.label(labels == lab)[1] == 1
    certain = prior > 0                                                  # containment
    codes = labels[certain].astype(np.int64) * (int(prior.max()) + 1) + prior[certain]
    sp_of = np.unique(codes) // (int(prior.max()) + 1)
    assert np.unique(sp_of).size == sp_of.size


# -- segmentation covering ---------------------------------------------------------------------


def test_covering_values():
    a = np.zeros((4, 4), dtype=int)
    a[:, 2:] = 1
    assert segmentation_covering(a, a) == 1.0
    assert segmentation_covering(a + 7, a) == 1.0              # any ids
    one = np.zeros((4, 4), dtype=int)
    assert segmentation_covering(one, a) == pytest.approx(0.5)  # each half: IoU 1/2
    assert segmentation_covering(a, one) == pytest.approx(0.5)
    quarters = (np.arange(4)[:, None] // 2) * 2 + np.arange(4)[None, :] // 2
    assert segmentation_covering(quarters, a) == pytest.approx(0.5)
    # gt region of 12 px matched by a 12 px region + the rest: hand computed
    g = np.zeros((4, 4), dtype=int)
    g[3, :] = 1                       # areas 12 and 4
    p = np.zeros((4, 4), dtype=int)
    p[2:, :] = 1                      # areas 8 and 8
    # gt 0: best IoU 8/12; gt 1: IoU 4/8
    assert segmentation_covering(p, g) == pytest.approx((12 * 8 / 12 + 4 * 4 / 8) / 16)


def test_covering_errors():
    with pytest.raises(ValueError, match="shape"):
        segmentation_covering(np.zeros((3, 3), int), np.zeros((3, 4), int))
    with pytest.raises(TypeError):
        segmentation_covering(np.zeros((3, 3)), np.zeros((3, 3), int))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**16), st.integers(1, 5), st.integers(1, 5))
def test_covering_bounds(seed, n_pred, n_gt):
    rng = np.random.default_rng(seed)
    p = rng.integers(0, n_pred, (9, 11))
    g = rng.integers(0, n_gt, (9, 11))
    c = segmentation_covering(p, g)
    assert 0.0 < c <= 1.0
    assert segmentation_covering(g, g) == pytest.approx(1.0)


def test_ucm_matches_the_cuts(spam):
    hier = build_hierarchy(_scene(seed=4), spam=spam)
    ucm = hier.ucm()
    assert ucm.shape == hier.shape and ucm.dtype == np.float32
    assert 0.0 <= ucm.min() and ucm.max() <= 1.0
    for c in (0.3, 0.6, 0.9):
        part = hier.partition(c, a_min=0)
        border = np.zeros(part.shape, dtype=bool)   # pixels whose right / lower neighbour differs
        border[:, :-1] |= part[:, 1:] != part[:, :-1]
        border[:-1, :] |= part[1:, :] != part[:-1, :]
        assert (ucm[border] > c).all() and (ucm[~border] <= c).all()


def test_an_engine_without_the_shipped_encoder_still_gets_objects(spam):
    """The edge model needs the shipped encoder's features: with the app's "no network"
    engine the prior is the same as with the shipped one (not one object)."""
    img = _scene(seed=3)
    with_shipped = builtin_prior(img, 0.5, spam=spam)
    with_none = builtin_prior(img, 0.5, spam=Spam(encoder=None, device="cpu"))
    assert np.array_equal(with_none, with_shipped)
    assert with_none.max() > 1
