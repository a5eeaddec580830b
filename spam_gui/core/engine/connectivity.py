"""Object-constrained connectivity of superpixels, and renumbering (docs/algorithm.md §4, last step).

Every superpixel must be one 4-connected region. A piece smaller than ``0.15 x`` the mean
superpixel size of its object is merged into the adjacent superpixel of the same object with
which it shares the longest border; a piece made of uncertain pixels only may join any
adjacent superpixel; a piece with no allowed neighbour stays a superpixel of its own (so an
object's only superpixel is never merged away). A superpixel left one pixel thick (bounding box
of height or width 1) is then merged the same way whatever its size. The result never mixes two
objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import label as connected_components

SMALL_PIECE_FRACTION = 0.15
THIN_MIN_MEAN_SIZE = 4.0
"""The thin pass leaves alone the superpixels of an object whose mean superpixel size is below
this (2 x 2 pixels): at such a density (K near the pixel count) most superpixels are one
pixel thick by nature, and merging them would collapse the object into one superpixel. Nor
does it run on an image one pixel high or wide, where every superpixel is thin."""


@dataclass
class Pieces:
    """4-connected pieces of a label map and their borders."""

    comp: np.ndarray          # (H, W) int32 piece id, 0..C-1
    comp_label: np.ndarray    # (C,) superpixel label of each piece
    size: np.ndarray          # (C,) pixel count
    n_certain: np.ndarray     # (C,) non-uncertain pixels in the piece
    pairs: np.ndarray         # (E, 2) adjacent piece pairs (a < b)
    border: np.ndarray        # (E,) shared border length


def find_pieces(labels: np.ndarray, pixel_object: np.ndarray) -> Pieces:
    """Split a label map (values >= 1) into 4-connected pieces and measure their borders."""
    comp = connected_components(labels, background=0, connectivity=1).astype(np.int32) - 1
    flat = comp.ravel()
    n = int(flat.max()) + 1 if flat.size else 0
    from spam_gui.core.engine.compiled import kernels

    kern = kernels()
    if kern is not None and n:
        # one compiled pass: sizes, first pixels, certain counts and the sorted border pairs
        size, first = np.empty(n, np.int64), np.empty(n, np.int64)
        n_certain = np.empty(n, np.int64)
        code, border = kern.piece_stats(comp, np.asarray(pixel_object) > 0, n, size, first,
                                        n_certain)
        pairs = (np.stack([code // n, code % n], axis=1) if code.size
                 else np.zeros((0, 2), np.int64))
        return Pieces(comp, labels.ravel()[first], size, n_certain, pairs, border)
    size = np.bincount(flat, minlength=n)
    first = np.zeros(n, dtype=np.int64)
    first[flat[::-1]] = np.arange(flat.size - 1, -1, -1)
    comp_label = labels.ravel()[first]
    n_certain = np.bincount(flat, weights=(pixel_object.ravel() > 0), minlength=n).astype(np.int64)
    a = np.concatenate([comp[:, :-1].ravel(), comp[:-1, :].ravel()])
    b = np.concatenate([comp[:, 1:].ravel(), comp[1:, :].ravel()])
    diff = a != b
    lo = np.minimum(a[diff], b[diff])
    hi = np.maximum(a[diff], b[diff])
    code, border = np.unique(lo.astype(np.int64) * n + hi, return_counts=True)
    pairs = np.stack([code // max(n, 1), code % max(n, 1)], axis=1) if code.size else np.zeros((0, 2), np.int64)
    return Pieces(comp, comp_label, size, n_certain, pairs, border)


def enforce_connectivity(
    labels: np.ndarray,
    pixel_object: np.ndarray,
    label_object: np.ndarray,
    mean_size: dict[int, float],
    active_labels: np.ndarray | None = None,
    fraction: float = SMALL_PIECE_FRACTION,
    merge_thin: bool = True,
    check: Callable[[], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Make every superpixel one 4-connected region, merging small and thin pieces inside objects.

    Two passes. First, pieces smaller than ``fraction * mean_size`` of their object are merged,
    smallest first, into the adjacent group of the same object with the longest shared border
    (an uncertain-only piece into any adjacent group). Then every group that is still one pixel
    thick (bounding box of height 1 or width 1) is merged the same way, whatever its size, until
    none is left that has an allowed neighbour: such slivers appear where a seed's label reaches
    a strip of uncertain pixels its own superpixel does not touch (the uncertain one-pixel frame
    of a SAM-like prior, beside an object with few, distant seeds), and they are too long to
    count as small when the adjacent object is dense (visual attention). A one-pixel-thick
    group with no allowed neighbour (a thin object region of its own) is kept.

    Parameters
    ----------
    labels:
        (H, W) int superpixel labels, values >= 1.
    pixel_object:
        (H, W) prior object of each pixel, 0 = uncertain.
    label_object:
        Object id of each label value (indexable by label).
    mean_size:
        Mean superpixel size ``a_o / K_o`` of each object id.
    active_labels:
        Labels whose pieces may be merged or receive merges (all when None); other labels are
        left exactly as they are (used when re-clustering a single object).
    fraction:
        Pieces smaller than ``fraction * mean_size`` are merged (0.15).
    merge_thin:
        Run the second pass (one-pixel-thick groups).
    check:
        Called once the pieces are found; what it raises stops the work (cancellation).

    Returns
    -------
    groups:
        (H, W) int64 map of group ids (the id of each group's root piece); each value is one
        4-connected superpixel. The ids are arbitrary (see :func:`renumber`).
    piece_label:
        (C,) original label of each piece id, so ``piece_label[g]`` is the label (and so the
        object) of group ``g``.
    """
    pieces = find_pieces(labels, pixel_object)
    if check is not None:   # the connected components of a large photo take a while
        check()
    n = pieces.size.size
    obj = np.asarray(label_object)[pieces.comp_label]
    active = np.ones(n, bool) if active_labels is None else np.isin(pieces.comp_label, active_labels)
    if n:  # (one look-up per object, not per piece)
        obj_ids, obj_of_piece = np.unique(obj, return_inverse=True)
        thr = np.array([fraction * mean_size.get(int(o), 0.0) for o in obj_ids])[
            obj_of_piece.ravel()]
    else:
        thr = np.zeros(0)
    small = np.flatnonzero(active & (pieces.size < thr))
    # bounding box of each group (root piece): rows y0..y1, columns x0..x1 (inclusive)
    box = np.zeros((n, 4), dtype=np.int64)
    for i, sl in enumerate(ndi.find_objects(pieces.comp + 1)):
        if sl is not None:
            box[i] = (sl[0].start, sl[0].stop - 1, sl[1].start, sl[1].stop - 1)
    merge_thin = merge_thin and min(labels.shape) > 1
    if n and merge_thin:
        # objects dense enough that thin superpixels are normal keep them (see THIN_MIN_MEAN_SIZE)
        active_thin = active & (np.array([mean_size.get(int(o), 0.0) >= THIN_MIN_MEAN_SIZE
                                          for o in obj_ids])[obj_of_piece.ravel()])
    else:
        active_thin = np.zeros(n, bool)
    thin = active_thin & ((box[:, 0] == box[:, 1]) | (box[:, 2] == box[:, 3])) if merge_thin \
        else np.zeros(n, bool)
    if not small.size and not thin.any():
        return pieces.comp.astype(np.int64), pieces.comp_label

    parent = np.arange(n)
    size = pieces.size.astype(np.int64).copy()
    neighbours: dict[int, dict[int, int]] = {}
    for (u, v), w in zip(pieces.pairs.tolist(), pieces.border.tolist()):
        neighbours.setdefault(u, {})[v] = w
        neighbours.setdefault(v, {})[u] = w
    # certain pixels per group (root); a group that has absorbed certain pixels is no longer
    # uncertain-only and must stay in its object
    n_certain = pieces.n_certain.astype(np.int64).copy()

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def merge_into_neighbour(c: int) -> bool:
        """Merge root ``c`` into its allowed neighbour with the longest border, if any."""
        uncertain_only = n_certain[c] == 0
        best, best_w = -1, 0
        for v, w in neighbours.get(c, {}).items():
            rv = find(v)
            if rv == c or not active[rv]:
                continue
            if not uncertain_only and obj[rv] != obj[c]:
                continue
            if w > best_w or (w == best_w and rv < best):
                best, best_w = rv, w
        if best < 0:
            return False
        parent[c] = best
        size[best] += size[c]
        n_certain[best] += n_certain[c]
        box[best] = (min(box[best, 0], box[c, 0]), max(box[best, 1], box[c, 1]),
                     min(box[best, 2], box[c, 2]), max(box[best, 3], box[c, 3]))
        # the merged piece inherits c's borders
        nb = neighbours.setdefault(best, {})
        for v, w in neighbours.pop(c, {}).items():
            rv = find(v)
            if rv == best:
                continue
            nb[rv] = nb.get(rv, 0) + w
            other = neighbours.setdefault(rv, {})
            other[best] = other.get(best, 0) + w
            other.pop(c, None)
        nb.pop(c, None)
        # an uncertain-only piece takes on the object of what it joined
        return True

    for c in sorted(small.tolist(), key=lambda i: (size[i], i)):
        if find(c) != c or size[c] >= thr[c]:
            continue
        merge_into_neighbour(c)

    if merge_thin:
        # one-pixel-thick groups, smallest first, until a pass merges nothing (each merge
        # removes a group, so this ends)
        while True:
            roots = np.flatnonzero((parent == np.arange(n)) & active_thin
                                   & ((box[:, 0] == box[:, 1]) | (box[:, 2] == box[:, 3]))).tolist()
            merged = False
            for c in sorted(roots, key=lambda i: (size[i], i)):
                if find(c) == c and (box[c, 0] == box[c, 1] or box[c, 2] == box[c, 3]):
                    merged |= merge_into_neighbour(c)
            if not merged:
                break

    roots_all = np.array([find(i) for i in range(n)], dtype=np.int64) if n else np.zeros(0, np.int64)
    return roots_all[pieces.comp], pieces.comp_label


def renumber(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Relabel arbitrary non-negative ids to 1..N in raster order of first appearance.

    Returns the new (H, W) int32 map and, for each new label 1..N, the old id it came from
    (index 0 unused, -1).
    """
    flat = groups.ravel()
    if flat.size == 0:
        return groups.astype(np.int32), np.array([-1], dtype=np.int64)
    n = int(flat.max()) + 1
    # first occurrence of every id without sorting the pixels: assigning positions in
    # reverse order leaves the smallest one
    first = np.full(n, flat.size, dtype=np.int64)
    first[flat[::-1]] = np.arange(flat.size - 1, -1, -1)
    present = np.flatnonzero(first < flat.size)
    old_ids = present[np.argsort(first[present], kind="stable")]
    lut = np.zeros(n, dtype=np.int32)
    lut[old_ids] = np.arange(1, old_ids.size + 1, dtype=np.int32)
    return lut[groups], np.concatenate([[-1], old_ids])
