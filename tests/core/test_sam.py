"""SAM through segment-anything, tested for real on a reduced model (no big checkpoint needed).

The reduced SAM is built here from segment-anything's own classes (a 2-block, 64-wide ViT on a
256-pixel input, a 64-wide prompt encoder and decoder), saved with random weights to a
temporary file and loaded through :func:`load_sam`, the code users run.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch

from spam_gui.core.io.cache import DiskCache
from spam_gui.core.prior.sam import (
    AmgParams, SamCheckpointError, SamSession, detect_architecture, load_sam, read_state_dict,
    sam_prior,
)
from spam_gui.core.devices import resolve_device
from spam_gui.core.prior.sam.generator import _FastDecoder, _index_state, _Resampler

torch.set_num_threads(1)

IMG, PATCH, EMBED, DEPTH, HEADS, GLOBAL, WINDOW = 256, 16, 64, 2, 2, (1,), 8
PROMPT_DIM = 64


def _tiny_sam():
    from segment_anything.modeling import (
        ImageEncoderViT,
        MaskDecoder,
        PromptEncoder,
        Sam,
        TwoWayTransformer,
    )

    grid = IMG // PATCH
    torch.manual_seed(0)
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=DEPTH, embed_dim=EMBED, img_size=IMG, mlp_ratio=4,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), num_heads=HEADS, patch_size=PATCH,
            qkv_bias=True, use_rel_pos=True, global_attn_indexes=GLOBAL, window_size=WINDOW,
            out_chans=PROMPT_DIM,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=PROMPT_DIM, image_embedding_size=(grid, grid), input_image_size=(IMG, IMG),
            mask_in_chans=8,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=2, embedding_dim=PROMPT_DIM, mlp_dim=128,
                                          num_heads=8),
            transformer_dim=PROMPT_DIM, iou_head_depth=3, iou_head_hidden_dim=32,
        ),
    ).eval()
    from segment_anything.modeling.common import LayerNorm2d

    with torch.no_grad():  # relative positions and norms start at 0 / 1: make them matter
        for name, p in sam.named_parameters():
            if "rel_pos" in name:
                p.normal_(0.0, 0.05)
        for mod in sam.modules():
            if isinstance(mod, (torch.nn.LayerNorm, LayerNorm2d)):
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.normal_(0.0, 0.2)
    return sam


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("sam") / "tiny_sam.pth"
    torch.save(_tiny_sam().state_dict(), path)
    return path


@pytest.fixture(scope="module")
def tiny(tiny_ckpt):
    return load_sam(tiny_ckpt, "cpu", memo=False)


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(1)
    img = (rng.random((48, 64, 3)) * 60).astype(np.uint8)
    img[8:30, 10:34] = (220, 40, 40)
    img[20:44, 36:60] = (30, 200, 60)
    return img


@pytest.fixture(scope="module")
def session(tiny, image):
    return SamSession(tiny, image)


# -- loading ---------------------------------------------------------------------------------

def test_loader_reads_the_architecture_from_shapes(tiny, tiny_ckpt):
    a = tiny.arch
    assert a.variant == "custom"
    assert (a.embed_dim, a.depth, a.num_heads, a.global_attn_indexes) == (EMBED, DEPTH, HEADS, GLOBAL)
    assert (a.img_size, a.patch_size, a.window_size) == (IMG, PATCH, WINDOW)
    assert (a.prompt_embed_dim, a.mask_in_chans, a.decoder_mlp_dim, a.iou_head_hidden_dim) == (
        PROMPT_DIM, 8, 128, 32)
    sd = torch.load(tiny_ckpt, weights_only=True)
    for k, v in tiny.model.state_dict().items():
        assert torch.equal(v, sd[k]), k
    assert tiny.device == torch.device("cpu")
    assert "custom ViT" in tiny.arch.describe()


def _meta_state_dict(embed, depth, heads, global_idx, grid=64, patch=16, window=14):
    sd = {
        "image_encoder.patch_embed.proj.weight": torch.empty(embed, 3, patch, patch, device="meta"),
        "image_encoder.pos_embed": torch.empty(1, grid, grid, embed, device="meta"),
        "image_encoder.blocks.0.mlp.lin1.weight": torch.empty(4 * embed, embed, device="meta"),
        "image_encoder.neck.0.weight": torch.empty(256, embed, 1, 1, device="meta"),
    }
    for i in range(depth):
        size = grid if i in global_idx else window
        sd[f"image_encoder.blocks.{i}.attn.rel_pos_h"] = torch.empty(
            2 * size - 1, embed // heads, device="meta")
    return sd


@pytest.mark.parametrize("variant,embed,depth,heads,global_idx", [
    ("vit_b", 768, 12, 12, (2, 5, 8, 11)),
    ("vit_l", 1024, 24, 16, (5, 11, 17, 23)),
    ("vit_h", 1280, 32, 16, (7, 15, 23, 31)),
])
def test_variant_detection_on_published_shapes(variant, embed, depth, heads, global_idx):
    arch = detect_architecture(_meta_state_dict(embed, depth, heads, global_idx), "x.pth")
    assert arch.variant == variant
    assert (arch.embed_dim, arch.depth, arch.num_heads) == (embed, depth, heads)
    assert arch.global_attn_indexes == global_idx
    assert (arch.img_size, arch.window_size, arch.prompt_embed_dim) == (1024, 14, 256)
    # the same shapes with other global blocks are not that variant: never guessed
    other = detect_architecture(_meta_state_dict(embed, depth, heads, (0,)), "x.pth")
    assert other.variant == "custom"


def test_detection_errors_name_the_source():
    with pytest.raises(SamCheckpointError, match=r"^my\.pth: not a valid SAM checkpoint"):
        detect_architecture({"fc.weight": torch.empty(3, 3, device="meta")}, "my.pth")
    with pytest.raises(SamCheckpointError, match=r"my\.pth: .*SAM 2"):
        detect_architecture({"image_encoder.trunk.pos_embed": torch.empty(1, device="meta")},
                            "my.pth")
    sd = _meta_state_dict(768, 12, 12, (2, 5, 8, 11))
    sd["image_encoder.blocks.3.attn.rel_pos_h"] = torch.empty(27, 32, device="meta")
    with pytest.raises(SamCheckpointError, match="head width"):
        detect_architecture(sd, "x.pth")


def test_bad_checkpoint_files_give_clear_errors(tmp_path, tiny_ckpt):
    with pytest.raises(SamCheckpointError, match=r"nothere\.pth: no such SAM checkpoint file"):
        load_sam(tmp_path / "nothere.pth", "cpu")
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(SamCheckpointError, match=r"empty\.pth: not a valid SAM checkpoint \(the file is empty\)"):
        load_sam(empty, "cpu")
    text = tmp_path / "sam_vit_b_01ec64.pth"   # an official name does not make it a checkpoint
    text.write_text("hello, I am not a checkpoint\n")
    with pytest.raises(SamCheckpointError,
                       match=r"sam_vit_b_01ec64\.pth: not a valid SAM checkpoint.*not a PyTorch.*375,042,383"):
        load_sam(text, "cpu")
    data = tiny_ckpt.read_bytes()
    trunc = tmp_path / "truncated.pth"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(SamCheckpointError, match=r"truncated\.pth: not a valid SAM checkpoint \(truncated or corrupt file\)\.$"):
        load_sam(trunc, "cpu")
    other = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(2, 3, 3, 3)}, other)
    with pytest.raises(SamCheckpointError, match=r"resnet\.pth: not a valid SAM checkpoint"):
        load_sam(other, "cpu")
    sd = torch.load(tiny_ckpt, weights_only=True)
    del sd["mask_decoder.iou_token.weight"]
    partial_ = tmp_path / "partial.pth"
    torch.save(sd, partial_)
    with pytest.raises(SamCheckpointError, match=r"partial\.pth: not a valid SAM checkpoint \(incomplete.*"
                                                 r"iou_token"):
        load_sam(partial_, "cpu")
    sd = torch.load(tiny_ckpt, weights_only=True)
    sd["image_encoder.neck.2.weight"] = torch.zeros(64, 64, 1, 1)
    bad_shape = tmp_path / "shape.pth"
    torch.save({"model": sd}, bad_shape)   # wrapped state dicts are accepted
    with pytest.raises(SamCheckpointError, match=r"shape\.pth: not a valid SAM checkpoint \(tensor image_encoder\.neck\.2"):
        load_sam(bad_shape, "cpu")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(SamCheckpointError, match=r"list\.pth: not a valid SAM checkpoint \(it holds a list"):
        read_state_dict(tmp_path / "list.pth")


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    assert resolve_device(None).type in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="not supported|unknown device"):
        resolve_device("tpu")


# -- automatic masks --------------------------------------------------------------------------

def test_resampler_matches_sam_postprocess():
    from segment_anything.modeling import Sam

    class _Enc:  # postprocess_masks only reads image_encoder.img_size
        img_size = 0

    rng = torch.Generator().manual_seed(0)
    for low, img_size, input_size, orig in [
        (256, 1024, (683, 1024), (321, 481)),
        (64, 256, (256, 192), (400, 300)),   # upsampling to a larger original
        (16, 64, (64, 64), (64, 64)),
    ]:
        x = torch.randn(3, 1, low, low, generator=rng)
        enc = _Enc()
        enc.img_size = img_size
        ref = Sam.postprocess_masks(type("S", (), {"image_encoder": enc})(), x, input_size, orig)
        got = _Resampler((low, low), img_size, input_size, orig, torch.device("cpu"))(x[:, 0])
        torch.testing.assert_close(got, ref[:, 0], atol=1e-4, rtol=1e-4)  # float32 index rounding


def test_fast_decoder_equals_sam_mask_decoder(tiny):
    sam = tiny.model
    torch.manual_seed(3)
    feats = torch.randn(1, PROMPT_DIM, IMG // PATCH, IMG // PATCH)
    pts = torch.rand(6, 1, 2) * IMG
    lab = torch.ones(6, 1, dtype=torch.int)
    with torch.inference_mode():
        sparse, dense = sam.prompt_encoder(points=(pts, lab), boxes=None, masks=None)
        low, iou = sam.mask_decoder(image_embeddings=feats,
                                    image_pe=sam.prompt_encoder.get_dense_pe(),
                                    sparse_prompt_embeddings=sparse,
                                    dense_prompt_embeddings=dense, multimask_output=True)
        dec = _FastDecoder(sam, feats)
        hs, state = dec.transformer(sparse)
        torch.testing.assert_close(dec.iou(hs)[:, 1:], iou, atol=1e-5, rtol=1e-4)
        rows = torch.tensor([1, 4, 5])
        got = dec.masks(hs[rows], _index_state(state, rows), [1, 2, 3])
        torch.testing.assert_close(got, low[rows], atol=1e-5, rtol=1e-4)


def _sorted(p):
    order = np.lexsort((p.scores, p.points[:, 1], p.points[:, 0]))
    return p.points[order], p.scores[order], p.stability[order], p.masks[order], p.boxes[order]


def test_fast_generator_matches_segment_anything(session):
    # thresholds low enough that masks survive with random weights; no NMS suppression
    params = AmgParams(points_per_side=5, pred_iou_thresh=-1e9, stability_score_thresh=0.0,
                       stability_score_offset=0.05, box_nms_thresh=1.0, points_per_batch=7)
    fast = session.automatic_masks(params)
    ref = session.automatic_masks(params, method="reference")
    assert len(fast) == len(ref) == 75      # 25 prompts x 3 masks
    assert fast.masks.shape == (75, 48, 64) and fast.masks.dtype == bool
    fp, fs, fst, fm, fb = _sorted(fast)
    rp, rs, rst, rm, rb = _sorted(ref)
    np.testing.assert_allclose(fp, rp)
    np.testing.assert_allclose(fs, rs, atol=1e-5)
    np.testing.assert_allclose(fst, rst, atol=1e-3)
    assert int((fm != rm).sum()) <= 5  # rounding may flip a pixel sitting on the threshold
    assert int(np.abs(fb - rb).max()) <= 1
    # a threshold between two scores and the usual NMS: both keep the same masks
    ss = np.sort(rs)
    mid = float(ss[len(ss) // 2] + ss[len(ss) // 2 + 1]) / 2
    p2 = AmgParams(**{**params.__dict__, "pred_iou_thresh": mid, "box_nms_thresh": 0.7})
    a, b = session.automatic_masks(p2), session.automatic_masks(p2, method="reference")
    assert 0 < len(a) == len(b)
    np.testing.assert_allclose(_sorted(a)[0], _sorted(b)[0])


def test_default_generator_runs_and_returns_consistent_arrays(session):
    p = session.automatic_masks(AmgParams(points_per_side=4))
    n = len(p)
    assert p.masks.shape == (n, 48, 64) and p.scores.shape == (n,) and p.boxes.shape == (n, 4)
    assert set(p.timings) >= {"decoder_s", "total_s"}
    seen = []
    session.automatic_masks(AmgParams(points_per_side=4, points_per_batch=5),
                            progress=lambda f, msg: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and len(seen) == 5


def test_click_prompts_use_the_kept_embedding(session, tiny, image, tmp_path):
    feats = session.predictor.features
    mask, score = session.predict(points=[(20, 15)], labels=[1])
    assert mask.shape == image.shape[:2] and mask.dtype == bool and isinstance(score, float)
    m2, _ = session.predict(points=[(20, 15), (50, 35)], labels=[1, 0])
    m3, _ = session.predict(box=(10, 8, 34, 30))
    m4, _ = session.predict(points=[(20, 15)], labels=[1], box=(10, 8, 34, 30))
    assert m2.shape == m3.shape == m4.shape == mask.shape
    assert session.predictor.features is feats   # never recomputed
    with pytest.raises(ValueError, match="at least one point or a box"):
        session.predict()
    with pytest.raises(ValueError, match="2 points but 1 labels"):
        session.predict(points=[(1, 1), (2, 2)], labels=[1])
    # the embedding through the disk cache gives the same answers
    cache = DiskCache("sam", root=tmp_path)
    s1 = SamSession(tiny, image, cache=cache)
    s2 = SamSession(tiny, image, cache=cache)
    assert not s1.embedding_from_cache and s2.embedding_from_cache
    torch.testing.assert_close(s2.predictor.features, s1.predictor.features)
    a, sa = s1.predict(points=[(20, 15)], labels=[1])
    b, sb = s2.predict(points=[(20, 15)], labels=[1])
    np.testing.assert_array_equal(a, b)
    assert sa == pytest.approx(sb)


# -- the prior through the cache --------------------------------------------------------------

def _prior(image, ckpt, points_per_side=32, device="auto", cache=None, **kw):
    res = sam_prior(image, ckpt, params=kw.pop("params", None)
                    or AmgParams(points_per_side=points_per_side), device=device, cache=cache, **kw)
    return res.prior.object_map, res.provenance


def test_sam_prior_goes_through_the_cache(tiny_ckpt, image, tmp_path):
    cache = DiskCache("sam", root=tmp_path)
    params = AmgParams(points_per_side=4, pred_iou_thresh=-1e9, stability_score_thresh=0.0,
                       stability_score_offset=0.05)
    om, prov = _prior(image, tiny_ckpt, device="cpu", cache=cache, params=params)
    assert om.shape == (48, 64) and om.dtype == np.int32
    assert prov["cache"] is None and prov["checkpoint"]["variant"] == "custom"
    assert len(prov["checkpoint"]["sha256"]) == 64
    assert prov["generator"]["points_per_side"] == 4 and "points_per_batch" not in prov["generator"]
    assert prov["aggregation"]["opening"] == 5
    assert {o["id"] for o in prov["objects"]} == set(np.unique(om).tolist()) - {0}

    om2, prov2 = _prior(image, tiny_ckpt, device="cpu", cache=cache, params=params)
    assert prov2["cache"] == "prior"
    np.testing.assert_array_equal(om, om2)
    assert prov2["objects"] == prov["objects"]

    # other aggregation parameters: SAM is not run again, the proposals come from the cache
    res = sam_prior(image, tiny_ckpt, params=params, device="cpu", cache=cache, a_min=50)
    assert res.provenance["cache"] == "proposals" and res.prior.a_min == 50

    # SAM's default thresholds (random weights: few or no masks); no cache, then the cache
    om3, prov3 = _prior(image, tiny_ckpt, 4, "cpu", None)
    assert prov3["cache"] is None and om3.shape == (48, 64)
    om4, prov4 = _prior(image, tiny_ckpt, 4, "cpu", cache)
    assert prov4["cache"] is None
    res = sam_prior(image, tiny_ckpt, params=AmgParams(points_per_side=4), device="cpu",
                    cache=cache)
    assert res.provenance["cache"] == "prior" and res.proposals is None
    np.testing.assert_array_equal(res.prior.object_map, om4)

    with pytest.raises(SamCheckpointError, match=r"gone\.pth: no such SAM checkpoint file"):
        sam_prior(image, tmp_path / "gone.pth", cache=cache)
