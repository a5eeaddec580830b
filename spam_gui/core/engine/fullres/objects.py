"""Object ids of a full-resolution prior: compact indices, areas and per-object sums.

Lookups by table (ids below ``_LUT_MAX_ID``) or by search, sums by row tiles of at most
:data:`spam_gui.core.engine.fullres.grid.TILE_PIXELS` pixels. Part of the full-size engine
(:mod:`spam_gui.core.engine.fullres.working`).
"""

from __future__ import annotations

import numpy as np

from spam_gui.core.engine.fullres.grid import TILE_PIXELS

_LUT_MAX_ID = 1 << 22      # object ids below this are looked up in a table, above by search


class ObjectIndex:
    """Compact indices 0..n-1 of the (sorted) object ids of a prior; -1 for 0 or unknown ids."""

    def __init__(self, ids: np.ndarray) -> None:
        self.ids = np.asarray(ids, np.int64)
        top = int(self.ids.max()) if self.ids.size else 0
        self._lut: np.ndarray | None = None
        if top < _LUT_MAX_ID:
            self._lut = np.full(top + 1, -1, np.int32)
            self._lut[self.ids] = np.arange(self.ids.size, dtype=np.int32)

    def __call__(self, objects: np.ndarray) -> np.ndarray:
        obj = np.asarray(objects)
        if self._lut is not None:
            if not obj.size or int(obj.max()) < self._lut.size:
                return self._lut[obj]
            inside = obj < self._lut.size
            out = self._lut[np.where(inside, obj, 0)]   # (id 0 is never an object: -1)
            out[~inside] = -1
            return out
        pos = np.searchsorted(self.ids, obj)
        pos_c = np.minimum(pos, max(self.ids.size - 1, 0))
        found = (pos < self.ids.size) & (self.ids[pos_c] == obj) if self.ids.size else \
            np.zeros(obj.shape, bool)
        return np.where(found, pos_c, -1).astype(np.int32)


def id_counts(objects: np.ndarray) -> np.ndarray:
    """Pixels of each id of a non-negative integer map, indexed by id (``np.bincount``'s
    answer): one compiled pass when numba is there (no int64 copy of the map; a 12-megapixel
    map in milliseconds), ``np.bincount`` otherwise."""
    from spam_gui.core.engine.compiled import kernels

    flat = np.asarray(objects).ravel()
    if not flat.size:
        return np.zeros(1, np.int64)
    if flat.dtype.itemsize > 4 or flat.dtype.kind not in "iu":
        flat = flat.astype(np.int64)
    k = kernels()
    top = int(flat.max())
    if k is not None and top < _LUT_MAX_ID:
        return k.id_counts(np.ascontiguousarray(flat), top + 1)
    return np.bincount(flat)


def object_areas(objects: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Object ids (> 0, sorted) and their pixel counts, without sorting the pixels.

    Parameters
    ----------
    objects:
        (H, W) non-negative int object map, 0 = uncertain.

    Returns
    -------
    ids, areas:
        int64 arrays.
    """
    flat = objects.ravel()
    top = int(flat.max()) if flat.size else 0
    if top < _LUT_MAX_ID:
        counts = id_counts(objects)
        ids = np.flatnonzero(counts)
        ids = ids[ids > 0]
        return ids.astype(np.int64), counts[ids].astype(np.int64)
    ids, counts = np.unique(flat, return_counts=True)
    keep = ids > 0
    return ids[keep].astype(np.int64), counts[keep].astype(np.int64)


def sum_per_object(values: np.ndarray, objects: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Sum of ``values`` over the pixels of each object of ``ids`` (float64), by tiles."""
    index = ObjectIndex(ids)
    out = np.zeros(ids.size, np.float64)
    h, w = objects.shape
    step = max(1, TILE_PIXELS // max(1, w))
    for y in range(0, h, step):
        oi = index(objects[y:y + step]).ravel()
        keep = oi >= 0
        out += np.bincount(oi[keep], weights=np.asarray(values[y:y + step], np.float64).ravel()[keep],
                           minlength=ids.size)
    return out
