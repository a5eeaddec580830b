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
from pathlib import Path

__all__ = ["ENV_CACHE_DIR", "ENV_DATA_DIR", "ENV_DINO_CHECKPOINT", "ENV_SAM_CHECKPOINT",
           "env_value", "user_data_dir"]

ENV_SAM_CHECKPOINT = "SPAM_SAM_CHECKPOINT"
ENV_DINO_CHECKPOINT = "SPAM_DINO_CHECKPOINT"
ENV_CACHE_DIR = "SPAM_CACHE_DIR"
ENV_DATA_DIR = "SPAM_DATA_DIR"


def env_value(name: str) -> str | None:
    """The variable ``name`` with surrounding blanks removed; None when unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or None


def user_data_dir() -> Path:
    """SPAM Studio's per-user data folder (``$SPAM_DATA_DIR`` or the platform's default)."""
    env = os.environ.get(ENV_DATA_DIR, "").strip()
    if env:
        return Path(env).expanduser()
    try:
        from platformdirs import user_data_path

        return user_data_path("spam-studio", appauthor=False)
    except ImportError:  # pragma: no cover - platformdirs is a dependency
        base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
        return Path(base) / "spam-studio"
