"""Saliency (VA mode): DINO through timm from local files, the built-in fallback, the cache and
``spam saliency``. Small random ViTs stand in for the DINO checkpoints (the loader reads the
architecture from the tensor shapes, so a 48-dim, 2-block ViT goes through the same code)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from timm.models.vision_transformer import VisionTransformer  # noqa: E402

from spam_gui.core import saliency as S  # noqa: E402
from spam_gui.core.devices import resolve_device  # noqa: E402
from spam_gui.core.io.cache import DiskCache  # noqa: E402

DIM, DEPTH, HEADS, PATCH = 48, 2, 3, 16

# The key layout of the original DINO backbone files (dino_deitsmall16_pretrain.pth & co.).
DINO_KEYS = {"cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias",
             "norm.weight", "norm.bias"} | {
    f"blocks.{i}.{name}"
    for i in range(DEPTH)
    for name in ("norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias",
                 "attn.proj.weight", "attn.proj.bias", "norm2.weight", "norm2.bias",
                 "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias")
}


def tiny_vit(num_classes: int = 0, seed: int = 0, **kw) -> VisionTransformer:
    torch.manual_seed(seed)
    m = VisionTransformer(img_size=64, patch_size=PATCH, embed_dim=DIM, depth=DEPTH,
                          num_heads=HEADS, num_classes=num_classes, dynamic_img_size=True,
                          **kw).eval()
    with torch.no_grad():  # make the attention less uniform than the default init
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return m


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SPAM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SPAM_DINO_CHECKPOINT", raising=False)
    S.dino._dino_memo.clear()


@pytest.fixture(scope="module")
def vit() -> VisionTransformer:
    return tiny_vit()


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory, vit) -> dict[str, Path]:
    """The same weights in every accepted layout."""
    from safetensors.torch import save_file

    d = tmp_path_factory.mktemp("ckpt")
    sd = {k: v.clone() for k, v in vit.state_dict().items()}
    assert set(sd) == DINO_KEYS
    out = {}
    out["dino"] = d / "dino_tiny_pretrain.pth"  # original DINO backbone file: a plain state dict
    torch.save(sd, out["dino"])
    # DINO's full training checkpoint: teacher / student, module.backbone. prefixes, DINO head
    head = {"head.mlp.0.weight": torch.randn(64, DIM), "head.last_layer.weight_g": torch.ones(256, 1)}
    wrapped = {f"module.backbone.{k}": v for k, v in sd.items()}
    wrapped.update({f"module.{k}": v for k, v in head.items()})
    student = {k: v + 1.0 for k, v in wrapped.items()}  # must not be the one used
    out["dino_full"] = d / "checkpoint.pth"
    torch.save({"student": student, "teacher": wrapped, "epoch": 3,
                "args": argparse.Namespace(arch="vit_tiny", patch_size=PATCH)}, out["dino_full"])
    # timm's own format: a classifier ViT's state dict (with head.*), .pth and .safetensors
    timm_model = tiny_vit(num_classes=10)
    timm_model.load_state_dict({**sd, **{k: v for k, v in timm_model.state_dict().items()
                                         if k.startswith("head.")}})
    tsd = {k: v.contiguous() for k, v in timm_model.state_dict().items()}
    out["timm"] = d / "vit_timm.pth"
    torch.save({"state_dict": {f"model.{k}": v for k, v in tsd.items()}}, out["timm"])
    out["safetensors"] = d / "model.safetensors"
    save_file(tsd, str(out["safetensors"]))
    return out


def reference_cls_attention(model: VisionTransformer, x: "torch.Tensor") -> "torch.Tensor":
    """timm's own (unfused) attention matrix of the last block: row of [CLS], patch columns."""
    attn = model.blocks[-1].attn
    captured = {}
    old = attn.fused_attn
    attn.fused_attn = False
    handle = attn.attn_drop.register_forward_hook(lambda m, i, o: captured.setdefault("a", o))
    try:
        with torch.no_grad():
            model.forward_features(x)
    finally:
        handle.remove()
        attn.fused_attn = old
    return captured["a"][:, :, 0, model.num_prefix_tokens:]


def image(h: int = 53, w: int = 70, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# ------------------------------------------------------------------------------------- DINO


@pytest.mark.parametrize("fmt", ["dino", "dino_full", "timm", "safetensors"])
def test_checkpoint_formats_load_the_same_weights(ckpts, vit, fmt):
    dino = S.DinoSaliency(ckpts[fmt], device="cpu")
    cfg = dino.config
    assert (cfg.embed_dim, cfg.patch_size, cfg.depth, cfg.num_heads) == (DIM, PATCH, DEPTH, HEADS)
    assert cfg.grid_size == (4, 4)
    loaded = dino.model.state_dict()
    for k, v in vit.state_dict().items():
        if not k.startswith("norm."):
            assert torch.equal(loaded[k], v), k
    assert dino.method_name.startswith("dino-")
    assert dino.sha256 and len(dino.sha256) == 64


@pytest.mark.parametrize("fmt", ["dino", "timm"])
def test_map_has_image_size_and_range(ckpts, fmt):
    img = image(53, 70)  # neither side a multiple of 16
    sal = S.DinoSaliency(ckpts[fmt], device="cpu")(img)
    assert sal.shape == (53, 70) and sal.dtype == np.float32
    assert np.isfinite(sal).all()
    assert sal.min() == pytest.approx(0.0) and sal.max() == pytest.approx(1.0)


def test_same_map_from_every_format(ckpts):
    img = image(40, 90, seed=1)
    maps = [S.DinoSaliency(ckpts[f], device="cpu")(img) for f in ("dino", "dino_full", "safetensors")]
    for m in maps[1:]:
        np.testing.assert_allclose(m, maps[0], atol=1e-5)


def test_cls_attention_matches_timm_unfused_attention(vit):
    x = torch.randn(1, 3, 80, 112)  # 5 x 7 patches: position embeddings resampled from 4 x 4
    with torch.no_grad():
        ours = S.cls_attention(vit, x)
    ref = reference_cls_attention(vit, x)
    assert ours.shape == (1, HEADS, 5 * 7)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-4)


def test_attention_grid_and_input_size(ckpts):
    dino = S.DinoSaliency(ckpts["dino"], device="cpu", max_side=480)
    assert dino.input_size(321, 481) == (320, 480)  # BSDS landscape
    assert dino.input_size(481, 321) == (480, 320)
    assert dino.input_size(53, 70) == (176, 224)  # small images go up to 224 on the long side
    att = dino.attention(image(53, 70))
    assert att.shape == (HEADS, 11, 14)
    np.testing.assert_array_less(att.sum(axis=(1, 2)), 1.0 + 1e-5)


def test_variant_vit_register_tokens_layer_scale(tmp_path):
    m = tiny_vit(reg_tokens=2, no_embed_class=True, init_values=1e-3, seed=3)
    torch.save(m.state_dict(), tmp_path / "reg.pth")
    dino = S.DinoSaliency(tmp_path / "reg.pth", device="cpu")
    cfg = dino.config
    assert (cfg.reg_tokens, cfg.no_embed_class, cfg.layer_scale) == (2, True, True)
    x = torch.randn(1, 3, 48, 96)
    with torch.no_grad():
        torch.testing.assert_close(S.cls_attention(dino.model, x), reference_cls_attention(m, x),
                                   atol=1e-5, rtol=1e-4)


def test_heads_default_to_64_dims():
    sd = {k: v for k, v in tiny_vit().state_dict().items()}
    assert S.infer_vit_config(sd).num_heads == 3  # 48 dims: 16-dim heads
    fake = dict(sd)
    fake["patch_embed.proj.weight"] = torch.zeros(384, 3, 8, 8)
    fake["cls_token"] = torch.zeros(1, 1, 384)
    fake["pos_embed"] = torch.zeros(1, 1 + 28 * 28, 384)
    fake["blocks.0.attn.qkv.weight"] = torch.zeros(3 * 384, 384)
    fake["blocks.0.mlp.fc1.weight"] = torch.zeros(4 * 384, 384)
    cfg = S.infer_vit_config(fake)
    assert (cfg.embed_dim, cfg.patch_size, cfg.num_heads, cfg.grid_size) == (384, 8, 6, (28, 28))
    assert S.infer_vit_config({**fake}, num_heads=12).num_heads == 12


def bad_files(tmp_path: Path, ckpts) -> dict[str, Path]:
    files = {}
    files["text"] = tmp_path / "notes.pth"
    files["text"].write_text("this is not a checkpoint\n")
    files["empty"] = tmp_path / "empty.pth"
    files["empty"].write_bytes(b"")
    data = ckpts["dino"].read_bytes()
    files["truncated"] = tmp_path / "truncated.pth"
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["resnet"] = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(8, 3, 7, 7), "fc.weight": torch.zeros(10, 8)},
               files["resnet"])
    files["no_cls"] = tmp_path / "no_cls.pth"
    sd = torch.load(ckpts["dino"], weights_only=True)
    torch.save({k: v for k, v in sd.items() if k != "cls_token"}, files["no_cls"])
    files["missing_block"] = tmp_path / "missing_block.pth"
    torch.save({k: v for k, v in sd.items() if k != "blocks.1.mlp.fc2.weight"}, files["missing_block"])
    files["bad_st"] = tmp_path / "broken.safetensors"
    files["bad_st"].write_bytes(ckpts["safetensors"].read_bytes()[:100])
    files["tensor"] = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), files["tensor"])
    files["pickled_module"] = tmp_path / "whole_model.pth"
    torch.save(tiny_vit(), files["pickled_module"])  # not a state dict: never unpickled
    files["missing"] = tmp_path / "nowhere.pth"
    return files


@pytest.mark.parametrize("kind", ["text", "empty", "truncated", "resnet", "no_cls",
                                  "missing_block", "bad_st", "tensor", "pickled_module",
                                  "missing"])
def test_wrong_checkpoint_errors_name_the_file(tmp_path, ckpts, kind):
    path = bad_files(tmp_path, ckpts)[kind]
    with pytest.raises(S.CheckpointError) as err:
        S.DinoSaliency(path, device="cpu")
    assert path.name in str(err.value)
    with pytest.raises(S.CheckpointError) as err:
        S.compute_saliency(image(), dino_checkpoint=path, cache=False)
    assert path.name in str(err.value)


def test_device_errors_are_clear():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="device"):
        resolve_device("no-such-device")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            resolve_device("cuda")


# --------------------------------------------------------------------------------- built-in


@pytest.mark.parametrize("y, x, size", [(20, 30, 40), (70, 100, 30), (50, 20, 14)])
def test_builtin_finds_a_bright_square(y, x, size):
    img = np.full((120, 160, 3), 90, np.uint8)
    img[y:y + size, x:x + size] = 235
    sal = S.builtin_saliency(img)
    assert sal.shape == (120, 160) and sal.dtype == np.float32
    assert sal.min() >= 0.0 and sal.max() == pytest.approx(1.0)
    inside = np.zeros(sal.shape, bool)
    inside[y:y + size, x:x + size] = True
    assert sal[inside].mean() > 0.3
    assert sal[inside].mean() > 4 * sal[~inside].mean()


def test_builtin_on_flat_and_odd_images():
    assert S.builtin_saliency(np.full((40, 50, 3), 77, np.uint8)).max() == 0.0
    for shape in [(1, 1, 3), (3, 200, 3), (200, 3, 3), (17, 23)]:
        sal = S.builtin_saliency(np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8))
        assert sal.shape == shape[:2] and np.isfinite(sal).all()
        assert 0.0 <= sal.min() and sal.max() <= 1.0
    with pytest.raises(TypeError):
        S.builtin_saliency(image(), no_such_param=1)


# ------------------------------------------------------------------------- entry point, cache


def test_compute_saliency_builtin_is_cached(tmp_path, monkeypatch):
    cache = DiskCache("saliency", root=tmp_path / "c")
    img = image(60, 80)
    sal, method = S.compute_saliency(img, cache=cache)
    assert method == S.BUILTIN_METHOD == "builtin-bms-sr"
    assert sal.shape == (60, 80) and sal.dtype == np.float32

    def boom(*a, **k):
        raise AssertionError("recomputed instead of read from the cache")

    monkeypatch.setattr(S.compute, "builtin_saliency", boom)
    again = S.compute_saliency_info(img, cache=cache)
    assert again.from_cache and again.method == method
    np.testing.assert_array_equal(again.saliency, sal)
    with pytest.raises(AssertionError):  # another image is not in the cache
        S.compute_saliency(image(60, 80, seed=5), cache=cache)


def test_compute_saliency_dino_is_cached_per_checkpoint(tmp_path, ckpts, monkeypatch):
    cache = DiskCache("saliency", root=tmp_path / "c")
    img = image(50, 75)
    sal, method = S.compute_saliency(img, dino_checkpoint=ckpts["dino"], device="cpu", cache=cache)
    assert method == "dino-" + S.DinoSaliency(ckpts["dino"], device="cpu").config.arch
    assert sal.shape == (50, 75) and 0.0 <= sal.min() and sal.max() <= 1.0

    monkeypatch.setattr(S.compute, "get_dino",
                        lambda *a, **k: pytest.fail("model used despite the cache"))
    res = S.compute_saliency_info(img, dino_checkpoint=ckpts["dino"], cache=cache)
    assert res.from_cache and res.method == method
    assert res.info["checkpoint"] == ckpts["dino"].name and res.info["checkpoint_sha256"]
    np.testing.assert_array_equal(res.saliency, sal)
    # the built-in map of the same image is a different entry
    builtin, m2 = S.compute_saliency(img, cache=cache)
    assert m2 == S.BUILTIN_METHOD


def test_default_cache_and_no_cache(tmp_path, monkeypatch):
    img = image(30, 40)
    S.compute_saliency(img)  # default cache: SPAM_CACHE_DIR (set by the fixture)
    assert DiskCache("saliency").entries()
    monkeypatch.setattr(S.compute, "builtin_saliency",
                        lambda *a, **k: np.zeros((30, 40), np.float32))
    assert S.compute_saliency(img)[0].max() > 0  # from the cache
    assert S.compute_saliency(img, cache=False)[0].max() == 0  # recomputed


# --------------------------------------------------------------------------------------- CLI


def run_cli(argv: list[str]) -> int:
    from spam_gui.commands import saliency as cmd

    parser = argparse.ArgumentParser()
    cmd.add_arguments(parser)
    return cmd.run(parser.parse_args(argv))


def write_images(d: Path) -> tuple[Path, Path, Path]:
    d.mkdir(parents=True, exist_ok=True)
    a, b = d / "a.jpg", d / "b.png"
    img = np.full((45, 61, 3), 80, np.uint8)
    img[10:30, 20:40] = 230
    Image.fromarray(img).save(a)
    Image.fromarray(image(37, 52)).save(b)
    bad = d / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return a, b, bad


def test_cli_writes_pngs_and_reports_bad_files(tmp_path, capsys):
    a, b, bad = write_images(tmp_path / "in")
    out = tmp_path / "out"
    rc = run_cli([str(a), str(bad), str(b), "--out", str(out)])
    assert rc != 0
    err = capsys.readouterr().err
    assert "broken.jpg" in err
    for p, size in ((a, (61, 45)), (b, (52, 37))):
        with Image.open(out / f"{p.stem}.png") as im:
            assert im.mode == "L" and im.size == size
            assert np.asarray(im).max() == 255
        meta = json.loads((out / f"{p.stem}.json").read_text())
        assert meta["saliency"]["method"] == S.BUILTIN_METHOD
        assert meta["image"]["name"] == p.name and (meta["image"]["width"], meta["image"]["height"]) == size
    assert not (out / "broken.png").exists()


def test_cli_dino_checkpoint_and_env(tmp_path, ckpts, monkeypatch, capsys):
    a, b, _ = write_images(tmp_path / "in")
    out = tmp_path / "out"
    assert run_cli([str(a), "--out", str(out), "--dino-checkpoint", str(ckpts["dino"]),
                    "--device", "cpu"]) == 0
    meta = json.loads((out / "a.json").read_text())
    assert meta["saliency"]["method"].startswith("dino-")
    assert meta["saliency"]["checkpoint"] == ckpts["dino"].name

    monkeypatch.setenv("SPAM_DINO_CHECKPOINT", str(ckpts["timm"]))
    assert run_cli([str(b), "--out", str(out), "--device", "cpu"]) == 0
    assert json.loads((out / "b.json").read_text())["saliency"]["checkpoint"] == ckpts["timm"].name
    assert run_cli([str(b), "--out", str(out), "--builtin"]) == 0
    assert json.loads((out / "b.json").read_text())["saliency"]["method"] == S.BUILTIN_METHOD

    capsys.readouterr()
    notes = tmp_path / "notes.pth"
    notes.write_text("nope")
    assert run_cli([str(a), "--out", str(out), "--dino-checkpoint", str(notes)]) == 2
    assert "notes.pth" in capsys.readouterr().err


def test_cli_registered():
    from spam_gui.cli import build_parser

    args = build_parser().parse_args(["saliency", "x.jpg", "--out", "o"])
    assert args.command == "saliency" and args.inputs == ["x.jpg"]
