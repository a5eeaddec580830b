"""The built-in object prior: objects for any image, no checkpoint to download.

Fine SPAM superpixels (no prior) are the leaves of a region adjacency graph (RAG); the pair of
adjacent regions that looks most alike is merged, again and again, until one region is left
(greedy agglomerative merging, as in the ultrametric contour maps of Arbelaez et al. 2011).
Each merge gets a *height* in [0, 1], the dissimilarity of the two regions it joins: a
learned probability that the two regions belong to different objects
(:class:`EdgeModel`, a small network over the regions' Lab colour and texture
statistics, the shipped encoder's deep features and the boundary strength along the shared
border, trained on BSDS500 *train*; see ``resources/models/builtin_prior_edges.md``). The
running maximum of the heights makes the hierarchy an ultrametric, so cutting it at one
threshold gives nested partitions: a coarser cut only merges objects.

``coarseness`` in [0, 1] is that threshold: 0 keeps the fine superpixels, 1 merges the whole
image. The prior map (:meth:`ObjectHierarchy.prior`) is the cut, objects smaller than
``a_min`` absorbed by their neighbour, with an *uncertain* band (0) of ``band_width`` pixels
along the weak boundaries (those whose height is within ``band_margin`` of the threshold),
where the merge is unsure; the SPAM engine lets those pixels join either side.

>>> from spam_gui.core import builtin_prior
>>> prior = builtin_prior(image)                                  # doctest: +SKIP
>>> hierarchy = build_hierarchy(image, spam=spam)                  # doctest: +SKIP
>>> coarse = hierarchy.prior(coarseness=0.8)   # re-cut without recomputing   # doctest: +SKIP

The pieces live in :mod:`spam_gui.core.prior.builtin.edge_model` (the edge model),
:mod:`spam_gui.core.prior.builtin.graph` (the RAG and the merging) and
:mod:`spam_gui.core.prior.builtin.hierarchy` (the merge tree and its cuts); this module builds the
hierarchy and the prior. No Qt here.

References
----------
.. [1] P. Arbelaez, M. Maire, C. Fowlkes and J. Malik, "Contour detection and hierarchical
       image segmentation", IEEE TPAMI 33(5), 2011.
.. [2] J. Nunez-Iglesias, R. Kennedy, T. Parag, J. Shi and D. B. Chklovskii, "Machine learning
       of hierarchical clustering to segment 2D and 3D images", PLoS ONE 8(8), 2013.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from spam_gui.core.io.cache import ModelCache, hash_file_cached
from spam_gui.core.io.images import to_rgb_uint8
from spam_gui.core.params import PRIOR_DEFAULTS
from spam_gui.core.prior.builtin.edge_model import (
    EDGE_MODEL_FILE, BuiltinPriorError, EdgeModel,
    default_edge_model, edge_model_path,
)
from spam_gui.core.prior.builtin.graph import (
    agglomerate, build_graph,
)
from spam_gui.core.prior.builtin.hierarchy import (
    ObjectHierarchy, check_coarseness,
)

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.core.engine.spam import Spam

__all__ = [
    "build_hierarchy",
    "builtin_description",
    "builtin_prior",
    "cached_hierarchy",
    "hierarchy_cache_key",
    "fine_segments_for",
]


# --------------------------------------------------------------------------- building


def fine_segments_for(shape: tuple[int, int], fine_segments: int | None = None) -> int:
    """The number of fine superpixels for an image: ``fine_segments`` per 481 x 321 pixels
    (the BSDS size), scaled with the area; at least 8, at most one per 16 pixels."""
    n_pix = int(shape[0]) * int(shape[1])
    k = PRIOR_DEFAULTS.fine_segments if fine_segments is None else int(fine_segments)
    if k < 1:
        raise BuiltinPriorError(f"fine_segments must be >= 1, got {fine_segments}")
    scaled = max(8, int(round(k * n_pix / (481 * 321))))
    return int(max(1, min(scaled, n_pix // 16)))


def _shipped_features(spam: "Spam") -> bool:
    """Whether ``spam`` computes the features the edge model was trained on (the shipped
    encoder's)."""
    info = getattr(spam, "encoder_info", None)
    return bool(info is not None and info.meta.get("shipped"))


def _engine(encoder: str | os.PathLike[str] | None, device: str) -> "Spam":
    from spam_gui.core.engine.spam import Spam

    # one engine kept: the CLI and notebooks use one at a time
    return _engines.get("engine", (str(encoder), str(device)),
                        lambda: Spam(encoder=encoder, device=device, cache_size=2))


_engines = ModelCache(1)


def build_hierarchy(
    image: np.ndarray,
    encoder: str | os.PathLike[str] | None = "default",
    *,
    spam: "Spam | None" = None,
    fine_labels: np.ndarray | None = None,
    fine_segments: int | None = None,
    edge_model: EdgeModel | None = None,
    device: str = "auto",
    seed: int = 0,
    progress: Callable[[float, str], None] | None = None,
    saliency: np.ndarray | None = None,
) -> ObjectHierarchy:
    """The merge tree of ``image``'s fine superpixels (see the module docstring).

    Parameters
    ----------
    image:
        (H, W, 3) uint8 RGB (grey and RGBA are converted).
    encoder:
        The SPAM encoder for the fine superpixels and the deep features, as for
        :class:`spam_gui.core.engine.spam.Spam` (``"default"``: the shipped one). Ignored when
        ``spam`` is given.
    spam:
        An engine already built (the app's, the CLI's): its per-image feature cache is used,
        so the encoder runs once per image for the prior and the superpixels. The edge model
        was trained on the shipped encoder's features, so an engine with another encoder (or
        none) is not used: the shipped encoder computes the prior's features instead.
    fine_labels:
        (H, W) fine superpixels to merge, instead of computing SPAM ones.
    fine_segments:
        How many fine superpixels per 481 x 321 pixels (:func:`fine_segments_for`).
    edge_model:
        The merge model; default :func:`default_edge_model`.
    device:
        Torch device of the engine built when ``spam`` is None.
    seed:
        Seed of the fine superpixels' seed placement.
    progress:
        ``progress(fraction, stage)`` before each stage (what it raises stops the build).
    saliency:
        (H, W) saliency in [0, 1] (:func:`spam_gui.core.saliency.builtin.builtin_saliency` of
        the image), needed only by an edge model that weighs it (``EdgeModel.uses_saliency``;
        not the shipped one); ignored otherwise.

    Returns
    -------
    ObjectHierarchy

    References
    ----------
    .. [1] P. Arbelaez et al., "Contour detection and hierarchical image segmentation",
           IEEE TPAMI 33(5), 2011.
    """
    rgb = to_rgb_uint8(image)
    h, w = rgb.shape[:2]
    if h * w == 0:
        raise BuiltinPriorError("the image is empty")
    t0 = time.perf_counter()
    report = progress or (lambda frac, stage: None)
    report(0.0, "objects: deep features")
    if spam is not None and not _shipped_features(spam):
        # The edge model was trained on the shipped encoder's features; another engine's
        # (no network, a user's own weights) would mislead it (everything merges into one
        # object). Its superpixels are not reused either: one more encoder pass.
        log.info("built-in prior: the engine's encoder (%s) is not the shipped one; the "
                 "prior uses the shipped encoder", spam.encoder_name)
        eng = _engine("default", str(spam.device))
    else:
        eng = spam if spam is not None else _engine(encoder, device)
    feats = eng.features(rgb)
    lab = feats.lab.detach().cpu().numpy().reshape(h, w, 3)
    deep = None if feats.deep is None else feats.deep.detach().cpu().numpy().reshape(h, w, -1)
    if fine_labels is None:
        report(0.3, "objects: fine superpixels")
        k = fine_segments_for((h, w), fine_segments)
        res = eng.segment(rgb, n_segments=k, seed=seed)
        fine_raw = res.labels
    else:
        fine_raw = np.asarray(fine_labels)
        if fine_raw.shape != (h, w):
            raise BuiltinPriorError(f"fine_labels have shape {fine_raw.shape}, the image is {(h, w)}")
    _, fine = np.unique(fine_raw, return_inverse=True)
    fine = fine.reshape(h, w).astype(np.int32)
    t1 = time.perf_counter()
    model = default_edge_model() if edge_model is None else edge_model
    report(0.6, "objects: region graph")
    sal = None
    if model.uses_saliency:
        # the saliency unit is a layer above the prior: its map is given, not computed here
        if saliency is None:
            raise BuiltinPriorError(
                f"the edge model {model.meta.get('name', EDGE_MODEL_FILE)!r} weighs a saliency "
                "map: give build_hierarchy the image's built-in saliency (saliency=...)")
        sal = np.asarray(saliency, dtype=np.float32)
        if sal.shape != (h, w):
            raise BuiltinPriorError(f"the saliency map has shape {sal.shape}, the image is "
                                    f"{(h, w)}")
    g = build_graph(fine, lab, deep, model.textons, saliency=sal)
    t2 = time.perf_counter()
    report(0.8, "objects: merging")
    children, heights, areas, edge_ucm = agglomerate(g, model, float(h * w))
    t3 = time.perf_counter()
    return ObjectHierarchy(fine=fine, children=children, heights=heights, areas=areas,
                           edge_ucm=edge_ucm, edge_pairs=g.pairs,
                           seconds={"superpixels": t1 - t0, "graph": t2 - t1, "merge": t3 - t2})


HIERARCHY_CACHE = "builtin-hierarchy"
"""The disk cache's namespace of built-in prior hierarchies (:func:`cached_hierarchy`)."""
HIERARCHY_FORMAT = 1
_HIERARCHY_ARRAYS = ("fine", "children", "heights", "areas", "edge_ucm", "edge_pairs",
                     "seconds")


def hierarchy_cache_key(image: np.ndarray, spam: "Spam", seed: int = 0) -> str:
    """The disk-cache key of an image's hierarchy: its pixels and everything that shaped the
    tree (the encoder and edge model files, the fine superpixels' count and seed, the format)."""
    from spam_gui.core.io.cache import hash_array, make_key

    eng = spam if _shipped_features(spam) else _engine("default", str(spam.device))
    return make_key(HIERARCHY_CACHE, HIERARCHY_FORMAT, hash_array(image), eng.encoder_sha256,
                    hash_file_cached(edge_model_path()), fine_segments_for(image.shape[:2]),
                    int(seed))


def cached_hierarchy(image: np.ndarray, spam: "Spam", *, cache: Any = "default",
                     seed: int = 0, progress: Callable[[float, str], None] | None = None
                     ) -> ObjectHierarchy:
    """:func:`build_hierarchy` of ``image`` through the disk cache.

    The entry is keyed by :func:`hierarchy_cache_key`; a missing, unreadable or inconsistent
    entry is recomputed (and stored again). ``cache``: a
    :class:`~spam_gui.core.io.cache.DiskCache`, ``"default"`` (the user's cache folder) or None
    (no cache). Reopening an image in a later session then costs a file read.
    """
    from spam_gui.core.io.cache import DiskCache

    rgb = to_rgb_uint8(image)
    store = DiskCache(HIERARCHY_CACHE) if cache == "default" else cache
    key = hierarchy_cache_key(rgb, spam, seed) if store is not None else ""
    if store is not None:
        arrays = store.get_arrays(key, required=_HIERARCHY_ARRAYS)
        hier = _hierarchy_from_arrays(arrays, rgb.shape[:2]) if arrays is not None else None
        if hier is not None:
            return hier
        if arrays is not None:
            log.warning("built-in prior: inconsistent cache entry %s dropped", key)
            store.delete(key)
    hier = build_hierarchy(rgb, spam=spam, seed=seed, progress=progress)
    if store is not None:
        store.put_arrays(key, fine=hier.fine, children=hier.children, heights=hier.heights,
                         areas=hier.areas, edge_ucm=hier.edge_ucm, edge_pairs=hier.edge_pairs,
                         seconds=np.array([hier.seconds.get(k, 0.0) for k in _SECONDS]))
    return hier


_SECONDS = ("superpixels", "graph", "merge")


def _hierarchy_from_arrays(a: dict[str, np.ndarray], shape: tuple[int, int]
                           ) -> ObjectHierarchy | None:
    """A hierarchy from its cached arrays, or None when they do not make one of this size."""
    try:
        fine = a["fine"].astype(np.int32, copy=False)
        children = a["children"].astype(np.int64, copy=False)
        heights = a["heights"].astype(np.float64, copy=False)
        areas = a["areas"].astype(np.int64, copy=False)
        n = int(fine.max()) + 1 if fine.size else 0
        ok = (fine.shape == tuple(shape) and fine.min(initial=0) >= 0
              and children.shape == (max(n - 1, 0), 2) and heights.shape == (max(n - 1, 0),)
              and areas.shape == (2 * n - 1,) and np.isfinite(heights).all()
              and (children.size == 0 or (children.min() >= 0 and children.max() < 2 * n - 1))
              and a["edge_ucm"].shape[0] == a["edge_pairs"].shape[0]
              and a["seconds"].shape == (len(_SECONDS),))
    except (KeyError, ValueError, TypeError, AttributeError):
        return None
    if not ok:
        return None
    return ObjectHierarchy(fine=fine, children=children, heights=heights, areas=areas,
                           edge_ucm=a["edge_ucm"].astype(np.float64, copy=False),
                           edge_pairs=a["edge_pairs"].astype(np.int64, copy=False),
                           seconds={k: float(v) for k, v in zip(_SECONDS, a["seconds"])})


def builtin_prior(
    image: np.ndarray,
    coarseness: float | None = None,
    encoder: str | os.PathLike[str] | None = "default",
    *,
    spam: "Spam | None" = None,
    hierarchy: ObjectHierarchy | None = None,
    band_width: int | None = None,
    a_min: float | None = None,
    device: str = "auto",
) -> np.ndarray:
    """An object prior for ``image`` with no checkpoint: (H, W) int32, 0 = uncertain.

    Parameters
    ----------
    image:
        (H, W, 3) uint8 RGB (grey and RGBA are converted).
    coarseness:
        In [0, 1]: how coarse the objects are (0: fine superpixels, 1: one object); None:
        :data:`spam_gui.core.params.PRIOR_DEFAULTS` ``.coarseness`` (tuned on BSDS500 train).
    encoder:
        The SPAM encoder (``"default"``: the shipped one); ignored when ``spam`` is given.
    spam:
        An engine already built, whose feature cache is shared with the superpixels.
    hierarchy:
        A :func:`build_hierarchy` result for this image: only the cut is computed (what a
        coarseness slider needs).
    band_width:
        Half-width of the uncertain band along weak borders (default
        ``PRIOR_DEFAULTS.band_width``; 0: none).
    a_min:
        Minimum object area in pixels (default ``sqrt(H * W) / 4``).
    device:
        Torch device of the engine built when ``spam`` is None.

    Returns
    -------
    (H, W) int32: 0 = uncertain, objects 1..N, each 4-connected, numbered in raster order.

    References
    ----------
    .. [1] P. Arbelaez, M. Maire, C. Fowlkes and J. Malik, "Contour detection and
           hierarchical image segmentation", IEEE TPAMI 33(5), 2011.
    """
    rgb = to_rgb_uint8(image)
    c = check_coarseness(coarseness)
    hier = hierarchy
    if hier is None:
        hier = build_hierarchy(rgb, encoder, spam=spam, device=device)
    elif hier.shape != rgb.shape[:2]:
        raise BuiltinPriorError(f"the hierarchy is for a {hier.shape[1]}x{hier.shape[0]} image, "
                                f"this image is {rgb.shape[1]}x{rgb.shape[0]}")
    return hier.prior(c, band_width=band_width, a_min=a_min)


def builtin_description(hierarchy: ObjectHierarchy, coarseness: float | None = None,
                        spam: "Spam | None" = None) -> dict[str, Any]:
    """The sidecar's description of a built-in prior (method, parameters, models, timings)."""
    model = default_edge_model()
    out: dict[str, Any] = {
        "method": "hierarchical merging of SPAM superpixels",
        "coarseness": check_coarseness(coarseness),
        "band_width": PRIOR_DEFAULTS.band_width,
        "band_margin": PRIOR_DEFAULTS.band_margin,
        "n_fine_superpixels": hierarchy.n_leaves,
        "edge_model": str(model.meta.get("name", EDGE_MODEL_FILE)),
        "timings": {k: round(v, 4) for k, v in hierarchy.seconds.items()},
    }
    if spam is not None and not _shipped_features(spam):
        spam = _engine("default", str(spam.device))   # what build_hierarchy used
    if spam is not None:
        out["encoder"] = spam.encoder_name
        out["encoder_sha256"] = spam.encoder_sha256
    out["edge_model_sha256"] = model.meta.get("sha256") or hash_file_cached(edge_model_path())
    return out
