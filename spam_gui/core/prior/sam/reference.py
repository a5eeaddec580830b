"""The reference automatic mask generator: ``segment_anything.SamAutomaticMaskGenerator`` run
on a :class:`~spam_gui.core.prior.sam.session.SamSession`'s embedding.

Slower than :func:`spam_gui.core.prior.sam.generator.generate_proposals` with the same results; the
tests use it as the oracle the fast generator is checked against
(``generate_proposals(..., method="reference")``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
import torch

from spam_gui.core.prior.sam.proposals import AmgParams, Proposals, empty_proposals

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.core.prior.sam.session import SamSession

__all__ = ["reference_proposals"]


def reference_proposals(session: SamSession, params: AmgParams) -> Proposals:
    """``SamAutomaticMaskGenerator(...).generate`` on the session's image, reusing its embedding."""
    from segment_anything import SamAutomaticMaskGenerator

    t0 = time.perf_counter()
    gen = SamAutomaticMaskGenerator(
        session.sam.model, points_per_side=params.points_per_side,
        points_per_batch=params.points_per_batch, pred_iou_thresh=params.pred_iou_thresh,
        stability_score_thresh=params.stability_score_thresh,
        stability_score_offset=params.stability_score_offset,
        box_nms_thresh=params.box_nms_thresh, min_mask_region_area=params.min_mask_region_area,
    )
    # reuse the session's embedding instead of letting the generator recompute it
    pred = session.predictor
    gen.predictor = pred
    pred.set_image = lambda *a, **k: None  # instance attributes shadow the methods
    pred.reset_image = lambda *a, **k: None
    try:
        with torch.inference_mode():
            anns = gen.generate(session.image)
    finally:
        del pred.set_image, pred.reset_image
    hh, ww = session.original_size
    if not anns:
        props = empty_proposals(hh, ww)
    else:
        props = Proposals(
            masks=np.stack([a["segmentation"] for a in anns]).astype(bool),
            scores=np.array([a["predicted_iou"] for a in anns], np.float32),
            stability=np.array([a["stability_score"] for a in anns], np.float32),
            points=np.array([a["point_coords"][0] for a in anns], np.float32),
            boxes=np.array([[b[0], b[1], b[0] + b[2], b[1] + b[3]] for b in
                            (a["bbox"] for a in anns)], np.int32),
        )
    props.timings = {"total_s": time.perf_counter() - t0}
    return props
