"""The SAM prior of an image: automatic mask proposals -> prior object map, through the disk
cache, with its provenance. :func:`sam_prior` is the one entry point (the app and the CLI).

Two cache entries (namespace ``"sam"``): the proposals, keyed by the image content, the
checkpoint's sha256 and the generator's parameters, and the prior, keyed by the proposals' key
and the aggregation parameters, so a second open of the same image with the same checkpoint
and parameters runs no SAM, and other aggregation parameters reuse the proposals.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from spam_gui.core.io.cache import DiskCache, check_map, hash_array, hash_file_cached, make_key
from spam_gui.core.io.images import to_rgb_uint8
from spam_gui.core.prior.maps import (
    DEFAULT_OPENING, Prior, aggregate_proposals, prior_from_arrays, prior_to_arrays,
)
from spam_gui.core.prior.sam.checkpoint import load_sam, read_state_dict
from spam_gui.core.prior.sam.proposals import AmgParams, ProgressFn, Proposals
from spam_gui.core.prior.sam.generator import generate_proposals
from spam_gui.core.prior.sam.session import SamSession

__all__ = ["CACHE_NAMESPACE", "DEFAULT_CACHE", "SamPrior", "default_cache", "sam_prior"]

log = logging.getLogger(__name__)

CACHE_NAMESPACE = "sam"

class _Default:
    """The marker of "the user's cache" (:func:`default_cache`) as a default argument."""

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
    """The SAM prior of an image (a :class:`SamPrior`): proposals -> prior, through the disk cache.

    ``prior.object_map`` is (H, W) int32, 0 = uncertain, objects 1..M. ``provenance`` is a
    JSON-ready dict: ``source`` (``"sam"``), checkpoint (path, sha256, variant), generator
    parameters, ``image_sha256``, aggregation parameters (a_min, opening), per-object provenance
    (``objects``), ``cache`` (``"prior"`` / ``"proposals"`` / None: what came from the disk
    cache), ``seconds`` and, when SAM ran, ``device``, ``timings`` and ``n_proposals``.

    ``params`` defaults to SAM's own generator parameters (:class:`AmgParams`). ``cache``
    defaults to the user's cache folder; pass a :class:`DiskCache` to use another, or None to
    bypass it. ``a_min`` defaults to a quarter of the image's geometric side. ``keep_proposals``
    skips the cached prior so that ``proposals`` is always returned. Raises
    :class:`~spam_gui.core.prior.sam.checkpoint.SamCheckpointError` for a bad checkpoint.
    """
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
    ckpt_sha = hash_file_cached(ckpt, cache)
    prop_key = make_key("sam-proposals/v1", img_hash, ckpt_sha, params.result_params())
    prior_key = make_key("sam-prior/v1", prop_key, a_min_v, int(opening))
    prov: dict[str, Any] = {
        "source": "sam",
        "checkpoint": {"path": str(ckpt), "sha256": ckpt_sha},
        "generator": params.result_params(),
        "image_sha256": img_hash,
    }
    if cache is not None and not keep_proposals:
        got = cache.get_arrays(prior_key, required=("object_map", "meta"),
                               check=lambda a: _check_prior_entry(a, hh, ww),
                               max_bytes=hh * ww * 4 + _META_BYTES)
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
        n_max = _max_proposals(params)
        got = cache.get_arrays(prop_key, required=("bits", "shape", "scores", "stability",
                                                   "points", "boxes"),
                               check=lambda a: _check_proposals_entry(a, hh, ww, n_max),
                               max_bytes=n_max * ((hh * ww + 7) // 8 + 64) + _META_BYTES)
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


_META_BYTES = 16 * 1024**2
"""What a cached prior's or proposals' JSON description may take at most."""


def _max_proposals(params: AmgParams) -> int:
    """The most masks SAM's generator can propose: three per point of its grid."""
    return 3 * int(params.points_per_side) ** 2


def _check_prior_entry(a: Mapping[str, np.ndarray], h: int, w: int) -> None:
    """A cached prior holds an (h, w) map of non-negative integer ids and its description."""
    check_map(dict(a), "object_map", (h, w), "int")
    if a["meta"].dtype != np.uint8 or a["meta"].ndim != 1:
        raise ValueError("meta is not a JSON text")
    prior_from_arrays(dict(a))          # the description parses (ValueError, KeyError, ...)


def _check_proposals_entry(a: Mapping[str, np.ndarray], h: int, w: int, n_max: int) -> None:
    """Cached proposals: n masks of the image's size as packed bits, n finite scores,
    stabilities, points and boxes."""
    shape = a["shape"]
    if shape.shape != (3,) or not np.issubdtype(shape.dtype, np.integer):
        raise ValueError("shape is not three integers")
    n, sh, sw = (int(x) for x in shape)
    if (sh, sw) != (h, w) or not 0 <= n <= n_max:
        raise ValueError(f"{n} masks of {sw}x{sh} pixels, expected at most {n_max} of {w}x{h}")
    bits = a["bits"]
    if bits.dtype != np.uint8 or (n and bits.shape != (n, (h * w + 7) // 8)):
        raise ValueError(f"bits are {bits.dtype} {bits.shape}, not the packed masks")
    for name, cols in (("scores", None), ("stability", None), ("points", 2), ("boxes", 4)):
        arr = a[name]
        want = (n,) if cols is None else (n, cols)
        if tuple(arr.shape) != want or not np.issubdtype(arr.dtype, np.number):
            raise ValueError(f"{name} is {arr.dtype} {tuple(arr.shape)}, expected {want}")
        if arr.size and not np.isfinite(arr).all():
            raise ValueError(f"{name} holds NaN or infinite values")


def _meta_array(d: dict[str, Any]) -> dict[str, np.ndarray]:
    return {"extra": np.frombuffer(json.dumps(d).encode(), dtype=np.uint8)}


def _cached_meta(arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    if "extra" not in arrays:
        return {}
    return json.loads(np.asarray(arrays["extra"]).tobytes().decode())
