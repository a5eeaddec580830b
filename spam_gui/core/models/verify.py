"""Checking a model file of a given kind (encoder, SAM, DINO) without building the model.

It loads the file with the loader of its kind, so it sits above the engine, the prior and the
saliency packages. No torch at import time.
"""

from __future__ import annotations

import os
from pathlib import Path

from spam_gui.core.errors import CheckpointKind


def validate_checkpoint(kind: CheckpointKind, path: str | os.PathLike[str]) -> str:
    """Check a model file of ``kind`` (``"encoder"``, ``"sam"`` or ``"dino"``) without building
    the model; returns a short description (e.g. ``"SAM vit_b (sam_vit_b_01ec64.pth)"``).

    Raises :class:`~spam_gui.core.errors.CheckpointError` naming the file when it is missing,
    truncated, corrupt, holds Python objects besides tensors, or holds a model of another kind.
    """
    p = Path(path).expanduser()
    if kind == "encoder":
        from spam_gui.core.engine.encoder import load_encoder

        _, info = load_encoder(p)
        return f"SPAM encoder D={info.feature_dim} ({p.name})"
    if kind == "sam":
        from spam_gui.core.prior import sam as sam_mod

        sd = sam_mod.read_state_dict(p)
        arch = sam_mod.detect_architecture(sd, str(p))
        return f"SAM {arch.describe()} ({p.name})"
    if kind == "dino":
        from spam_gui.core import saliency as sal

        sd, heads = sal.load_vit_state_dict(p)
        cfg = sal.infer_vit_config(sd, p, heads)
        return f"{cfg.display_name} ({p.name})"
    raise ValueError(f"unknown checkpoint kind {kind!r} (use encoder, sam or dino)")
