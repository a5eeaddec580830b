"""What SAM's automatic mask generator takes and gives: :class:`AmgParams` (its parameters,
SAM's defaults) and :class:`Proposals` (the mask proposals of one image), shared by the fast
generator (:mod:`.generator`), the reference one (:mod:`.reference`) and the session.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from spam_gui.core.params import SAM_DEFAULTS
from spam_gui.core.prior.maps import pack_masks, unpack_masks

__all__ = ["AmgParams", "ProgressFn", "Proposals", "empty_proposals"]

ProgressFn = Callable[[float, str], None]
"""Called with (fraction done, message); raising from it stops the generation."""


@dataclass(frozen=True)
class AmgParams:
    """Parameters of the automatic mask generator (SAM's defaults, :data:`SAM_DEFAULTS`)."""

    points_per_side: int = SAM_DEFAULTS.points_per_side
    pred_iou_thresh: float = SAM_DEFAULTS.pred_iou_thresh
    stability_score_thresh: float = SAM_DEFAULTS.stability_score_thresh
    stability_score_offset: float = SAM_DEFAULTS.stability_score_offset
    box_nms_thresh: float = SAM_DEFAULTS.box_nms_thresh
    min_mask_region_area: int = SAM_DEFAULTS.min_mask_region_area
    points_per_batch: int = SAM_DEFAULTS.points_per_batch   # speed and memory only

    def __post_init__(self) -> None:
        if self.points_per_side < 1:
            raise ValueError(f"points_per_side must be >= 1, got {self.points_per_side}")
        if self.points_per_batch < 1:
            raise ValueError(f"points_per_batch must be >= 1, got {self.points_per_batch}")

    def result_params(self) -> dict[str, Any]:
        """The parameters the result depends on (for cache keys and sidecars)."""
        d = asdict(self)
        d.pop("points_per_batch")
        return d


@dataclass
class Proposals:
    """SAM's mask proposals for one image."""

    masks: np.ndarray          # (n, H, W) bool
    scores: np.ndarray         # (n,) float32, predicted IoU
    stability: np.ndarray      # (n,) float32, stability score
    points: np.ndarray         # (n, 2) float32, the prompt point (x, y) in image pixels
    boxes: np.ndarray          # (n, 4) int32, x0, y0, x1, y1 (inclusive), as SAM gives them
    timings: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    def to_arrays(self) -> dict[str, np.ndarray]:
        packed = pack_masks(self.masks)
        return {"bits": packed["bits"], "shape": packed["shape"],
                "scores": self.scores.astype(np.float32),
                "stability": self.stability.astype(np.float32),
                "points": self.points.astype(np.float32), "boxes": self.boxes.astype(np.int32)}

    @classmethod
    def from_arrays(cls, a: Mapping[str, np.ndarray]) -> "Proposals":
        return cls(masks=unpack_masks(a["bits"], a["shape"]), scores=a["scores"],
                   stability=a["stability"], points=a["points"], boxes=a["boxes"])


def empty_proposals(h: int, w: int) -> Proposals:
    """No proposals for an h x w image."""
    return Proposals(masks=np.zeros((0, h, w), dtype=bool), scores=np.zeros(0, np.float32),
                     stability=np.zeros(0, np.float32), points=np.zeros((0, 2), np.float32),
                     boxes=np.zeros((0, 4), np.int32))
