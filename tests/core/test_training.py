"""Training the encoder: losses decrease, resume is exact, the shipped model loads."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spam_gui.core.engine.encoder import load_encoder
from spam_gui.core.engine.spam import Spam, default_encoder_path
from spam_gui.core.evaluation.datasets import Sample
from spam_gui.core.training import Trainer, TrainConfig


def _synthetic_samples(n: int = 4, size: int = 48) -> list[Sample]:
    """Images of coloured rectangles on a noisy background, with their label maps."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        img = rng.integers(90, 110, (size, size, 3)).astype(np.uint8)
        gt = np.zeros((size, size), np.int64)
        for lab in range(1, 4):
            y0, x0 = rng.integers(0, size - 16, 2)
            h, w = rng.integers(10, 24, 2)
            img[y0:y0 + h, x0:x0 + w] = rng.integers(0, 255, 3)
            gt[y0:y0 + h, x0:x0 + w] = lab
        out.append(Sample.from_arrays(img, [gt]))
    return out


def _cfg(**kw) -> TrainConfig:
    base = dict(iterations=100, batch_size=2, crop=32, n_seeds=8, lr=5e-3, feature_dim=8,
                val_every=0, checkpoint_every=1000, scale_min=0.8, scale_max=1.2, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def test_a_few_iterations_lower_the_loss(tmp_path):
    torch.manual_seed(0)
    samples = _synthetic_samples()
    tr = Trainer(tmp_path, tmp_path / "m.pt", _cfg(lr=1e-3, batch_size=4), torch.device("cpu"),
                 train=samples, val=[])
    seg = [tr.step()["seg"] for _ in range(40)]
    assert np.mean(seg[-10:]) < 0.95 * np.mean(seg[:10])


def test_resume_gives_the_same_next_step(tmp_path):
    samples = _synthetic_samples()
    cfg = _cfg()
    a = Trainer(tmp_path, tmp_path / "a.pt", cfg, torch.device("cpu"), train=samples, val=[])
    for _ in range(3):
        a.step()
    a.save_checkpoint()
    expected = a.step()
    expected_params = [p.detach().clone() for p in a.model.parameters()]

    b = Trainer(tmp_path, tmp_path / "a.pt", _cfg(seed=99), torch.device("cpu"), train=samples,
                val=[])
    b.load_checkpoint()
    assert b.iteration == 3
    got = b.step()
    assert got == pytest.approx(expected, rel=1e-6, abs=1e-7)
    for p, q in zip(b.model.parameters(), expected_params):
        torch.testing.assert_close(p.detach(), q, rtol=1e-6, atol=1e-7)


def test_run_writes_checkpoint_and_best_model(tmp_path):
    samples = _synthetic_samples(3)
    cfg = _cfg(iterations=4, val_every=2, checkpoint_every=2, val_k=20)
    tr = Trainer(tmp_path, tmp_path / "best.pt", cfg, torch.device("cpu"), train=samples,
                 val=samples[:2])
    lines: list[str] = []
    tr.run(progress=lines.append)
    assert (tmp_path / "best.pt").is_file() and (tmp_path / "best.pt.ckpt").is_file()
    assert any("val ASA" in line for line in lines)
    model, info = load_encoder(tmp_path / "best.pt")
    assert info.feature_dim == 8 and info.meta["iterations"] in (2, 4)
    assert 0.0 < tr.best_asa <= 1.0


@pytest.mark.skipif(not default_encoder_path().is_file(), reason="no shipped encoder yet")
def test_shipped_model_loads_and_gives_features_of_the_right_shape():
    model, info = load_encoder(default_encoder_path())
    assert default_encoder_path().stat().st_size < 1_000_000
    spam = Spam(encoder="default", device="cpu")
    img = np.random.default_rng(0).integers(0, 255, (40, 56, 3)).astype(np.uint8)
    feats = spam.features(img)
    assert feats.deep is not None and tuple(feats.deep.shape) == (40 * 56, info.feature_dim - 5)
    assert "shipped" in spam.encoder_name
    res = spam.segment(img, n_segments=20)
    assert res.labels.shape == (40, 56)


def test_ablation_model_d10_loads():
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "training" / "ablation" / "spam_encoder_d10.pt"
    model, info = load_encoder(path)
    assert info.feature_dim == 10 and path.stat().st_size < 1_000_000
    img = np.random.default_rng(1).integers(0, 255, (32, 48, 3)).astype(np.uint8)
    feats = Spam(encoder=path, device="cpu").features(img)
    assert tuple(feats.deep.shape) == (32 * 48, 5)


def test_scaling_the_output_layer_scales_the_features_exactly():
    from spam_gui.core.engine.encoder import SSNEncoder
    from spam_gui.core.training import scale_deep_features

    torch.manual_seed(0)
    model = SSNEncoder(12).eval()
    with torch.no_grad():
        model.output[0].weight.mul_(100.0)  # undo the near-zero init so features are non-trivial
        x = torch.randn(1, 3, 24, 20)
        before = model(x)
        after = scale_deep_features(model, 0.3)(x)
    assert before.abs().max() > 0
    torch.testing.assert_close(after, 0.3 * before, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError):
        scale_deep_features(model, 0.0)


def test_smoothness_loss_measures_soft_borders_inside_segments():
    from spam_gui.core.training import clustering_losses

    rng = np.random.default_rng(0)
    size = 32
    lab = np.zeros((size, size, 3), np.float32)
    lab[..., 0] = 50.0
    gt = torch.zeros((size, size), dtype=torch.int64)
    cfg = _cfg(crop=size, n_seeds=8, smooth_weight=1.0)
    # no deep features: a plain position clustering has straight, short borders
    flat = torch.zeros((2, size, size), requires_grad=True)
    *_, smooth_flat = clustering_losses(flat, torch.from_numpy(lab), gt, cfg,
                                        np.random.default_rng(1))
    # noisy deep features make the borders ragged: a longer soft border inside the segment
    noisy = torch.from_numpy(rng.normal(0, 3, (2, size, size)).astype(np.float32))
    noisy.requires_grad_(True)
    *_, smooth_noisy = clustering_losses(noisy, torch.from_numpy(lab), gt, cfg,
                                         np.random.default_rng(1))
    assert 0 < smooth_flat.item() < smooth_noisy.item()
    smooth_noisy.backward()
    assert noisy.grad is not None and noisy.grad.abs().sum() > 0
    # across segment borders nothing is asked: a map where every pixel is its own segment
    every_pixel = torch.arange(size * size).reshape(size, size)
    *_, none_inside = clustering_losses(noisy.detach(), torch.from_numpy(lab), every_pixel, cfg,
                                        np.random.default_rng(1))
    assert none_inside.item() == 0.0
    # off by default
    *_, off = clustering_losses(noisy.detach(), torch.from_numpy(lab), gt, _cfg(crop=size),
                                np.random.default_rng(1))
    assert off.item() == 0.0
