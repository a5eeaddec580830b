"""The environment variables SPAM Studio reads, named once.

========================  ====================================================================
``SPAM_SAM_CHECKPOINT``   a local SAM checkpoint (``sam_vit_*.pth``) for the automatic prior
``SPAM_DINO_CHECKPOINT``  a local DINO ViT checkpoint for visual-attention saliency
``SPAM_CACHE_DIR``        the on-disk cache root (default: the platform's user cache folder)
``SPAM_DATA_DIR``         the per-user data folder (default: the platform's user data folder)
========================  ====================================================================

Each is used only when the user has not chosen otherwise (a command-line option, a Preferences
entry). No torch, no Qt.
"""

from __future__ import annotations

import os

__all__ = ["ENV_CACHE_DIR", "ENV_DATA_DIR", "ENV_DINO_CHECKPOINT", "ENV_SAM_CHECKPOINT",
           "env_value"]

ENV_SAM_CHECKPOINT = "SPAM_SAM_CHECKPOINT"
ENV_DINO_CHECKPOINT = "SPAM_DINO_CHECKPOINT"
ENV_CACHE_DIR = "SPAM_CACHE_DIR"
ENV_DATA_DIR = "SPAM_DATA_DIR"


def env_value(name: str) -> str | None:
    """The variable ``name`` with surrounding blanks removed; None when unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or None
