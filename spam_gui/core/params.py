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
           "format_coarseness",
           "RANGES", "RATIO_MODES", "Range", "SAM_DEFAULTS", "SamParams", "SegmentParams",
           "TRAIN_DEFAULTS", "TrainParams", "EVAL_DEFAULTS", "EvalParams", "BATCH_DEFAULTS",
           "BatchParams"]

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
        Chosen by 5-fold cross-validation on BSDS500 train + val: the fewest clicks of the
        simulated annotator among the cuts whose covering is at least 0.60
        (``benchmarks/prior_effort_cv.py``; the model card says how).
    fine_segments:
        Fine SPAM superpixels per 481 x 321 pixels (scaled with the image's area).
    band_width:
        Half-width in pixels of the uncertain band (0) along weak object borders.
    band_margin:
        A border is weak when its merge height is below ``coarseness + band_margin``.
    """

    coarseness: float = 0.375
    fine_segments: int = 800
    band_width: int = 2
    band_margin: float = 0.3


PRIOR_DEFAULTS = PriorParams()
"""The built-in prior's defaults: ``PRIOR_DEFAULTS.coarseness`` and so on."""


def format_coarseness(coarseness: float) -> str:
    """A coarseness as people read it: two decimals, three when it needs them (0.50, 0.375)."""
    text = f"{float(coarseness):.3f}"
    return text[:-1] if text.endswith("0") else text


@dataclass(frozen=True)
class SamParams:
    """The defaults of Segment Anything's automatic masks (:mod:`spam_gui.core.prior.sam`).

    Attributes
    ----------
    points_per_side:
        The grid of single-point prompts per image side (SAM's own default).
    pred_iou_thresh, stability_score_thresh, stability_score_offset, box_nms_thresh,
    min_mask_region_area:
        SAM's automatic mask generator's filters (its own defaults).
    points_per_batch:
        Prompts run together (speed and memory only; does not change the result).
    opening:
        Side of the square opening that separates background from thin gaps when the
        proposals are aggregated into a prior (:mod:`spam_gui.core.prior.maps`).
    """

    points_per_side: int = 32
    pred_iou_thresh: float = 0.88
    stability_score_thresh: float = 0.95
    stability_score_offset: float = 1.0
    box_nms_thresh: float = 0.7
    min_mask_region_area: int = 0
    points_per_batch: int = 32
    opening: int = 5


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


@dataclass(frozen=True)
class TrainParams:
    """The defaults of a training run (:class:`spam_gui.core.training.TrainConfig` and
    ``spam train``; docs/algorithm.md §7). The clustering weights and the validation K are
    :data:`DEFAULTS`'."""

    iterations: int = 20000
    batch_size: int = 6
    crop: int = 200
    lr: float = 1e-4
    feature_dim: int = 20
    n_seeds: int = 100
    n_iter: int = 5
    compactness: float = 1e-5       # the paper's summation convention (x pixels per crop)
    scale_min: float = 0.75
    scale_max: float = 3.0
    val_every: int = 250
    val_images: int = 20
    checkpoint_every: int = 50
    seed: int = 0
    contour_weight: float = 0.0     # optional contour loss (0 = docs/algorithm.md §7 exactly)
    contour_margin: float = 5.0
    min_gr: float = 0.0             # a model is 'best' only if its val GR reaches this
    smooth_weight: float = 0.0      # optional assignment-smoothness loss (0 = off)
    max_gr_drop: float = 0.05       # GR loss --calibrate allows against D=5


TRAIN_DEFAULTS = TrainParams()
"""Training's defaults: ``TRAIN_DEFAULTS.iterations`` and so on."""


@dataclass(frozen=True)
class EvalParams:
    """The defaults of the benchmark (:mod:`spam_gui.core.evaluation.evaluate`, ``spam eval``).

    Attributes
    ----------
    boundary_r:
        Boundary recall / precision tolerance: a boundary pixel within a (2r+1)^2 window of one
        of the other map counts (:mod:`spam_gui.core.evaluation.metrics`).
    """

    boundary_r: int = 2


EVAL_DEFAULTS = EvalParams()
"""The benchmark's defaults: ``EVAL_DEFAULTS.boundary_r``."""


@dataclass(frozen=True)
class BatchParams:
    """The defaults of a batch run (:func:`spam_gui.core.batch.runner.run_batch`, the commands'
    ``--threads-per-worker``).

    Attributes
    ----------
    threads_per_worker:
        Torch CPU threads of each worker process (1: N processes share the cores instead of
        fighting over them).
    """

    threads_per_worker: int = 1


BATCH_DEFAULTS = BatchParams()
"""A batch run's defaults: ``BATCH_DEFAULTS.threads_per_worker``."""


@dataclass(frozen=True)
class Range:
    """The values a parameter may take, bounds included: the app's controls offer these and a
    value read from a file is clamped to them (:meth:`clamp`)."""

    lo: float
    hi: float

    def clamp(self, value: Any) -> Any:
        """``value`` brought inside ``[lo, hi]`` (its type kept when it is inside)."""
        return min(max(value, self.lo), self.hi)


RANGES: dict[str, Range] = {
    "n_segments": Range(1, 65535),           # K: a 16-bit label PNG holds at most 65535
    "lambda_s": Range(0.0, 1000.0),
    "lambda_c": Range(0.0, 1000.0),
    "n_iter": Range(0, 100),
    "smoothing": Range(0, 5),
    "attention_ratio": Range(0.1, 20.0),     # r of visual attention
    "coarseness": Range(0.0, 1.0),           # the built-in prior's
    "object_ratio": Range(1 / 64, 64.0),     # one object's density ratio (the Objects panel)
    "sam_points_per_side": Range(4, 64),     # the app's custom SAM grid (Preferences)
}
"""The range of every parameter control, by name (the :class:`SegmentParams` and
:class:`PriorParams` field names, and a few more): the app's spin boxes and sliders and the
clamping of the parameters a state file holds read them from here."""
