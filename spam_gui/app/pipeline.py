"""The app's pipeline: image → prior → saliency → SPAM → overlays, with small in-memory caches.

:class:`Pipeline` does the work for :mod:`spam_gui.app.worker`'s threads; it has no Qt signal
and no widget, only numpy / core calls, and it is thread-safe. :class:`EngineConfig` is what is
global to every image (encoder, prior source, device...), :class:`Outcome` what one
segmentation produced.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from spam_gui.app.model.doc_data import Params, Prompt
from spam_gui.app.model.rasters import (
    OverlayStyle, Patch, PreviewRaster, changed_region, make_patch, preview_raster,
)
from spam_gui.core.engine.fullres.preview import EditPreview, preview_of
from spam_gui.core.io.cache import DiskCache
from spam_gui.core.errors import SpamError
from spam_gui.core.io.images import read_image
from spam_gui.core.params import DEFAULTS, SAM_DEFAULTS
from spam_gui.core.pipeline import (ImageRequest, image_digest, run_image, saliency_of,
                                    source_context)
from spam_gui.core.prior.sources import (
    EditedSource, PriorOutcome, PriorSource, SamSource, SourceContext, choose_source,
)
from spam_gui.core.engine.result_cache import RESULT_CACHE

log = logging.getLogger(__name__)

_request_ids = itertools.count(1)


def next_request_id() -> int:
    return next(_request_ids)


class Cancelled(Exception):
    """A job was cancelled between two stages."""


# ----------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class EngineConfig:
    """Everything global (not per image) that a segmentation depends on."""

    encoder: str = "default"      # "default" (shipped) | "none" | path of a weight file
    device: str = "auto"          # "auto" | "cpu" | "cuda"
    prior_source: str = "auto"    # one of PRIOR_SOURCES
    prior_folder: str = ""        # folder of <stem>.png label maps; "" = <image folder>/priors
    sam_checkpoint: str = ""
    dino_checkpoint: str = ""
    sam_points_per_side: int = SAM_DEFAULTS.points_per_side  # SAM's grid of point prompts

    def signature(self) -> str:
        src = self.prior_source
        d = {
            "encoder": self.encoder, "device": self.device, "prior": src,
            "folder": self.prior_folder if src in ("maps", "auto") else "",
            "sam": self.sam_checkpoint if src in ("sam", "auto") else "",
            "pps": self.sam_points_per_side if src in ("sam", "auto") else 0,
            "dino": self.dino_checkpoint,
        }
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]

    def maps_folder(self, image_path: Path) -> Path:
        return Path(self.prior_folder) if self.prior_folder else Path(image_path).parent / "priors"

    def source(self, image_path: Path, coarseness: float | None = None,
               objects: np.ndarray | None = None, sam_lock: Any = None) -> PriorSource:
        """The prior source of an image (:func:`spam_gui.core.prior.sources.choose_source`):
        ``auto`` picks a prior map file if there is one, else SAM if a checkpoint is set, else
        the built-in prior (no download needed); an edited object map replaces any source."""
        return choose_source(image_path, self.prior_source,
                             maps_folder=self.maps_folder(image_path), coarseness=coarseness,
                             sam_checkpoint=self.sam_checkpoint or None,
                             points_per_side=self.sam_points_per_side, objects=objects,
                             sam_lock=sam_lock)

    def source_for(self, image_path: Path) -> str:
        """The name of the prior source an image gets (:meth:`source`)."""
        if self.prior_source != "auto":
            return self.prior_source
        return self.source(image_path).name


@dataclass
class Outcome:
    """One segmentation of one image, with what is needed to draw and export it."""

    path: Path
    key: str                        # doc state key + config signature
    params: Params
    ratios: dict[int, float]
    prompts: tuple[Prompt, ...]
    image: np.ndarray
    result: Any                     # spam_gui.core.engine.spam.SegmentationResult
    prior_note: str
    prior_key: str                  # identifies the prior (same prior ⇒ patchable)
    saliency: np.ndarray | None = None
    saliency_method: str | None = None
    encoder_name: str = ""
    layers: Any = field(default=None, repr=False)   # spam_gui.app.overlays.LayerSet
    serial: int = field(default_factory=lambda: next(_request_ids))
    seconds: float = 0.0
    file_token: tuple[int, int] = (-1, -1)   # the file's (size, mtime) when it was read
    prior_info: dict[str, Any] = field(default_factory=lambda: {"source": "none"})
    saliency_info: dict[str, Any] | None = None   # with visual attention: the map's method

    @property
    def image_sha256(self) -> str:
        """The sha256 of the pixels this outcome was computed from."""
        return _image_digest(self.image)

    def is_current(self) -> bool:
        """False when the image file changed (or went) since this outcome was computed."""
        return file_token(self.path) == self.file_token

    def nbytes(self) -> int:
        n = self.image.nbytes + self.result.labels.nbytes + self.result.objects.nbytes
        if self.saliency is not None:
            n += self.saliency.nbytes
        if self.layers is not None:
            n += self.layers.nbytes()
        return n


def outcome_key(doc_key: str, config: EngineConfig) -> str:
    return f"{doc_key}:{config.signature()}"


# ----------------------------------------------------------------------------- small caches


class LRU:
    """A thread-safe LRU with a size cap in entries and optionally in bytes."""

    def __init__(self, max_items: int, max_bytes: int | None = None,
                 sizeof: Callable[[Any], int] | None = None) -> None:
        self._d: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.max_items, self.max_bytes = max_items, max_bytes
        self._sizeof = sizeof or (lambda v: 0)
        self._bytes = 0

    def get(self, key: Any) -> Any:
        with self._lock:
            v = self._d.get(key)
            if v is not None:
                self._d.move_to_end(key)
            return v

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            if key in self._d:
                self._bytes -= self._sizeof(self._d.pop(key))
            self._d[key] = value
            self._bytes += self._sizeof(value)
            while len(self._d) > 1 and (len(self._d) > self.max_items or (
                    self.max_bytes is not None and self._bytes > self.max_bytes)):
                _, old = self._d.popitem(last=False)
                self._bytes -= self._sizeof(old)

    def pop(self, key: Any) -> Any:
        with self._lock:
            v = self._d.pop(key, None)
            if v is not None:
                self._bytes -= self._sizeof(v)
            return v

    def clear(self) -> None:
        with self._lock:
            self._d.clear()
            self._bytes = 0

    def values(self) -> list[Any]:
        with self._lock:
            return list(self._d.values())

    def keys(self) -> list[Any]:
        with self._lock:
            return list(self._d.keys())

    def __contains__(self, key: Any) -> bool:
        with self._lock:
            return key in self._d


# ----------------------------------------------------------------------------- the pipeline


class Pipeline:
    """The app's use of the core, thread-safe; caches what it computes (no Qt, no widgets)."""

    def __init__(self, spam_factory: Callable[[str, str], Any] | None = None,
                 layer_builder: Callable[..., Any] | None = None) -> None:
        self._spam_factory = spam_factory
        # Builds the drawable overlays of a result (the app passes overlays.build_layers; the
        # pipeline itself has no Qt): (image, result, style, saliency) -> layers.
        self.layer_builder = layer_builder
        self._engines: dict[tuple[str, str], Any] = {}
        self._engine_lock = threading.Lock()
        self.images = LRU(8, 512 * 1024**2, lambda a: a.nbytes)
        # the prior sources' objects and the built-in prior's merge trees (re-cut for any
        # coarseness), by content (spam_gui.core.prior.sources)
        self.priors = LRU(40, 768 * 1024**2, _prior_nbytes)
        self.saliency_maps = LRU(16, 256 * 1024**2, lambda t: t[0].nbytes)
        self.prompt_masks = LRU(64, 256 * 1024**2, lambda m: m.nbytes)
        self.sam_sessions = LRU(2)
        self._sam_lock = threading.Lock()

    # -- engines --------------------------------------------------------------------------
    def engine(self, config: EngineConfig) -> Any:
        key = (config.encoder, config.device)
        with self._engine_lock:
            eng = self._engines.get(key)
            if eng is None:
                # a bad encoder file or an absent device raise a SpamError naming it
                if self._spam_factory is not None:
                    eng = self._spam_factory(config.encoder, config.device)
                else:
                    from spam_gui.core.engine.spam import Spam

                    eng = Spam(encoder=config.encoder, device=config.device)
                self._engines.clear()  # one engine at a time (settings changed)
                self._engines[key] = eng
            return eng

    def clear(self) -> None:
        for c in (self.images, self.priors, self.saliency_maps, self.prompt_masks):
            c.clear()

    def forget_images(self) -> None:
        """Drop every cached image (Recompute reads the files again)."""
        self.images.clear()

    def forget_priors(self) -> None:
        """Drop every cached prior (the prior source changed, or Recompute)."""
        self.priors.clear()

    def forget_image(self, path: Path) -> None:
        """Drop the cached pixels of ``path`` (its file changed)."""
        for k in self.images.keys():
            if k[0] == str(Path(path)):
                self.images.pop(k)

    # -- stages ---------------------------------------------------------------------------
    def image(self, path: Path) -> np.ndarray:
        """The image's pixels (RGB uint8, read-only), cached by path, size and mtime."""
        p = Path(path)
        key = (str(p), *file_token(p))
        img = self.images.get(key)
        if img is None:
            img = read_image(p)   # ImageReadError names the file
            img.setflags(write=False)
            self.images.put(key, img)
        return img

    def cached_image(self, path: Path) -> np.ndarray | None:
        """The pixels of ``path`` if they are cached and the file has not changed since."""
        return self.images.get((str(Path(path)), *file_token(Path(path))))

    def _context(self, image: np.ndarray, config: EngineConfig, n_segments: int,
                 progress: Callable[[float, str], None] | None = None) -> SourceContext:
        """What a prior source needs for ``image`` (its working grid decided by the core)."""
        return source_context(image, self.engine(config), n_segments,
                              digest=_image_digest(image), device=config.device,
                              memo=self.priors, progress=progress)

    def _source(self, path: Path, config: EngineConfig, coarseness: float | None = None,
                objects: np.ndarray | None = None) -> PriorSource:
        src = config.source(path, coarseness, objects, sam_lock=self._sam_lock)
        if isinstance(src, SamSource):
            src.run = lambda image, progress, _device: self._sam_prior(image, config, progress)
        return src

    def base_prior(self, path: Path, image: np.ndarray, config: EngineConfig,
                   progress: Callable[[float, str], None] | None = None,
                   coarseness: float | None = None,
                   n_segments: int = DEFAULTS.n_segments) -> PriorOutcome:
        """The objects of an image from its prior source (kept in :attr:`priors`): what the
        folder's SAM precompute calls ahead of time."""
        return self._source(path, config, coarseness).compute(
            self._context(image, config, n_segments, progress))

    def _sam_prior(self, image: np.ndarray, config: EngineConfig,
                   progress: Callable[[float, str], None] | None = None
                   ) -> tuple[Any, str, dict[str, Any]]:
        """The SAM prior (automatic masks + aggregation, docs/algorithm.md §5), through SAM's
        disk cache, one SAM model at a time: (prior, note, sidecar record)."""
        self._sam_module()   # SAM support installed, or a SpamError
        src = SamSource(config.sam_checkpoint, config.sam_points_per_side, self._sam_lock)
        return src.run_sam(image, progress, config.device)   # SamCheckpointError names the file

    @staticmethod
    def _sam_module() -> Any:
        try:
            from spam_gui.core.prior import sam as sam_mod
        except ImportError as exc:
            raise SpamError(f"SAM support is not available ({exc})") from None
        return sam_mod

    def sam_session(self, image: np.ndarray, config: EngineConfig) -> Any:
        """A SAM session (image embedding computed once, cached on disk) for click prompts."""
        key = (_image_digest(image), config.sam_checkpoint, config.device)
        sess = self.sam_sessions.get(key)
        if sess is None:
            sam_mod = self._sam_module()
            with self._sam_lock:
                model = sam_mod.load_sam(config.sam_checkpoint, config.device)
                sess = sam_mod.SamSession(model, image, cache=sam_mod.default_cache())
            self.sam_sessions.put(key, sess)
        return sess

    def prompt_mask(self, image: np.ndarray, prompt: Prompt, config: EngineConfig) -> np.ndarray:
        """SAM's mask for a set of clicks (x, y, 1 = positive / 0 = negative)."""
        key = (_image_digest(image), config.sam_checkpoint, prompt.points)
        m = self.prompt_masks.get(key)
        if m is not None:
            return m
        if not config.sam_checkpoint:
            raise SpamError("SAM click prompts need a SAM checkpoint (Preferences → Models)")
        sess = self.sam_session(image, config)
        pts = np.array([[x, y] for x, y, _ in prompt.points], np.float64)
        labs = np.array([lab for _, _, lab in prompt.points], np.int64)
        with self._sam_lock:
            m, _score = sess.predict(points=pts, labels=labs)
        m = np.asarray(m, bool)
        self.prompt_masks.put(key, m)
        return m

    def saliency(self, image: np.ndarray, config: EngineConfig) -> tuple[np.ndarray, str]:
        """The saliency map of an image and its method, cached by content."""
        sal, info = self.saliency_info(image, config)
        return sal, str(info["method"])

    def saliency_info(self, image: np.ndarray, config: EngineConfig
                      ) -> tuple[np.ndarray, dict[str, Any]]:
        """The saliency map and how the sidecar describes it (method, model...)."""
        return saliency_of(image, config.dino_checkpoint or None, config.device,
                           self.saliency_maps)   # a bad DINO checkpoint: named

    def segment(self, path: Path, params: Params, ratios: dict[int, float],
                prompts: tuple[Prompt, ...], config: EngineConfig, key: str,
                style: OverlayStyle | None, check: Callable[[], None] = lambda: None,
                on_image: Callable[[np.ndarray], None] | None = None,
                on_prior: Callable[[str], None] | None = None,
                want_heatmap: bool = False,
                progress: Callable[[float, str], None] | None = None,
                objects: Callable[[tuple[int, int]], np.ndarray | None] | None = None
                ) -> Outcome:
        """Segment an image through the core's per-image run
        (:func:`spam_gui.core.pipeline.run_image`); ``objects`` gives its edited object map
        for the image's shape (None, or None returned: the prior source's objects)."""
        t0 = time.perf_counter()
        token = file_token(Path(path))
        image = self.image(path)
        if on_image is not None:
            on_image(image)
        check()
        edited = objects(tuple(image.shape[:2])) if objects is not None else None

        def prior_progress(frac: float, text: str) -> None:
            check()                      # SAM's automatic masks stop here when cancelled
            if progress is not None:
                progress(frac, text)

        coarseness = getattr(params, "coarseness", None)
        source = self._source(path, config, coarseness, edited)
        if isinstance(source, EditedSource):   # what the edited objects came from
            name = config.source_for(path)
            source.base = {"source": {"maps": "label map"}.get(name, name),
                           **({"coarseness": coarseness} if name == "builtin" else {})}
        masks = [self.prompt_mask(image, prompt, config) for prompt in prompts]
        request = ImageRequest(image, params.segment_params(), source,
                               ratios={int(k): float(v) for k, v in ratios.items()} or None,
                               attention=params.va, saliency=want_heatmap,
                               dino_checkpoint=config.dino_checkpoint or None, masks=masks,
                               device=config.device, digest=_image_digest(image))
        engine = self.engine(config)
        run = run_image(request, engine, memo=self.priors, saliency_memo=self.saliency_maps,
                        check=check, progress=prior_progress, on_prior=on_prior,
                        result_cache=DiskCache(RESULT_CACHE))
        check()
        res, sal = run.result, run.saliency
        layers = (self.layer_builder(image, res, style, sal)
                  if style is not None and self.layer_builder is not None else None)
        sal_info = run.saliency_info
        return Outcome(path=Path(path), key=key, params=params, ratios=dict(ratios),
                       prompts=tuple(prompts), image=image, result=res,
                       prior_note=run.prior_note, prior_key=run.prior_key, saliency=sal,
                       saliency_method=None if sal_info is None else str(sal_info["method"]),
                       encoder_name=getattr(engine, "encoder_name", ""), layers=layers,
                       seconds=time.perf_counter() - t0, file_token=token,
                       prior_info=run.prior_info, saliency_info=sal_info if params.va else None)

    def edit_objects(self, base: Outcome, objects: np.ndarray, ratios: dict[int, float],
                     key: str, config: EngineConfig, style: OverlayStyle | None,
                     check: Callable[[], None] | None = None) -> Outcome:
        """``base`` with another object map: only the objects the edit touched are re-clustered
        (:func:`spam_gui.core.engine.object_edits.resegment_objects`); the overlays are rebuilt."""
        from spam_gui.core.engine.object_edits import resegment_objects

        t0 = time.perf_counter()
        engine = self.engine(config)
        res = resegment_objects(engine, base.result, objects, ratios, check=check)
        info = base.prior_info   # the chain: edits of edits keep what the first came from
        came_from = info.get("edited_from") if info.get("source") == "edited" else info
        edited = EditedSource(objects, came_from).compute(self._context(base.image, config, 1))
        layers = (self.layer_builder(base.image, res, style, base.saliency)
                  if style is not None and self.layer_builder is not None else None)
        return replace(base, key=key, ratios=dict(ratios), prompts=(), result=res,
                       prior_note=edited.note, prior_key=edited.key, prior_info=edited.info,
                       layers=layers, serial=next_request_id(),
                       seconds=time.perf_counter() - t0)

    def preview_transition(self, base: Outcome, target_ratios: dict[int, float],
                           config: EngineConfig, style: OverlayStyle
                           ) -> tuple[EditPreview, PreviewRaster] | None:
        """The working-grid preview of density clicks on a large photo
        (:meth:`spam_gui.core.engine.spam.Spam.preview_rescale` of each object whose ratio
        changed: clicks made while the last one computed) and its rasters; None when there is
        none to show (a small photo, objects too small for the working grid)."""
        changed = _changed_ratios(base.ratios, target_ratios)
        work = getattr(base.result, "_work", None)
        if not changed or work is None:
            return None
        engine = self.engine(config)
        parts = []
        for oid in sorted(changed):
            if oid in base.result.objects_info:
                pv = engine.preview_rescale(base.result, oid, target_ratios.get(oid, 1.0))
                if pv is not None:
                    parts.extend(pv.clusterings)
        if not parts:
            return None
        pv = preview_of(work.grid, parts)
        raster = preview_raster(pv, style)
        return None if raster is None else (pv, raster)

    def preview_edit(self, base: Outcome, objects: np.ndarray, ratios: dict[int, float],
                     config: EngineConfig, style: OverlayStyle | None,
                     make: Callable[[np.ndarray], Any] | None = None
                     ) -> tuple[EditPreview, PreviewRaster] | None:
        """The working-grid preview of an object edit on a large photo
        (:meth:`spam_gui.core.engine.spam.Spam.preview_edit`): the objects whose cells
        changed, re-clustered on the working grid; None for a small photo.

        ``objects``: the edited full-resolution map; or, with ``make`` (the edit, ``make(map)
        -> ObjectEdit``, at any resolution), the map before the edit, which is then made on
        the working cells alone: a preview without the full-resolution edit."""
        work = getattr(base.result, "_work", None)
        if work is None or style is None:
            return None
        g = work.grid
        cr, cc = g.centre_rows(), g.centre_cols()
        new_w = np.ascontiguousarray(np.asarray(objects)[cr][:, cc])
        if make is not None:
            try:
                new_w = np.asarray(make(new_w.astype(np.int32)).objects)
            except SpamError:      # (e.g. a cut too thin for the grid: no preview)
                return None
        old_w = np.asarray(base.result.objects)[cr][:, cc]
        diff = new_w != old_w
        changed = {int(i) for i in np.unique(new_w[diff]) if i > 0}
        if not diff.any():
            return None
        pv = self.engine(config).preview_edit(base.result, new_w, changed, ratios, on_grid=True)
        colors = getattr(base.layers, "colors", None)
        raster = None if pv is None else preview_raster(pv, style, colors)
        return None if raster is None else (pv, raster)

    def transition(self, base: Outcome, target_ratios: dict[int, float], key: str,
                   config: EngineConfig, style: OverlayStyle, cached: Outcome | None = None,
                   preview: EditPreview | None = None,
                   check: Callable[[], None] | None = None) -> tuple[Outcome, Patch | None]:
        """Go from ``base`` to the same image with other ratios: by rescaling each changed
        object (or taking ``cached``), and a patch of the overlays over the changed region.
        ``preview`` (:meth:`preview_transition`, already shown) lends its clustering."""
        t0 = time.perf_counter()
        changed = _changed_ratios(base.ratios, target_ratios)
        if cached is not None:
            target = cached
            res = cached.result
        else:
            engine = self.engine(config)
            res = base.result
            for oid in sorted(changed):
                if oid in res.objects_info:
                    res = engine.rescale(res, oid, target_ratios.get(oid, 1.0),
                                         preview=preview, check=check)
            target = replace(base, key=key, ratios=dict(target_ratios), result=res, layers=None,
                             serial=next_request_id())
        patch = None
        region = changed_region(base.result, res, changed) if changed else None
        if region is not None:
            patch = make_patch(base.image, res, region, style, changed,
                               meanfill=getattr(base.layers, "meanfill", None) is not None)
        target.seconds = time.perf_counter() - t0
        return target, patch


def _changed_ratios(before: dict[int, float], after: dict[int, float]) -> set[int]:
    """The objects whose density ratio differs between two ratio maps (missing: 1)."""
    return {o for o in set(before) | set(after)
            if not math.isclose(before.get(o, 1.0), after.get(o, 1.0))}


_digests: dict[int, tuple[Any, str]] = {}
_digest_lock = threading.Lock()


def _image_digest(image: np.ndarray) -> str:
    """The sha256 of an image's shape and every pixel: the content key of every cache.

    Hashed once per array (kept by identity while the array lives): two images that differ in
    a single pixel never share a cached SAM, prompt or saliency result.
    """
    with _digest_lock:
        hit = _digests.get(id(image))
        if hit is not None and hit[0]() is image:
            return hit[1]
    digest = image_digest(image)
    try:
        ref = weakref.ref(image, lambda _r, k=id(image): _forget_digest(k, _r))
    except TypeError:  # a view of something that takes no weak reference: do not keep it
        return digest
    with _digest_lock:
        _digests[id(image)] = (ref, digest)
    return digest


def _forget_digest(key: int, ref: Any) -> None:
    with _digest_lock:
        hit = _digests.get(key)
        if hit is not None and hit[0] is ref:
            del _digests[key]


def file_token(path: Path) -> tuple[int, int]:
    """(size, modification time in ns) of a file, (-1, -1) when it cannot be read: what tells
    that a file changed under the app since it was read."""
    try:
        st = Path(path).stat()
    except OSError:
        return (-1, -1)
    return (st.st_size, st.st_mtime_ns)


def _prior_nbytes(value: Any) -> int:
    """Memory of what :attr:`Pipeline.priors` keeps: objects, or a merge tree."""
    if isinstance(value, PriorOutcome):
        return 0 if value.object_map is None else int(value.object_map.nbytes)
    fine = getattr(value, "fine", None)
    return 0 if fine is None else int(fine.nbytes) * 3

