"""SAM checkpoints: read and validate a local file, detect the architecture, load the model.

The architecture is read from the tensor shapes (embedding width, depth, heads, global-attention
blocks, image size), never from the file name; a missing, truncated or non-SAM file raises
:class:`SamCheckpointError` naming the file. Nothing is ever downloaded. The loaded model is a
:class:`LoadedSam` (model, architecture, path, device, the file's sha256 on demand).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from spam_gui.core.io.cache import DiskCache, ModelCache, hash_file_cached
from spam_gui.core.devices import resolve_device
from spam_gui.core.errors import torch_load_tensors
from spam_gui.core.errors import (CheckpointError, checkpoint_message, guess_model_kind,
                                  load_failure_reason, missing_checkpoint_message,
                                  other_kind_reason)

__all__ = [
    "OFFICIAL_CHECKPOINTS",
    "VARIANTS",
    "LoadedSam",
    "SamArchitecture",
    "SamCheckpointError",
    "build_sam",
    "detect_architecture",
    "load_sam",
    "read_state_dict",
]

log = logging.getLogger(__name__)

#: The three published image encoders: (embed_dim, depth, num_heads, global attention blocks).
VARIANTS: dict[str, tuple[int, int, int, tuple[int, ...]]] = {
    "vit_b": (768, 12, 12, (2, 5, 8, 11)),
    "vit_l": (1024, 24, 16, (5, 11, 17, 23)),
    "vit_h": (1280, 32, 16, (7, 15, 23, 31)),
}

#: The official checkpoints (file name -> variant, size in bytes), for messages and docs only:
#: the variant is always read from the tensors.
OFFICIAL_CHECKPOINTS: dict[str, tuple[str, int]] = {
    "sam_vit_h_4b8939.pth": ("vit_h", 2_564_550_879),
    "sam_vit_l_0b3195.pth": ("vit_l", 1_249_524_607),
    "sam_vit_b_01ec64.pth": ("vit_b", 375_042_383),
}

_PATCH_KEY = "image_encoder.patch_embed.proj.weight"
_POS_KEY = "image_encoder.pos_embed"


class SamCheckpointError(CheckpointError):
    """A SAM checkpoint cannot be used; the message names the file and the problem.

    A :class:`spam_gui.core.errors.CheckpointError` (hence a ``ValueError``)."""


# --------------------------------------------------------------------------------------------
# Architecture from the state dict
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SamArchitecture:
    """Everything needed to rebuild a SAM model, read from a state dict's tensor shapes."""

    variant: str                      # "vit_b", "vit_l", "vit_h" or "custom"
    embed_dim: int
    depth: int
    num_heads: int
    global_attn_indexes: tuple[int, ...]
    img_size: int = 1024
    patch_size: int = 16
    window_size: int = 14
    mlp_ratio: float = 4.0
    prompt_embed_dim: int = 256
    mask_in_chans: int = 16
    decoder_depth: int = 2
    decoder_mlp_dim: int = 2048
    decoder_num_heads: int = 8        # not recoverable from shapes; SAM uses 8
    num_multimask_outputs: int = 3
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256

    def describe(self) -> str:
        if self.variant != "custom":
            return self.variant
        return (f"custom ViT (embed {self.embed_dim}, depth {self.depth}, heads {self.num_heads}, "
                f"global {list(self.global_attn_indexes)}, input {self.img_size})")


def _shape(sd: Mapping[str, Any], key: str) -> tuple[int, ...] | None:
    t = sd.get(key)
    if t is None or not hasattr(t, "shape"):
        return None
    return tuple(int(s) for s in t.shape)


def detect_architecture(state_dict: Mapping[str, Any], source: str = "state dict") -> SamArchitecture:
    """Read the SAM architecture from tensor shapes; raises :class:`SamCheckpointError`.

    Reads: the patch embedding (embed dim, patch size), the absolute position embedding (image
    size), each encoder block's relative position table (depth, head width, which blocks attend
    globally and the window size), the MLP width, the neck (prompt embedding width), and, when
    present, the prompt encoder's and mask decoder's shapes.
    """
    def fail(reason: str) -> SamCheckpointError:
        return SamCheckpointError(checkpoint_message(source, "sam", reason))

    patch = _shape(state_dict, _PATCH_KEY)
    if patch is None:
        keys = [k for k in list(state_dict)[:2000] if isinstance(k, str)]
        if any(k.startswith("image_encoder.trunk.") for k in keys):
            raise fail("it holds a SAM 2 model, which is not supported; compute the "
                       "masks with SAM 2 and pass them with --masks (an .npz file) instead")
        if any(k.startswith("vision_encoder.") for k in keys):
            raise fail("it holds a Hugging Face 'transformers' SAM model; use the "
                       "original checkpoint (sam_vit_b_01ec64.pth, sam_vit_l_0b3195.pth or "
                       "sam_vit_h_4b8939.pth)")
        sample = ", ".join(keys[:3]) or "no tensors"
        raise fail(f"no '{_PATCH_KEY}' tensor; its first keys are {sample}")
    if len(patch) != 4 or patch[1] != 3 or patch[2] != patch[3]:
        raise fail(f"unexpected patch embedding shape {patch}")
    embed_dim, patch_size = patch[0], patch[2]
    pos = _shape(state_dict, _POS_KEY)
    if pos is None or len(pos) != 4 or pos[1] != pos[2] or pos[3] != embed_dim:
        raise fail(f"unexpected position embedding shape {pos}")
    grid = pos[1]
    img_size = grid * patch_size

    depth = 0
    head_dim = None
    global_idx: list[int] = []
    windows: set[int] = set()
    while True:
        rp = _shape(state_dict, f"image_encoder.blocks.{depth}.attn.rel_pos_h")
        if rp is None:
            break
        if len(rp) != 2 or rp[0] % 2 == 0:
            raise fail(f"unexpected relative position table {rp} in encoder block {depth}")
        size = (rp[0] + 1) // 2
        if head_dim is None:
            head_dim = rp[1]
        elif rp[1] != head_dim:
            raise fail(f"encoder blocks disagree on the attention head width ({rp[1]} vs {head_dim})")
        if size == grid:
            global_idx.append(depth)
        else:
            windows.add(size)
        depth += 1
    if depth == 0 or head_dim is None:
        raise fail("no image encoder blocks with relative positions")
    if embed_dim % head_dim:
        raise fail(f"head width {head_dim} does not divide the embedding width {embed_dim}")
    if len(windows) > 1:
        raise fail(f"encoder blocks use several window sizes {sorted(windows)}")
    window_size = windows.pop() if windows else 0
    num_heads = embed_dim // head_dim

    mlp = _shape(state_dict, "image_encoder.blocks.0.mlp.lin1.weight")
    mlp_ratio = mlp[0] / embed_dim if mlp else 4.0
    neck = _shape(state_dict, "image_encoder.neck.0.weight")
    prompt_dim = neck[0] if neck else 256

    kw: dict[str, Any] = {}
    md = _shape(state_dict, "prompt_encoder.mask_downscaling.3.weight")
    if md:
        kw["mask_in_chans"] = md[0]
    n_layers = 0
    while _shape(state_dict, f"mask_decoder.transformer.layers.{n_layers}.norm1.weight"):
        n_layers += 1
    if n_layers:
        kw["decoder_depth"] = n_layers
    dm = _shape(state_dict, "mask_decoder.transformer.layers.0.mlp.lin1.weight")
    if dm:
        kw["decoder_mlp_dim"] = dm[0]
    mt = _shape(state_dict, "mask_decoder.mask_tokens.weight")
    if mt:
        kw["num_multimask_outputs"] = mt[0] - 1
    n_iou = 0
    while _shape(state_dict, f"mask_decoder.iou_prediction_head.layers.{n_iou}.weight"):
        n_iou += 1
    if n_iou:
        kw["iou_head_depth"] = n_iou
        kw["iou_head_hidden_dim"] = _shape(
            state_dict, "mask_decoder.iou_prediction_head.layers.0.weight")[0]

    variant = "custom"
    for name, (e, d, h, g) in VARIANTS.items():
        if (embed_dim, depth, num_heads, tuple(global_idx), img_size, patch_size, window_size) == (
                e, d, h, g, 1024, 16, 14):
            variant = name
    return SamArchitecture(
        variant=variant, embed_dim=embed_dim, depth=depth, num_heads=num_heads,
        global_attn_indexes=tuple(global_idx), img_size=img_size, patch_size=patch_size,
        window_size=window_size, mlp_ratio=mlp_ratio, prompt_embed_dim=prompt_dim, **kw,
    )


def build_sam(arch: SamArchitecture, *, meta: bool = False):
    """An (untrained) ``segment_anything.modeling.Sam`` with the given architecture.

    ``meta=True`` builds the parameters on the meta device (no memory, no initialisation), to be
    replaced by a checkpoint's tensors with ``load_state_dict(..., assign=True)``.
    """
    import contextlib

    from segment_anything.modeling import (
        ImageEncoderViT,
        MaskDecoder,
        PromptEncoder,
        Sam,
        TwoWayTransformer,
    )

    grid = arch.img_size // arch.patch_size
    ctx = torch.device("meta") if meta else contextlib.nullcontext()
    with ctx:
        parts = _build_parts(arch, grid, ImageEncoderViT, PromptEncoder, MaskDecoder,
                             TwoWayTransformer)
    return Sam(*parts, pixel_mean=[123.675, 116.28, 103.53],
               pixel_std=[58.395, 57.12, 57.375]).eval()


def _build_parts(arch, grid, ImageEncoderViT, PromptEncoder, MaskDecoder, TwoWayTransformer):
    from functools import partial

    return (
        ImageEncoderViT(
            depth=arch.depth, embed_dim=arch.embed_dim, img_size=arch.img_size,
            mlp_ratio=arch.mlp_ratio, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=arch.num_heads, patch_size=arch.patch_size, qkv_bias=True,
            use_rel_pos=True, global_attn_indexes=arch.global_attn_indexes,
            window_size=arch.window_size, out_chans=arch.prompt_embed_dim,
        ),
        PromptEncoder(
            embed_dim=arch.prompt_embed_dim, image_embedding_size=(grid, grid),
            input_image_size=(arch.img_size, arch.img_size), mask_in_chans=arch.mask_in_chans,
        ),
        MaskDecoder(
            num_multimask_outputs=arch.num_multimask_outputs,
            transformer=TwoWayTransformer(
                depth=arch.decoder_depth, embedding_dim=arch.prompt_embed_dim,
                mlp_dim=arch.decoder_mlp_dim, num_heads=arch.decoder_num_heads,
            ),
            transformer_dim=arch.prompt_embed_dim, iou_head_depth=arch.iou_head_depth,
            iou_head_hidden_dim=arch.iou_head_hidden_dim,
        ),
    )


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------

def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a checkpoint's state dict (memory-mapped when possible), without executing code.

    Accepts a bare state dict or one wrapped under ``"model"`` / ``"state_dict"``. Raises
    :class:`SamCheckpointError` naming the file when it is missing, empty, truncated or not a
    PyTorch state dict.
    """
    p = Path(path).expanduser()

    def fail(reason: str) -> SamCheckpointError:
        return SamCheckpointError(checkpoint_message(p, "sam", reason))

    if not p.exists():
        raise SamCheckpointError(missing_checkpoint_message(
            p, "sam", "SAM checkpoints are never downloaded; give the path of a local "
            "sam_vit_*.pth file"))
    if not p.is_file():
        raise fail("not a file")
    size = p.stat().st_size
    if size == 0:
        raise fail("the file is empty")
    obj = None
    last_exc: Exception | None = None
    for mmap in (True, False):
        try:
            obj = torch_load_tensors(p, map_location="cpu", mmap=mmap)
            break
        except Exception as exc:  # noqa: BLE001 - torch raises many types for bad files
            last_exc = exc
            # mmap needs the zip format; let an old-format file be read without it
            if not (mmap and "mmap" in str(exc).lower()):
                break
    if obj is None:
        try:
            with open(p, "rb") as fh:
                head = fh.read(16)
        except OSError:
            head = b""
        # our words only: torch's text advises loading with weights_only=False
        reason = load_failure_reason(last_exc, head) if last_exc else "unreadable file"
        off = OFFICIAL_CHECKPOINTS.get(p.name)
        if off and size != off[1]:
            reason += f"; the official {p.name} is {off[1]:,} bytes, this file is {size:,}"
        raise fail(reason)
    if isinstance(obj, Mapping):
        for wrap in ("model", "state_dict"):
            inner = obj.get(wrap)
            if isinstance(inner, Mapping) and _PATCH_KEY in inner:
                obj = inner
                break
        if not any(k == _PATCH_KEY for k in obj) and any(
                isinstance(k, str) and k.startswith("module.") for k in obj):
            obj = {k[len("module."):]: v for k, v in obj.items()}
    if not isinstance(obj, Mapping):
        raise fail(f"it holds a {type(obj).__name__}, not a state dict")
    found = guess_model_kind(dict(obj))
    if found is not None and found != "sam":
        raise fail(other_kind_reason(found))
    return dict(obj)


@dataclass
class LoadedSam:
    """A SAM model ready for inference, with where it came from."""

    model: Any                    # segment_anything.modeling.Sam
    arch: SamArchitecture
    path: Path
    device: torch.device
    _sha256: str | None = field(default=None, repr=False)

    @property
    def variant(self) -> str:
        return self.arch.variant

    def sha256(self, cache: DiskCache | None = None) -> str:
        if self._sha256 is None:
            self._sha256 = hash_file_cached(Path(self.path).expanduser(), cache)
        return self._sha256

    def info(self) -> dict[str, Any]:
        return {"path": str(self.path), "variant": self.arch.variant,
                "architecture": self.arch.describe(), "device": str(self.device)}


_models = ModelCache(1)   # the last SAM loaded


def load_sam(checkpoint: str | os.PathLike[str], device: str | torch.device | None = "auto",
             *, memo: bool = True) -> LoadedSam:
    """Load SAM from a local checkpoint; the model is built from the tensor shapes.

    The last loaded model is kept in memory (keyed by path, size, mtime and device) so that a
    batch of images loads it once. Raises :class:`SamCheckpointError` naming the file.
    """
    p = Path(checkpoint).expanduser()
    dev = resolve_device(device)
    if memo and p.is_file():
        st = p.stat()
        key = (str(p.resolve()), st.st_size, st.st_mtime_ns, str(dev))
        return _models.get("sam", key, lambda: _load_sam(p, dev))
    return _load_sam(p, dev)


def _load_sam(p: Path, dev: torch.device) -> LoadedSam:
    sd = read_state_dict(p)
    arch = detect_architecture(sd, str(p))
    model = _build_and_load(arch, sd, p)
    model = model.to(dev).eval()
    loaded = LoadedSam(model=model, arch=arch, path=p, device=dev)
    log.info("SAM %s loaded from %s on %s", arch.describe(), p, dev)
    return loaded


def _build_and_load(arch: SamArchitecture, sd: Mapping[str, torch.Tensor], p: Path):
    # Build on the meta device (no random initialisation of up to 640 M parameters), then take
    # the checkpoint's tensors as they are; fall back to a normal build if that is not possible.
    try:
        model = build_sam(arch, meta=True)
        missing, unexpected = _key_mismatch(model, sd)
        if missing or unexpected:
            raise SamCheckpointError(_mismatch_message(p, arch, missing, unexpected))
        _check_shapes(model, sd, p, arch)
        model.load_state_dict(sd, strict=True, assign=True)
        if any(t.is_meta for t in list(model.parameters()) + list(model.buffers())):
            raise RuntimeError("meta tensors left")  # pragma: no cover
        return model
    except SamCheckpointError:
        raise
    except Exception as exc:  # pragma: no cover - older torch without meta/assign support
        log.debug("meta-device build failed (%s); building normally", exc)
    model = build_sam(arch)
    _check_shapes(model, sd, p, arch)
    model.load_state_dict(sd, strict=True)
    return model


def _key_mismatch(model, sd) -> tuple[list[str], list[str]]:
    want = set(model.state_dict().keys())
    have = set(sd.keys())
    return sorted(want - have), sorted(have - want)


def _mismatch_message(p: Path, arch: SamArchitecture, missing: list[str], unexpected: list[str]) -> str:
    parts = []
    if missing:
        parts.append(f"{len(missing)} tensors missing (e.g. {', '.join(missing[:3])})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected tensors (e.g. {', '.join(unexpected[:3])})")
    return checkpoint_message(p, "sam", f"incomplete for the detected {arch.describe()}: "
                              + "; ".join(parts))


def _check_shapes(model, sd, p: Path, arch: SamArchitecture) -> None:
    for k, t in model.state_dict().items():
        if k in sd and tuple(sd[k].shape) != tuple(t.shape):
            raise SamCheckpointError(checkpoint_message(
                p, "sam", f"tensor {k} has shape {tuple(sd[k].shape)}, expected "
                f"{tuple(t.shape)} for the detected {arch.describe()}"))
