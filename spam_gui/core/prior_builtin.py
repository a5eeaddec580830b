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

No Qt here.

References
----------
.. [1] P. Arbelaez, M. Maire, C. Fowlkes and J. Malik, "Contour detection and hierarchical
       image segmentation", IEEE TPAMI 33(5), 2011.
.. [2] J. Nunez-Iglesias, R. Kennedy, T. Parag, J. Shi and D. B. Chklovskii, "Machine learning
       of hierarchical clustering to segment 2D and 3D images", PLoS ONE 8(8), 2013.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import logging
import math
import os
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from scipy import ndimage

from spam_gui.core.errors import SpamError
from spam_gui.core.image_io import to_rgb_uint8
from spam_gui.core.params import PRIOR_DEFAULTS

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.core.spam import Spam

__all__ = [
    "BuiltinPriorError",
    "EdgeModel",
    "ObjectHierarchy",
    "build_hierarchy",
    "builtin_description",
    "builtin_prior",
    "default_edge_model",
    "fine_segments_for",
    "EDGE_FEATURES",
]

EDGE_MODEL_FILE = "builtin_prior_edges.npz"
EDGE_MODEL_FORMAT = "spam-prior-edges"

EDGE_FEATURES: tuple[str, ...] = (
    "lab_mean",        # |mean Lab difference| / 10
    "lab_l",           # |mean L difference| / 10
    "lab_std",         # |Lab standard deviation difference| / 10
    "deep_mean",       # |mean deep feature difference|
    "chi2_lab",        # χ² distance of the Lab histograms (mean over L, a, b)
    "chi2_texton",     # χ² distance of the texton (deep-feature cluster) histograms
    "border_lab",      # mean Lab gradient along the shared border / 10
    "border_deep",     # mean deep-feature gradient along the shared border
    "border_max_lab",  # root mean square Lab gradient along the shared border / 10
    "log_min_area",    # log of the smaller region's area fraction
    "log_max_area",    # log of the larger region's area fraction
    "border_frac",     # shared border / smaller region's perimeter
)
"""The names of the per-edge features the :class:`EdgeModel` weighs, in order."""


class BuiltinPriorError(SpamError):
    """The built-in prior cannot be computed (a bad edge-model file, a bad parameter)."""


# --------------------------------------------------------------------------- edge model


@dataclass(frozen=True)
class EdgeModel:
    """A small network for P(two adjacent regions belong to different objects).

    ``p = sigmoid(f_L(... relu(f_1(standardise(x)))))`` with ``f_i(z) = z @ W_i + b_i``,
    ``x`` the :data:`EDGE_FEATURES` of the edge and ``standardise(x) = (x - mean) / scale``.
    One layer is a logistic regression; the shipped model has one hidden layer.

    Attributes
    ----------
    layers:
        ``((W_1, b_1), ..., (W_L, b_L))``: W_1 is (F, h_1), the last W_L is (h_{L-1}, 1).
    mean, scale:
        One value per feature.
    textons:
        (T, d) cluster centres of the encoder's deep features for the texton histograms
        (``chi2_texton``); None or features of another dimension: that feature is 0.
    meta:
        Provenance (training data, date, scores), kept in the file.
    """

    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    mean: np.ndarray
    scale: np.ndarray
    textons: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(EDGE_FEATURES)
        if self.textons is not None:
            t = np.asarray(self.textons, dtype=np.float32)
            if t.ndim != 2:
                raise BuiltinPriorError(f"edge model: textons must be (T, d), got {t.shape}")
            object.__setattr__(self, "textons", t)
        for name in ("mean", "scale"):
            arr = np.asarray(getattr(self, name), dtype=np.float64).ravel()
            if arr.shape != (n,):
                raise BuiltinPriorError(f"edge model: {name} has {arr.size} values, "
                                        f"expected {n} ({', '.join(EDGE_FEATURES)})")
            object.__setattr__(self, name, arr)
        if not np.all(self.scale > 0):
            raise BuiltinPriorError("edge model: every scale must be positive")
        layers = []
        width = n
        for i, (w, b) in enumerate(self.layers):
            w = np.asarray(w, dtype=np.float64)
            b = np.asarray(b, dtype=np.float64).ravel()
            if w.ndim != 2 or w.shape[0] != width or b.shape != (w.shape[1],):
                raise BuiltinPriorError(f"edge model: layer {i} has weights {w.shape} and bias "
                                        f"{b.shape} after a width of {width}")
            layers.append((w, b))
            width = w.shape[1]
        if not layers or width != 1:
            raise BuiltinPriorError("edge model: the last layer must have one output")
        object.__setattr__(self, "layers", tuple(layers))

    def probability(self, x: np.ndarray) -> np.ndarray:
        """P(different objects) for an (n, F) array of edge features."""
        z = (np.atleast_2d(np.asarray(x, dtype=np.float64)) - self.mean) / self.scale
        for i, (w, b) in enumerate(self.layers):
            z = z @ w + b
            if i < len(self.layers) - 1:
                np.maximum(z, 0.0, out=z)
        return 1.0 / (1.0 + np.exp(-np.clip(z[:, 0], -40.0, 40.0)))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model as a pickle-free ``.npz`` file, atomically."""
        import io
        import json

        from spam_gui.core.image_io import atomic_write_bytes

        arrays: dict[str, np.ndarray] = {
            "format": np.array(EDGE_MODEL_FORMAT), "features": np.array(EDGE_FEATURES),
            "mean": self.mean, "scale": self.scale, "n_layers": np.array(len(self.layers)),
            "meta": np.array(json.dumps(self.meta))}
        if self.textons is not None:
            arrays["textons"] = self.textons
        for i, (w, b) in enumerate(self.layers):
            arrays[f"w{i}"] = w
            arrays[f"b{i}"] = b
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "EdgeModel":
        """Read a file written by :meth:`save` (``allow_pickle=False``).

        Raises
        ------
        BuiltinPriorError
            The file is missing, unreadable, or not an edge model of these features; the
            message names the file.
        """
        import json

        p = Path(path)
        if not p.is_file():
            raise BuiltinPriorError(f"{p}: edge model file not found")
        try:
            with np.load(p, allow_pickle=False) as z:
                if "format" not in z.files or str(z["format"]) != EDGE_MODEL_FORMAT:
                    raise BuiltinPriorError(f"{p}: not a built-in prior edge model "
                                            f"(no format '{EDGE_MODEL_FORMAT}')")
                names = tuple(str(s) for s in z["features"])
                if names != EDGE_FEATURES:
                    raise BuiltinPriorError(f"{p}: edge model features {names} do not match "
                                            f"this version's {EDGE_FEATURES}")
                n_layers = int(z["n_layers"])
                layers = tuple((z[f"w{i}"], z[f"b{i}"]) for i in range(n_layers))
                textons = z["textons"] if "textons" in z.files else None
                return cls(layers=layers, mean=z["mean"], scale=z["scale"], textons=textons,
                           meta=json.loads(str(z["meta"])))
        except BuiltinPriorError as exc:
            msg = str(exc)
            raise BuiltinPriorError(msg if msg.startswith(str(p)) else f"{p}: {msg}") from None
        except Exception as exc:  # zip errors, missing arrays, bad JSON
            raise BuiltinPriorError(f"{p}: not a readable edge model file "
                                    f"({type(exc).__name__}: {exc})") from None


_model_lock = threading.Lock()
_model_cache: dict[str, EdgeModel] = {}


def edge_model_path() -> Path:
    """The shipped edge model's file (``resources/models/builtin_prior_edges.npz``)."""
    from spam_gui.resources import resource_path

    return Path(resource_path("models", EDGE_MODEL_FILE))


@functools.lru_cache(maxsize=4)
def _file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def default_edge_model() -> EdgeModel:
    """The shipped edge model (``resources/models/builtin_prior_edges.npz``), loaded once.

    Raises
    ------
    BuiltinPriorError
        The file is missing or unreadable (a broken installation); the message names it.
    """
    path = edge_model_path()
    key = str(path)
    with _model_lock:
        if key not in _model_cache:
            _model_cache[key] = EdgeModel.load(path)
        return _model_cache[key]


# --------------------------------------------------------------------------- hierarchy


@dataclass
class ObjectHierarchy:
    """A merge tree over fine superpixels, cut at any coarseness without recomputation.

    Attributes
    ----------
    fine:
        (H, W) int32 fine superpixel labels 0..n-1 (the leaves).
    children:
        (n - 1, 2) int64: merge ``i`` joins nodes ``children[i]`` into node ``n + i``.
    heights:
        (n - 1,) float64 ultrametric heights in [0, 1], non-decreasing along the tree.
    areas:
        (2n - 1,) int64 pixel count of every node.
    edge_ucm:
        (n_edges,) float64: the height at which the two sides of each fine edge join.
    edge_pairs:
        (n_edges, 2) int64 leaf ids of each fine edge.
    seconds:
        Time spent: ``{"superpixels": ..., "graph": ..., "merge": ...}``.
    """

    fine: np.ndarray
    children: np.ndarray
    heights: np.ndarray
    areas: np.ndarray
    edge_ucm: np.ndarray
    edge_pairs: np.ndarray
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def n_leaves(self) -> int:
        return int(self.areas.shape[0] - self.children.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.fine.shape)  # type: ignore[return-value]

    def _leaf_roots(self, threshold: float) -> np.ndarray:
        """The root node (in the cut at ``threshold``) of every leaf."""
        n = self.n_leaves
        total = self.areas.shape[0]
        root = np.arange(total, dtype=np.int64)
        # top-down: a child takes its parent's root when the parent's merge is below threshold
        for i in range(self.children.shape[0] - 1, -1, -1):
            node = n + i
            if self.heights[i] <= threshold:
                r = root[node]
                a, b = self.children[i]
                root[a] = r
                root[b] = r
        return root[:n]

    def partition(self, coarseness: float | None = None, *, a_min: float | None = None
                  ) -> np.ndarray:
        """The cut at ``coarseness`` as an (H, W) int32 map of objects 1..N, no uncertain pixel.

        Objects smaller than ``a_min`` pixels (default ``sqrt(H * W) / 4``) join the
        neighbour they are closest to in the hierarchy (the lowest shared-border height),
        the smallest first. Objects are numbered in raster order of their first pixel.
        """
        t = _check_coarseness(coarseness)
        h, w = self.shape
        a_min = math.sqrt(h * w) / 4.0 if a_min is None else float(a_min)
        roots = self._leaf_roots(t)
        _, leaf_obj = np.unique(roots, return_inverse=True)
        leaf_obj = _absorb_small(leaf_obj.astype(np.int64), self.areas[: self.n_leaves],
                                 self.edge_pairs, self.edge_ucm, a_min)
        return _raster_numbering(leaf_obj[self.fine] + 1)

    def ucm(self) -> np.ndarray:
        """(H, W) float32 boundary strength: the height at which each pixel's boundary with
        its right or lower neighbour disappears (0 inside fine superpixels)."""
        h, w = self.shape
        out = np.zeros((h, w), dtype=np.float32)
        lut = _edge_lookup(self.edge_pairs, self.n_leaves)
        for a, b, sl_a in _crossings(self.fine):
            idx = lut(a, b)
            np.maximum.at(out, sl_a, self.edge_ucm[idx].astype(np.float32))
        return out

    def prior(self, coarseness: float | None = None, *, band_width: int | None = None,
              band_margin: float | None = None, a_min: float | None = None) -> np.ndarray:
        """The prior map: the :meth:`partition` with an uncertain band (0) along weak borders.

        Parameters
        ----------
        coarseness:
            The cut threshold in [0, 1]; None: :data:`spam_gui.core.params.PRIOR_DEFAULTS`.
        band_width:
            Half-width in pixels of the uncertain band (0: no band).
        band_margin:
            A border between two objects is weak, and gets the band, when the height at which
            they would merge is less than ``coarseness + band_margin``.
        a_min:
            Minimum object area in pixels (default ``sqrt(H * W) / 4``).

        Returns
        -------
        (H, W) int32, 0 = uncertain, objects 1..N (each 4-connected) in raster order.
        """
        t = _check_coarseness(coarseness)
        bw = PRIOR_DEFAULTS.band_width if band_width is None else int(band_width)
        margin = PRIOR_DEFAULTS.band_margin if band_margin is None else float(band_margin)
        if bw < 0 or margin < 0:
            raise BuiltinPriorError("band_width and band_margin must not be negative")
        h, w = self.shape
        a_min = math.sqrt(h * w) / 4.0 if a_min is None else float(a_min)
        objects = self.partition(t, a_min=a_min)
        if bw == 0 or margin == 0 or objects.max() <= 1:
            return objects
        weak = np.zeros((h, w), dtype=bool)
        lut = _edge_lookup(self.edge_pairs, self.n_leaves)
        for axis in (0, 1):
            o1, o2, f1, f2, s1, s2 = _pairs(objects, self.fine, axis)
            cross = o1 != o2
            if not cross.any():
                continue
            ucm = self.edge_ucm[lut(f1[cross], f2[cross])]
            wk = np.zeros(o1.shape, dtype=bool)
            wk[cross] = ucm < t + margin
            weak[s1] |= wk
            weak[s2] |= wk
        if not weak.any():
            return objects
        if bw > 1:
            weak = ndimage.binary_dilation(weak, structure=_disk(bw - 1))
        out = objects.copy()
        out[weak] = 0
        return _clean_objects(out, max(1.0, a_min / 4.0))


def _check_coarseness(coarseness: float | None) -> float:
    c = PRIOR_DEFAULTS.coarseness if coarseness is None else coarseness
    try:
        c = float(c)
    except (TypeError, ValueError):
        raise BuiltinPriorError(f"coarseness must be a number in [0, 1], got {coarseness!r}") from None
    if not 0.0 <= c <= 1.0:
        raise BuiltinPriorError(f"coarseness must be in [0, 1], got {coarseness!r}")
    return c


def _disk(r: int) -> np.ndarray:
    yy, xx = np.mgrid[-r: r + 1, -r: r + 1]
    return (yy * yy + xx * xx) <= r * r + r  # a rounder disk than the strict one


def _pairs(objects: np.ndarray, fine: np.ndarray, axis: int):
    """Neighbouring pixel pairs along ``axis``: object ids, fine ids and the two slices."""
    if axis == 0:
        s1 = (slice(0, -1), slice(None))
        s2 = (slice(1, None), slice(None))
    else:
        s1 = (slice(None), slice(0, -1))
        s2 = (slice(None), slice(1, None))
    return objects[s1], objects[s2], fine[s1], fine[s2], s1, s2


def _crossings(fine: np.ndarray):
    """(a, b, mask-slice-of-a) for the horizontal and vertical crossings of fine labels."""
    for axis in (0, 1):
        if axis == 0:
            a, b = fine[:-1, :], fine[1:, :]
            full = np.zeros(fine.shape, dtype=bool)
            m = a != b
            full[:-1, :] = m
        else:
            a, b = fine[:, :-1], fine[:, 1:]
            full = np.zeros(fine.shape, dtype=bool)
            m = a != b
            full[:, :-1] = m
        yield a[m], b[m], np.nonzero(full)


def _edge_lookup(edge_pairs: np.ndarray, n: int):
    """A vectorised (a, b) -> edge index function for the fine RAG's edges."""
    codes = np.minimum(edge_pairs[:, 0], edge_pairs[:, 1]) * n + np.maximum(edge_pairs[:, 0],
                                                                             edge_pairs[:, 1])
    order = np.argsort(codes)
    sorted_codes = codes[order]

    def lookup(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        c = np.minimum(a, b) * n + np.maximum(a, b)
        return order[np.searchsorted(sorted_codes, c)]

    return lookup


def _raster_numbering(objects: np.ndarray) -> np.ndarray:
    """Renumber positive ids 1..N in raster order of their first pixel (0 stays 0)."""
    flat = objects.ravel()
    ids, first = np.unique(flat, return_index=True)
    keep = ids != 0
    ids, first = ids[keep], first[keep]
    out = np.zeros(flat.shape, dtype=np.int32)
    if ids.size == 0:
        return out.reshape(objects.shape)
    rank = np.empty(ids.size, dtype=np.int32)
    rank[np.argsort(first)] = np.arange(1, ids.size + 1, dtype=np.int32)
    nz = flat != 0
    out[nz] = rank[np.searchsorted(ids, flat[nz])]
    return out.reshape(objects.shape)


def _clean_objects(objects: np.ndarray, min_area: float) -> np.ndarray:
    """Keep each object's largest 4-connected piece of at least ``min_area`` pixels; the rest
    becomes uncertain. Renumbered 1..N in raster order."""
    out = np.zeros_like(objects, dtype=np.int32)
    boxes = ndimage.find_objects(objects)
    for oid, sl in enumerate(boxes, start=1):
        if sl is None:
            continue
        mask = objects[sl] == oid
        lab, m = ndimage.label(mask)
        if m == 0:
            continue
        areas = np.bincount(lab.ravel(), minlength=m + 1)
        areas[0] = 0
        best = int(np.argmax(areas))
        if areas[best] < min_area:
            continue
        region = out[sl]
        region[lab == best] = oid
    return _raster_numbering(out)


def _absorb_small(leaf_obj: np.ndarray, leaf_area: np.ndarray, edge_pairs: np.ndarray,
                  edge_ucm: np.ndarray, a_min: float) -> np.ndarray:
    """Merge objects under ``a_min`` pixels into the neighbour with the lowest border height."""
    n_obj = int(leaf_obj.max()) + 1 if leaf_obj.size else 0
    area = np.bincount(leaf_obj, weights=leaf_area, minlength=n_obj)
    if n_obj <= 1 or area.min() >= a_min:
        return leaf_obj
    oa = leaf_obj[edge_pairs[:, 0]]
    ob = leaf_obj[edge_pairs[:, 1]]
    cross = oa != ob
    # object adjacency with the lowest fine-edge height on each shared border
    nbr: dict[int, dict[int, float]] = {}
    for a, b, u in zip(oa[cross].tolist(), ob[cross].tolist(), edge_ucm[cross].tolist()):
        for x, y in ((a, b), (b, a)):
            d = nbr.setdefault(x, {})
            if u < d.get(y, math.inf):
                d[y] = u
    parent = np.arange(n_obj, dtype=np.int64)
    heap = [(float(area[o]), o) for o in range(n_obj) if area[o] < a_min]
    heapq.heapify(heap)
    alive = np.ones(n_obj, dtype=bool)
    while heap:
        ar, o = heapq.heappop(heap)
        if not alive[o] or ar != area[o] or area[o] >= a_min:
            continue
        ns = nbr.get(o)
        if not ns:
            continue
        target = min(ns, key=lambda k: (ns[k], -area[k], k))
        # merge o into target
        alive[o] = False
        parent[o] = target
        area[target] += area[o]
        tn = nbr.setdefault(target, {})
        for k, u in ns.items():
            if k == target:
                continue
            kn = nbr[k]
            kn.pop(o, None)
            if u < kn.get(target, math.inf):
                kn[target] = u
            if u < tn.get(k, math.inf):
                tn[k] = u
        tn.pop(o, None)
        del nbr[o]
        if area[target] < a_min:
            heapq.heappush(heap, (float(area[target]), target))
    # resolve chains
    for o in range(n_obj):
        r = o
        while parent[r] != r:
            r = parent[r]
        parent[o] = r
    return parent[leaf_obj]


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


def _gradient_strength(img: np.ndarray) -> np.ndarray:
    """Per-pixel gradient magnitude of a (H, W, C) float32 image (Sobel, Gaussian σ = 1)."""
    smooth = cv2.GaussianBlur(img, (0, 0), 1.0)
    if smooth.ndim == 2:
        smooth = smooth[..., None]
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)
    if gx.ndim == 2:
        gx, gy = gx[..., None], gy[..., None]
    return np.sqrt((gx * gx + gy * gy).sum(axis=2)) / 8.0


def _split_channels(img: np.ndarray, size: int = 512) -> list[np.ndarray]:
    """OpenCV filters take at most 512 channels; the features have far fewer, but be safe."""
    return [img[..., i: i + size] for i in range(0, img.shape[2], size)]


LAB_BINS = 8
"""Bins per CIELAB channel of the region colour histograms (L in 0..100, a and b in -60..60)."""
_LAB_RANGES = ((0.0, 100.0), (-60.0, 60.0), (-60.0, 60.0))


@dataclass(frozen=True)
class _Layout:
    """Columns of the per-region sum matrix: area, perimeter, Lab, Lab², deep, histograms."""

    n_deep: int
    n_tex: int

    @cached_property
    def lab(self) -> slice:
        return slice(2, 5)

    @cached_property
    def lab_sq(self) -> slice:
        return slice(5, 8)

    @cached_property
    def deep(self) -> slice:
        return slice(8, 8 + self.n_deep)

    @cached_property
    def lab_hist(self) -> slice:
        s = 8 + self.n_deep
        return slice(s, s + 3 * LAB_BINS)

    @cached_property
    def tex_hist(self) -> slice:
        s = 8 + self.n_deep + 3 * LAB_BINS
        return slice(s, s + self.n_tex)

    @cached_property
    def width(self) -> int:
        return 8 + self.n_deep + 3 * LAB_BINS + self.n_tex


@dataclass
class _Graph:
    """The fine RAG: per-region sums (one row per region, :class:`_Layout` columns) and
    per-edge border sums (``[pixel pairs, Lab gradient, Lab gradient², deep gradient]``)."""

    n: int
    regions: np.ndarray     # (n, layout.width)
    pairs: np.ndarray       # (m, 2), a < b
    borders: np.ndarray     # (m, 4)
    n_deep: int
    n_tex: int

    @property
    def layout(self) -> _Layout:
        return _Layout(self.n_deep, self.n_tex)


def _bin_codes(values: np.ndarray, lo: float, hi: float, bins: int) -> np.ndarray:
    q = np.floor((values - lo) * (bins / (hi - lo))).astype(np.int64)
    return np.clip(q, 0, bins - 1)


def texton_codes(deep: np.ndarray, textons: np.ndarray) -> np.ndarray:
    """The nearest texton (row of ``textons``, (T, d)) of every pixel of (H, W, d) features."""
    x = deep.reshape(-1, deep.shape[-1]).astype(np.float32)
    t = np.asarray(textons, dtype=np.float32)
    d2 = (t * t).sum(1)[None, :] - 2.0 * (x @ t.T)   # |x|² is the same for every texton
    return np.argmin(d2, axis=1)


def _build_graph(fine: np.ndarray, lab: np.ndarray, deep: np.ndarray | None,
                 textons: np.ndarray | None = None) -> _Graph:
    h, w = fine.shape
    n = int(fine.max()) + 1
    flat = fine.ravel().astype(np.int64)
    n_deep = 0 if deep is None else int(deep.shape[-1])
    use_tex = (textons is not None and n_deep > 0 and textons.ndim == 2
               and textons.shape[1] == n_deep and textons.shape[0] > 0)
    n_tex = int(textons.shape[0]) if use_tex else 0
    lay = _Layout(n_deep, n_tex)
    R = np.zeros((n, lay.width))
    R[:, 0] = np.bincount(flat, minlength=n)
    lab2 = lab.reshape(-1, 3).astype(np.float64)
    for c in range(3):
        R[:, 2 + c] = np.bincount(flat, lab2[:, c], n)
        R[:, 5 + c] = np.bincount(flat, lab2[:, c] ** 2, n)
        codes = _bin_codes(lab2[:, c], *_LAB_RANGES[c], LAB_BINS)
        s = lay.lab_hist.start + c * LAB_BINS
        R[:, s: s + LAB_BINS] = np.bincount(flat * LAB_BINS + codes,
                                            minlength=n * LAB_BINS).reshape(n, LAB_BINS)
    g_lab = _gradient_strength(lab.astype(np.float32))
    if n_deep:
        d2 = deep.reshape(-1, n_deep).astype(np.float64)
        for c in range(n_deep):
            R[:, 8 + c] = np.bincount(flat, d2[:, c], n)
        g_deep = np.sqrt(sum(_gradient_strength(np.ascontiguousarray(part)) ** 2
                             for part in _split_channels(deep.astype(np.float32))))
        if use_tex:
            tc = texton_codes(deep, textons)
            R[:, lay.tex_hist] = np.bincount(flat * n_tex + tc,
                                             minlength=n * n_tex).reshape(n, n_tex)
    else:
        g_deep = np.zeros((h, w), dtype=np.float32)
    codes_l, gl_l, gd_l = [], [], []
    for axis in (0, 1):
        if axis == 0:
            a, b = fine[:-1, :], fine[1:, :]
            ga = (g_lab[:-1, :] + g_lab[1:, :]) * 0.5
            gd = (g_deep[:-1, :] + g_deep[1:, :]) * 0.5
        else:
            a, b = fine[:, :-1], fine[:, 1:]
            ga = (g_lab[:, :-1] + g_lab[:, 1:]) * 0.5
            gd = (g_deep[:, :-1] + g_deep[:, 1:]) * 0.5
        m = a != b
        aa, bb = a[m].astype(np.int64), b[m].astype(np.int64)
        codes_l.append(np.minimum(aa, bb) * n + np.maximum(aa, bb))
        gl_l.append(ga[m].astype(np.float64))
        gd_l.append(gd[m].astype(np.float64))
        R[:, 1] += np.bincount(aa, minlength=n) + np.bincount(bb, minlength=n)
    codes = np.concatenate(codes_l)
    gl = np.concatenate(gl_l)
    gd = np.concatenate(gd_l)
    uniq, inv = np.unique(codes, return_inverse=True)
    m_e = uniq.size
    pairs = np.stack([uniq // n, uniq % n], axis=1)
    borders = np.stack([np.bincount(inv, minlength=m_e).astype(np.float64),
                        np.bincount(inv, gl, m_e), np.bincount(inv, gl * gl, m_e),
                        np.bincount(inv, gd, m_e)], axis=1)
    return _Graph(n=n, regions=R, pairs=pairs, borders=borders, n_deep=n_deep, n_tex=n_tex)


def _chi2(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Row-wise χ² distance ``0.5 Σ (p - q)² / (p + q)`` of histograms that sum to 1."""
    s = p + q
    return 0.5 * np.sum(np.where(s > 0, (p - q) ** 2 / np.where(s > 0, s, 1.0), 0.0), axis=1)


def edge_features(ra: np.ndarray, rb: np.ndarray, borders: np.ndarray, layout: _Layout,
                  total_area: float) -> np.ndarray:
    """The :data:`EDGE_FEATURES` of edges between regions ``a`` and ``b``.

    Parameters
    ----------
    ra, rb:
        (n_edges, layout.width) region sums of the two sides (area, perimeter, Lab, Lab²,
        deep features, Lab and texton histograms).
    borders:
        (n_edges, 4) sums over the shared border's pixel pairs: count, Lab gradient, squared
        Lab gradient, deep-feature gradient.
    layout:
        The columns of ``ra`` and ``rb``.
    total_area:
        The image's pixel count.

    Returns
    -------
    (n_edges, F) float64.
    """
    area_a = ra[:, 0:1]
    area_b = rb[:, 0:1]
    ma, mb = ra[:, layout.lab] / area_a, rb[:, layout.lab] / area_b
    sa = np.sqrt(np.maximum(ra[:, layout.lab_sq] / area_a - ma * ma, 0.0))
    sb = np.sqrt(np.maximum(rb[:, layout.lab_sq] / area_b - mb * mb, 0.0))
    if layout.n_deep:
        dd = np.linalg.norm(ra[:, layout.deep] / area_a - rb[:, layout.deep] / area_b, axis=1)
    else:
        dd = np.zeros(ra.shape[0])
    ha, hb = ra[:, layout.lab_hist] / area_a, rb[:, layout.lab_hist] / area_b
    chi_lab = _chi2(ha, hb) / 3.0
    if layout.n_tex:
        chi_tex = _chi2(ra[:, layout.tex_hist] / area_a, rb[:, layout.tex_hist] / area_b)
    else:
        chi_tex = np.zeros(ra.shape[0])
    a1, b1 = area_a[:, 0], area_b[:, 0]
    amin = np.minimum(a1, b1)
    amax = np.maximum(a1, b1)
    pmin = np.where(a1 <= b1, ra[:, 1], rb[:, 1])
    bl = np.maximum(borders[:, 0], 1.0)
    return np.stack([
        np.linalg.norm(ma - mb, axis=1) / 10.0,
        np.abs(ma[:, 0] - mb[:, 0]) / 10.0,
        np.linalg.norm(sa - sb, axis=1) / 10.0,
        dd,
        chi_lab,
        chi_tex,
        borders[:, 1] / bl / 10.0,
        borders[:, 3] / bl,
        np.sqrt(borders[:, 2] / bl) / 10.0,
        np.log(amin / total_area),
        np.log(amax / total_area),
        borders[:, 0] / np.maximum(pmin, 1.0),
    ], axis=1)


def _agglomerate(g: _Graph, model: EdgeModel, total_area: float, record: list | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Greedy merging of the RAG: the pair with the lowest P(different) first.

    Returns ``(children, heights, areas, edge_ucm)``; ``record``, when a list, receives
    ``(features, node_a, node_b)`` of every batch of edges scored (for training).
    """
    n = g.n
    total = 2 * n - 1
    lay = g.layout
    R = np.zeros((total, lay.width))
    R[:n] = g.regions
    # adjacency: node -> {neighbour: [border sums (4,), fine edge indices]}
    adj: list[dict[int, list]] = [dict() for _ in range(total)]
    for e, (a, b) in enumerate(g.pairs.tolist()):
        entry = [g.borders[e].copy(), [e]]
        adj[a][b] = entry
        adj[b][a] = entry

    def score(ia: np.ndarray, ib: np.ndarray, borders: np.ndarray) -> np.ndarray:
        x = edge_features(R[ia], R[ib], borders, lay, total_area)
        if record is not None:
            record.append((x, ia, ib))
        return model.probability(x)

    heap: list[tuple[float, int, int]] = []
    if g.pairs.shape[0]:
        p0 = score(g.pairs[:, 0], g.pairs[:, 1], g.borders)
        heap = [(float(p), int(a), int(b)) for p, (a, b) in zip(p0.tolist(), g.pairs.tolist())]
        heapq.heapify(heap)
    alive = np.zeros(total, dtype=bool)
    alive[:n] = True
    children = np.zeros((max(n - 1, 0), 2), dtype=np.int64)
    heights = np.zeros(max(n - 1, 0))
    edge_ucm = np.ones(g.pairs.shape[0])
    sub_h = np.zeros(total)  # ultrametric height of each node
    nxt = n
    while heap and nxt < total:
        p, a, b = heapq.heappop(heap)
        if not (alive[a] and alive[b]):
            continue
        node = nxt
        nxt += 1
        alive[a] = alive[b] = False
        alive[node] = True
        hgt = max(p, sub_h[a], sub_h[b])
        sub_h[node] = hgt
        children[node - n] = (a, b)
        heights[node - n] = hgt
        shared = adj[a][b]
        edge_ucm[shared[1]] = hgt
        R[node] = R[a] + R[b]
        R[node, 1] -= 2.0 * shared[0][0]   # the shared border is inside the merged region
        merged: dict[int, list] = {}
        for src in (a, b):
            for c, ent in adj[src].items():
                if c == a or c == b:
                    continue
                cur = merged.get(c)
                if cur is None:
                    merged[c] = [ent[0].copy(), list(ent[1])]
                else:
                    cur[0] += ent[0]
                    cur[1].extend(ent[1])
                del adj[c][src]
        adj[a] = {}
        adj[b] = {}
        for c, ent in merged.items():
            adj[node][c] = ent
            adj[c][node] = ent
        if merged:
            cs = np.fromiter(merged, dtype=np.int64, count=len(merged))
            ps = score(np.full(cs.size, node, dtype=np.int64), cs,
                       np.stack([merged[int(c)][0] for c in cs]))
            for c, q in zip(cs.tolist(), ps.tolist()):
                heapq.heappush(heap, (q, node, c))
    if nxt < total:  # a disconnected graph (never for an image); join what is left at height 1
        roots = [int(r) for r in np.flatnonzero(alive)]
        while len(roots) > 1 and nxt < total:
            a, b = roots.pop(), roots.pop()
            children[nxt - n] = (a, b)
            heights[nxt - n] = 1.0
            R[nxt] = R[a] + R[b]
            roots.append(nxt)
            nxt += 1
    return children, heights, R[:, 0].astype(np.int64), edge_ucm


def _shipped_features(spam: "Spam") -> bool:
    """Whether ``spam`` computes the features the edge model was trained on (the shipped
    encoder's)."""
    info = getattr(spam, "encoder_info", None)
    return bool(info is not None and info.meta.get("shipped"))


def _engine(encoder: str | os.PathLike[str] | None, device: str) -> "Spam":
    from spam_gui.core.spam import Spam

    key = (str(encoder), str(device))
    with _model_lock:
        eng = _engines.get(key)
        if eng is None:
            eng = Spam(encoder=encoder, device=device, cache_size=2)
            _engines.clear()  # keep one engine: the CLI and notebooks use one at a time
            _engines[key] = eng
        return eng


_engines: dict[tuple[str, str], Any] = {}


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
) -> ObjectHierarchy:
    """The merge tree of ``image``'s fine superpixels (see the module docstring).

    Parameters
    ----------
    image:
        (H, W, 3) uint8 RGB (grey and RGBA are converted).
    encoder:
        The SPAM encoder for the fine superpixels and the deep features, as for
        :class:`spam_gui.core.spam.Spam` (``"default"``: the shipped one). Ignored when
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
    g = _build_graph(fine, lab, deep, model.textons)
    t2 = time.perf_counter()
    children, heights, areas, edge_ucm = _agglomerate(g, model, float(h * w))
    t3 = time.perf_counter()
    return ObjectHierarchy(fine=fine, children=children, heights=heights, areas=areas,
                           edge_ucm=edge_ucm, edge_pairs=g.pairs,
                           seconds={"superpixels": t1 - t0, "graph": t2 - t1, "merge": t3 - t2})


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
    c = _check_coarseness(coarseness)
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
        "coarseness": _check_coarseness(coarseness),
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
    out["edge_model_sha256"] = model.meta.get("sha256") or _file_sha256(edge_model_path())
    return out
