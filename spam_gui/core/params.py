"""The default segmentation parameters: written here once, read by everyone else.

The engine (:meth:`spam_gui.core.engine.spam.Spam.segment`), evaluation, training, the ``spam``
commands (their argparse defaults and help texts) and the app's per-image
:class:`spam_gui.app.model.doc_data.Params` all take their defaults from :data:`DEFAULTS`.
Change a number here and it changes everywhere.

No torch, no Qt: a plain frozen dataclass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["DEFAULTS", "POLYGON_DEFAULTS", "PRIOR_DEFAULTS", "PolygonParams", "PriorParams",
           "RATIO_MODES", "SAM_DEFAULTS", "SamParams", "SegmentParams"]

RATIO_MODES: tuple[str, ...] = ("local", "keep-total")
"""How per-object density ratios share the budget (see :func:`spam_gui.core.engine.budget.ratio_budget`)."""


@dataclass(frozen=True)
class SegmentParams:
    """The tunable parameters of one segmentation, with their defaults.

    Attributes
    ----------
    n_segments:
        K, the number of superpixels wanted.
    lambda_s:
        λs, the weight of pixel positions (regularity), docs/algorithm.md §2.
    lambda_c:
        λc, the weight of CIELAB colour in the encoder input and the clustering features.
    n_iter:
        T, the soft-clustering iterations.
    smoothing:
        Passes of the 3 x 3 same-object majority filter on the hard labels (0: plain argmax).
    seed:
        Seeds the random seed placement; the same seed gives the same result.
    attention_ratio:
        r, the density multiplier of salient objects in visual-attention mode.
    saliency_threshold:
        The mean saliency above which an object counts as salient.
    ratio_mode:
        One of :data:`RATIO_MODES`.
    """

    n_segments: int = 400
    lambda_s: float = 7.5
    lambda_c: float = 0.26
    n_iter: int = 10
    smoothing: int = 1
    seed: int = 0
    attention_ratio: float = 2.5
    saliency_threshold: float = 0.1
    ratio_mode: str = "local"

    def __post_init__(self) -> None:
        if self.ratio_mode not in RATIO_MODES:
            raise ValueError(f"ratio_mode must be one of {RATIO_MODES}, got {self.ratio_mode!r}")

    def as_dict(self) -> dict[str, Any]:
        """The parameters as a JSON-ready dict, keyed by the engine's argument names."""
        return asdict(self)


DEFAULTS = SegmentParams()
"""The defaults: ``DEFAULTS.lambda_s`` and so on."""


@dataclass(frozen=True)
class PriorParams:
    """The defaults of the built-in object prior (:mod:`spam_gui.core.prior.builtin.compute`).

    Attributes
    ----------
    coarseness:
        In [0, 1], the merge threshold: 0 keeps the fine superpixels, 1 merges everything.
        Tuned on BSDS500 train for the segmentation covering.
    fine_segments:
        Fine SPAM superpixels per 481 x 321 pixels (scaled with the image's area).
    band_width:
        Half-width in pixels of the uncertain band (0) along weak object borders.
    band_margin:
        A border is weak when its merge height is below ``coarseness + band_margin``.
    """

    coarseness: float = 0.5
    fine_segments: int = 800
    band_width: int = 2
    band_margin: float = 0.3


PRIOR_DEFAULTS = PriorParams()
"""The built-in prior's defaults: ``PRIOR_DEFAULTS.coarseness`` and so on."""


@dataclass(frozen=True)
class SamParams:
    """The defaults of Segment Anything's automatic masks (:mod:`spam_gui.core.prior.sam`).

    Attributes
    ----------
    points_per_side:
        The grid of single-point prompts per image side (SAM's own default).
    """

    points_per_side: int = 32


SAM_DEFAULTS = SamParams()
"""SAM's defaults: ``SAM_DEFAULTS.points_per_side``."""


@dataclass(frozen=True)
class PolygonParams:
    """The defaults of the polygon exports (YOLO-seg, labelme, COCO ``--polygons``;
    :mod:`spam_gui.core.formats.polygons`).

    Attributes
    ----------
    tolerance:
        Douglas-Peucker tolerance in pixels: the largest distance the simplified outline may
        stray from the traced one (1.4 px, CVAT's and labelme's convention; 0 keeps every
        corner of the traced outline).
    """

    tolerance: float = 1.4


POLYGON_DEFAULTS = PolygonParams()
"""The polygon exports' defaults: ``POLYGON_DEFAULTS.tolerance``."""
