"""The built-in prior's edge features beyond the first model's (issue 25 item 2): the saliency
cue, the image-frame contact, the coarse-scale boundary, models over a subset of the features,
and the model file (pickle-free, a wrong shape rejected with the file's name)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spam_gui.core import Spam
from spam_gui.core.prior.builtin.compute import build_hierarchy
from spam_gui.core.prior.builtin.edge_model import (
    EDGE_FEATURES, EDGE_FEATURES_V1, BuiltinPriorError, EdgeModel, default_edge_model,
    edge_model_path,
)
from spam_gui.core.prior.builtin.graph import build_graph, edge_features
from spam_gui.core.saliency.builtin import builtin_saliency


@pytest.fixture(scope="module")
def spam() -> Spam:
    return Spam(encoder="default", device="cpu")


def _disc_scene(h: int = 72, w: int = 96, seed: int = 0):
    """A disc in the middle of a large, noisy, two-tone ground; returns (image, disc mask)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), dtype=np.float64)
    img[:] = (120, 110, 90)
    img[h // 2:, :] = (110, 105, 95)
    yy, xx = np.mgrid[0:h, 0:w]
    disc = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (h / 5) ** 2
    img[disc] = (200, 60, 40)
    img += rng.normal(0, 5, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), disc


def _one_feature_model(name: str, weight: float, bias: float) -> EdgeModel:
    """A logistic model over every feature that weighs only ``name``."""
    nf = len(EDGE_FEATURES)
    w = np.zeros((nf, 1))
    w[EDGE_FEATURES.index(name), 0] = weight
    return EdgeModel(layers=((w, np.array([bias])),), mean=np.zeros(nf), scale=np.ones(nf))


def test_saliency_cue_keeps_a_salient_disc_apart_from_a_large_ground(spam):
    img, disc = _disc_scene()
    # P(different) rises with the saliency difference of the two regions, nothing else
    with_sal = _one_feature_model("sal_diff", 40.0, -40.0 * 0.25)
    assert with_sal.uses_saliency
    with pytest.raises(BuiltinPriorError, match="saliency"):   # the map is the caller's
        build_hierarchy(img, spam=spam, edge_model=with_sal)
    hier = build_hierarchy(img, spam=spam, edge_model=with_sal, saliency=builtin_saliency(img))
    objects = hier.partition(0.5)
    ids, counts = np.unique(objects[disc], return_counts=True)
    best = ids[np.argmax(counts)]
    inter = np.sum((objects == best) & disc)
    iou = inter / np.sum((objects == best) | disc)
    assert iou > 0.7, f"the disc's object overlaps it by IoU {iou:.2f}"
    # the same merging without the cue (every pair alike) makes one object
    blind = _one_feature_model("sal_diff", 0.0, -6.0)
    blind_hier = build_hierarchy(img, spam=spam, edge_model=blind, saliency=builtin_saliency(img))
    assert int(blind_hier.partition(0.5).max()) == 1


def test_graph_features_see_saliency_and_the_frame():
    h, w = 40, 60
    fine = np.zeros((h, w), dtype=np.int32)
    fine[10:30, 20:40] = 1                    # an inner square, off the frame
    lab = np.zeros((h, w, 3), dtype=np.float32)
    lab[..., 0] = 50.0
    lab[10:30, 20:40, 0] = 80.0
    sal = np.zeros((h, w), dtype=np.float32)
    sal[10:30, 20:40] = 0.9
    g = build_graph(fine, lab, None, None, saliency=sal)
    x = edge_features(g.regions[g.pairs[:, 0]], g.regions[g.pairs[:, 1]], g.borders,
                      g.layout, float(h * w))
    f = dict(zip(EDGE_FEATURES, x[0]))
    assert x.shape == (1, len(EDGE_FEATURES))
    assert f["sal_diff"] == pytest.approx(0.9) and f["sal_max"] == pytest.approx(0.9)
    assert f["frame_small"] == 0.0                       # the square does not touch the frame
    assert f["frame_large"] == pytest.approx((2 * (h + w) - 4) / np.sqrt(h * w - 400))
    assert f["border_strong"] == pytest.approx(1.0)      # a 30-unit step in L
    assert f["border_coarse"] > 0
    # no saliency map: the saliency features are 0
    g0 = build_graph(fine, lab, None, None)
    x0 = edge_features(g0.regions[g0.pairs[:, 0]], g0.regions[g0.pairs[:, 1]], g0.borders,
                       g0.layout, float(h * w))
    assert x0[0, EDGE_FEATURES.index("sal_diff")] == 0.0


def test_a_model_over_a_subset_of_the_features(tmp_path):
    rng = np.random.default_rng(1)
    n1 = len(EDGE_FEATURES_V1)
    v1 = EdgeModel(layers=((rng.normal(size=(n1, 4)), rng.normal(size=4)),
                           (rng.normal(size=(4, 1)), rng.normal(size=1))),
                   mean=rng.normal(size=n1), scale=rng.random(n1) + 0.5,
                   features=EDGE_FEATURES_V1)
    assert not v1.uses_saliency
    x = rng.random((7, len(EDGE_FEATURES)))
    # every feature, or the model's own columns: the same probabilities
    np.testing.assert_allclose(v1.probability(x), v1.probability(x[:, :n1]))
    back = EdgeModel.load(v1.save(tmp_path / "v1.npz"))
    assert back.features == EDGE_FEATURES_V1
    np.testing.assert_allclose(back.probability(x), v1.probability(x))
    with pytest.raises(BuiltinPriorError, match="not distinct names"):
        EdgeModel(layers=((np.zeros((1, 1)), np.zeros(1)),), mean=np.zeros(1),
                  scale=np.ones(1), features=("no_such_feature",))


def test_the_model_file_is_pickle_free_and_checked(tmp_path):
    path = edge_model_path()
    with np.load(path, allow_pickle=False) as z:      # no object arrays in the file
        arrays = {k: z[k] for k in z.files}
    assert all(a.dtype != object for a in arrays.values())
    model = default_edge_model()
    assert set(model.features) <= set(EDGE_FEATURES)
    assert json.loads(str(arrays["meta"])) == model.meta
    # a file whose arrays have the wrong shape: refused, the message names the file
    bad = dict(arrays)
    bad["mean"] = np.zeros(3)
    np.savez(tmp_path / "wrong_shape.npz", **bad)
    with pytest.raises(BuiltinPriorError, match=r"wrong_shape\.npz.*mean has 3 values"):
        EdgeModel.load(tmp_path / "wrong_shape.npz")
    bad = dict(arrays)
    bad["w0"] = np.zeros((5, 16))
    np.savez(tmp_path / "wrong_layer.npz", **bad)
    with pytest.raises(BuiltinPriorError, match=r"wrong_layer\.npz.*layer 0"):
        EdgeModel.load(tmp_path / "wrong_layer.npz")
    bad = dict(arrays)
    bad["features"] = np.array(["lab_mean", "colour_of_the_sky"])
    np.savez(tmp_path / "unknown.npz", **bad)
    with pytest.raises(BuiltinPriorError, match=r"unknown\.npz.*colour_of_the_sky"):
        EdgeModel.load(tmp_path / "unknown.npz")
