"""The compiled inference kernels (core.engine.cluster_kernels) against the reference code they replace.

Each kernel has a PyTorch / NumPy / SciPy counterpart that stays in the tree (training, CUDA,
or an installation without numba): the clustering against ``soft_cluster``, the encoder's split
output layer against ``SSNEncoder.forward``, the majority filter against its NumPy rule, the
seeds' nearest-point search against brute force, and the engine without kernels still works.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spam_gui.core.engine import clustering, compiled
from spam_gui.core.engine import cluster_kernels as ck
from spam_gui.core.engine.cluster_groups import CANDIDATE_RADIUS, build_groups, build_problem
from spam_gui.core.engine.clustering import PixelFeatures, cluster
from spam_gui.core.engine.soft_clustering import soft_cluster
from spam_gui.core.engine.features import pixel_positions, position_scale
from spam_gui.core.engine.seeds import kmeans_seeds, object_rng
from spam_gui.core.engine.smoothing import majority_filter


def _scene(h: int = 60, w: int = 80, seed: int = 0):
    """A random two-object image with an uncertain band, features and seeds (different
    densities per object, so uncertain pixels see candidates of mixed scales)."""
    rng = np.random.default_rng(seed)
    objects = np.ones((h, w), np.int64)
    objects[:, w // 2:] = 2
    objects[:, w // 2 - 2:w // 2 + 2] = 0
    yy, xx = np.mgrid[0:h, 0:w]
    colour = np.stack([yy * 0.5, xx * 0.3, (yy + xx) % 17], axis=-1).reshape(-1, 3)
    lab = (colour + rng.normal(0, 2.0, colour.shape)).astype(np.float32)
    deep = rng.normal(0, 1.0, (h * w, 4)).astype(np.float32)
    pos = pixel_positions(h, w)
    k, density = 30, {1: 1.0, 2: 2.5}
    s = position_scale(h, w, k, 7.5)
    seed_pos, seed_obj, rad, scale = [], [], [], []
    for oid in (1, 2):
        sp = kmeans_seeds(pos[objects.ravel() == oid], int(k * density[oid] / 2),
                          object_rng(0, oid))
        seed_pos.append(sp)
        seed_obj.append(np.full(len(sp), oid))
        rad.append(np.full(len(sp), CANDIDATE_RADIUS * math.sqrt(h * w / k)
                           / math.sqrt(density[oid])))
        scale.append(np.full(len(sp), s * math.sqrt(density[oid])))
    # two seeds on one pixel: one of them starts without pixels
    seed_pos[0] = np.concatenate([seed_pos[0], seed_pos[0][:1]])
    seed_obj[0] = np.concatenate([seed_obj[0], seed_obj[0][:1]])
    rad[0] = np.concatenate([rad[0], rad[0][:1]])
    scale[0] = np.concatenate([scale[0], scale[0][:1]])
    args = (pos, objects.ravel(), np.concatenate(seed_pos), np.concatenate(seed_obj),
            np.concatenate(rad), np.concatenate(scale))
    return objects, deep, lab, pos, args


@pytest.mark.skipif(compiled.kernels() is None, reason="numba is not installed")
@pytest.mark.parametrize("threads", [1, 2])
def test_compiled_clustering_matches_soft_cluster(threads):
    objects, deep, lab, pos, args = _scene()
    lam = 0.26
    groups = build_groups(*args)
    fast = cluster(PixelFeatures([(deep, 1.0), (lab, lam)], pos), groups, 10, threads=threads)
    app = torch.cat([torch.from_numpy(deep), torch.from_numpy(lab) * lam], dim=1)
    with torch.inference_mode():
        ref = soft_cluster(app, torch.from_numpy(pos), build_problem(*args), 10)
    agree = (fast.labels == ref.labels.numpy()).mean()
    assert agree > 0.999
    np.testing.assert_allclose(fast.centroids_app.numpy(), ref.centroids_app.numpy(),
                               rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(fast.centroids_pos.numpy(), ref.centroids_pos.numpy(),
                               rtol=1e-4, atol=1e-3)
    # containment: every pixel of an object takes a seed of that object
    seed_obj = args[3]
    labels_obj = seed_obj[fast.labels]
    certain = objects.ravel() > 0
    assert np.array_equal(labels_obj[certain], objects.ravel()[certain])


@pytest.mark.skipif(compiled.kernels() is None, reason="numba is not installed")
def test_compiled_clustering_of_a_subset_and_the_torch_fallback(monkeypatch):
    """``pixels`` selects rows of the full-image features (Spam.rescale); without numba the
    same call goes through soft_cluster and gives the same labels."""
    objects, deep, lab, pos, args = _scene(seed=3)
    pix = np.flatnonzero(objects.ravel() == 2)
    sub = (pos[pix], np.full(pix.size, 2, np.int64),
           *(a[args[3] == 2] for a in (args[2], args[3], args[4], args[5])))
    groups = build_groups(*sub)
    feats = PixelFeatures([(torch.from_numpy(deep), 1.0), (torch.from_numpy(lab), 0.26)],
                          torch.from_numpy(pos), pix)
    fast = cluster(feats, groups, 5)
    monkeypatch.setattr(compiled, "_KERNELS", None)
    slow = cluster(feats, groups, 5)
    assert fast.labels.shape == (pix.size,)
    assert (fast.labels == slow.labels).mean() > 0.999
    assert fast.labels.max() < groups.n_seeds


def test_zero_iterations_give_nearest_initial_centroids():
    _, deep, lab, pos, args = _scene(seed=5)
    groups = build_groups(*args)
    hc = cluster(PixelFeatures([(lab, 0.26)], pos), groups, 0)
    assert hc.labels.shape == (pos.shape[0],)
    assert set(np.unique(hc.labels)) <= set(range(groups.n_seeds))


@pytest.mark.skipif(compiled.kernels() is None, reason="numba is not installed")
def test_polynomial_exponential_is_accurate():
    @__import__("numba").njit
    def run(v, out):
        for i in range(v.shape[0]):
            out[i] = ck._exp_neg(v[i])

    v = -np.linspace(0.0, 25.0, 200_001).astype(np.float32)
    out = np.empty_like(v)
    run(v, out)
    inside = v > -ck.EXP_CUTOFF
    ref = np.exp(v.astype(np.float64))
    assert np.max(np.abs(out[inside] - ref[inside]) / ref[inside]) < 5e-7
    assert np.all(out[~inside] == 0.0)


@pytest.mark.skipif(compiled.kernels() is None, reason="numba is not installed")
@pytest.mark.parametrize("size", [(1, 1), (2, 9), (7, 5), (33, 17), (40, 64)])
def test_split_encoder_matches_the_network(size):
    from spam_gui.core.engine.encoder import EncoderInfo, InferenceEncoder, SSNEncoder

    torch.manual_seed(0)
    model = SSNEncoder(20).eval()
    with torch.no_grad():
        model.output[0].weight.mul_(100.0)  # undo the near-zero start: real-sized features
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    info = EncoderInfo(None, None, 20, 3, 0.26)
    fast = InferenceEncoder(model, info, torch.device("cpu"))
    assert fast._split is not None
    lab = np.random.default_rng(1).uniform(0, 100, (*size, 3)).astype(np.float32)
    with torch.inference_mode():
        ref = model(torch.from_numpy(lab * 0.26).permute(2, 0, 1)[None])[0].permute(1, 2, 0)
    out = fast(lab)
    assert out.shape == (*size, 15)
    scale = float(ref.abs().max()) + 1e-6
    assert float((out - ref).abs().max()) < 1e-5 * max(1.0, scale) * 10


def _numpy_majority(monkeypatch, *args, **kwargs):
    with monkeypatch.context() as m:
        m.setattr(compiled, "_KERNELS", None)
        return majority_filter(*args, **kwargs)


def test_compiled_majority_filter_is_the_numpy_rule(monkeypatch):
    rng = np.random.default_rng(2)
    for trial in range(120):
        h, w = (int(v) for v in rng.integers(1, 24, 2))
        labels = rng.integers(1, int(rng.integers(2, 7)), (h, w))
        objects = rng.integers(0, 3, (h, w))
        label_object = rng.integers(0, 3, int(labels.max()) + 1)
        mutable = rng.random((h, w)) > 0.3 if trial % 2 else None
        allowed = rng.random(int(labels.max()) + 1) > 0.3 if trial % 3 == 0 else None
        passes = int(rng.integers(0, 4))
        for constraint in ((objects, label_object), (None, None)):
            kw = {"passes": passes, "mutable": mutable, "allowed_labels": allowed}
            ref = _numpy_majority(monkeypatch, labels, *constraint, **kw)
            got = majority_filter(labels, *constraint, **kw)
            assert got.dtype == np.int32
            assert np.array_equal(got, ref), trial


@pytest.mark.skipif(compiled.kernels() is None, reason="numba is not installed")
def test_nearest_points_is_exact_with_lowest_index_ties():
    rng = np.random.default_rng(4)
    for trial in range(60):
        k, n = int(rng.integers(1, 120)), int(rng.integers(1, 800))
        if trial % 2:   # integer coordinates: many exact ties
            pts = rng.integers(0, 30, (n, 2)).astype(float)
            seeds = rng.integers(0, 30, (k, 2)).astype(float)
        else:
            pts = rng.random((n, 2)) * rng.integers(1, 400, 2)
            seeds = rng.random((k, 2)) * 300 - 20
        out = np.empty(n, np.int64)
        ck.nearest_points(pts, seeds, out)
        brute = ((pts[:, None] - seeds[None]) ** 2).sum(-1).argmin(1)
        assert np.array_equal(out, brute), trial


def test_engine_without_kernels_keeps_its_guarantees(monkeypatch):
    """The fallback (no numba): segment and rescale through the PyTorch / NumPy code."""
    from spam_gui.core import Spam

    monkeypatch.setattr(compiled, "_KERNELS", None)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)
    prior = np.zeros((40, 56), np.int64)
    prior[:, :28], prior[:, 30:] = 1, 2
    spam = Spam(encoder=None, device="cpu")
    res = spam.segment(img, n_segments=40, prior=prior)
    res2 = spam.rescale(res, 2, 2.0)
    for r in (res, res2):
        labels = r.labels
        assert labels.min() == 1 and np.array_equal(np.unique(labels),
                                                      np.arange(1, labels.max() + 1))
        owner = r.superpixel_object[labels]
        assert np.all(owner[prior > 0] == prior[prior > 0])


def test_warm_up_runs_every_kernel():
    assert clustering.warm_up_kernels() is (compiled.kernels() is not None)


def test_best_candidate_is_the_first_highest_score():
    """The running maximum of the hard assignment equals numpy's argmax (first of ties)."""
    from spam_gui.core.engine.soft_clustering import best_candidate

    rng = np.random.default_rng(7)
    score = torch.from_numpy(rng.integers(0, 4, (5, 9, 33)).astype(np.float32))   # many ties
    got = best_candidate(score)
    assert got.dtype == torch.int64 and got.shape == (5, 33)
    assert np.array_equal(got.numpy(), np.argmax(score.numpy(), axis=1))
