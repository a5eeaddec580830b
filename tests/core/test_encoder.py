"""The SSN-architecture encoder: weight files with metadata, clear load errors, fused inference."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
import torch

from spam_gui.core.engine.encoder import (
    ARCH, FORMAT, FORMAT_VERSION, EncoderLoadError, InferenceEncoder, SSNEncoder, encoder_input,
    fuse_for_inference, load_encoder, save_encoder,
)
from spam_gui.core.engine.features import rgb_to_lab


def _random_model(feature_dim: int = 20, seed: int = 0) -> SSNEncoder:
    """A random encoder whose batch norms have non-trivial statistics and affine terms."""
    torch.manual_seed(seed)
    model = SSNEncoder(feature_dim=feature_dim)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return model.eval()


def _lab(h: int = 23, w: int = 31, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rgb_to_lab(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def _torch_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


# -- architecture ------------------------------------------------------------------------

@pytest.mark.parametrize("d", [6, 20])
def test_output_shape_on_odd_sizes(d):
    model = SSNEncoder(feature_dim=d).eval()
    with torch.no_grad():
        y = model(torch.zeros(1, 3, 17, 23))
    assert y.shape == (1, d - 5, 17, 23)
    assert (y >= 0).all()  # final ReLU


def test_size_per_spec():
    model = SSNEncoder(feature_dim=20)
    n = sum(p.numel() for p in model.parameters())
    assert 150_000 < n < 250_000  # "about 0.2 M parameters"


def test_feature_dim_must_exceed_five():
    with pytest.raises(ValueError, match="feature_dim"):
        SSNEncoder(feature_dim=5)


# -- weight files --------------------------------------------------------------------------

@pytest.mark.parametrize("d", [10, 20])
def test_save_load_round_trip_with_metadata(tmp_path, d):
    model = _random_model(d)
    path = save_encoder(tmp_path / "enc.pt", model, lambda_c=0.3,
                        meta={"epochs": 7, "dataset": "bsds500/train"})
    assert path.is_file()
    assert path.stat().st_size < 1_000_000  # "under 1 MB of weights"
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind
    loaded, info = load_encoder(path)
    assert isinstance(loaded, SSNEncoder) and not loaded.training
    assert info.feature_dim == d == loaded.feature_dim
    assert info.in_channels == 3
    assert info.lambda_c == pytest.approx(0.3)
    assert info.meta == {"epochs": 7, "dataset": "bsds500/train"}
    assert info.path == str(path) and info.name == "enc.pt"
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    for (k1, v1), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2)
    x = encoder_input(_lab(), 0.3)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_file_format_fields(tmp_path):
    path = save_encoder(tmp_path / "enc.pt", _random_model())
    obj = torch.load(path, map_location="cpu", weights_only=True)
    assert obj["format"] == FORMAT and obj["version"] == FORMAT_VERSION and obj["arch"] == ARCH
    assert obj["feature_dim"] == 20 and "state_dict" in obj and obj["meta"] == {}


def _assert_load_error(path, *fragments):
    with pytest.raises(EncoderLoadError) as exc:
        load_encoder(path)
    msg = str(exc.value)
    assert str(path) in msg, msg
    for f in fragments:
        assert f.lower() in msg.lower(), msg
    return msg


def test_missing_file(tmp_path):
    _assert_load_error(tmp_path / "nope.pt", "no such")


def test_corrupt_file(tmp_path):
    p = tmp_path / "corrupt.pt"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    _assert_load_error(p, "corrupt")


def test_truncated_file(tmp_path):
    good = save_encoder(tmp_path / "good.pt", _random_model()).read_bytes()
    for cut in (10, len(good) // 2, len(good) - 100):
        p = tmp_path / f"truncated_{cut}.pt"
        p.write_bytes(good[:cut])
        _assert_load_error(p, "truncated")


def test_empty_file(tmp_path):
    p = tmp_path / "empty.pt"
    p.write_bytes(b"")
    _assert_load_error(p)


def test_text_file(tmp_path):
    p = tmp_path / "notes.pt"
    p.write_text("these are not weights\n" * 20)
    _assert_load_error(p, "not a PyTorch")


def test_sam_like_checkpoint(tmp_path):
    p = tmp_path / "sam_vit_b.pth"
    p.write_bytes(_torch_bytes({
        "image_encoder.patch_embed.proj.weight": torch.zeros(8, 3, 16, 16),
        "image_encoder.blocks.0.attn.qkv.weight": torch.zeros(24, 8),
        "mask_decoder.iou_token.weight": torch.zeros(1, 8),
    }))
    _assert_load_error(p, "not a valid SPAM encoder", "SAM")


def test_dino_like_checkpoint(tmp_path):
    p = tmp_path / "dino_deitsmall16.pth"
    p.write_bytes(_torch_bytes({
        "cls_token": torch.zeros(1, 1, 8),
        "pos_embed": torch.zeros(1, 5, 8),
        "blocks.0.attn.qkv.weight": torch.zeros(24, 8),
    }))
    _assert_load_error(p, "not a valid SPAM encoder", "DINO")


def test_bare_state_dict_of_some_other_model(tmp_path):
    p = tmp_path / "resnet.pt"
    p.write_bytes(_torch_bytes(torch.nn.Linear(3, 2).state_dict()))
    _assert_load_error(p, "not a valid SPAM encoder")


def test_tensor_not_dict(tmp_path):
    p = tmp_path / "tensor.pt"
    p.write_bytes(_torch_bytes(torch.zeros(3)))
    _assert_load_error(p, "not a valid SPAM encoder")


def _payload(model, **changes):
    obj = {"format": FORMAT, "version": FORMAT_VERSION, "arch": ARCH,
           "feature_dim": model.feature_dim, "in_channels": 3, "width": 64, "lambda_c": 0.26,
           "state_dict": model.state_dict(), "meta": {}}
    obj.update(changes)
    return obj


@pytest.mark.parametrize("changes, fragment", [
    ({"arch": "ssn-v9"}, "ssn-v9"),
    ({"version": FORMAT_VERSION + 1}, "version"),
])
def test_wrong_architecture_or_version(tmp_path, changes, fragment):
    p = tmp_path / "future.pt"
    p.write_bytes(_torch_bytes(_payload(SSNEncoder(20), **changes)))
    _assert_load_error(p, fragment)


def test_weights_that_do_not_match_the_declared_dimension(tmp_path):
    p = tmp_path / "mismatch.pt"
    p.write_bytes(_torch_bytes(_payload(SSNEncoder(20), feature_dim=12)))
    _assert_load_error(p, "do not match")


def test_missing_state_dict(tmp_path):
    p = tmp_path / "nostate.pt"
    obj = _payload(SSNEncoder(20))
    del obj["state_dict"]
    p.write_bytes(_torch_bytes(obj))
    _assert_load_error(p, "do not match")


def test_spam_reports_a_bad_encoder_file(tmp_path):
    from spam_gui.core import Spam

    p = tmp_path / "bad.pt"
    p.write_text("nope")
    with pytest.raises(EncoderLoadError, match="bad.pt"):
        Spam(encoder=p, device="cpu")


# -- inference -------------------------------------------------------------------------------

def test_fusion_removes_batch_norm():
    fused = fuse_for_inference(_random_model())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert not fused.training


@pytest.mark.parametrize("h, w", [(23, 31), (40, 16)])
def test_fused_inference_equals_the_eval_model(tmp_path, h, w):
    model = _random_model(seed=3)
    path = save_encoder(tmp_path / "enc.pt", model, lambda_c=0.26)
    loaded, info = load_encoder(path)
    enc = InferenceEncoder(loaded, info, torch.device("cpu"))
    lab = _lab(h, w, seed=1)
    fast = enc(lab)
    assert fast.shape == (h, w, 15) and fast.dtype == torch.float32
    with torch.no_grad():
        ref = model.eval()(encoder_input(lab, 0.26))[0].permute(1, 2, 0)
    scale = float(ref.abs().max())
    assert scale > 0
    torch.testing.assert_close(fast, ref, rtol=1e-4, atol=1e-4 * scale)
    # the loaded model was not changed by the fusion
    with torch.no_grad():
        torch.testing.assert_close(loaded(encoder_input(lab, 0.26))[0].permute(1, 2, 0), ref)


def test_inference_uses_the_files_lambda_c(tmp_path):
    model = _random_model(seed=4)
    lab = _lab(16, 16)
    outs = []
    for lc in (0.26, 0.6):
        path = save_encoder(tmp_path / f"enc_{lc}.pt", model, lambda_c=lc)
        loaded, info = load_encoder(path)
        outs.append(InferenceEncoder(loaded, info, torch.device("cpu"))(lab))
        with torch.no_grad():
            ref = model(encoder_input(lab, lc))[0].permute(1, 2, 0)
        torch.testing.assert_close(outs[-1], ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))
    assert not torch.allclose(outs[0], outs[1])
