"""Segment Anything (SAM) from a local checkpoint: automatic mask proposals, click prompts, and a
cached prior object map (docs/algorithm.md §5, paper §3.2).

* :func:`load_sam` reads a checkpoint (``sam_vit_h_4b8939.pth``, ``sam_vit_l_0b3195.pth``,
  ``sam_vit_b_01ec64.pth`` or any file holding such a state dict). The architecture is read from
  the tensor shapes (embedding width, depth, heads, global-attention blocks, image size), never
  from the file name; a missing, truncated or non-SAM file raises :class:`SamCheckpointError`
  naming the file. Nothing is ever downloaded.
* :class:`SamSession` holds one image's embedding (computed once, optionally cached on disk) and
  answers click / box prompts and the automatic mask generation.
* :func:`generate_proposals` is SAM's automatic mask generator (a ``points_per_side`` grid of
  single-point prompts, predicted-IoU and stability filtering, box NMS) with the same results as
  ``segment_anything.SamAutomaticMaskGenerator`` but several times cheaper on a CPU: the decoder's
  work on the 64 x 64 image tokens is done once per image plus low-rank per-prompt corrections
  (exact algebra, see :class:`_FastDecoder`), prompts whose three masks all fail the
  predicted-IoU threshold skip the mask upscaling, and the surviving masks go from 256 x 256
  logits to the image size in one separable resampling instead of through a 1024 x 1024
  intermediate and a run-length round trip.
* :func:`compute_prior` = proposals + aggregation (:mod:`spam_gui.core.prior`) through the disk
  cache: a second open of the same image with the same checkpoint and parameters runs no SAM.

No Qt here.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from spam_gui.core.cache import DiskCache, hash_array, hash_file_cached, make_key
from spam_gui.core.errors import (CheckpointError, checkpoint_message, guess_model_kind,
                                  load_failure_reason, missing_checkpoint_message,
                                  other_kind_reason)
from spam_gui.core.image_io import to_rgb_uint8
from spam_gui.core.prior import (
    DEFAULT_OPENING,
    Prior,
    aggregate_proposals,
    pack_masks,
    prior_from_arrays,
    prior_to_arrays,
    unpack_masks,
)

log = logging.getLogger(__name__)

ENV_CHECKPOINT = "SPAM_SAM_CHECKPOINT"
CACHE_NAMESPACE = "sam"

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

from spam_gui.core.devices import resolve_device  # noqa: E402  (one definition, in core.devices)


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
            obj = torch.load(p, map_location="cpu", weights_only=True, mmap=mmap)
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
            self._sha256 = checkpoint_sha256(self.path, cache)
        return self._sha256

    def info(self) -> dict[str, Any]:
        return {"path": str(self.path), "variant": self.arch.variant,
                "architecture": self.arch.describe(), "device": str(self.device)}


_model_memo: dict[tuple, LoadedSam] = {}
_model_lock = threading.Lock()


def load_sam(checkpoint: str | os.PathLike[str], device: str | torch.device | None = "auto",
             *, memo: bool = True) -> LoadedSam:
    """Load SAM from a local checkpoint; the model is built from the tensor shapes.

    The last loaded model is kept in memory (keyed by path, size, mtime and device) so that a
    batch of images loads it once. Raises :class:`SamCheckpointError` naming the file.
    """
    p = Path(checkpoint).expanduser()
    dev = resolve_device(device)
    key = None
    if p.is_file():
        st = p.stat()
        key = (str(p.resolve()), st.st_size, st.st_mtime_ns, str(dev))
        with _model_lock:
            if memo and key in _model_memo:
                return _model_memo[key]
    sd = read_state_dict(p)
    arch = detect_architecture(sd, str(p))
    model = _build_and_load(arch, sd, p)
    model = model.to(dev).eval()
    loaded = LoadedSam(model=model, arch=arch, path=p, device=dev)
    log.info("SAM %s loaded from %s on %s", arch.describe(), p, dev)
    if memo and key is not None:
        with _model_lock:
            _model_memo.clear()
            _model_memo[key] = loaded
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


def checkpoint_sha256(path: str | os.PathLike[str], cache: DiskCache | None = None) -> str:
    """sha256 of a checkpoint file, memoised in memory and (with ``cache``) on disk by
    (path, size, mtime), so a 2.5 GB file is read once, not on every run."""
    p = Path(path).expanduser().resolve()
    st = p.stat()
    key = make_key("file-sha256", str(p), st.st_size, st.st_mtime_ns)
    if cache is not None:
        got = cache.get(key)
        if got is not None and len(got) == 64:
            return got.decode("ascii")
    digest = hash_file_cached(p)
    if cache is not None:
        cache.put(key, digest.encode("ascii"))
    return digest


def default_checkpoint() -> str | None:
    """The checkpoint named by ``SPAM_SAM_CHECKPOINT``, if set."""
    v = os.environ.get(ENV_CHECKPOINT, "").strip()
    return v or None


# --------------------------------------------------------------------------------------------
# Automatic mask generation
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AmgParams:
    """Parameters of the automatic mask generator (SAM's defaults)."""

    points_per_side: int = 32
    pred_iou_thresh: float = 0.88
    stability_score_thresh: float = 0.95
    stability_score_offset: float = 1.0
    box_nms_thresh: float = 0.7
    min_mask_region_area: int = 0
    points_per_batch: int = 32      # speed and memory only; does not change the result

    def __post_init__(self) -> None:
        if self.points_per_side < 1:
            raise ValueError(f"points_per_side must be >= 1, got {self.points_per_side}")
        if self.points_per_batch < 1:
            raise ValueError(f"points_per_batch must be >= 1, got {self.points_per_batch}")

    def result_params(self) -> dict[str, Any]:
        """The parameters the result depends on (for cache keys and sidecars)."""
        d = asdict(self)
        d.pop("points_per_batch")
        return d


@dataclass
class Proposals:
    """SAM's mask proposals for one image."""

    masks: np.ndarray          # (n, H, W) bool
    scores: np.ndarray         # (n,) float32, predicted IoU
    stability: np.ndarray      # (n,) float32, stability score
    points: np.ndarray         # (n, 2) float32, the prompt point (x, y) in image pixels
    boxes: np.ndarray          # (n, 4) int32, x0, y0, x1, y1 (inclusive), as SAM gives them
    timings: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    def to_arrays(self) -> dict[str, np.ndarray]:
        packed = pack_masks(self.masks)
        return {"bits": packed["bits"], "shape": packed["shape"],
                "scores": self.scores.astype(np.float32),
                "stability": self.stability.astype(np.float32),
                "points": self.points.astype(np.float32), "boxes": self.boxes.astype(np.int32)}

    @classmethod
    def from_arrays(cls, a: Mapping[str, np.ndarray]) -> "Proposals":
        return cls(masks=unpack_masks(a["bits"], a["shape"]), scores=a["scores"],
                   stability=a["stability"], points=a["points"], boxes=a["boxes"])


def _resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of PyTorch's 1-D bilinear resize (align_corners=False, no antialias)."""
    m = np.zeros((n_out, n_in), dtype=np.float64)
    scale = n_in / n_out
    for d in range(n_out):
        src = max(scale * (d + 0.5) - 0.5, 0.0)
        i0 = min(int(math.floor(src)), n_in - 1)
        i1 = i0 + 1 if i0 < n_in - 1 else i0
        lam = src - i0
        m[d, i0] += 1.0 - lam
        m[d, i1] += lam
    return m


class _Resampler:
    """``Sam.postprocess_masks`` (low-res -> img_size square -> crop -> original size) as one
    separable linear map with at most a few taps per output pixel."""

    def __init__(self, low: tuple[int, int], img_size: int, input_size: tuple[int, int],
                 original_size: tuple[int, int], device: torch.device) -> None:
        self.taps = []
        for axis in (0, 1):
            a = _resize_matrix(input_size[axis], original_size[axis]) @ \
                _resize_matrix(low[axis], img_size)[: input_size[axis]]
            nz = a != 0
            k = max(int(nz.sum(axis=1).max()), 1)
            idx = np.zeros((a.shape[0], k), dtype=np.int64)
            wts = np.zeros((a.shape[0], k), dtype=np.float32)
            for r in range(a.shape[0]):
                cols = np.flatnonzero(nz[r])
                idx[r, : cols.size] = cols
                wts[r, : cols.size] = a[r, cols]
            self.taps.append((torch.as_tensor(idx, device=device),
                              torch.as_tensor(wts, device=device)))

    def __call__(self, low: torch.Tensor) -> torch.Tensor:
        """(n, h, w) low-res logits -> (n, H, W) logits at the original size."""
        idx_y, w_y = self.taps[0]
        idx_x, w_x = self.taps[1]
        x = None
        for k in range(idx_x.shape[1]):
            t = low.index_select(2, idx_x[:, k]) * w_x[:, k]
            x = t if x is None else x.add_(t)
        out = None
        for k in range(idx_y.shape[1]):
            t = x.index_select(1, idx_y[:, k]) * w_y[:, k, None]
            out = t if out is None else out.add_(t)
        return out


def _heads(x: torch.Tensor, n: int) -> torch.Tensor:
    b, t, c = x.shape
    return x.reshape(b, t, n, c // n).transpose(1, 2)


class _FastDecoder:
    """SAM's mask decoder for a batch of single-point prompts on one image, computing the same
    quantities as ``MaskDecoder.forward(..., multimask_output=True)`` with far less work.

    Every linear map SAM applies to the 64 x 64 image tokens is affine in the image embedding
    (which is the same for all prompts) plus the image-to-token attention updates, which have
    rank at most heads x tokens (8 x 7); the LayerNorms in between contribute one mean and one
    scale per token. So each projection is computed as a once-per-image product with the
    embedding plus low-rank per-prompt corrections, instead of a full per-prompt matrix product
    over 4096 tokens:

        W keys[l+1] = (W g keys[l] + A[l] (U[l] (W g)^T) + (W g) b[l] - mu[l] (W g) 1) * rstd[l]
                      + W beta[l],        g = diag(gamma[l]),

    where keys[l+1] = LayerNorm(keys[l] + A[l] U[l] + b[l]), A[l] are the attention weights
    (tokens per image pixel), U[l] the tokens' values through the output projection, and
    mu / rstd the per-pixel LayerNorm statistics (mean, 1 / standard deviation). The two stride-2 transposed convolutions of
    the upscaler do not overlap, so they are matrix products in channels-last layout; they run
    only for prompts with a mask worth keeping (the predicted IoU is known before them).
    """

    def __init__(self, sam, features: torch.Tensor) -> None:
        dec = sam.mask_decoder
        tr = dec.transformer
        self.dec, self.tr = dec, tr
        pe = sam.prompt_encoder.get_dense_pe()
        dense = sam.prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
        src = features + dense
        _, c, h, w = src.shape
        self.c, self.h, self.w = c, h, w
        keys0 = src.flatten(2)[0].t().contiguous()          # (N, C)
        key_pe = pe.flatten(2)[0].t().contiguous()          # (N, C)
        self.keys0 = keys0.unsqueeze(0)
        self.layers = list(tr.layers)
        self.norms = [(ly.norm4.weight, ly.norm4.bias, ly.norm4.eps) for ly in self.layers]
        self.i2t_bias = [ly.cross_attn_image_to_token.out_proj.bias for ly in self.layers]
        self.keys0_b = self.keys0 + self.i2t_bias[0]
        n = keys0.shape[0]

        def pe_proj(lin) -> torch.Tensor:
            return key_pe @ lin.weight.t() + lin.bias

        self.plans = []
        for lvl, ly in enumerate(self.layers):
            a, b = ly.cross_attn_token_to_image, ly.cross_attn_image_to_token
            wts = torch.cat([a.k_proj.weight, a.v_proj.weight, b.q_proj.weight])
            const = torch.cat([pe_proj(a.k_proj), a.v_proj.bias.expand(n, -1), pe_proj(b.q_proj)],
                              dim=1)
            self.plans.append(self._plan(wts, lvl, keys0, const))
        fa = tr.final_attn_token_to_image
        self.final_plan = self._plan(torch.cat([fa.k_proj.weight, fa.v_proj.weight]),
                                     len(self.layers), keys0,
                                     torch.cat([pe_proj(fa.k_proj), fa.v_proj.bias.expand(n, -1)],
                                               dim=1))
        self.out_tokens = torch.cat([dec.iou_token.weight, dec.mask_tokens.weight], dim=0)
        up = dec.output_upscaling
        ct1, ln, _, ct2, _ = up
        w1 = ct1.weight.permute(0, 2, 3, 1).reshape(ct1.weight.shape[0], -1)   # (C, 4 * c1)
        self.up_plan = self._plan(w1.t(), len(self.layers), keys0, ct1.bias.repeat(4))
        self.c1 = ct1.weight.shape[1]
        self.ln_w, self.ln_b, self.ln_eps = ln.weight, ln.bias, ln.eps
        self.w2 = ct2.weight.permute(0, 2, 3, 1).reshape(ct2.weight.shape[0], -1).t()
        self.b2 = ct2.bias.repeat(4)
        self.c2 = ct2.weight.shape[1]
        self.act1, self.act2 = up[2], up[4]

    def _plan(self, wts: torch.Tensor, level: int, keys0: torch.Tensor, const: torch.Tensor):
        """Precompute what ``wts @ keys[level] + const`` needs (see the class docstring)."""
        steps = []
        cur = wts
        for lv in reversed(range(level)):
            gamma, beta, _ = self.norms[lv]
            g = cur * gamma                                   # W diag(gamma)
            steps.append((g.t().contiguous(), g @ self.i2t_bias[lv], g.sum(dim=1), cur @ beta))
            cur = g
        steps.reverse()
        base = keys0 @ cur.t()                                # once per image
        if level == 0:
            return (base + const).unsqueeze(0), [], None
        return (base + steps[0][1]).unsqueeze(0), steps, const

    @staticmethod
    def _apply(plan, state) -> torch.Tensor:
        """``W @ keys[level] + const`` for a batch: (B, N, out) (or (1, N, out) at level 0)."""
        base, steps, const = plan
        if not steps:
            return base
        r = base
        for i, ((gt, cb, gs, d), (att, u, mu, rstd)) in enumerate(zip(steps, state)):
            if i == 0:
                r = torch.baddbmm(base, att.transpose(1, 2), u @ gt)   # base has + G b already
            else:
                r = r.add_(cb).baddbmm_(att.transpose(1, 2), u @ gt)
            r = r.addcmul_(mu, gs, value=-1.0).mul_(rstd).add_(d)
        return r.add_(const)

    @staticmethod
    def _block_diag(x: torch.Tensor) -> torch.Tensor:
        """(B, H, T, ch) per-head token vectors -> (B, H*T, H*ch) with head h in column block h,
        so that one product with the (N, H*ch) image features gives every head's scores."""
        bsz, nh, t, ch = x.shape
        eye = torch.eye(nh, dtype=x.dtype, device=x.device)
        return torch.einsum("bhtc,hg->bhtgc", x, eye).reshape(bsz, nh * t, nh * ch)

    @classmethod
    def _token_to_image(cls, mod, tok_q: torch.Tensor, k_img: torch.Tensor, v_img: torch.Tensor
                        ) -> torch.Tensor:
        """Attention(q=tokens, k=image, v=image) from the projected image keys and values
        (B or 1, N, Ci); (B, T, C) like ``Attention.forward``."""
        nh = mod.num_heads
        q = _heads(mod.q_proj(tok_q), nh)                       # (B, H, T, ch)
        bsz, _, t, ch = q.shape
        qbd = cls._block_diag(q / math.sqrt(ch))                # (B, H*T, Ci)
        attn = torch.matmul(qbd, k_img.transpose(-1, -2))       # (B, H*T, N)
        attn = torch.softmax(attn, dim=-1)
        out = torch.matmul(attn, v_img)                         # (B, H*T, Ci): keep the diagonal
        out = torch.diagonal(out.reshape(bsz, nh, t, nh, ch), dim1=1, dim2=3)  # (B, T, ch, H)
        out = out.permute(0, 1, 3, 2).reshape(bsz, t, nh * ch)
        return mod.out_proj(out)

    @classmethod
    def _image_to_token(cls, mod, q_img: torch.Tensor, tok_q: torch.Tensor, tok_v: torch.Tensor
                        ) -> tuple[torch.Tensor, torch.Tensor]:
        """The image-to-token attention update as A^T U (+ out_proj bias), from the projected
        image queries (B or 1, N, Ci): A (B, H*T, N) the attention weights of each image pixel
        over each head's tokens, U (B, H*T, C) each head's token values through out_proj."""
        nh = mod.num_heads
        k = _heads(mod.k_proj(tok_q), nh)                       # (B, H, T, ch)
        v = _heads(mod.v_proj(tok_v), nh)                       # (B, H, T, ch)
        bsz, _, t, ch = k.shape
        kbd = cls._block_diag(k / math.sqrt(ch))                # (B, H*T, Ci)
        attn = torch.matmul(kbd, q_img.transpose(-1, -2))       # (B, H*T, N)
        attn = torch.softmax(attn.reshape(bsz, nh, t, -1), dim=2).reshape(bsz, nh * t, -1)
        wo = mod.out_proj.weight                                # (C, H * ch)
        c = wo.shape[0]
        u = torch.matmul(v, wo.reshape(c, nh, -1).permute(1, 2, 0).unsqueeze(0))  # (B,H,T,C)
        return attn, u.reshape(bsz, nh * t, c)

    def transformer(self, sparse: torch.Tensor) -> tuple[torch.Tensor, list]:
        """Token outputs (B, T, C) and the per-layer state the image projections need."""
        bsz = sparse.shape[0]
        tokens = torch.cat([self.out_tokens.unsqueeze(0).expand(bsz, -1, -1), sparse], dim=1)
        query_pe = tokens
        queries = tokens
        keys = None
        state: list = []
        n_layers = len(self.layers)
        for lv, ly in enumerate(self.layers):
            if ly.skip_first_layer_pe:
                queries = ly.self_attn(q=queries, k=queries, v=queries)
            else:
                q = queries + query_pe
                queries = queries + ly.self_attn(q=q, k=q, v=queries)
            queries = ly.norm1(queries)

            a, b = ly.cross_attn_token_to_image, ly.cross_attn_image_to_token
            proj = self._apply(self.plans[lv], state)          # (B or 1, N, 3 * Ci)
            k_img, v_img, q_img = proj.split(a.internal_dim, dim=-1)
            attn_out = self._token_to_image(a, queries + query_pe, k_img, v_img)
            queries = ly.norm2(queries + attn_out)
            queries = ly.norm3(queries + ly.mlp(queries))

            att, u = self._image_to_token(b, q_img, queries + query_pe, queries)
            if keys is None:   # first layer: the keys are the image embedding
                x = torch.baddbmm(self.keys0_b, att.transpose(1, 2), u)
            else:
                x = keys.add_(self.i2t_bias[lv]).baddbmm_(att.transpose(1, 2), u)
            gamma, beta, eps = self.norms[lv]
            out, mu, rstd = torch.native_layer_norm(x, [self.c], gamma, beta, eps)
            state.append((att, u, mu, rstd))
            keys = out if lv + 1 < n_layers else None

        fa = self.tr.final_attn_token_to_image
        proj = self._apply(self.final_plan, state)
        k_img, v_img = proj.split(fa.internal_dim, dim=-1)
        attn_out = self._token_to_image(fa, queries + query_pe, k_img, v_img)
        queries = self.tr.norm_final_attn(queries + attn_out)
        return queries, state

    def iou(self, hs: torch.Tensor) -> torch.Tensor:
        return self.dec.iou_prediction_head(hs[:, 0, :])

    def masks(self, hs: torch.Tensor, state: list, tokens: list[int]) -> torch.Tensor:
        """Low-res mask logits (B, len(tokens), 4h, 4w) for the given mask-token indices; ``hs``
        and ``state`` restricted to the wanted prompts."""
        bsz = hs.shape[0]
        h, w = self.h, self.w
        y = self._apply(self.up_plan, state)                     # (B, N, 4 * c1)
        y = y.reshape(bsz, h * w, 4, self.c1)
        y = F.layer_norm(y, (self.c1,), self.ln_w, self.ln_b, self.ln_eps)
        y = self.act1(y)
        z = F.linear(y, self.w2, self.b2)                         # (B, N, 4, 4 * c2)
        z = self.act2(z.reshape(bsz, h * w, 4, 4, self.c2))
        hyper = torch.stack(
            [self.dec.output_hypernetworks_mlps[t](hs[:, 1 + t, :]) for t in tokens], dim=1
        )                                                           # (B, M, c2)
        m = torch.einsum("bnpqc,bmc->bmnpq", z, hyper)              # (B, M, N, 4, 4)
        # n = (yy, xx); p = (dy, dx) of the first upscaling; q = (ey, ex) of the second
        m = m.reshape(bsz, len(tokens), h, w, 2, 2, 2, 2)
        return m.permute(0, 1, 2, 4, 6, 3, 5, 7).reshape(bsz, len(tokens), 4 * h, 4 * w)


def _index_state(state: list, rows: torch.Tensor) -> list:
    return [tuple(t[rows] for t in st) for st in state]


ProgressFn = Callable[[float, str], None]


def generate_proposals(session: "SamSession", params: AmgParams | None = None, *,
                       method: str = "fast", progress: ProgressFn | None = None) -> Proposals:
    """SAM's automatic mask generation on the session's image.

    ``method="fast"`` (default) is this module's implementation; ``method="reference"`` runs
    ``segment_anything.SamAutomaticMaskGenerator`` itself (slower; same results). ``progress``
    is called with (fraction done, message); raising from it stops the generation.
    """
    params = params or AmgParams()
    if method == "reference":
        return _reference_amg(session, params)
    if method != "fast":
        raise ValueError(f"unknown method {method!r} (fast or reference)")
    return _fast_amg(session, params, progress)


@torch.inference_mode()
def _fast_amg(session: "SamSession", params: AmgParams, progress: ProgressFn | None) -> Proposals:
    from segment_anything.utils.amg import batched_mask_to_box, build_point_grid
    from torchvision.ops.boxes import batched_nms

    t0 = time.perf_counter()
    sam = session.sam.model
    dev = session.sam.device
    pred = session.predictor
    hh, ww = session.original_size
    points = build_point_grid(params.points_per_side) * np.array([[ww, hh]])
    coords = pred.transform.apply_coords(points, (hh, ww))
    dec = _FastDecoder(sam, pred.features)
    low = (4 * dec.h, 4 * dec.w)
    resample = _Resampler(low, sam.image_encoder.img_size, session.input_size, (hh, ww), dev)
    thr = sam.mask_threshold
    n_out = sam.mask_decoder.num_multimask_outputs
    token_ids = list(range(1, 1 + n_out))

    bits, ious, stabs, pts, boxes = [], [], [], [], []
    t_dec = t_up = 0.0
    n = len(points)
    for start in range(0, n, params.points_per_batch):
        if progress is not None:
            progress(start / n, f"SAM prompts {start}/{n}")
        sl = slice(start, start + params.points_per_batch)
        in_pts = torch.as_tensor(coords[sl], device=dev)[:, None, :]
        in_lab = torch.ones(in_pts.shape[0], 1, dtype=torch.int, device=dev)
        ta = time.perf_counter()
        sparse, _ = sam.prompt_encoder(points=(in_pts, in_lab), boxes=None, masks=None)
        hs, state = dec.transformer(sparse)
        iou = dec.iou(hs)[:, token_ids]                                     # (B, 3)
        keep = iou > params.pred_iou_thresh if params.pred_iou_thresh > 0 else torch.ones_like(
            iou, dtype=torch.bool)
        rows = keep.any(dim=1).nonzero().flatten()
        if rows.numel() == 0:
            t_dec += time.perf_counter() - ta
            continue
        lowres = dec.masks(hs[rows], _index_state(state, rows), token_ids)  # (b, 3, 4h, 4w)
        sel = keep[rows]
        lowres = lowres[sel]                                                # (k, 4h, 4w)
        iou_k = iou[rows][sel]
        pidx = start + rows[:, None].expand(-1, n_out)[sel]   # prompt index in the grid
        tb = time.perf_counter()
        t_dec += tb - ta
        logits = resample(lowres)                                           # (k, H, W)
        inter = (logits > thr + params.stability_score_offset).sum((-1, -2), dtype=torch.int32)
        union = (logits > thr - params.stability_score_offset).sum((-1, -2), dtype=torch.int32)
        stab = inter / union
        if params.stability_score_thresh > 0:
            ok = stab >= params.stability_score_thresh
            logits, iou_k, pidx, stab = logits[ok], iou_k[ok], pidx[ok], stab[ok]
        masks = logits > thr
        del logits
        if masks.shape[0]:
            boxes.append(batched_mask_to_box(masks).cpu())
            m = masks.cpu().numpy()
            bits.append(np.packbits(m.reshape(m.shape[0], -1), axis=1))
            ious.append(iou_k.float().cpu())
            stabs.append(stab.float().cpu())
            pts.append(torch.as_tensor(points[pidx.cpu().numpy()], dtype=torch.float32))
        t_up += time.perf_counter() - tb

    tn = time.perf_counter()
    if bits:
        all_bits = np.concatenate(bits)
        all_iou = torch.cat(ious)
        all_stab = torch.cat(stabs)
        all_pts = torch.cat(pts)
        all_boxes = torch.cat(boxes)
        keep_idx = batched_nms(all_boxes.float(), all_iou, torch.zeros(len(all_boxes)),
                               iou_threshold=params.box_nms_thresh).numpy()
        masks_np = np.unpackbits(all_bits[keep_idx], axis=1, count=hh * ww).reshape(
            -1, hh, ww).astype(bool)
        props = Proposals(masks=masks_np, scores=all_iou[keep_idx].numpy(),
                          stability=all_stab[keep_idx].numpy(), points=all_pts[keep_idx].numpy(),
                          boxes=all_boxes[keep_idx].numpy().astype(np.int32))
    else:
        props = _empty_proposals(hh, ww)
    if params.min_mask_region_area > 0 and len(props):
        props = _remove_small_regions(props, params)
    props.timings = {"decoder_s": t_dec, "masks_s": t_up, "nms_s": time.perf_counter() - tn,
                     "total_s": time.perf_counter() - t0}
    if progress is not None:
        progress(1.0, f"SAM: {len(props)} masks")
    return props


def _empty_proposals(h: int, w: int) -> Proposals:
    return Proposals(masks=np.zeros((0, h, w), dtype=bool), scores=np.zeros(0, np.float32),
                     stability=np.zeros(0, np.float32), points=np.zeros((0, 2), np.float32),
                     boxes=np.zeros((0, 4), np.int32))


def _remove_small_regions(props: Proposals, params: AmgParams) -> Proposals:
    """SAM's optional post-processing (holes and islands below min_mask_region_area)."""
    from segment_anything import SamAutomaticMaskGenerator
    from segment_anything.utils.amg import MaskData, mask_to_rle_pytorch, rle_to_mask

    data = MaskData(
        rles=mask_to_rle_pytorch(torch.as_tensor(props.masks)),
        boxes=torch.as_tensor(props.boxes, dtype=torch.float32),
        iou_preds=torch.as_tensor(props.scores), stability_score=torch.as_tensor(props.stability),
        points=torch.as_tensor(props.points),
    )
    data = SamAutomaticMaskGenerator.postprocess_small_regions(
        data, params.min_mask_region_area, params.box_nms_thresh)
    masks = np.stack([rle_to_mask(r) for r in data["rles"]]) if len(data["rles"]) else \
        np.zeros((0,) + props.masks.shape[1:], dtype=bool)
    return Proposals(masks=masks, scores=np.asarray(data["iou_preds"], np.float32),
                     stability=np.asarray(data["stability_score"], np.float32),
                     points=np.asarray(data["points"], np.float32),
                     boxes=np.asarray(data["boxes"]).astype(np.int32))


def _reference_amg(session: "SamSession", params: AmgParams) -> Proposals:
    from segment_anything import SamAutomaticMaskGenerator

    t0 = time.perf_counter()
    gen = SamAutomaticMaskGenerator(
        session.sam.model, points_per_side=params.points_per_side,
        points_per_batch=params.points_per_batch, pred_iou_thresh=params.pred_iou_thresh,
        stability_score_thresh=params.stability_score_thresh,
        stability_score_offset=params.stability_score_offset,
        box_nms_thresh=params.box_nms_thresh, min_mask_region_area=params.min_mask_region_area,
    )
    # reuse the session's embedding instead of letting the generator recompute it
    pred = session.predictor
    gen.predictor = pred
    pred.set_image = lambda *a, **k: None  # instance attributes shadow the methods
    pred.reset_image = lambda *a, **k: None
    try:
        with torch.inference_mode():
            anns = gen.generate(session.image)
    finally:
        del pred.set_image, pred.reset_image
    hh, ww = session.original_size
    if not anns:
        props = _empty_proposals(hh, ww)
    else:
        props = Proposals(
            masks=np.stack([a["segmentation"] for a in anns]).astype(bool),
            scores=np.array([a["predicted_iou"] for a in anns], np.float32),
            stability=np.array([a["stability_score"] for a in anns], np.float32),
            points=np.array([a["point_coords"][0] for a in anns], np.float32),
            boxes=np.array([[b[0], b[1], b[0] + b[2], b[1] + b[3]] for b in
                            (a["bbox"] for a in anns)], np.int32),
        )
    props.timings = {"total_s": time.perf_counter() - t0}
    return props


# --------------------------------------------------------------------------------------------
# One image: embedding kept, prompts
# --------------------------------------------------------------------------------------------

class SamSession:
    """SAM on one image: the image embedding is computed once (or read from the disk cache) and
    kept for automatic masks and any number of click / box prompts.

    >>> s = SamSession(load_sam("sam_vit_b_01ec64.pth"), image)      # doctest: +SKIP
    >>> mask, score = s.predict(points=[(120, 80)], labels=[1])       # doctest: +SKIP
    """

    def __init__(self, sam: LoadedSam, image: np.ndarray, *, cache: DiskCache | None = None,
                 image_hash: str | None = None) -> None:
        from segment_anything import SamPredictor

        self.sam = sam
        self.image = to_rgb_uint8(image)
        self.original_size = tuple(int(s) for s in self.image.shape[:2])
        self.predictor = SamPredictor(sam.model)
        self.embedding_seconds = 0.0
        self.embedding_from_cache = False
        self._cache = cache
        self._image_hash = image_hash
        self._set_embedding()

    @property
    def input_size(self) -> tuple[int, int]:
        return tuple(self.predictor.input_size)  # type: ignore[return-value]

    @property
    def image_hash(self) -> str:
        if self._image_hash is None:
            self._image_hash = hash_array(self.image)
        return self._image_hash

    def _embedding_key(self) -> str:
        return make_key("sam-embedding/v1", self.image_hash, self.sam.sha256(self._cache))

    def _set_embedding(self) -> None:
        t0 = time.perf_counter()
        key = None
        if self._cache is not None:
            key = self._embedding_key()
            got = self._cache.get_arrays(key, required=("features", "input_size"))
            if got is not None:
                p = self.predictor
                p.reset_image()
                p.original_size = self.original_size
                p.input_size = tuple(int(x) for x in got["input_size"])
                p.features = torch.as_tensor(got["features"], dtype=torch.float32,
                                             device=self.sam.device)
                p.is_image_set = True
                self.embedding_from_cache = True
                self.embedding_seconds = time.perf_counter() - t0
                return
        with torch.inference_mode():
            self.predictor.set_image(self.image)
        self.embedding_seconds = time.perf_counter() - t0
        if key is not None:
            self._cache.put_arrays(
                key, features=self.predictor.features.float().cpu().numpy(),
                input_size=np.array(self.predictor.input_size, dtype=np.int64))

    def predict(self, points: Any = None, labels: Any = None, box: Any = None,
                multimask: bool | None = None) -> tuple[np.ndarray, float]:
        """One mask from clicks and/or a box, through ``SamPredictor``.

        ``points``: (k, 2) (x, y) pixel coordinates; ``labels``: 1 = positive (inside the
        object), 0 = negative; ``box``: (x0, y0, x1, y1). With a single click SAM proposes three
        masks and the one with the best predicted IoU is returned (``multimask`` default);
        otherwise one mask. Returns ((H, W) bool mask, predicted IoU).
        """
        pc = pl = bx = None
        if points is not None and len(points):
            pc = np.asarray(points, dtype=np.float64).reshape(-1, 2)
            pl = (np.ones(len(pc), dtype=np.int64) if labels is None
                  else np.asarray(labels, dtype=np.int64).reshape(-1))
            if len(pl) != len(pc):
                raise ValueError(f"{len(pc)} points but {len(pl)} labels")
        if box is not None:
            bx = np.asarray(box, dtype=np.float64).reshape(4)
        if pc is None and bx is None:
            raise ValueError("give at least one point or a box")
        if multimask is None:
            multimask = bx is None and pc is not None and len(pc) == 1
        with torch.inference_mode():
            masks, scores, _ = self.predictor.predict(
                point_coords=pc, point_labels=pl, box=bx, multimask_output=multimask)
        best = int(np.argmax(scores))
        return np.asarray(masks[best], dtype=bool), float(scores[best])

    def automatic_masks(self, params: AmgParams | None = None, *, method: str = "fast",
                        progress: ProgressFn | None = None) -> Proposals:
        return generate_proposals(self, params, method=method, progress=progress)


# --------------------------------------------------------------------------------------------
# Prior through the cache
# --------------------------------------------------------------------------------------------

class _Default:
    def __repr__(self) -> str:
        return "<user cache>"


DEFAULT_CACHE: Any = _Default()


def default_cache() -> DiskCache:
    """The user's SAM cache (``<cache dir>/sam``: embeddings, proposals, priors)."""
    return DiskCache(CACHE_NAMESPACE)


@dataclass
class SamPrior:
    """What :func:`sam_prior` returns."""

    prior: Prior
    proposals: Proposals | None       # None when the prior came straight from the cache
    provenance: dict[str, Any]


def sam_prior(image: np.ndarray, checkpoint: str | os.PathLike[str], *,
              params: AmgParams | None = None, device: str | torch.device | None = "auto",
              cache: DiskCache | None | Any = DEFAULT_CACHE, a_min: float | None = None,
              opening: int = DEFAULT_OPENING, progress: ProgressFn | None = None,
              keep_proposals: bool = False) -> SamPrior:
    """SAM proposals -> prior, through the disk cache (see :func:`compute_prior`)."""
    t0 = time.perf_counter()
    params = params or AmgParams()
    if cache is DEFAULT_CACHE:
        cache = default_cache()
    img = to_rgb_uint8(image)
    hh, ww = img.shape[:2]
    a_min_v = float(a_min) if a_min is not None else math.sqrt(hh * ww) / 4.0
    ckpt = Path(checkpoint).expanduser()
    if not ckpt.is_file():
        read_state_dict(ckpt)  # raises the standard message
    img_hash = hash_array(img)
    ckpt_sha = checkpoint_sha256(ckpt, cache)
    prop_key = make_key("sam-proposals/v1", img_hash, ckpt_sha, params.result_params())
    prior_key = make_key("sam-prior/v1", prop_key, a_min_v, int(opening))
    prov: dict[str, Any] = {
        "source": "sam",
        "checkpoint": {"path": str(ckpt), "sha256": ckpt_sha},
        "generator": params.result_params(),
        "image_sha256": img_hash,
    }
    if cache is not None and not keep_proposals:
        got = cache.get_arrays(prior_key)
        if got is not None:
            try:
                prior = prior_from_arrays(got)
                extra = _cached_meta(got)
                prov["checkpoint"].update(extra.get("checkpoint", {}))
                prov.update({"cache": "prior", "seconds": time.perf_counter() - t0})
                prov.update(prior.to_json())
                return SamPrior(prior=prior, proposals=None, provenance=prov)
            except (KeyError, ValueError, TypeError) as exc:
                log.warning("corrupt cached prior dropped (%s)", exc)
                cache.delete(prior_key)

    proposals = None
    cache_hit = None
    variant_info: dict[str, Any] = {}
    if cache is not None:
        got = cache.get_arrays(prop_key)
        if got is not None:
            try:
                proposals = Proposals.from_arrays(got)
                variant_info = _cached_meta(got).get("checkpoint", {})
                cache_hit = "proposals"
            except (KeyError, ValueError) as exc:
                log.warning("corrupt cached proposals dropped (%s)", exc)
                cache.delete(prop_key)
    timings: dict[str, float] = {}
    if proposals is None:
        sam = load_sam(ckpt, device)
        sam._sha256 = ckpt_sha
        variant_info = {"variant": sam.arch.variant, "architecture": sam.arch.describe()}
        session = SamSession(sam, img, cache=cache, image_hash=img_hash)
        proposals = generate_proposals(session, params, progress=progress)
        timings = {"embedding_s": session.embedding_seconds, **proposals.timings}
        prov["device"] = str(sam.device)
        if cache is not None:
            cache.put_arrays(prop_key, **proposals.to_arrays(), **_meta_array(
                {"checkpoint": variant_info}))
    prov["checkpoint"].update(variant_info)
    prior = aggregate_proposals(proposals.masks, a_min=a_min_v, opening=opening,
                                scores=proposals.scores, stability=proposals.stability)
    if cache is not None:
        cache.put_arrays(prior_key, **prior_to_arrays(prior),
                         **_meta_array({"checkpoint": variant_info}))
    prov.update({"cache": cache_hit, "seconds": time.perf_counter() - t0, "timings": timings,
                 "n_proposals": len(proposals)})
    prov.update(prior.to_json())
    return SamPrior(prior=prior, proposals=proposals, provenance=prov)


def _meta_array(d: dict[str, Any]) -> dict[str, np.ndarray]:
    import json

    return {"extra": np.frombuffer(json.dumps(d).encode(), dtype=np.uint8)}


def _cached_meta(arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    import json

    if "extra" not in arrays:
        return {}
    return json.loads(np.asarray(arrays["extra"]).tobytes().decode())


class PriorResult(NamedTuple):
    """``(object_map, provenance)``; also readable as ``.object_map`` / ``.to_json()``."""

    object_map: np.ndarray
    provenance: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return dict(self.provenance)


def compute_prior(image: np.ndarray, checkpoint: str | os.PathLike[str],
                  points_per_side: int = 32, device: str | torch.device | None = "auto",
                  cache: DiskCache | None | Any = DEFAULT_CACHE, *,
                  a_min: float | None = None, opening: int = DEFAULT_OPENING,
                  params: AmgParams | None = None, progress: ProgressFn | None = None,
                  ) -> PriorResult:
    """The SAM prior of an image: ``(object_map, provenance)`` (a :class:`PriorResult`).

    ``object_map`` is (H, W) int32, 0 = uncertain, objects 1..M. ``provenance`` is a JSON-ready
    dict: checkpoint (path, sha256, variant), generator parameters, aggregation parameters
    (a_min, opening), per-object provenance (``objects``), ``cache`` (``"prior"`` /
    ``"proposals"`` / None: what came from the disk cache) and ``seconds``.

    ``cache`` defaults to the user's cache folder; pass a :class:`DiskCache` to use another,
    or None to bypass it. ``params`` overrides every generator parameter (then
    ``points_per_side`` is ignored). Raises :class:`SamCheckpointError` for a bad checkpoint.
    """
    if params is None:
        params = AmgParams(points_per_side=int(points_per_side))
    res = sam_prior(image, checkpoint, params=params, device=device, cache=cache, a_min=a_min,
                    opening=opening, progress=progress)
    return PriorResult(res.prior.object_map, res.provenance)
