"""Segment Anything (SAM) from a local checkpoint: automatic mask proposals, click prompts, and a
cached prior object map (docs/algorithm.md §5, paper §3.2).

One job per module:

* :mod:`~spam_gui.core.prior.sam.checkpoint`: read and validate a checkpoint
  (:func:`read_state_dict`, :func:`detect_architecture`, :class:`SamCheckpointError`) and load
  the model (:func:`load_sam` -> :class:`LoadedSam`). Nothing is ever downloaded.
* :mod:`~spam_gui.core.prior.sam.generator`: the fast automatic mask generator
  (:func:`generate_proposals`, :class:`AmgParams` -> :class:`Proposals`).
* :mod:`~spam_gui.core.prior.sam.reference`: ``segment_anything.SamAutomaticMaskGenerator`` itself,
  the oracle the tests check the fast generator against.
* :mod:`~spam_gui.core.prior.sam.session`: one image's embedding and its prompts
  (:class:`SamSession`).
* :mod:`~spam_gui.core.prior.sam.prior`: proposals -> prior through the disk cache, the one prior
  entry point (:func:`sam_prior` -> :class:`SamPrior`).

This package gathers its modules' public names (``from spam_gui.core.prior.sam import
load_sam``). No Qt here.
"""

from __future__ import annotations

from spam_gui.core.prior.sam.checkpoint import (
    OFFICIAL_CHECKPOINTS, VARIANTS, LoadedSam, SamArchitecture, SamCheckpointError, build_sam,
    detect_architecture, load_sam, read_state_dict,
)
from spam_gui.core.prior.sam.proposals import AmgParams, ProgressFn, Proposals
from spam_gui.core.prior.sam.generator import generate_proposals
from spam_gui.core.prior.sam.prior import (
    CACHE_NAMESPACE, DEFAULT_CACHE, SamPrior, default_cache, sam_prior,
)
from spam_gui.core.prior.sam.session import SamSession

__all__ = [
    "CACHE_NAMESPACE",
    "DEFAULT_CACHE",
    "OFFICIAL_CHECKPOINTS",
    "VARIANTS",
    "AmgParams",
    "LoadedSam",
    "ProgressFn",
    "Proposals",
    "SamArchitecture",
    "SamCheckpointError",
    "SamPrior",
    "SamSession",
    "build_sam",
    "default_cache",
    "detect_architecture",
    "generate_proposals",
    "load_sam",
    "read_state_dict",
    "sam_prior",
]
