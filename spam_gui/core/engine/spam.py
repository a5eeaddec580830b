"""``Spam``: the SuperPixel Anything Model pipeline (docs/algorithm.md §1), and its per-image feature cache.

>>> spam = Spam(encoder="default")                      # doctest: +SKIP
>>> res = spam.segment(image, prior=objects)          # defaults: spam_gui.core.params
>>> res2 = spam.rescale(res, object_id=3, ratio=2.0)    # only object 3 changes
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from spam_gui import __version__
from spam_gui.core.engine import budget as budget_mod
from spam_gui.core.io.cache import hash_array
from spam_gui.core.engine.cluster_groups import CANDIDATE_RADIUS, build_groups
from spam_gui.core.engine.clustering import PixelFeatures, cluster
from spam_gui.core.engine.connectivity import enforce_connectivity, renumber
from spam_gui.core.devices import resolve_device
from spam_gui.core.engine.smoothing import majority_filter
from spam_gui.core.engine.encoder import EncoderInfo, InferenceEncoder, load_encoder
from spam_gui.core.engine.features import pixel_positions, position_scale, rgb_to_lab
from spam_gui.core.engine.fullres.grid import map_onto
from spam_gui.core.engine.fullres.objects import object_areas, sum_per_object
from spam_gui.core.engine.fullres.points import SMALL_POINTS_PER_SEED, WorkState, object_seeds
from spam_gui.core.engine.fullres.preview import EditPreview, preview_of
from spam_gui.core.engine.fullres.rescale import (
    cluster_cells, object_cells, relabel_values, rescale_working,
)
from spam_gui.core.engine.fullres.working import cluster_working, plan_working_grid
from spam_gui.core.io.images import check_image_size, to_rgb_uint8
from spam_gui.core.params import DEFAULTS, SegmentParams
from spam_gui.core.engine.seeds import kmeans_seeds, object_rng
from spam_gui.core.io.resources import resource_path

log = logging.getLogger(__name__)

DEFAULT_ENCODER_FILE = "spam_encoder_d20.pt"
MAX_LABELS = 65535
SHORT_OF_K = 0.75
"""A result with fewer than this fraction of the K asked says so (a warning and
``params["notes"]``) instead of delivering far fewer superpixels silently."""


class DroppedRatiosWarning(UserWarning):
    """Density ratios given for objects the prior does not have were not used (the prior map
    changed since they were chosen); the message names the objects."""


def dropped_ratio_message(dropped: Mapping[int, float]) -> str:
    """How a result reports ratios it did not use: ``"ratios of objects 11, 12 not used: the
    prior has no such objects (it changed since)"``."""
    ids = ", ".join(str(int(o)) for o in sorted(dropped))
    what = "ratio of object" if len(dropped) == 1 else "ratios of objects"
    return f"{what} {ids} not used: the prior has no such object (it changed since)"


def default_encoder_path() -> Path:
    """The shipped encoder weights (``resources/models/spam_encoder_d20.pt``); raises
    :class:`~spam_gui.core.io.resources.MissingResourceError` naming it when this installation
    lacks it."""
    return resource_path("models", DEFAULT_ENCODER_FILE)


@dataclass(frozen=True)
class ObjectInfo:
    """One prior object in a result: its area, density ratio, budget K_o and saliency flag.

    ``attention_capped`` is None without visual attention; with it, True when the foreground
    cap of :func:`spam_gui.core.engine.budget.attention_allocation` acted on this image (salient
    objects then have less than r times the uniform density, so that the background keeps at
    least a fifth of its uniform share), False otherwise. It is the same for every object of
    one result.
    """

    id: int
    area: int
    ratio: float = 1.0
    k: int = 1
    salient: bool | None = None
    attention_capped: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "area": self.area, "ratio": self.ratio, "k": self.k,
                "salient": self.salient, "attention_capped": self.attention_capped}


@dataclass
class SegmentationResult:
    """Superpixels of one image (see :meth:`Spam.segment`)."""

    labels: np.ndarray
    objects: np.ndarray
    superpixel_object: np.ndarray
    objects_info: dict[int, ObjectInfo]
    params: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    image_key: str = ""
    # internal state used by Spam.rescale
    _quota: dict[int, float] = field(default_factory=dict, repr=False)
    _base_k: dict[int, int] = field(default_factory=dict, repr=False)
    _density: dict[int, float] = field(default_factory=dict, repr=False)
    _image: np.ndarray | None = field(default=None, repr=False)
    # working-resolution state of a large photo (None: exact path), see core.engine.fullres
    _work: WorkState | None = field(default=None, repr=False)

    @property
    def n_superpixels(self) -> int:
        return int(self.superpixel_object.shape[0] - 1)

    @property
    def object_ids(self) -> np.ndarray:
        return np.array(sorted(self.objects_info), dtype=np.int64)

    @property
    def ratios(self) -> dict[int, float]:
        return {o: i.ratio for o, i in self.objects_info.items() if not math.isclose(i.ratio, 1.0)}

    def superpixels_of(self, object_id: int) -> np.ndarray:
        """Label values of the superpixels of one object."""
        return np.flatnonzero(self.superpixel_object == object_id)

    def superpixel_counts(self) -> dict[int, int]:
        """Number of final superpixels per object id."""
        ids, counts = np.unique(self.superpixel_object[1:], return_counts=True)
        return {int(i): int(c) for i, c in zip(ids, counts)}

    def fill_map(self) -> np.ndarray:
        """Per pixel, the object an object fill paints it with: its superpixel's object.

        What the app's Shift+click fill paints (every superpixel of the object, uncertain
        pixels that joined them included), and what the simulated annotator's object click
        fills (:func:`spam_gui.core.evaluation.annotation_effort.simulate_annotation`). The
        prior's own map (:attr:`objects`) leaves its uncertain pixels (0) out of every object.

        Returns
        -------
        (H, W) array of the :attr:`superpixel_object` dtype: object ids, 0 for none.
        """
        return np.asarray(self.superpixel_object)[self.labels]

    def certain_superpixel_object(self) -> np.ndarray:
        """:attr:`superpixel_object` with 0 for every superpixel made only of uncertain pixels.

        Such a superpixel grew from an object's seed into the prior's uncertain area (0) and
        covers no pixel of any object; the sidecar records 0 (uncertain) for it. (The engine
        keeps the seed's object in :attr:`superpixel_object`: :meth:`Spam.rescale` of that
        object re-clusters it.)
        """
        sp = np.asarray(self.superpixel_object).astype(np.int64, copy=True)
        touches_object = np.bincount(self.labels[self.objects > 0].ravel(),
                                     minlength=sp.shape[0])[: sp.shape[0]] > 0
        sp[~touches_object] = 0
        return sp


@dataclass
class ImageFeatures:
    """Everything about an image that does not depend on K, lambda or ratios."""

    key: str
    height: int
    width: int
    lab: torch.Tensor            # (P, 3) float32 on device
    deep: torch.Tensor | None    # (P, d) float32 on device, None without an encoder
    positions: torch.Tensor      # (P, 2) float32 on device
    seconds: float = 0.0
    _appearance: tuple[float, torch.Tensor] | None = field(default=None, repr=False,
                                                           compare=False)

    def appearance(self, lambda_c: float) -> torch.Tensor:
        """(P, d + 3) deep features beside the Lab colour times ``lambda_c``; the last one
        asked for is kept (every click on a large photo asks for the same; read only)."""
        kept = self._appearance
        if kept is not None and kept[0] == float(lambda_c):
            return kept[1]
        colour = self.lab * float(lambda_c)
        app = colour if self.deep is None else torch.cat([self.deep, colour], dim=1)
        self._appearance = (float(lambda_c), app)
        return app


class Spam:
    """The SPAM superpixel pipeline with a deep-feature cache.

    Parameters
    ----------
    encoder:
        ``"default"``: the shipped trained encoder (a missing one is a broken installation:
        :class:`~spam_gui.core.io.resources.MissingResourceError`, never a silent fallback);
        ``None`` or ``"none"``: no network (D = 5, SLIC-like clustering on colour and position);
        or the path of an encoder weight file (:func:`spam_gui.core.engine.encoder.save_encoder`).
    device:
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
    cache_size:
        How many images' features are kept in memory.
    """

    def __init__(self, encoder: str | os.PathLike[str] | None = "default",
                 device: str | torch.device = "auto", cache_size: int = 4) -> None:
        self.device = resolve_device(device)
        self._cache: OrderedDict[str, ImageFeatures] = OrderedDict()
        self._cache_size = max(1, int(cache_size))
        self._lock = threading.RLock()
        # features being computed, by key: a second thread asking for them waits (the app's
        # background warm-up and a first click on the same photo compute them once)
        self._computing: dict[str, threading.Event] = {}
        self._encoder: InferenceEncoder | None = None
        self.encoder_info: EncoderInfo | None = None
        self.encoder_spec = "none" if encoder is None else str(encoder)
        if encoder is None or str(encoder).lower() == "none":
            return
        if str(encoder) == "default":
            path = default_encoder_path()
        else:
            path = Path(encoder)
        model, info = load_encoder(path)
        if str(encoder) == "default":
            info.meta.setdefault("shipped", True)
        self._encoder = InferenceEncoder(model, info, self.device)
        self.encoder_info = info

    # -- encoder description -------------------------------------------------------------
    @property
    def feature_dim(self) -> int:
        return self.encoder_info.feature_dim if self.encoder_info else 5

    @property
    def encoder_name(self) -> str:
        if self.encoder_info is None:
            return "none (D=5)"
        name = self.encoder_info.name
        if self.encoder_info.meta.get("shipped"):
            return f"{name} (shipped, D={self.feature_dim})"
        return f"{name} (D={self.feature_dim})"

    @property
    def encoder_sha256(self) -> str | None:
        return self.encoder_info.sha256 if self.encoder_info else None

    # -- features --------------------------------------------------------------------------
    def features(self, image: np.ndarray, check: Callable[[], None] | None = None
                 ) -> ImageFeatures:
        """Deep and colour features of ``image``, computed once and cached by content;
        ``check`` is called during the encoder's pass (what it raises stops it)."""
        rgb = to_rgb_uint8(image)
        key = hash_array(rgb)
        while True:
            with self._lock:
                feats = self._cache.get(key)
                if feats is not None:
                    self._cache.move_to_end(key)
                    return feats
                running = self._computing.get(key)
                if running is None:      # this thread computes them; others wait for it
                    running = self._computing[key] = threading.Event()
                    break
            running.wait(0.05)           # another thread is computing the same features
            if check is not None:
                check()
        try:
            feats = self._compute_features(rgb, key, check)
            with self._lock:
                self._cache[key] = feats
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        finally:
            with self._lock:
                self._computing.pop(key, None)
            running.set()
        return feats

    def _compute_features(self, rgb: np.ndarray, key: str,
                          check: Callable[[], None] | None) -> ImageFeatures:
        t0 = time.perf_counter()
        h, w = rgb.shape[:2]
        lab_np = rgb_to_lab(rgb)
        deep = None
        if self._encoder is not None:
            # (an encoder without a check argument, e.g. a user's wrapper, is called without)
            out = self._encoder(lab_np) if check is None else self._encoder(lab_np, check)
            deep = out.reshape(h * w, -1)
        return ImageFeatures(
            key=key, height=h, width=w,
            lab=torch.from_numpy(lab_np.reshape(h * w, 3)).to(self.device),
            deep=deep,
            positions=torch.from_numpy(pixel_positions(h, w)).to(self.device),
            seconds=time.perf_counter() - t0,
        )

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    # -- segmentation ----------------------------------------------------------------------
    def segment(
        self,
        image: np.ndarray,
        n_segments: int = DEFAULTS.n_segments,
        prior: np.ndarray | None = None,
        ratios: Mapping[int, float] | None = None,
        lambda_s: float = DEFAULTS.lambda_s,
        lambda_c: float = DEFAULTS.lambda_c,
        n_iter: int = DEFAULTS.n_iter,
        seed: int = DEFAULTS.seed,
        saliency: np.ndarray | None = None,
        attention_ratio: float = DEFAULTS.attention_ratio,
        saliency_threshold: float = DEFAULTS.saliency_threshold,
        ratio_mode: str = DEFAULTS.ratio_mode,
        saliency_method: str | None = None,
        smoothing: int = DEFAULTS.smoothing,
        *,
        params: SegmentParams | None = None,
        check: Callable[[], None] | None = None,
    ) -> SegmentationResult:
        """Segment ``image`` into about ``n_segments`` superpixels inside the prior's objects.

        The defaults of the tunable parameters are those of :data:`spam_gui.core.params.DEFAULTS`.

        Parameters
        ----------
        image:
            (H, W, 3) uint8 RGB; grey and RGBA are converted.
        n_segments:
            K, the number of superpixels wanted (clamped to the pixel count, with a warning).
        prior:
            (H, W) integer object map, 0 = uncertain; any ids. None: the image is one object.
            A map of another size with the image's aspect ratio (computed on a downscaled
            copy) is resized onto the image, nearest neighbour
            (:func:`spam_gui.core.engine.fullres.grid.map_onto`).
        ratios:
            ``{object_id: r}`` density multipliers (paper Fig. 4b).
        lambda_s, lambda_c:
            Weights of positions (regularity) and colour (docs/algorithm.md §2).
        n_iter:
            Clustering iterations T.
        seed:
            Seeds the random seed placement; the same seed gives the same result.
        saliency:
            (H, W) map in [0, 1]; when given, visual-attention budgets (paper §3.3): objects
            whose mean saliency exceeds ``saliency_threshold`` get ``attention_ratio`` times
            the density, the rest share what is left so the total stays K. A map of another
            size with the image's aspect ratio is resized onto the image (bilinear).
        ratio_mode:
            ``"local"`` or ``"keep-total"`` (see :func:`spam_gui.core.engine.budget.ratio_budget`).
        saliency_method:
            Name of the saliency source, recorded in ``params``.
        smoothing:
            Passes of the 3 x 3 same-object majority filter on the hard labels before
            connectivity (:func:`spam_gui.core.engine.smoothing.majority_filter`); 0 keeps the plain
            argmax labels of docs/algorithm.md §4. One pass removes most single-pixel speckle, so fewer
            stray pieces survive as extra superpixels (lower ΔK) and shapes are more regular.
        params:
            Every tunable parameter at once (:class:`spam_gui.core.params.SegmentParams`):
            when given, it replaces ``n_segments``, ``lambda_s``, ``lambda_c``, ``n_iter``,
            ``seed``, ``attention_ratio``, ``saliency_threshold``, ``ratio_mode`` and
            ``smoothing``.
        check:
            Called between the stages of a large photo's run (and between its row tiles);
            an exception it raises stops the run (the app's cancellation).
        """
        if params is not None:
            n_segments, lambda_s, lambda_c = params.n_segments, params.lambda_s, params.lambda_c
            n_iter, seed, smoothing = params.n_iter, params.seed, params.smoothing
            attention_ratio, saliency_threshold = params.attention_ratio, params.saliency_threshold
            ratio_mode = params.ratio_mode
        t_start = time.perf_counter()
        check_image_size(np.shape(image)[1], np.shape(image)[0])
        rgb = to_rgb_uint8(image)
        h, w = rgb.shape[:2]
        n_pix = h * w
        k_req = int(n_segments)
        if k_req < 1:
            raise ValueError(f"n_segments must be >= 1, got {n_segments}")
        notes: list[str] = []   # what the caller is told (warnings, params["notes"])
        if k_req > n_pix:
            notes.append(f"n_segments={k_req} exceeds the {n_pix} pixels of the image; "
                         f"using {n_pix}")
            warnings.warn(notes[-1], stacklevel=2)
            k_req = n_pix
        if n_iter < 0:
            raise ValueError("n_iter must be >= 0")
        if smoothing < 0:
            raise ValueError("smoothing must be >= 0")
        if ratio_mode not in budget_mod.RATIO_MODES:
            raise ValueError(f"ratio_mode must be one of {budget_mod.RATIO_MODES}")
        objects = self._objects_map(prior, h, w)
        # a large photo clusters on a working grid and is labelled at full resolution
        grid = plan_working_grid(h, w, k_req)
        if grid is None:
            feats = self.features(rgb)
            image_key = feats.key
        else:
            work_rgb = grid.resize(rgb)
            feats = self.features(work_rgb, check)
            image_key = hash_array(rgb)
        t_feat = time.perf_counter()

        if grid is None:
            ids, areas, order, starts = _object_index(objects)
        else:
            ids, areas = object_areas(objects)
        no_objects = ids.size == 0
        work_objects = objects if not no_objects else np.ones_like(objects)
        if no_objects:
            if grid is None:
                ids, areas, order, starts = _object_index(work_objects)
            else:
                ids, areas = object_areas(work_objects)
        # a ratio saved for an object the prior no longer has (a changed prior map) is dropped
        # and reported (``params["dropped_ratios"]``), never an error on every later run
        kept_ratios, dropped_ratios = budget_mod.split_ratios(
            ids, None if no_objects else ratios)
        if dropped_ratios:
            notes.append(dropped_ratio_message(dropped_ratios))
            warnings.warn(DroppedRatiosWarning(notes[-1]), stacklevel=2)
        r_user = budget_mod.ratios_array(ids, kept_ratios)

        salient: np.ndarray | None = None
        capped: bool | None = None
        if saliency is not None and not no_objects:
            sal = np.asarray(saliency, dtype=np.float64 if grid is None else np.float32)
            if sal.shape != (h, w):   # another resolution: same aspect ratio, resized
                sal = map_onto(sal, h, w, "the saliency map", nearest=False).astype(
                    sal.dtype, copy=False)
            sums = (_sum_per_object(sal, order, starts) if grid is None
                    else sum_per_object(sal, objects, ids))
            salient = (sums / areas) > float(saliency_threshold)
            allocation = budget_mod.attention_allocation(areas, k_req, salient, attention_ratio)
            base, capped = allocation.k, allocation.capped
            va_density = np.ones(ids.size)
            if salient.any() and (~salient).any():
                for part in (salient, ~salient):
                    va_density[part] = base[part].sum() / (k_req * areas[part].sum() / areas.sum())
        else:
            base = budget_mod.uniform_budget(areas, k_req)
            va_density = np.ones(ids.size)
        quota = k_req * areas / areas.sum() * va_density
        if ratio_mode == "keep-total" and not np.allclose(r_user, 1.0) and salient is None:
            k_obj = budget_mod.ratio_budget(areas, k_req, r_user, mode="keep-total")
        else:
            k_obj = np.where(np.isclose(r_user, 1.0), base,
                             np.maximum(1, np.rint(r_user * quota))).astype(np.int64)
        k_obj = np.minimum(k_obj, areas)
        density = va_density * r_user
        if ratio_mode == "keep-total" and salient is None and not np.allclose(r_user, 1.0):
            density = budget_mod.density_ratios(areas, k_obj, k_req)

        info = {
            int(o): ObjectInfo(int(o), int(a), float(r), int(k),
                               None if salient is None else bool(salient[i]), capped)
            for i, (o, a, r, k) in enumerate(zip(ids, areas, r_user, k_obj))
        }
        params = {
            "n_segments": int(n_segments), "n_segments_used": k_req,
            "lambda_s": float(lambda_s), "lambda_c": float(lambda_c), "n_iter": int(n_iter),
            "seed": int(seed), "ratio_mode": ratio_mode, "smoothing": int(smoothing),
            "encoder": self.encoder_name, "encoder_sha256": self.encoder_sha256,
            "feature_dim": self.feature_dim, "prior": prior is not None,
            "attention": saliency is not None,
            "attention_ratio": float(attention_ratio) if saliency is not None else None,
            "saliency_threshold": float(saliency_threshold) if saliency is not None else None,
            "saliency_method": saliency_method if saliency is not None else None,
            "attention_capped": capped,
            "program_version": __version__,
        }
        if dropped_ratios:
            params["dropped_ratios"] = {str(o): r for o, r in sorted(dropped_ratios.items())}
        work_state = None
        if grid is None:
            labels, sp_obj, t_parts = self._cluster(
                feats, work_objects, ids, areas, order, starts, k_obj, density, k_req,
                lambda_s, lambda_c, n_iter, seed, int(smoothing),
            )
        else:
            labels, sp_obj, t_parts, work_state = cluster_working(
                rgb, work_objects, grid, work_rgb, feats.appearance(lambda_c),
                0 if feats.deep is None else int(feats.deep.shape[1]), ids, areas, k_obj,
                density, k_req, lambda_s, lambda_c, n_iter, seed, int(smoothing), self.device,
                check=check)
            if sp_obj.shape[0] - 1 > MAX_LABELS:
                warnings.warn(f"{sp_obj.shape[0] - 1} superpixels: more than a 16-bit PNG can "
                              "hold", stacklevel=2)
            params["working_size"] = [grid.work_width, grid.work_height]
        if no_objects:
            sp_obj = np.zeros_like(sp_obj)
        delivered = int(sp_obj.shape[0] - 1)
        if delivered < SHORT_OF_K * k_req:
            notes.append(f"n_segments={k_req} asked, {delivered} superpixels delivered: this "
                         "image (or its prior's objects) cannot hold more at this density")
            warnings.warn(notes[-1], stacklevel=2)
        if notes:
            params["notes"] = list(notes)
        timings = {"features": t_feat - t_start, **t_parts,
                   "total": time.perf_counter() - t_start}
        return SegmentationResult(
            labels=labels, objects=objects, superpixel_object=sp_obj, objects_info={} if no_objects else info,
            params=params, timings=timings, image_key=image_key,
            _quota={int(o): float(q) for o, q in zip(ids, quota)},
            _base_k={int(o): int(b) for o, b in zip(ids, base)},
            _density={int(o): float(d) for o, d in zip(ids, va_density)},
            _image=rgb, _work=work_state,
        )

    def _rescale_target(self, result: SegmentationResult, oid: int, ratio: float
                        ) -> tuple[int, float]:
        """(k, density) of object ``oid`` re-clustered at ``ratio`` (:meth:`rescale`)."""
        if oid not in result.objects_info:
            raise ValueError(f"object {oid} is not in this result's prior")
        if not ratio > 0:
            raise ValueError(f"ratio must be positive, got {ratio}")
        old = result.objects_info[oid]
        quota = result._quota[oid]
        k_new = old.k if math.isclose(ratio, old.ratio) else (
            result._base_k[oid] if math.isclose(ratio, 1.0) else max(1, int(round(ratio * quota))))
        return int(min(k_new, old.area)), result._density[oid] * ratio

    def preview_rescale(self, result: SegmentationResult, object_id: int, ratio: float
                        ) -> EditPreview | None:
        """The working-grid view of :meth:`rescale` on a large photo, in tens of milliseconds:
        the object's cells re-clustered exactly as :meth:`rescale` will (pass the preview to
        it and only the full-resolution labelling is left).

        Returns None for a photo segmented at full resolution (its :meth:`rescale` is quick)
        and for an object too small for the working grid.
        """
        work = result._work
        oid = int(object_id)
        if work is None or result._image is None:
            return None
        k_new, density = self._rescale_target(result, oid, ratio)
        cells, of_obj = object_cells(work, result.labels, result.objects,
                                     result.superpixel_object, oid)
        if oid in work.small_ids or int(of_obj.sum()) < SMALL_POINTS_PER_SEED * k_new:
            return None
        p = result.params
        feats = self.features(work.work_rgb)
        cc = cluster_cells(result._image, work, feats.appearance(p["lambda_c"]),
                           0 if feats.deep is None else int(feats.deep.shape[1]), cells, of_obj,
                           oid, k_new, density, p["n_segments_used"], p["lambda_s"],
                           p["lambda_c"], p["n_iter"], p["seed"], self.device)
        return preview_of(work.grid, [cc])

    def preview_edit(self, result: SegmentationResult, objects: np.ndarray,
                     changed: set[int] | frozenset[int], ratios: Mapping[int, float] | None = None,
                     on_grid: bool = False) -> EditPreview | None:
        """The working-grid view of an object edit on a large photo (merge, split, draw,
        erase): the new objects at each working cell, and each changed object's cells
        clustered at its density (uniform density times its ratio and attention). Shown while
        :func:`spam_gui.core.engine.object_edits.resegment_objects` computes the result.

        ``objects``: the new full-resolution map, or (``on_grid``) the new objects of the
        working cells themselves (the edit made on the working grid). Returns None for a photo
        segmented at full resolution.
        """
        work = result._work
        if work is None or result._image is None:
            return None
        g = work.grid
        cr, cc = g.centre_rows(), g.centre_cols()
        new_w = (np.asarray(objects) if on_grid else np.asarray(objects)[cr][:, cc]).astype(
            np.int32)
        old_w = np.asarray(result.objects)[cr][:, cc]
        p = result.params
        h, w = g.shape
        per_cell = float(p["n_segments_used"]) / float(h * w)
        feats = self.features(work.work_rgb)
        app_w = feats.appearance(p["lambda_c"])
        deep_dim = 0 if feats.deep is None else int(feats.deep.shape[1])
        flat = new_w.ravel()
        parts = []
        for oid in sorted(int(o) for o in changed):
            cells = np.flatnonzero(flat == oid).astype(np.int64)
            if not cells.size:
                continue
            density = float(result._density.get(oid, 1.0)) * float((ratios or {}).get(oid, 1.0))
            k = int(min(max(1, round(cells.size * per_cell * density)), cells.size))
            parts.append(cluster_cells(result._image, work, app_w, deep_dim, cells,
                                       np.ones(cells.size, bool), oid, k, density,
                                       p["n_segments_used"], p["lambda_s"], p["lambda_c"],
                                       p["n_iter"], p["seed"], self.device))
        return preview_of(g, parts, objects=new_w, cells=new_w != old_w)

    def rescale(self, result: SegmentationResult, object_id: int, ratio: float,
                preview: EditPreview | None = None,
                check: Callable[[], None] | None = None) -> SegmentationResult:
        """Re-cluster one object with a new density ratio; every other superpixel is kept.

        Parameters
        ----------
        result:
            A result of :meth:`segment` (or of an earlier :meth:`rescale`).
        object_id:
            The object to change.
        ratio:
            Its new absolute density ratio (2 = twice the uniform density; 1 = reset).
        preview:
            :meth:`preview_rescale` of the same call, already shown: its working clustering is
            reused (the result is the same with or without it).
        check:
            Called during a large photo's full-resolution labelling; it may raise to cancel.

        Returns
        -------
        A new result. Superpixels of other objects keep their pixels. The object's new
        superpixels reuse its old label values first, so other superpixels keep their values
        too, except when the object ends up with fewer superpixels: labels stay exactly 1..N,
        so the highest values then move into the freed ones.
        """
        t0 = time.perf_counter()
        oid = int(object_id)
        k_new, density = self._rescale_target(result, oid, ratio)
        if result._image is None:
            raise ValueError("this result carries no image; segment the image again")
        p = result.params
        work = result._work
        feats = self.features(result._image if work is None else work.work_rgb)
        h, w = result.labels.shape
        old = result.objects_info[oid]
        if work is not None:   # a large photo: re-cluster on its working grid, label locally
            labels, sp_obj = rescale_working(
                result._image, result.labels, result.objects, result.superpixel_object, work,
                feats.appearance(p["lambda_c"]),
                0 if feats.deep is None else int(feats.deep.shape[1]), oid, k_new, density,
                old.area / k_new, p["n_segments_used"], p["lambda_s"], p["lambda_c"],
                p["n_iter"], p["seed"], int(p.get("smoothing", 0)), self.device,
                clustered=None if preview is None else preview.clustering_of(oid), check=check)
            info = dict(result.objects_info)
            info[oid] = replace(old, ratio=float(ratio), k=k_new)
            return replace(result, labels=labels, superpixel_object=sp_obj, objects_info=info,
                           timings={**result.timings, "rescale": time.perf_counter() - t0})

        old_labels = result.labels
        mine = result.superpixels_of(oid)
        in_mine = np.zeros(result.superpixel_object.shape[0], bool)
        in_mine[mine] = True
        region = (result.objects == oid) | ((result.objects == 0) & in_mine[old_labels])
        pix = np.flatnonzero(region.ravel())
        obj_pix = np.flatnonzero((result.objects == oid).ravel())
        pos_all = pixel_positions(h, w)
        seeds = kmeans_seeds(pos_all[obj_pix], k_new, object_rng(p["seed"], oid))
        s = position_scale(h, w, p["n_segments_used"], p["lambda_s"])
        radius = CANDIDATE_RADIUS * math.sqrt(h * w / p["n_segments_used"]) / math.sqrt(density)
        groups = build_groups(
            pos_all[pix], np.full(pix.size, oid, np.int64), seeds,
            np.full(seeds.shape[0], oid, np.int64), np.full(seeds.shape[0], radius),
            np.full(seeds.shape[0], s * math.sqrt(density)),
        )
        sc = cluster(_pixel_features(feats, p["lambda_c"], pix), groups, p["n_iter"], self.device)
        n_old = result.n_superpixels
        tmp = old_labels.astype(np.int64).copy()
        tmp.ravel()[pix] = n_old + 1 + sc.labels
        label_object = np.concatenate([result.superpixel_object.astype(np.int64),
                                       np.full(seeds.shape[0], oid, np.int64)])
        new_label_ids = np.arange(n_old + 1, n_old + 1 + seeds.shape[0])
        box, groups_box, piece_label = smooth_and_connect_region(
            tmp, result.objects, label_object, new_label_ids, region,
            int(p.get("smoothing", 0)), {oid: old.area / k_new})
        groups = np.zeros(tmp.shape, dtype=np.int64)
        groups[box] = groups_box
        labels, sp_obj = _relabel_object(old_labels, result.superpixel_object, groups, piece_label,
                                         region, oid)
        info = dict(result.objects_info)
        info[oid] = replace(old, ratio=float(ratio), k=k_new)
        # the segmentation's own timings stay (the sidecar reports them), plus this rescale
        timings = {**result.timings, "rescale": time.perf_counter() - t0}
        return replace(result, labels=labels, superpixel_object=sp_obj, objects_info=info,
                       timings=timings)

    # -- internals -------------------------------------------------------------------------
    @staticmethod
    def _objects_map(prior: np.ndarray | None, h: int, w: int) -> np.ndarray:
        if prior is None:
            return np.ones((h, w), dtype=np.int32)
        pr = np.asarray(prior)
        if pr.shape != (h, w):   # a prior of another resolution: same aspect ratio, resized
            pr = map_onto(pr, h, w, "the prior", nearest=True)
        if not np.issubdtype(pr.dtype, np.integer):
            if np.issubdtype(pr.dtype, np.floating) and np.all(np.mod(pr, 1) == 0):
                pr = pr.astype(np.int64)
            elif pr.dtype == bool:
                pr = pr.astype(np.int64)
            else:
                raise ValueError(f"the prior must hold integer object ids, got dtype {pr.dtype}")
        if pr.size and pr.min() < 0:
            raise ValueError("the prior must not hold negative ids (0 = uncertain)")
        if pr.size and pr.max() > np.iinfo(np.int32).max:
            raise ValueError("prior object ids must fit in 32 bits")
        return pr.astype(np.int32, copy=True)

    def _cluster(self, feats: ImageFeatures, objects: np.ndarray, ids: np.ndarray,
                 areas: np.ndarray, order: np.ndarray, starts: np.ndarray, k_obj: np.ndarray,
                 density: np.ndarray, k_req: int, lambda_s: float, lambda_c: float,
                 n_iter: int, seed: int, smoothing: int
                 ) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
        t0 = time.perf_counter()
        h, w = objects.shape
        pos = pixel_positions(h, w)

        def points_of(i: int) -> np.ndarray:
            pix = order[starts[i]:starts[i + 1]]
            return pos if pix.size == pos.shape[0] else pos[pix]  # (pix is then 0..P-1)

        seed_pos_a, seed_obj_a, seed_rad, seed_scale = object_seeds(
            points_of, ids, k_obj, density, h, w, k_req, lambda_s, seed)
        t1 = time.perf_counter()
        groups = build_groups(pos, objects.ravel(), seed_pos_a, seed_obj_a, seed_rad, seed_scale)
        t2 = time.perf_counter()
        hard = cluster(_pixel_features(feats, lambda_c), groups, n_iter,
                       self.device).labels.reshape(h, w) + 1
        t3 = time.perf_counter()
        label_object = np.concatenate([[0], seed_obj_a])
        if smoothing:
            one_object = ids.size == 1 and not (objects == 0).any()
            hard = majority_filter(hard, None if one_object else objects,
                                   None if one_object else label_object, passes=smoothing)
        mean_size = {int(o): float(a) / float(k) for o, a, k in zip(ids, areas, k_obj)}
        groups, piece_label = enforce_connectivity(hard, objects, label_object, mean_size)
        labels, old_ids = renumber(groups)
        if labels.max(initial=0) > MAX_LABELS:
            warnings.warn(f"{int(labels.max())} superpixels: more than a 16-bit PNG can hold",
                          stacklevel=3)
        sp_obj = np.zeros(old_ids.size, dtype=np.int32)
        sp_obj[1:] = label_object[piece_label[old_ids[1:]]]
        t4 = time.perf_counter()
        return labels.astype(np.int32), sp_obj, {
            "seeds": t1 - t0, "candidates": t2 - t1, "clustering": t3 - t2, "connectivity": t4 - t3,
        }


def _pixel_features(feats: ImageFeatures, lambda_c: float,
                    pixels: np.ndarray | None = None) -> PixelFeatures:
    """The clustering's view of cached features: ``[E, lambda_c * Lab]`` and positions, for
    all pixels or the ``pixels`` given (nothing is concatenated or copied here)."""
    colour = (feats.lab, float(lambda_c))
    parts = [colour] if feats.deep is None else [(feats.deep, 1.0), colour]
    return PixelFeatures(parts, feats.positions, pixels)


def _object_index(objects: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Object ids (> 0), their areas, and the raster indices of their pixels grouped by object
    (``order[starts[i]:starts[i+1]]`` are object i's pixels)."""
    flat = objects.ravel()
    if flat.size and flat.min() == flat.max():  # one object, or all uncertain: nothing to sort
        order = np.arange(flat.size)
        ids, counts = flat[:1].copy(), np.array([flat.size])
    else:
        order = np.argsort(flat, kind="stable")
        ids, counts = np.unique(flat[order], return_counts=True)
    starts = np.concatenate([[0], np.cumsum(counts)])
    if ids.size and ids[0] == 0:
        order = order[counts[0]:]
        starts = starts[1:] - counts[0]
        ids, counts = ids[1:], counts[1:]
    return ids.astype(np.int64), counts.astype(np.int64), order, starts


def _sum_per_object(values: np.ndarray, order: np.ndarray, starts: np.ndarray) -> np.ndarray:
    flat = values.ravel()[order]
    csum = np.concatenate([[0.0], np.cumsum(flat, dtype=np.float64)])
    return csum[starts[1:]] - csum[starts[:-1]]


def smooth_and_connect_region(labels: np.ndarray, objects: np.ndarray, label_object: np.ndarray,
                              new_label_ids: np.ndarray, region: np.ndarray, passes: int,
                              sizes: Mapping[int, float]
                              ) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray]:
    """Smooth and split into connected pieces the superpixels just clustered in a region (a
    rescaled object, edited objects), on the region's box only (one pixel wider, to see the
    neighbours).

    Parameters
    ----------
    labels:
        (H, W) int64 label map holding the new labels in ``region``; its box is smoothed in
        place.
    objects:
        (H, W) the object of each pixel.
    label_object:
        The object of each label value (new labels included).
    new_label_ids:
        The label values of the new superpixels: only those are smoothed and split.
    region:
        (H, W) bool, the pixels clustered anew.
    passes:
        Majority-filter passes (:func:`spam_gui.core.engine.smoothing.majority_filter`; 0: none).
    sizes:
        The mean superpixel area of each object re-clustered (for the connectivity's
        small-piece merge).

    Returns
    -------
    box : tuple of slice
        The region's box.
    groups : ndarray
        The connected groups on the box (:func:`spam_gui.core.engine.connectivity.enforce_connectivity`).
    piece_label : ndarray
        The label each group came from.

    References
    ----------
    ``docs/algorithm.md`` §4 (the majority filter and the object-constrained connectivity).
    """
    ys, xs = np.nonzero(region)
    box = (slice(max(ys.min() - 1, 0), ys.max() + 2), slice(max(xs.min() - 1, 0), xs.max() + 2))
    if passes:
        allowed = np.zeros(label_object.shape[0], bool)
        allowed[new_label_ids] = True
        labels[box] = majority_filter(labels[box], objects[box], label_object, passes=passes,
                                      mutable=region[box], allowed_labels=allowed)
    groups, piece_label = enforce_connectivity(labels[box], objects[box], label_object, sizes,
                                               active_labels=new_label_ids)
    return box, groups, piece_label


def _relabel_object(old_labels: np.ndarray, old_sp_obj: np.ndarray, groups: np.ndarray,
                    piece_label: np.ndarray, region: np.ndarray, oid: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Give the re-clustered object's new superpixels label values, keeping every other
    superpixel's value; labels stay exactly 1..N (:func:`relabel_values`)."""
    reg = region.ravel()
    values, sp_obj, mapping = relabel_values(old_sp_obj, groups.ravel()[reg], oid)
    labels = old_labels.astype(np.int64).copy()
    labels.ravel()[reg] = values
    if mapping is not None:
        labels = mapping[labels]
    return labels.astype(np.int32), sp_obj
