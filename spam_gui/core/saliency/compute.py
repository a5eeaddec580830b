"""The saliency entry point: :func:`compute_saliency` / :func:`compute_saliency_info` pick DINO
or the built-in method and go through the disk cache (namespace ``"saliency"``), keyed by the
image content, the checkpoint's sha256 and the method's parameters, so asking twice for the
same map costs a file read.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spam_gui.core.io.cache import DiskCache, hash_array, hash_file_cached, make_key
from spam_gui.core.errors import missing_checkpoint_message
from spam_gui.core.io.images import to_rgb_uint8
from spam_gui.core.saliency.builtin import (BUILTIN_DESCRIPTION, BUILTIN_METHOD, BUILTIN_PARAMS,
                                            builtin_saliency)
from spam_gui.core.saliency.dino import (DEFAULT_MAX_SIDE, DEFAULT_MIN_SIDE, DinoCheckpointError,
                                         checkpoint_error, get_dino)

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["CACHE_NAMESPACE", "SALIENCY_VERSION", "SaliencyResult", "compute_saliency",
           "compute_saliency_info", "saliency_to_uint8"]

CACHE_NAMESPACE = "saliency"
SALIENCY_VERSION = 1
"""Bump when the maps a method produces change; older cache entries are then ignored."""


@dataclass
class SaliencyResult:
    """A saliency map and how it was made."""

    saliency: np.ndarray  # (H, W) float32 in [0, 1]
    method: str  # e.g. "dino-vits16" or BUILTIN_METHOD
    info: dict[str, Any] = field(default_factory=dict)  # for sidecars: checkpoint, params, …
    from_cache: bool = False


def saliency_to_uint8(saliency: np.ndarray) -> np.ndarray:
    """A [0, 1] map as (H, W) uint8 0..255 (for 8-bit PNGs)."""
    return np.clip(np.rint(np.asarray(saliency, np.float64) * 255.0), 0, 255).astype(np.uint8)


def _resolve_cache(cache: DiskCache | bool | None) -> DiskCache | None:
    if cache is None or cache is True:
        return DiskCache(CACHE_NAMESPACE)
    if cache is False:
        return None
    return cache


def compute_saliency_info(image: np.ndarray, dino_checkpoint: str | os.PathLike[str] | None = None,
                          device: "str | torch.device" = "auto",
                          cache: DiskCache | bool | None = None,
                          max_side: int = DEFAULT_MAX_SIDE,
                          min_side: int = DEFAULT_MIN_SIDE) -> SaliencyResult:
    """:func:`compute_saliency`, returning a :class:`SaliencyResult` with sidecar details."""
    rgb = to_rgb_uint8(image)
    h, w = rgb.shape[:2]
    store = _resolve_cache(cache)
    image_sha = hash_array(rgb)
    if dino_checkpoint is not None and str(dino_checkpoint).strip():
        p = Path(dino_checkpoint)
        if not p.is_file():
            raise (DinoCheckpointError(missing_checkpoint_message(p, "dino")) if not p.is_dir()
                   else checkpoint_error(p, "it is a folder, not a file"))
        ckpt_sha = hash_file_cached(p)
        params = {"max_side": int(max_side), "min_side": int(min(min_side, max_side))}
        key = make_key("saliency", SALIENCY_VERSION, "dino", image_sha, ckpt_sha, params)
        info_base = {"checkpoint": p.name, "checkpoint_sha256": ckpt_sha, "params": params}
    else:
        p = None
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in BUILTIN_PARAMS.items()}
        key = make_key("saliency", SALIENCY_VERSION, BUILTIN_METHOD, image_sha, params)
        info_base = {"checkpoint": None, "checkpoint_sha256": None, "params": params}

    if store is not None:
        hit = store.get_arrays(key, required=("saliency", "info"),
                               check=lambda a: _check_saliency_entry(a, h, w),
                               max_bytes=h * w * 8 + 16 * 1024**2)
        if hit is not None:
            try:
                info = json.loads(str(hit["info"]))
                method = str(info["method"])
            except (KeyError, ValueError, TypeError):
                info = None
            if info is not None:
                sal = np.clip(hit["saliency"].astype(np.float32), 0.0, 1.0)
                return SaliencyResult(sal, method, info, from_cache=True)

    if p is not None:
        dino = get_dino(p, device, max_side=max_side, min_side=min_side)
        sal = dino(rgb)
        method = dino.method_name
        info = {"method": method, "model": dino.config.display_name,
                "description": f"DINO {dino.config.display_name}: last-layer [CLS] attention, "
                               "mean over heads",
                **info_base,
                "params": {**info_base["params"], "num_heads": dino.config.num_heads}}
    else:
        sal = builtin_saliency(rgb)
        method = BUILTIN_METHOD
        info = {"method": method, "model": None, "description": BUILTIN_DESCRIPTION, **info_base}
    sal = np.ascontiguousarray(sal, dtype=np.float32)
    if store is not None:
        store.put_arrays(key, saliency=sal, info=np.array(json.dumps(info)))
    return SaliencyResult(sal, method, info, from_cache=False)


def compute_saliency(image: np.ndarray, dino_checkpoint: str | os.PathLike[str] | None = None,
                     device: "str | torch.device" = "auto",
                     cache: DiskCache | bool | None = None) -> tuple[np.ndarray, str]:
    """Saliency map of an image: ``(map, method_name)``.

    Parameters
    ----------
    image:
        (H, W, 3) uint8 RGB (grey, RGBA and float images are converted).
    dino_checkpoint:
        A local DINO / timm ViT checkpoint; None (or "") uses the built-in
        :data:`BUILTIN_METHOD`, which needs no weights.
    device:
        For DINO: ``"auto"``, ``"cpu"``, ``"cuda"``…
    cache:
        None or True: the default disk cache (namespace ``"saliency"``); a
        :class:`~spam_gui.core.io.cache.DiskCache` to use another; False: no cache.

    Returns
    -------
    (saliency, method):
        ``saliency`` (H, W) float32 in [0, 1]; ``method`` e.g. ``"dino-vits16"`` or
        ``"builtin-bms-sr"``. Raises :class:`CheckpointError` naming the file when
        the checkpoint is missing, corrupt or not a ViT.
    """
    res = compute_saliency_info(image, dino_checkpoint=dino_checkpoint, device=device, cache=cache)
    return res.saliency, res.method


def _check_saliency_entry(a: dict[str, np.ndarray], h: int, w: int) -> None:
    """A cached saliency map: (h, w) finite numbers and a JSON description naming its method,
    else ``ValueError`` naming the problem (the entry is then recomputed)."""
    from spam_gui.core.io.cache import check_map

    check_map(a, "saliency", (h, w), "float")
    info = a["info"]
    if info.ndim != 0 or info.dtype.kind != "U":
        raise ValueError("info is not a JSON text")
    d = json.loads(str(info))
    if not isinstance(d, dict) or not isinstance(d.get("method"), str):
        raise ValueError("info names no method")
