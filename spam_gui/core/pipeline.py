"""The per-image run: image -> objects -> saliency -> superpixels, with its provenance.

:func:`run_image` is what the app (:mod:`spam_gui.app.pipeline`), the batch jobs
(:mod:`spam_gui.core.batch.per_image`, so ``spam segment`` and the Dask workers) and notebooks call to
segment one image. It decides the **working resolution** once, for every stage:

1. the working grid (:func:`working_grid`; None for images of up to about half a megapixel,
   which are their own working grid);
2. the prior source (:mod:`spam_gui.core.prior.sources`) computes the objects; the built-in
   prior does it on the working image, and its map is brought to full resolution by
   :func:`spam_gui.core.engine.fullres.grid.objects_onto_image` (the border band left uncertain);
3. the saliency map (visual attention) is computed on the working image;
4. :meth:`spam_gui.core.engine.spam.Spam.segment` clusters on the working grid and labels every
   full-resolution pixel;
5. the border band is given the object of the superpixel each pixel joined
   (:func:`spam_gui.core.engine.fullres.grid.fill_from_superpixels`): the objects' borders are drawn
   at full resolution, along the image's edges.

On an image without a working grid every stage sees the image itself, and the outputs are
those of calling the stages one after the other.

>>> from spam_gui.core.pipeline import ImageRequest, run_image
>>> run = run_image(ImageRequest(image), engine)                     # doctest: +SKIP
>>> run.result.labels, run.prior_info                               # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from spam_gui.core.io.images import to_rgb_uint8
from spam_gui.core.params import DEFAULTS, SegmentParams
from spam_gui.core.prior.sources import (
    Memo, NoMemo, NoSource, PriorOutcome, PriorSource, SourceContext,
)

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.core.io.cache import DiskCache
    from spam_gui.core.engine.fullres.grid import WorkingGrid
    from spam_gui.core.engine.spam import SegmentationResult, Spam

__all__ = ["ImageRequest", "ImageRun", "image_digest", "run_image", "saliency_of",
           "source_context", "working_grid"]


PRIOR_SHARE = 0.5
"""The objects' share of a run in the fraction given to ``progress`` (a built-in prior and
the superpixels take about as long on a large photo)."""


def working_grid(height: int, width: int, n_segments: int) -> "WorkingGrid | None":
    """The working grid of an H x W image for K superpixels (None: the image itself).

    The one decision of the working resolution, shared by every stage of :func:`run_image`
    and by :meth:`spam_gui.core.engine.spam.Spam.segment`
    (:func:`spam_gui.core.engine.fullres.working.plan_working_grid`)."""
    from spam_gui.core.engine.fullres.working import plan_working_grid

    k = max(1, min(int(n_segments), int(height) * int(width)))
    return plan_working_grid(int(height), int(width), k)


def image_digest(image: np.ndarray) -> str:
    """The sha256 of an image's shape, dtype and pixels: the content key of its results
    (:func:`spam_gui.core.io.cache.hash_array`)."""
    from spam_gui.core.io.cache import hash_array

    return hash_array(image)


def source_context(image: np.ndarray, engine: "Spam", n_segments: int, *,
                   digest: str | None = None, device: str = "auto", memo: Memo | None = None,
                   progress: Callable[[float, str], None] | None = None) -> SourceContext:
    """What a prior source gets for ``image``: its working grid for K = ``n_segments``
    (:func:`working_grid`), the engine, a memo, a progress callback."""
    h, w = image.shape[:2]
    return SourceContext(image=image, digest=digest or image_digest(image),
                         grid=working_grid(h, w, n_segments), engine=engine, device=device,
                         memo=memo if memo is not None else NoMemo(), progress=progress)


@dataclass
class ImageRequest:
    """What to do with one image.

    Attributes
    ----------
    image:
        (H, W, 3) uint8 RGB (grey and RGBA are converted).
    params:
        The segmentation parameters (:class:`spam_gui.core.params.SegmentParams`).
    prior:
        The prior source (:func:`spam_gui.core.prior.sources.choose_source`).
    ratios:
        ``{object_id: r}`` density ratios.
    attention:
        Visual attention: salient objects get ``params.attention_ratio`` times the density.
    dino_checkpoint:
        The DINO checkpoint of the saliency (None: the built-in saliency).
    saliency:
        Compute the saliency map even without visual attention (the app's heat map).
    masks:
        Boolean (H, W) masks merged into the objects as objects of their own (the app's
        click prompts, :func:`spam_gui.core.prior.maps.merge_mask`).
    device:
        Torch device of the models the stages load (SAM, DINO).
    digest:
        The pixels' sha256 when the caller already knows it (:func:`image_digest`).
    """

    image: np.ndarray
    params: SegmentParams = DEFAULTS
    prior: PriorSource = field(default_factory=NoSource)
    ratios: dict[int, float] | None = None
    attention: bool = False
    dino_checkpoint: str | None = None
    saliency: bool = False
    masks: Sequence[np.ndarray] = ()
    device: str = "auto"
    digest: str | None = None


@dataclass
class ImageRun:
    """What :func:`run_image` produced for one image.

    Attributes
    ----------
    result:
        The superpixels (:class:`spam_gui.core.engine.spam.SegmentationResult`); its ``objects`` is
        the full-resolution object map.
    prior:
        The source's outcome (its map may be on the working grid).
    prior_note:
        A line for the status bar (the prompt objects added counted).
    prior_key:
        Identifies the objects the superpixels were computed in.
    saliency, saliency_info:
        The saliency map (full resolution, float32) and its sidecar record, when computed.
    grid:
        The working grid (None: the image is its own).
    seconds:
        Time of each stage: ``prior``, ``saliency``, ``superpixels``, ``total``.
    warnings:
        What the caller should tell the user (a missing prior map...).
    """

    result: "SegmentationResult"
    prior: PriorOutcome
    prior_note: str
    prior_key: str
    saliency: np.ndarray | None = None
    saliency_info: dict[str, Any] | None = None
    grid: "WorkingGrid | None" = None
    seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def prior_info(self) -> dict[str, Any]:
        """The sidecar's ``prior`` record."""
        return self.prior.info


def _merge_masks(object_map: np.ndarray | None, masks: Sequence[np.ndarray], shape: tuple[int, int]
                 ) -> tuple[np.ndarray | None, int]:
    if not masks:
        return object_map, 0
    from spam_gui.core.prior import maps as prior_mod

    pr = prior_mod.prior_from_label_map(np.ones(shape, np.int32) if object_map is None
                                        else object_map)
    added = 0
    for mask in masks:
        pr, new_id = prior_mod.merge_mask(pr, mask)
        added += new_id is not None
    return pr.object_map, added


def run_image(request: ImageRequest, engine: "Spam", *, memo: Memo | None = None,
              saliency_memo: Memo | None = None,
              check: Callable[[], None] | None = None,
              progress: Callable[[float, str], None] | None = None,
              on_prior: Callable[[str], None] | None = None,
              result_cache: "DiskCache | None" = None) -> ImageRun:
    """Segment one image: its objects, its saliency, its superpixels (module docstring).

    Parameters
    ----------
    request:
        The image and what to do with it.
    engine:
        The SPAM engine (its feature cache is shared by the built-in prior and the
        superpixels: the encoder runs once on the working image).
    memo:
        Keeps the prior sources' results (the app's in-memory cache); None: nothing kept.
    saliency_memo:
        Keeps saliency maps, keyed on the working image, the checkpoint and the device.
    check:
        Called between stages; raises to stop the run (the app's cancellation).
    progress:
        ``progress(fraction, stage)`` for long stages.
    on_prior:
        Called with the prior's note once the objects are known.
    result_cache:
        Where the superpixels of a large photo are kept between sessions
        (:mod:`spam_gui.core.engine.result_cache`); None: computed every time.

    Returns
    -------
    ImageRun

    Raises
    ------
    spam_gui.core.errors.SpamError
        (and ``ValueError``) for a problem of the input: a prior map of the wrong size, a bad
        checkpoint; the message names the file.
    """
    from spam_gui.core.engine.fullres.grid import fill_from_superpixels, objects_onto_image

    t0 = time.perf_counter()
    tick = check or (lambda: None)
    rgb = to_rgb_uint8(request.image)
    h, w = rgb.shape[:2]
    p = request.params
    # the stages' shares of the run, for one fraction over the whole run (the app's estimate)
    prior_progress = None if progress is None else (
        lambda frac, stage: progress(PRIOR_SHARE * frac, stage))
    ctx = source_context(rgb, engine, p.n_segments, digest=request.digest, device=request.device,
                         memo=memo, progress=prior_progress)
    grid, digest = ctx.grid, ctx.digest
    outcome = request.prior.compute(ctx)
    object_map, band = outcome.object_map, None
    if object_map is not None and outcome.on_grid and grid is not None:
        object_map, band = objects_onto_image(object_map, grid)
    object_map, added = _merge_masks(object_map, request.masks, (h, w))
    if band is not None and added:
        band &= object_map == 0       # a prompt object keeps every pixel it took
    note = outcome.note + (f" + {added} prompt object(s)" if request.masks else "")
    prior_key = outcome.key if not request.masks else hashlib.sha1(repr(
        (outcome.key, [hashlib.sha1(np.packbits(m).tobytes()).hexdigest() for m in request.masks])
    ).encode()).hexdigest()[:12]
    if on_prior is not None:
        on_prior(note)
    t_prior = time.perf_counter()
    tick()

    sal = sal_info = None
    if request.attention or request.saliency:
        sal, sal_info = saliency_of(ctx.work_image, request.dino_checkpoint, request.device,
                                    saliency_memo)
        tick()
    t_sal = time.perf_counter()

    if progress is not None:
        progress(PRIOR_SHARE, "superpixels")
    res, key = None, ""
    if result_cache is not None and grid is not None:
        from spam_gui.core.engine.result_cache import load_result, result_key

        key = result_key(digest, object_map, {**p.as_dict(), "saliency_method": (
                             sal_info or {}).get("method") if request.attention else None},
                         request.ratios, sal if request.attention else None,
                         engine.encoder_sha256)
        res = load_result(result_cache, key, rgb)
    if res is None:
        res = engine.segment(rgb, params=p, prior=object_map, ratios=request.ratios or None,
                             saliency=sal if request.attention else None,
                             saliency_method=str(sal_info["method"]) if sal_info else None,
                             check=check)
        tick()
        if band is not None and band.any():
            res = _filled(res, fill_from_superpixels(res.objects, band, res.labels,
                                                     res.superpixel_object))
        if key:
            from spam_gui.core.engine.result_cache import store_result

            store_result(result_cache, key, res)
    if sal is not None and sal.shape != (h, w):
        from spam_gui.core.engine.fullres.grid import map_onto

        sal = map_onto(sal, h, w, "the saliency map", nearest=False)
    t_end = time.perf_counter()
    return ImageRun(result=res, prior=outcome, prior_note=note, prior_key=prior_key,
                    saliency=sal, saliency_info=sal_info, grid=grid,
                    seconds={"prior": t_prior - t0, "saliency": t_sal - t_prior,
                             "superpixels": t_end - t_sal, "total": t_end - t0},
                    warnings=[outcome.warning] if outcome.warning else [])


def saliency_of(image: np.ndarray, dino_checkpoint: str | None = None, device: str = "auto",
                memo: Memo | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """The saliency map of ``image`` (float32, its size) and its sidecar record
    (:func:`spam_gui.core.saliency.compute_saliency_info`), kept in ``memo`` by content,
    checkpoint and device."""
    key = (image_digest(image), dino_checkpoint or "", device)
    hit = memo.get(key) if memo is not None else None
    if hit is None:
        from spam_gui.core.saliency import compute_saliency_info

        out = compute_saliency_info(image, dino_checkpoint=dino_checkpoint or None,
                                    device=device)
        hit = (np.asarray(out.saliency, np.float32), dict(out.info))
        if memo is not None:
            memo.put(key, hit)
    return hit


def _filled(res: "SegmentationResult", objects: np.ndarray) -> "SegmentationResult":
    """``res`` with its border band filled in: the objects' areas follow."""
    from spam_gui.core.engine.fullres.objects import object_areas

    ids, counts = object_areas(objects)      # one counting pass, no sort of 12 MP
    area = dict(zip(ids.tolist(), counts.tolist()))
    info = {o: replace(i, area=int(area.get(o, i.area))) for o, i in res.objects_info.items()}
    return replace(res, objects=objects, objects_info=info)
