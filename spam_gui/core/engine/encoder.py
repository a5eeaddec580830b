"""The SSN-architecture CNN encoder (Jampani et al., ECCV 2018) and its weight files.

Architecture (docs/algorithm.md §2): 2 x (3x3 conv 64, BN, ReLU); max-pool 3/2/1; 2 x (conv 64, BN, ReLU);
max-pool 3/2/1; 2 x (conv 64, BN, ReLU); scales 2 and 3 upsampled bilinearly to full size;
concatenate [input, scale 1, scale 2, scale 3]; 3x3 conv to ``D - 5`` channels + ReLU.

Departure from SSN, on purpose: the input is the image's colour only (``lambda_c * Lab``), never
K-scaled positions, so the deep features do not depend on K, lambda or ratios and are computed
once per image.

Weight files are ``torch.save`` dictionaries::

    {"format": "spam-encoder", "version": 1, "arch": "ssn-v1", "feature_dim": D,
     "in_channels": 3, "lambda_c": <λc>, "state_dict": {...}, "meta": {...}}
"""

from __future__ import annotations

import copy
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spam_gui.core.errors import torch_load_tensors
from spam_gui.core.errors import (CheckpointError, checkpoint_message, guess_model_kind,
                                  load_failure_reason, missing_checkpoint_message,
                                  other_kind_reason)
from spam_gui.core.params import DEFAULTS

FORMAT = "spam-encoder"
FORMAT_VERSION = 1
ARCH = "ssn-v1"
N_BASE_FEATURES = 5  # 3 colour + 2 position channels
OUTPUT_INIT_SCALE = 0.01


class EncoderLoadError(CheckpointError):
    """A weight file is missing, corrupt or not a SPAM encoder; the message names the file.

    A :class:`spam_gui.core.errors.CheckpointError` (hence a ``ValueError``)."""


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class SSNEncoder(nn.Module):
    """SSN's feature extractor, producing ``feature_dim - 5`` deep channels per pixel.

    Parameters
    ----------
    feature_dim:
        D, the total clustering feature dimension (deep + 3 colour + 2 position); D > 5.
    in_channels:
        Channels of the network input (3: ``lambda_c * Lab``).
    width:
        Channels of the hidden convolutions (64 in SSN).
    """

    def __init__(self, feature_dim: int = 20, in_channels: int = 3, width: int = 64) -> None:
        super().__init__()
        if feature_dim <= N_BASE_FEATURES:
            raise ValueError(f"an encoder needs feature_dim > {N_BASE_FEATURES}, got {feature_dim}")
        self.feature_dim = int(feature_dim)
        self.in_channels = int(in_channels)
        self.width = int(width)
        self.scale1 = nn.Sequential(_block(in_channels, width), _block(width, width))
        self.scale2 = nn.Sequential(
            nn.MaxPool2d(3, 2, 1), _block(width, width), _block(width, width)
        )
        self.scale3 = nn.Sequential(
            nn.MaxPool2d(3, 2, 1), _block(width, width), _block(width, width)
        )
        self.output = nn.Sequential(
            nn.Conv2d(in_channels + 3 * width, feature_dim - N_BASE_FEATURES, 3, padding=1),
            nn.ReLU(inplace=True),
        )
        # Start with near-zero deep features: the untrained model then clusters like D = 5
        # (colour and position), and training grows the features only where they help.
        # Random features of the default scale would swamp colour and position at the start.
        with torch.no_grad():
            self.output[0].weight.mul_(OUTPUT_INIT_SCALE)
            self.output[0].bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) → (B, D - 5, H, W)."""
        s1 = self.scale1(x)
        s2 = self.scale2(s1)
        s3 = self.scale3(s2)
        size = x.shape[-2:]
        s2u = F.interpolate(s2, size=size, mode="bilinear", align_corners=False)
        s3u = F.interpolate(s3, size=size, mode="bilinear", align_corners=False)
        return self.output(torch.cat([x, s1, s2u, s3u], dim=1))


def fuse_for_inference(model: SSNEncoder) -> nn.Module:
    """A copy of ``model`` in eval mode with every conv + BN pair fused into one conv."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    fused = copy.deepcopy(model).eval()
    for stage in (fused.scale1, fused.scale2, fused.scale3):
        for i, blk in enumerate(stage):
            if isinstance(blk, nn.Sequential) and len(blk) == 3 and isinstance(blk[1], nn.BatchNorm2d):
                stage[i] = nn.Sequential(fuse_conv_bn_eval(blk[0], blk[1]), blk[2])
    return fused


@dataclass
class EncoderInfo:
    """What a weight file says about itself."""

    path: str | None
    sha256: str | None
    feature_dim: int
    in_channels: int
    lambda_c: float
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return Path(self.path).name if self.path else "untrained"


def save_encoder(path: str | os.PathLike[str], model: SSNEncoder, lambda_c: float = DEFAULTS.lambda_c,
                 meta: dict[str, Any] | None = None) -> Path:
    """Save ``model`` with its metadata to ``path`` (atomic: temporary file, then rename)."""
    from spam_gui.core.io.images import atomic_write_bytes
    import io

    payload = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "arch": ARCH,
        "feature_dim": model.feature_dim,
        "in_channels": model.in_channels,
        "width": model.width,
        "lambda_c": float(lambda_c),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "meta": dict(meta or {}),
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_encoder(path: str | os.PathLike[str]) -> tuple[SSNEncoder, EncoderInfo]:
    """Load an encoder weight file written by :func:`save_encoder`.

    Raises :class:`EncoderLoadError` naming the file when it is missing, truncated, not a
    PyTorch file, a checkpoint of another model (e.g. SAM or DINO), or inconsistent.
    """
    p = Path(path)

    def fail(reason: str) -> EncoderLoadError:
        return EncoderLoadError(checkpoint_message(p, "encoder", reason))

    if not p.is_file():
        if not p.exists():
            raise EncoderLoadError(missing_checkpoint_message(p, "encoder"))
        raise fail("not a file")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise fail(f"cannot be read: {exc.strerror or exc}") from None
    if not raw:
        raise fail("the file is empty")
    sha = hashlib.sha256(raw).hexdigest()
    import io

    try:
        obj = torch_load_tensors(io.BytesIO(raw), map_location="cpu")
    except Exception as exc:  # noqa: BLE001  (torch.load raises many types on a bad file)
        # never torch's own text: it advises loading with weights_only=False
        raise fail(load_failure_reason(exc, raw[:16])) from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        found = guess_model_kind(obj)
        if found is not None and found != "encoder":
            raise fail(other_kind_reason(found))
        if isinstance(obj, dict):
            keys = ", ".join(str(k) for k in list(obj)[:3]) or "none"
            raise fail(f"no 'format': 'spam-encoder' entry; its first keys are {keys}")
        raise fail(f"it holds a {type(obj).__name__}, not a dictionary")
    if obj.get("arch") != ARCH or int(obj.get("version", 0)) > FORMAT_VERSION:
        raise fail(f"architecture {obj.get('arch')!r} version {obj.get('version')} is not "
                   f"supported by this program, which reads {ARCH} up to version {FORMAT_VERSION}")
    try:
        model = SSNEncoder(int(obj["feature_dim"]), int(obj.get("in_channels", 3)),
                           int(obj.get("width", 64)))
        model.load_state_dict(obj["state_dict"], strict=True)
    except KeyError as exc:
        raise fail("its weights do not match the declared architecture: the entry "
                   f"{exc.args[0]!r} is missing") from None
    except (RuntimeError, ValueError, TypeError, AttributeError):
        want = set(SSNEncoder(int(obj["feature_dim"])).state_dict()) if isinstance(
            obj.get("feature_dim"), int) and obj["feature_dim"] > N_BASE_FEATURES else set()
        have = set(obj["state_dict"]) if isinstance(obj.get("state_dict"), dict) else set()
        detail = (f"; {len(want - have)} tensors missing, {len(have - want)} unexpected"
                  if want and want != have else "")
        raise fail(f"its weights do not match the declared architecture{detail}") from None
    model.eval()
    info = EncoderInfo(
        path=str(p),
        sha256=sha,
        feature_dim=model.feature_dim,
        in_channels=model.in_channels,
        lambda_c=float(obj.get("lambda_c", DEFAULTS.lambda_c)),
        meta=dict(obj.get("meta", {})),
    )
    return model, info


def encoder_input(lab: np.ndarray | torch.Tensor, lambda_c: float) -> torch.Tensor:
    """(H, W, 3) Lab → (1, 3, H, W) float32 network input ``lambda_c * Lab``."""
    t = torch.as_tensor(np.ascontiguousarray(lab) if isinstance(lab, np.ndarray) else lab)
    return (t.float() * float(lambda_c)).permute(2, 0, 1).unsqueeze(0).contiguous()


class InferenceEncoder:
    """An encoder prepared for fast inference: BN fused, eval mode, channels-last on CPU.

    Call it on an (H, W, 3) Lab array; it returns (H, W, D - 5) float32 features on ``device``.

    On the CPU (with numba) the output layer is computed without its full-resolution input:
    the 3 x 3 convolution over ``[x, s1, up(s2), up(s3)]`` is the sum of a convolution of
    ``x`` and one of ``s1`` at full resolution, and, for each of scales 2 and 3, the products
    of the low-resolution map with the nine taps' weights (a 1 x 1 convolution with
    ``9 (D - 5)`` outputs), upsampled, shifted and added by
    :func:`spam_gui.core.engine.cluster_kernels.add_upsampled_taps`. Neither the (H, W, 195)
    concatenation nor the two upsampled (H, W, 64) maps are ever built; the result equals
    :meth:`SSNEncoder.forward` up to float rounding.
    """

    def __init__(self, model: SSNEncoder, info: EncoderInfo, device: torch.device) -> None:
        self.info = info
        self.device = device
        self.feature_dim = model.feature_dim
        net = fuse_for_inference(model).to(device)
        if device.type == "cpu":
            net = net.to(memory_format=torch.channels_last)
        self.net = net
        self._split: tuple[torch.Tensor, ...] | None = None
        from spam_gui.core.engine.compiled import kernels

        if device.type == "cpu" and kernels() is not None:
            conv = net.output[0]
            weight, c_in, width = conv.weight.detach(), model.in_channels, model.width
            n_out = weight.shape[0]

            def taps(w: torch.Tensor) -> torch.Tensor:
                # (out, width, 3, 3) -> (width, 9 out), output index (dy, dx, out)
                return w.permute(2, 3, 0, 1).reshape(9 * n_out, width).t().contiguous()

            self._split = (
                weight[:, :c_in].contiguous(),
                weight[:, c_in:c_in + width].contiguous(),
                taps(weight[:, c_in + width:c_in + 2 * width]),
                taps(weight[:, c_in + 2 * width:]),
                conv.bias.detach().clone(),
            )

    @torch.inference_mode()
    def __call__(self, lab: np.ndarray, check: Callable[[], None] | None = None) -> torch.Tensor:
        """The (H, W, D) features of a Lab image; ``check`` is called between the network's
        scales (what it raises stops the pass: cancellation)."""
        x = encoder_input(lab, self.info.lambda_c).to(self.device)
        if self.device.type == "cpu":
            x = x.contiguous(memory_format=torch.channels_last)
        if self._split is not None:
            return self._forward_split(x, check or (lambda: None))
        y = self.net(x)
        return y[0].permute(1, 2, 0).contiguous().float()

    def _forward_split(self, x: torch.Tensor, check: Callable[[], None]) -> torch.Tensor:
        """The forward pass with the output layer split by input (see the class notes)."""
        from spam_gui.core.engine.cluster_kernels import add_upsampled_taps
        from spam_gui.core.engine.compiled import worker_pool

        w_x, w_1, w_2, w_3, bias = self._split
        net = self.net
        s1 = net.scale1(x)
        check()
        s2 = net.scale2(s1)
        check()
        s3 = net.scale3(s2)
        check()
        y = F.conv2d(s1, w_1, bias, padding=1)
        y += F.conv2d(x, w_x, padding=1)
        out = y[0].permute(1, 2, 0)                                  # (H, W, D - 5) view
        if not out.is_contiguous():
            out = out.contiguous()
        out_np = out.numpy()
        n_out = out_np.shape[2]
        threads = torch.get_num_threads()
        for s, w in ((s2, w_2), (s3, w_3)):
            h, w_ = s.shape[-2:]
            pix = s[0].permute(1, 2, 0).reshape(h * w_, -1)           # (hw, width), a view
            t = torch.mm(pix, w).numpy().reshape(h, w_, 3, 3, n_out)  # each tap's products
            add_upsampled_taps(t, out_np, worker_pool() if threads > 1 else None, threads)
        return torch.relu_(out)
