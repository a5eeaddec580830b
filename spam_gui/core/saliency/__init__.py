"""Saliency maps for the visual-attention (VA) mode (docs/algorithm.md §6, paper §3.3).

One job per module:

* :mod:`~spam_gui.core.saliency.dino`: the paper's method, a self-supervised ViT (DINO) read
  from a local checkpoint (:func:`load_vit_state_dict`, :func:`infer_vit_config`,
  :class:`DinoCheckpointError`) and its [CLS] attention map (:class:`DinoSaliency`,
  :func:`get_dino`). Nothing is ever downloaded.
* :mod:`~spam_gui.core.saliency.builtin`: the weight-free fallback :data:`BUILTIN_METHOD`
  (boolean maps + spectral residual, numpy / OpenCV only).
* :mod:`~spam_gui.core.saliency.compute`: the single entry point :func:`compute_saliency` /
  :func:`compute_saliency_info`, which picks the method and goes through the disk cache.

This package gathers its modules' public names (``from spam_gui.core.saliency import
compute_saliency``). torch and timm are imported only when a DINO checkpoint is
used.
"""

from __future__ import annotations

from spam_gui.core.saliency.builtin import (BUILTIN_DESCRIPTION, BUILTIN_METHOD, BUILTIN_PARAMS,
                                            builtin_saliency)
from spam_gui.core.saliency.compute import (CACHE_NAMESPACE, SALIENCY_VERSION, SaliencyResult,
                                            compute_saliency, compute_saliency_info,
                                            saliency_to_uint8)
from spam_gui.core.saliency.dino import (
    DEFAULT_MAX_SIDE, DEFAULT_MIN_SIDE, IMAGENET_MEAN, IMAGENET_STD, CheckpointError,
    DinoCheckpointError, DinoSaliency, VitConfig, build_vit, cls_attention, default_dino_checkpoint,
    get_dino, infer_vit_config, load_vit_state_dict,
)

__all__ = [
    "BUILTIN_DESCRIPTION",
    "BUILTIN_METHOD",
    "BUILTIN_PARAMS",
    "CACHE_NAMESPACE",
    "DEFAULT_MAX_SIDE",
    "DEFAULT_MIN_SIDE",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SALIENCY_VERSION",
    "CheckpointError",
    "DinoCheckpointError",
    "DinoSaliency",
    "SaliencyResult",
    "VitConfig",
    "build_vit",
    "builtin_saliency",
    "cls_attention",
    "compute_saliency",
    "compute_saliency_info",
    "default_dino_checkpoint",
    "get_dino",
    "infer_vit_config",
    "load_vit_state_dict",
    "saliency_to_uint8",
]
