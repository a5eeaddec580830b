"""Plain data of one image's document: parameters, prompt objects, state keys (no Qt).

:class:`Params` is what the user chose for one image; :class:`Prompt` one SAM prompt object;
:func:`state_key` a short hash of everything per-image that a segmentation depends on.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields, replace
from enum import Enum
from typing import Any

from spam_gui.core.params import DEFAULTS, PRIOR_DEFAULTS, RANGES, RATIO_MODES, SegmentParams

MAX_PROMPT_POINTS = 256
MAX_COORD = 1_000_000


@dataclass(frozen=True)
class Params:
    """Segmentation parameters of one image (the engine's parameters, visual attention).

    The defaults are the engine's (:data:`spam_gui.core.params.DEFAULTS`); ``va`` (visual
    attention on or off) is the app's own switch; ``coarseness`` is the built-in object
    prior's (:data:`spam_gui.core.params.PRIOR_DEFAULTS`), used when the image's objects come
    from it.
    """

    n_segments: int = DEFAULTS.n_segments
    lambda_s: float = DEFAULTS.lambda_s
    lambda_c: float = DEFAULTS.lambda_c
    n_iter: int = DEFAULTS.n_iter
    smoothing: int = DEFAULTS.smoothing
    va: bool = False
    attention_ratio: float = DEFAULTS.attention_ratio
    ratio_mode: str = DEFAULTS.ratio_mode
    coarseness: float = PRIOR_DEFAULTS.coarseness

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def segment_params(self) -> SegmentParams:
        """The engine's parameters (:class:`spam_gui.core.params.SegmentParams`) of these."""
        return SegmentParams(
            n_segments=int(self.n_segments), lambda_s=float(self.lambda_s),
            lambda_c=float(self.lambda_c), n_iter=int(self.n_iter),
            smoothing=int(self.smoothing), attention_ratio=float(self.attention_ratio),
            ratio_mode=self.ratio_mode)

    @classmethod
    def from_dict(cls, data: Any, base: "Params | None" = None) -> "Params":
        """Parameters from JSON; unknown keys are ignored, bad values fall back to ``base``.

        A value of the wrong type (a string for K, NaN or infinity for a weight, a list...)
        keeps the value of ``base``; numbers out of range are clamped.
        """
        base = base or cls()
        if not isinstance(data, dict):
            return base
        kw: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in data:
                v = _coerce(data[f.name], getattr(base, f.name))
                if v is not None:
                    kw[f.name] = v
        return replace(base, **kw).clamped()

    def bad_fields(self, data: Any) -> list[str]:
        """Names of the entries of ``data`` that :meth:`from_dict` would not take."""
        if not isinstance(data, dict):
            return ["params"]
        return [f.name for f in fields(self) if f.name in data
                and _coerce(data[f.name], getattr(self, f.name)) is None]

    def clamped(self) -> "Params":
        return replace(
            self,
            **{name: RANGES[name].clamp(getattr(self, name)) for name in (
                "n_segments", "lambda_s", "lambda_c", "n_iter", "smoothing", "attention_ratio",
                "coarseness")},
            ratio_mode=self.ratio_mode if self.ratio_mode in RATIO_MODES else DEFAULTS.ratio_mode,
        )


def _coerce(v: Any, like: Any) -> Any:
    """``v`` as the type of ``like``, or None when it is not a value of that kind.

    Forgiving where the meaning is plain (``"250"`` for an integer, ``1`` / ``0`` for a
    switch); never takes NaN, infinity, a fraction for an integer, a list or an object.
    """
    if isinstance(like, str):
        return v if isinstance(v, str) else None
    if isinstance(like, bool):
        if isinstance(v, bool):
            return v
        return bool(v) if isinstance(v, int) and v in (0, 1) else None
    if isinstance(v, str):
        try:
            v = float(v.strip())
        except ValueError:
            return None
    if isinstance(like, int):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return None
        if isinstance(v, float) and (not math.isfinite(v) or v != int(v)):
            return None
        return int(v)
    if isinstance(like, float):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return None
        return float(v)
    return None


@dataclass(frozen=True)
class Prompt:
    """One SAM prompt object: positive / negative clicks (x, y, 1 or 0) that make one mask."""

    points: tuple[tuple[int, int, int], ...]

    def to_json(self) -> list[list[int]]:
        return [list(p) for p in self.points]

    @classmethod
    def from_json(cls, data: Any) -> "Prompt":
        """A prompt from ``[[x, y, label], ...]``; raises ValueError on anything else."""
        if not isinstance(data, list) or not 0 < len(data) <= MAX_PROMPT_POINTS:
            raise ValueError("a prompt is a list of 1 to 256 points")
        pts = []
        for p in data:
            if (not isinstance(p, list) or len(p) != 3
                    or not all(isinstance(c, int) and not isinstance(c, bool) for c in p)
                    or not all(0 <= c <= MAX_COORD for c in p[:2]) or p[2] not in (0, 1)):
                raise ValueError("a prompt point is [x, y, 0 or 1] with integer x, y ≥ 0")
            pts.append((p[0], p[1], p[2]))
        return cls(tuple(pts))


def normalise_ratio(r: float) -> float:
    """A density ratio clamped to ``RANGES["object_ratio"]`` ([1/64, 64])."""
    return float(RANGES["object_ratio"].clamp(float(r)))


class DocState(str, Enum):
    NOT_COMPUTED = "not computed"
    PRIOR_READY = "prior ready"
    SUPERPIXELS_READY = "superpixels ready"
    EDITED = "edited"
    EXPORTED = "exported"
    ERROR = "error"


def state_key(params: Params, ratios: dict[int, float], prompts: tuple[Prompt, ...],
              objects: str = "") -> str:
    """A short hash of everything per-image that a segmentation depends on.

    ``objects`` identifies the image's edited object map ("" when it has none): the hash of its
    values (:func:`spam_gui.app.model.raster_store.raster_key`).
    """
    p = params.to_dict()
    if p.get("coarseness") == PRIOR_DEFAULTS.coarseness:
        del p["coarseness"]   # keys of the default stay what they were before coarseness existed
    data: dict[str, Any] = {
        "p": p,
        "r": sorted((int(k), round(float(v), 6)) for k, v in ratios.items()
                    if abs(float(v) - 1.0) > 1e-9),
        "q": [pr.to_json() for pr in prompts],
    }
    if objects:
        data["o"] = objects
    text = json.dumps(data, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:16]
