"""The effort of annotating an image with superpixel and object clicks: a greedy simulated
annotator (:func:`simulate_annotation`), used by ``benchmarks/annotation_effort.py`` (issue 14)
to count the clicks to 85 / 90 / 95 % of the pixels right on BSDS500 val.

Used by :mod:`spam_gui.core.evaluation.evaluate`. No Qt, no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spam_gui.core.evaluation.label_ids import as_label_map, check_same_shape, compact

__all__ = ["AnnotationRun", "simulate_annotation"]


@dataclass(frozen=True)
class AnnotationRun:
    """What a simulated annotator did on one image (see :func:`simulate_annotation`).

    Attributes
    ----------
    n_pixels : int
        Pixels of the image.
    correct : (n_clicks + 1,) array of int64
        Pixels labelled right after 0, 1, 2... clicks (``correct[0] == 0``: nothing is
        labelled at the start); strictly increasing.
    object_click : (n_clicks,) array of bool
        True where the click filled a whole object, False where it labelled a superpixel.
    exhausted : bool
        True when the annotator stopped because no click could add a right pixel (the
        superpixels and objects cannot get further); False when it reached its target or
        its click limit.
    """

    n_pixels: int
    correct: np.ndarray
    object_click: np.ndarray
    exhausted: bool

    @property
    def n_clicks(self) -> int:
        """Clicks made."""
        return int(self.object_click.shape[0])

    @property
    def accuracy(self) -> float:
        """Share of the pixels labelled right at the end."""
        return float(self.correct[-1]) / float(self.n_pixels)

    def clicks_to(self, level: float) -> int | None:
        """Clicks needed until at least ``level`` (a share in [0, 1]) of the pixels are right,
        or None when the run never got there."""
        if not 0.0 <= level <= 1.0:
            raise ValueError(f"a level is a share of the pixels in [0, 1], got {level}")
        need = math.ceil(level * self.n_pixels - 1e-9)
        i = int(np.searchsorted(self.correct, need, side="left"))
        return i if i < self.correct.shape[0] else None


def _majority(region: np.ndarray, cls: np.ndarray, n_regions: int,
              n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per region, the most frequent class and its pixel count (ties: the smallest class)."""
    code = region.astype(np.int64) * n_classes + cls
    if n_regions * n_classes <= 1 << 25:
        table = np.bincount(code, minlength=n_regions * n_classes).reshape(n_regions, n_classes)
        best = table.argmax(axis=1)
        return best, table[np.arange(n_regions), best]
    pairs, counts = np.unique(code, return_counts=True)
    rows, classes = pairs // n_classes, pairs % n_classes
    order = np.lexsort((classes, -counts, rows))  # per row: largest count, then smallest class
    first = order[np.r_[True, rows[order][1:] != rows[order][:-1]]]
    best = np.zeros(n_regions, dtype=np.int64)
    count = np.zeros(n_regions, dtype=np.int64)
    best[rows[first]], count[rows[first]] = classes[first], counts[first]
    return best, count


def simulate_annotation(
    classes: np.ndarray,
    superpixels: np.ndarray,
    objects: np.ndarray | None = None,
    *,
    max_clicks: int | None = None,
    target: float = 1.0,
) -> AnnotationRun:
    """A greedy annotator labelling an image with superpixel clicks and object fills.

    Every pixel starts unlabelled. One click gives one region its majority class in
    ``classes``, overwriting what its pixels had: a *superpixel* click labels one superpixel,
    an *object* click fills one object of ``objects`` (pixels with id 0 belong to no object and
    are reached by superpixel clicks only). Each click is the one that adds the most right
    pixels (right ones it overwrites with another class count against it; ties: the smallest
    superpixel id first, superpixels before objects). The annotator stops when ``target`` of
    the pixels are right, after ``max_clicks`` clicks, or when no click adds a right pixel.

    The gains are kept per region and updated from the pixels each click changes (one
    ``np.bincount`` over the superpixels and one over the objects): a click costs its region's
    pixels plus the number of regions, with no per-pixel Python loop.

    Parameters
    ----------
    classes : (H, W) array of int
        The class of every pixel (e.g. one annotator's segments), any ids.
    superpixels : (H, W) array of int
        Superpixel label map, any ids (0 is a superpixel like the others).
    objects : (H, W) array of int, optional
        What each object click fills, 0 = no object; ids need not be contiguous. For the
        app's Shift+click fill: ``SegmentationResult.fill_map()`` (every superpixel of the
        object). None: superpixel clicks only.
    max_clicks : int, optional
        Stop after this many clicks (None: no limit).
    target : float
        Stop once this share of the pixels is right (default 1: every pixel).

    Returns
    -------
    run : AnnotationRun
        The right pixels after each click; ``run.clicks_to(0.9)`` is the number of clicks
        that reached 90 % (None if never).

    Raises
    ------
    ValueError
        The maps differ in shape, are not 2-D, ``objects`` has negative ids, ``max_clicks``
        is negative or ``target`` is not in [0, 1].
    TypeError
        A map is not an integer array.

    References
    ----------
    .. [1] Walther, Giraud, Clément, "SPAM: SuperPixel Anything Model", 2025 (superpixels
           inside prior objects; the annotation-effort benchmark of this project follows
           from it: ``benchmarks/annotation_effort.py``).
    .. [2] D. Stutz, A. Hermans and B. Leibe, "Superpixels: an evaluation of the
           state-of-the-art", CVIU 166, 2018 (ASA: the accuracy reachable with one label per
           superpixel, the limit of superpixel clicks).
    """
    g = as_label_map(classes, "classes")
    s = as_label_map(superpixels, "superpixels")
    check_same_shape(s, g, "classes")
    if max_clicks is not None and max_clicks < 0:
        raise ValueError(f"max_clicks must be >= 0, got {max_clicks}")
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"target is a share of the pixels in [0, 1], got {target}")
    gi, n_classes = compact(g)
    gi = gi.ravel()
    si, ns = compact(s)
    si = si.ravel()
    n = gi.size

    obj_of = np.full(n, -1, dtype=np.int64)  # object index of each pixel, -1 = none
    n_obj = 0
    if objects is not None:
        o = as_label_map(objects, "objects")
        check_same_shape(s, o, "objects")
        if o.min() < 0:
            raise ValueError("objects: ids must be >= 0 (0 = no object)")
        inside = np.flatnonzero(o.ravel() > 0)
        if inside.size:
            oi, n_obj = compact(o.ravel()[inside][None, :])
            obj_of[inside] = oi.ravel()

    # regions 0..ns-1 are the superpixels, ns..ns+n_obj-1 the objects; members by region
    in_obj = np.flatnonzero(obj_of >= 0)
    region = np.concatenate([si, ns + obj_of[in_obj]])
    pixel = np.concatenate([np.arange(n, dtype=np.int64), in_obj])
    n_regions = ns + n_obj
    order = np.argsort(region, kind="stable")
    members = pixel[order]
    starts = np.zeros(n_regions + 1, dtype=np.int64)
    np.cumsum(np.bincount(region, minlength=n_regions), out=starts[1:])
    best_class, best_count = _majority(region, gi[pixel], n_regions, n_classes)

    right = np.zeros(n, dtype=bool)          # pixel labelled with its class
    right_in = np.zeros(n_regions, dtype=np.int64)   # right pixels per region
    stop_at = math.ceil(target * n - 1e-9)
    limit = n if max_clicks is None else int(max_clicks)
    correct = [0]
    kinds: list[bool] = []
    total = 0
    exhausted = False
    while total < stop_at and len(kinds) < limit:
        gains = best_count - right_in
        r = int(np.argmax(gains))
        if gains[r] <= 0:
            exhausted = True
            break
        pix = members[starts[r]:starts[r + 1]]
        new = gi[pix] == best_class[r]
        flip = new != right[pix]
        fp = pix[flip]
        delta = np.where(new[flip], 1.0, -1.0)
        right[fp] = new[flip]
        right_in[:ns] += np.rint(np.bincount(si[fp], weights=delta, minlength=ns)).astype(np.int64)
        if n_obj:
            ob = obj_of[fp]
            keep = ob >= 0
            right_in[ns:] += np.rint(np.bincount(ob[keep], weights=delta[keep],
                                                 minlength=n_obj)).astype(np.int64)
        total += int(gains[r])
        correct.append(total)
        kinds.append(r >= ns)
    return AnnotationRun(n_pixels=n, correct=np.asarray(correct, dtype=np.int64),
                         object_click=np.asarray(kinds, dtype=bool), exhausted=exhausted)
