"""DINO saliency: read a local ViT checkpoint (errors naming the file), build the timm model
from the tensor shapes, and turn an image into its last-layer [CLS] attention map.

Any plain ViT with a [CLS] token (ViT-S/16, ViT-S/8, ViT-B/16, ViT-B/8, ...) is accepted; the
architecture is read from the tensor shapes in the file, never from its name, and nothing is
ever downloaded. The map is the [CLS] token's attention to the patch tokens, averaged over the
heads, at any image size (the position embeddings are interpolated), upsampled to the image and
normalised to [0, 1]. torch and timm are imported only when a model is read or built.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import cv2
import numpy as np

from spam_gui.core.io.cache import ModelCache, hash_file_cached
from spam_gui.core.devices import resolve_device
from spam_gui.core.env import ENV_DINO_CHECKPOINT, env_value
from spam_gui.core.errors import CheckpointError as BaseCheckpointError
from spam_gui.core.errors import torch_load_tensors
from spam_gui.core.errors import (checkpoint_message, guess_model_kind, load_failure_reason,
                                  missing_checkpoint_message, other_kind_reason)
from spam_gui.core.io.images import to_rgb_uint8
from spam_gui.core.saliency.builtin import normalise01

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "DEFAULT_MAX_SIDE",
    "DEFAULT_MIN_SIDE",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "CheckpointError",
    "DinoCheckpointError",
    "DinoSaliency",
    "VitConfig",
    "build_vit",
    "checkpoint_error",
    "cls_attention",
    "default_dino_checkpoint",
    "get_dino",
    "infer_vit_config",
    "load_vit_state_dict",
]

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

DEFAULT_MAX_SIDE = 480
"""The long side of the image fed to the ViT is brought down to this (CPU time grows with the
square of the number of tokens); DINO's own attention visualisations use 480."""
DEFAULT_MIN_SIDE = 224
"""Small images are brought up so that the long side has at least this many pixels (the DINO
models were trained at 224; a grid of a few tokens gives a meaningless map)."""


class DinoCheckpointError(BaseCheckpointError):
    """A DINO (ViT) checkpoint is missing, unreadable or not a ViT; the message names the file.

    A :class:`spam_gui.core.errors.CheckpointError` (hence a ``ValueError``)."""


CheckpointError = DinoCheckpointError
"""The old name of :class:`DinoCheckpointError`, kept so that imports keep working."""


def checkpoint_error(path: Any, reason: str) -> DinoCheckpointError:
    """The error for a DINO checkpoint, in the one wording of :func:`checkpoint_message`."""
    return DinoCheckpointError(checkpoint_message(path, "dino", reason))


# ----------------------------------------------------------------------------------------------
# Checkpoint reading
# ----------------------------------------------------------------------------------------------

_QKV_KEY = "blocks.0.attn.qkv.weight"
_WRAPPER_KEYS = ("teacher", "model_ema", "state_dict_ema", "model", "state_dict", "module",
                 "student", "net", "network", "weights")


def _read_checkpoint_file(path: Path) -> Any:
    """The raw object stored in ``path`` (torch ``.pth`` / ``.pt`` or ``.safetensors``)."""
    if path.is_dir():
        raise checkpoint_error(path, "it is a folder, not a file")
    if not path.is_file():
        raise DinoCheckpointError(missing_checkpoint_message(path, "dino"))
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise checkpoint_error(path, f"it cannot be read: {exc.strerror or exc}") from None
    if size == 0:
        raise checkpoint_error(path, "the file is empty")

    import torch

    looks_safetensors = (
        path.suffix.lower() == ".safetensors"
        or (len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < size)
    )
    if looks_safetensors:
        try:
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
            raise checkpoint_error(path, load_failure_reason(exc, head)) from None

    try:
        # Only tensors and plain containers (plus the argparse.Namespace of DINO's full
        # training checkpoints) are accepted: never unpickle arbitrary code.
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch_load_tensors(str(path), map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - pickle / zip / runtime errors of every kind
        # our words only: torch's text advises loading with weights_only=False
        raise checkpoint_error(path, load_failure_reason(exc, head)) from None


def _is_tensor(x: Any) -> bool:
    import torch

    return isinstance(x, torch.Tensor)


def _candidate_dicts(obj: Any, depth: int = 0) -> list[Mapping[str, Any]]:
    """Dicts that may hold the ViT's tensors, most likely first (teacher before student)."""
    if not isinstance(obj, Mapping) or depth > 3:
        return []
    out: list[Mapping[str, Any]] = []
    if any(_is_tensor(v) for v in obj.values()):
        out.append(obj)
    ordered = [k for k in _WRAPPER_KEYS if k in obj]
    ordered += [k for k in obj if k not in ordered and isinstance(obj[k], Mapping)]
    for k in ordered:
        out.extend(_candidate_dicts(obj[k], depth + 1))
    return out


def _heads_from_metadata(obj: Any) -> int | None:
    """Number of heads when the file states it (a top-level ``num_heads`` entry), else None.

    (DINO's full checkpoints name the architecture in ``args.arch``, but every DINO model uses
    64-dimensional heads, which :func:`infer_vit_config` assumes anyway.)
    """
    if not isinstance(obj, Mapping):
        return None
    v = obj.get("num_heads")
    if isinstance(v, int) and not isinstance(v, bool) and v > 0:
        return v
    return None


def load_vit_state_dict(path: str | os.PathLike[str]) -> tuple[dict[str, "torch.Tensor"], int | None]:
    """Read a ViT checkpoint: (state dict with plain timm / DINO key names, heads or None).

    Accepts the original DINO files (``dino_deitsmall16_pretrain.pth`` …, plain state dicts),
    DINO's full training checkpoints (``teacher`` / ``student`` with ``module.`` and
    ``backbone.`` prefixes), dicts wrapped under ``model`` / ``state_dict``, and timm's own
    state dicts (``.pth`` or ``.safetensors``). Keys outside the backbone (DINO projection head,
    classifier) are dropped. Raises :class:`CheckpointError` naming the file otherwise.
    """
    p = Path(path)
    obj = _read_checkpoint_file(p)
    if not isinstance(obj, Mapping):
        raise checkpoint_error(p, f"it holds a {type(obj).__name__}, not a state dict")
    found = guess_model_kind(dict(obj))
    if found is not None and found != "dino":
        raise checkpoint_error(p, other_kind_reason(found))
    for cand in _candidate_dicts(obj):
        prefixes = sorted(
            {k[: -len(_QKV_KEY)] for k in cand if isinstance(k, str) and k.endswith(_QKV_KEY)},
            key=len,
        )
        if not prefixes:
            continue
        prefix = prefixes[0]
        sd = {k[len(prefix):]: v for k, v in cand.items()
              if isinstance(k, str) and k.startswith(prefix) and _is_tensor(v)}
        return sd, _heads_from_metadata(obj)

    sample = []
    for cand in _candidate_dicts(obj)[:1]:
        sample = [str(k) for k in list(cand)[:4]]
    if any("attention.attention.query" in k for c in _candidate_dicts(obj) for k in c):
        hint = ("; it looks like a Hugging Face transformers checkpoint: use the original "
                "DINO .pth file or timm's weights instead")
    else:
        hint = ""
    raise checkpoint_error(
        p, f"no '{_QKV_KEY}' (or prefixed) key found"
        + (f"; its keys start with {sample}" if sample else "; it holds no tensors")
        + hint
    )


@dataclass(frozen=True)
class VitConfig:
    """The architecture of a ViT, as read from a state dict's tensor shapes."""

    embed_dim: int
    patch_size: int
    depth: int
    num_heads: int
    grid_size: tuple[int, int]
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    qk_norm: bool = False
    layer_scale: bool = False
    reg_tokens: int = 0
    no_embed_class: bool = False
    pre_norm: bool = False
    final_norm: bool = True
    in_chans: int = 3

    @property
    def arch(self) -> str:
        """Short name: ``vits16``, ``vits8``, ``vitb16``, ``vitb8`` or ``vit-d48-p16-l2``."""
        names = {(192, 12): "vitt", (384, 12): "vits", (768, 12): "vitb", (1024, 24): "vitl"}
        base = names.get((self.embed_dim, self.depth))
        if base and self.num_heads == self.embed_dim // 64:
            return f"{base}{self.patch_size}"
        return f"vit-d{self.embed_dim}-p{self.patch_size}-l{self.depth}-h{self.num_heads}"

    @property
    def display_name(self) -> str:
        """``ViT-S/16`` and friends, for people."""
        names = {"vitt": "ViT-T", "vits": "ViT-S", "vitb": "ViT-B", "vitl": "ViT-L"}
        m = re.fullmatch(r"(vit[tsbl])(\d+)", self.arch)
        if m:
            return f"{names[m.group(1)]}/{m.group(2)}"
        return (f"ViT (dim {self.embed_dim}, patch {self.patch_size}, depth {self.depth}, "
                f"{self.num_heads} heads)")


def _heads_for_dim(dim: int) -> int:
    """Heads when the file does not say: DINO / DeiT / timm ViTs all use 64-dim heads."""
    for head_dim in (64, 32, 16, 8):
        if dim % head_dim == 0:
            return dim // head_dim
    return 1


def infer_vit_config(sd: Mapping[str, "torch.Tensor"], path: str | os.PathLike[str] = "<checkpoint>",
                     num_heads: int | None = None) -> VitConfig:
    """Read a ViT's architecture from its tensor shapes.

    ``num_heads`` (which shapes cannot tell) defaults to ``embed_dim // 64``, the head size of
    every DINO, DeiT and timm ViT. Raises :class:`CheckpointError` naming ``path`` when a tensor
    the ViT needs is missing or has an unexpected shape.
    """

    def need(key: str, ndim: int) -> "torch.Tensor":
        t = sd.get(key)
        if t is None:
            raise checkpoint_error(path, f"incomplete: '{key}' is missing")
        if t.ndim != ndim:
            raise checkpoint_error(path,
                f"'{key}' has shape {tuple(t.shape)}, expected {ndim} dimensions"
            )
        return t

    proj = need("patch_embed.proj.weight", 4)
    dim, in_chans, ph, pw = (int(s) for s in proj.shape)
    if ph != pw:
        raise checkpoint_error(path, f"non-square patches ({ph}x{pw}) are not supported")
    if "cls_token" not in sd:
        raise checkpoint_error(path,
            "the ViT has no [CLS] token ('cls_token'), which the saliency needs"
        )
    cls = need("cls_token", 3)
    if int(cls.shape[-1]) != dim:
        raise checkpoint_error(path, f"'cls_token' has shape {tuple(cls.shape)}, expected (1, 1, {dim})")
    depth = 0
    block_ids = {int(m.group(1)) for k in sd if (m := re.match(r"blocks\.(\d+)\.", k))}
    while depth in block_ids:
        depth += 1
    if depth == 0 or depth != len(block_ids):
        raise checkpoint_error(path, "transformer blocks missing or not numbered 0..N-1")
    qkv = need("blocks.0.attn.qkv.weight", 2)
    if tuple(qkv.shape) != (3 * dim, dim):
        raise checkpoint_error(path,
            f"'blocks.0.attn.qkv.weight' has shape {tuple(qkv.shape)}, "
            f"expected {(3 * dim, dim)} for embedding dimension {dim}"
        )
    fc1 = need("blocks.0.mlp.fc1.weight", 2)
    mlp_ratio = float(fc1.shape[0]) / dim
    reg = sd.get("reg_token")
    reg_tokens = int(reg.shape[1]) if reg is not None and reg.ndim == 3 else 0
    n_prefix = 1 + reg_tokens
    pos = need("pos_embed", 3)
    n_pos = int(pos.shape[1])
    no_embed_class = False
    side = math.isqrt(max(n_pos - n_prefix, 0))
    if side * side == n_pos - n_prefix and side > 0:
        grid = (side, side)
    else:
        side = math.isqrt(n_pos)
        if side * side != n_pos:
            raise checkpoint_error(path,
                f"'pos_embed' has {n_pos} positions, not a square grid of patches"
            )
        grid, no_embed_class = (side, side), True
    if num_heads is None:
        num_heads = _heads_for_dim(dim)
    if num_heads <= 0 or dim % num_heads:
        raise checkpoint_error(path, f"{num_heads} heads do not divide the embedding dimension {dim}")
    return VitConfig(
        embed_dim=dim,
        patch_size=ph,
        depth=depth,
        num_heads=int(num_heads),
        grid_size=grid,
        mlp_ratio=mlp_ratio,
        qkv_bias="blocks.0.attn.qkv.bias" in sd,
        qk_norm="blocks.0.attn.q_norm.weight" in sd,
        layer_scale="blocks.0.ls1.gamma" in sd,
        reg_tokens=reg_tokens,
        no_embed_class=no_embed_class,
        pre_norm="norm_pre.weight" in sd,
        final_norm="norm.weight" in sd,
        in_chans=in_chans,
    )


def build_vit(config: VitConfig, device: "torch.device | str" = "cpu", meta: bool = False):
    """A timm ``VisionTransformer`` for ``config`` (no classifier, dynamic image size).

    Built with random weights and without downloading anything; ``meta=True`` builds it on the
    meta device (no memory, no initialisation) for :meth:`torch.nn.Module.to_empty`.
    """
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(
        img_size=(config.grid_size[0] * config.patch_size, config.grid_size[1] * config.patch_size),
        patch_size=config.patch_size,
        in_chans=config.in_chans,
        num_classes=0,
        global_pool="token",
        embed_dim=config.embed_dim,
        depth=config.depth,
        num_heads=config.num_heads,
        mlp_ratio=config.mlp_ratio,
        qkv_bias=config.qkv_bias,
        qk_norm=config.qk_norm,
        init_values=1.0 if config.layer_scale else None,
        class_token=True,
        no_embed_class=config.no_embed_class,
        reg_tokens=config.reg_tokens,
        pre_norm=config.pre_norm,
        final_norm=config.final_norm,
        dynamic_img_size=True,
        weight_init="skip",
        device="meta" if meta else device,
    )


# ----------------------------------------------------------------------------------------------
# DINO saliency
# ----------------------------------------------------------------------------------------------

def _vit_input_size(h: int, w: int, patch: int, max_side: int, min_side: int) -> tuple[int, int]:
    """The (h, w) fed to the ViT: long side clamped to [min_side, max_side], each side rounded
    to the nearest multiple of the patch size (the aspect ratio changes by under a patch)."""
    long_side = max(h, w)
    scale = 1.0
    if long_side > max_side:
        scale = max_side / long_side
    elif long_side < min_side:
        scale = min_side / long_side
    th = max(patch, int(round(h * scale / patch)) * patch)
    tw = max(patch, int(round(w * scale / patch)) * patch)
    return th, tw


class DinoSaliency:
    """A DINO ViT loaded from a local checkpoint, turning images into [CLS]-attention maps.

    >>> dino = DinoSaliency("dino_deitsmall16_pretrain.pth", device="auto")  # doctest: +SKIP
    >>> sal = dino(image)          # (H, W) float32 in [0, 1]               # doctest: +SKIP

    Parameters
    ----------
    checkpoint:
        Local file: an original DINO checkpoint or a timm ViT state dict (see
        :func:`load_vit_state_dict`). The architecture comes from its tensor shapes.
    device:
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    max_side, min_side:
        The image is resized so its long side lies in [min_side, max_side] and each side is a
        multiple of the patch size before it enters the ViT.
    num_heads:
        Override the number of heads (default: 64-dimensional heads, as in every DINO model).
    """

    def __init__(self, checkpoint: str | os.PathLike[str], device: "str | torch.device" = "auto",
                 max_side: int = DEFAULT_MAX_SIDE, min_side: int = DEFAULT_MIN_SIDE,
                 num_heads: int | None = None) -> None:
        import torch

        self.path = Path(checkpoint)
        self.device = resolve_device(device)
        self.max_side = int(max_side)
        self.min_side = int(min(min_side, max_side))
        sd, meta_heads = load_vit_state_dict(self.path)
        self.config = infer_vit_config(sd, self.path, num_heads=num_heads or meta_heads)
        self.sha256 = hash_file_cached(self.path)
        model = build_vit(self.config, meta=True).to_empty(device="cpu")
        wanted = model.state_dict()
        missing = [k for k in wanted if k not in sd]
        missing_needed = [k for k in missing if not k.startswith(("norm.", "head.", "fc_norm."))]
        if missing_needed:
            raise checkpoint_error(self.path,
                f"incomplete {self.config.display_name} checkpoint, missing "
                f"{missing_needed[:5]}{' …' if len(missing_needed) > 5 else ''}"
            )
        bad_shape = [k for k in wanted if k in sd and tuple(sd[k].shape) != tuple(wanted[k].shape)]
        if bad_shape:
            k = bad_shape[0]
            raise checkpoint_error(self.path,
                f"'{k}' has shape {tuple(sd[k].shape)}, expected "
                f"{tuple(wanted[k].shape)} for {self.config.display_name}"
            )
        ignored = sorted(k for k in sd if k not in wanted)
        if ignored:
            log.debug("%s: %d tensors outside the ViT backbone ignored (%s …)",
                      self.path, len(ignored), ignored[0])
        with torch.no_grad():
            model.load_state_dict({k: sd[k] for k in wanted if k in sd}, strict=False)
            for k in missing:  # unused by the saliency (final norm): defined values anyway
                if _has_param(model, k):
                    model.get_parameter(k).zero_()
        self.model = model.eval().to(self.device)
        del sd
        self._lock = threading.Lock()

    # -- naming ---------------------------------------------------------------------------

    @property
    def method_name(self) -> str:
        """``dino-vits16`` etc. (the architecture, read from the weights)."""
        return f"dino-{self.config.arch}"

    @property
    def params(self) -> dict[str, Any]:
        return {"max_side": self.max_side, "min_side": self.min_side,
                "num_heads": self.config.num_heads}

    def info(self) -> dict[str, Any]:
        """What a sidecar records about this model."""
        return {
            "method": self.method_name,
            "model": self.config.display_name,
            "checkpoint": self.path.name,
            "checkpoint_sha256": self.sha256,
            "params": self.params,
        }

    # -- inference ------------------------------------------------------------------------

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """The (h, w) the ViT sees for an image of this size."""
        return _vit_input_size(height, width, self.config.patch_size, self.max_side, self.min_side)

    def attention(self, image: np.ndarray) -> np.ndarray:
        """The last layer's [CLS] → patch attention, (heads, gh, gw) float32 (rows sum ≤ 1)."""
        import torch

        rgb = to_rgb_uint8(image)
        h, w = rgb.shape[:2]
        th, tw = self.input_size(h, w)
        interp = cv2.INTER_AREA if th * tw < h * w else cv2.INTER_LINEAR
        x = cv2.resize(rgb, (tw, th), interpolation=interp).astype(np.float32) / 255.0
        x = (x - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)
        t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(self.device)
        gh, gw = th // self.config.patch_size, tw // self.config.patch_size
        with self._lock, torch.inference_mode():
            attn = cls_attention(self.model, t)  # (1, heads, gh * gw)
        return attn[0].reshape(-1, gh, gw).float().cpu().numpy()

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Saliency (H, W) float32 in [0, 1]: head-averaged [CLS] attention, upsampled."""
        rgb = to_rgb_uint8(image)
        h, w = rgb.shape[:2]
        att = self.attention(rgb).mean(axis=0)
        up = cv2.resize(att.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        return normalise01(up)


def _has_param(model: Any, name: str) -> bool:
    try:
        model.get_parameter(name)
        return True
    except AttributeError:
        return False


def cls_attention(model: Any, x: "torch.Tensor") -> "torch.Tensor":
    """Attention of the [CLS] token to the patch tokens in the last block of a timm ViT.

    ``x`` is a normalised (B, 3, H, W) batch with H, W multiples of the patch size; returns
    (B, heads, H/p · W/p), the softmax row of the [CLS] query (computed over every token, as in
    DINO) restricted to the patch tokens, in row-major patch order.
    """
    import torch

    tokens = model.patch_embed(x)
    tokens = model._pos_embed(tokens)
    tokens = model.patch_drop(tokens)
    tokens = model.norm_pre(tokens)
    for blk in model.blocks[:-1]:
        tokens = blk(tokens)
    last = model.blocks[-1]
    attn = last.attn
    if not hasattr(attn, "qkv") or not hasattr(attn, "num_heads"):
        raise TypeError(f"unsupported attention module {type(attn).__name__}")
    y = last.norm1(tokens)
    b, n, _ = y.shape
    heads = attn.num_heads
    head_dim = getattr(attn, "head_dim", y.shape[-1] // heads)
    qkv = attn.qkv(y).reshape(b, n, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
    q, k = qkv[0], qkv[1]  # (B, heads, N, head_dim)
    q, k = attn.q_norm(q), attn.k_norm(k)
    scale = getattr(attn, "scale", head_dim ** -0.5)
    logits = (q[:, :, :1] * scale) @ k.transpose(-2, -1)  # (B, heads, 1, N)
    probs = torch.softmax(logits.float(), dim=-1)[:, :, 0]
    return probs[:, :, model.num_prefix_tokens:]


_dino_memo = ModelCache(2, room_first=True)   # at most two alive (ViT-B is ~350 MB)


def get_dino(checkpoint: str | os.PathLike[str], device: "str | torch.device" = "auto",
             max_side: int = DEFAULT_MAX_SIDE, min_side: int = DEFAULT_MIN_SIDE) -> DinoSaliency:
    """A :class:`DinoSaliency`, loaded once per process per (file content, device, sizes)."""
    p = Path(checkpoint)
    try:
        st = p.resolve().stat()
    except OSError:
        return DinoSaliency(p, device, max_side, min_side)  # raises a CheckpointError naming it
    dev = resolve_device(device)
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns, str(dev), max_side, min_side)
    return _dino_memo.get("dino", key, lambda: DinoSaliency(p, dev, max_side, min_side))


def default_dino_checkpoint() -> str | None:
    """The DINO checkpoint named by ``SPAM_DINO_CHECKPOINT``, or None."""
    return env_value(ENV_DINO_CHECKPOINT)
