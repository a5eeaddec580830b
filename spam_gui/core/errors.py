"""User-facing errors of SPAM Studio, one wording for bad model files, and the exit codes.

* :class:`SpamError` is the base of every problem the user can fix (a bad input, a bad
  checkpoint). It derives from :class:`ValueError`, so code that catches ``ValueError`` keeps
  working.
* :class:`CheckpointError` is a model or checkpoint file that cannot be used. The encoder's
  :class:`~spam_gui.core.engine.encoder.EncoderLoadError`, SAM's
  :class:`~spam_gui.core.prior.sam.SamCheckpointError` and DINO's
  :class:`~spam_gui.core.saliency.DinoCheckpointError` derive from it. Their messages are worded
  by :func:`checkpoint_message`: ``"<path>: not a valid <kind> (<reason>)."``, in our words,
  never PyTorch's own text (which advises turning off ``weights_only``).
* :func:`spam_gui.core.models.verify.validate_checkpoint` checks a file of a given kind
  without building the model.
* :data:`EXIT_FAILURE` / :data:`EXIT_USAGE`: the ``spam`` commands' exit codes.

No torch at import time.
"""

from __future__ import annotations

import os
import re
from typing import Literal

__all__ = [
    "CHECKPOINT_KINDS",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CheckpointError",
    "DeviceError",
    "SpamError",
    "checkpoint_message",
    "guess_model_kind",
    "missing_checkpoint_message",
    "other_kind_reason",
    "load_failure_reason",
    "torch_load_tensors",
]

EXIT_OK = 0
EXIT_FAILURE = 1
"""A processing failure: one or more images (or the run itself) failed while being computed."""
EXIT_USAGE = 2
"""Bad input, caught before any work: wrong arguments, a missing input path, an unusable output
folder, a bad encoder or checkpoint file."""
EXIT_INTERRUPTED = 130
"""Interrupted by Ctrl+C."""

CheckpointKind = Literal["encoder", "sam", "dino", "training"]

CHECKPOINT_KINDS: dict[str, str] = {
    "encoder": "SPAM encoder weight file",
    "sam": "SAM checkpoint",
    "dino": "DINO (ViT) checkpoint",
    "training": "SPAM training checkpoint",
}
"""The kinds of model file, and how messages name them."""


class SpamError(ValueError):
    """A problem the user can fix; the message names the file (or argument) and the problem."""


class CheckpointError(SpamError):
    """A model or checkpoint file cannot be used; the message names the file and the problem."""


class DeviceError(SpamError):
    """A device name that is not a device, or names one not available here (see
    :func:`spam_gui.core.devices.resolve_device`); the message names it and the choices."""


def _sentence(text: str) -> str:
    text = text.rstrip()
    return text if text.endswith((".", "!", "?")) else text + "."


def checkpoint_message(path: str | os.PathLike[str], kind: str, reason: str) -> str:
    """The one wording of a bad model file: ``"<path>: not a valid <kind> (<reason>)."``.

    ``kind`` is a key of :data:`CHECKPOINT_KINDS` (or a free label); ``reason`` is in our words.
    """
    label = CHECKPOINT_KINDS.get(kind, kind)
    return _sentence(f"{path}: not a valid {label} ({reason})")


def missing_checkpoint_message(path: str | os.PathLike[str], kind: str, hint: str = "") -> str:
    """The wording of a model file that is not there: ``"<path>: no such <kind> file."``."""
    label = CHECKPOINT_KINDS.get(kind, kind)
    label = label if label.endswith("file") else label + " file"
    return _sentence(f"{path}: no such {label}" + (f" ({hint})" if hint else ""))


_GLOBAL_RE = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")


def load_failure_reason(exc: BaseException, head: bytes = b"") -> str:
    """Why ``torch.load(..., weights_only=True)`` (or a safetensors reader) failed, in our words.

    Never repeats the library's text: PyTorch's paragraph suggests re-running with
    ``weights_only=False``, which would execute code from the file. ``head`` is the file's first
    bytes, to tell a truncated zip/pickle from something that is not a checkpoint at all.
    """
    text = str(exc)
    found = _GLOBAL_RE.search(text)
    if found or "weights_only" in text.lower() or "weights only" in text.lower():
        what = f" (of type {found.group(1)})" if found else ""
        return (f"it holds Python objects{what} besides tensors, which are never loaded "
                "because loading them could run code from the file")
    if head[:2] == b"PK" or head[:1] == b"\x80":
        return "truncated or corrupt file"
    if len(head) >= 9 and head[8:9] == b"{":
        return "truncated or corrupt safetensors file"
    return "unrecognised content: not a PyTorch or safetensors file, or a corrupt one"


def torch_load_tensors(f: object, map_location: object = "cpu", **kwargs: object) -> object:
    """``torch.load(f, weights_only=True)``, PyTorch's own warnings kept off the console (its
    "pickle protocol ... please file an issue" note for a file written with another pickle
    protocol): what goes wrong is worded by :func:`load_failure_reason`."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.load(f, map_location=map_location, weights_only=True, **kwargs)


def guess_model_kind(obj: object) -> str | None:
    """Which kind of model file a loaded object looks like (a key of :data:`CHECKPOINT_KINDS`),
    from its top-level keys (looking one level into ``model`` / ``state_dict`` wrappers); None
    when it looks like none of them."""
    if not isinstance(obj, dict):
        return None
    if obj.get("format") == "spam-encoder":
        return "encoder"
    if obj.get("format") == "spam-training-checkpoint" or {"optimizer", "rng_torch"} <= set(obj):
        return "training"
    dicts = [obj] + [v for k, v in obj.items()
                     if k in ("model", "state_dict", "teacher", "student") and isinstance(v, dict)]
    for d in dicts:
        keys = [k for k in list(d)[:5000] if isinstance(k, str)]
        if any(k.startswith(("image_encoder.", "mask_decoder.")) for k in keys):
            return "sam"
        if any(k in ("cls_token", "pos_embed") or k.endswith("blocks.0.attn.qkv.weight")
               for k in keys):
            return "dino"
    return None


def other_kind_reason(found: str) -> str:
    """The reason for :func:`checkpoint_message` when a file holds a model of another kind."""
    return f"it holds a model of another kind: a {CHECKPOINT_KINDS.get(found, found)}"
