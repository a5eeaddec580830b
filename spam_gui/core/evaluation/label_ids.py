"""Label maps as the metrics take them: checked (H, W) integer arrays, ids compacted to 0..n-1."""

from __future__ import annotations

from typing import Any

import numpy as np


def as_label_map(labels: Any, name: str = "labels") -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected an (H, W) label map, got shape {arr.shape}")
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name}: expected an integer label map, got dtype {arr.dtype}")
    if arr.size == 0:
        raise ValueError(f"{name}: the label map is empty")
    return arr


def check_same_shape(a: np.ndarray, b: np.ndarray, what: str = "gt") -> None:
    if a.shape != b.shape:
        raise ValueError(f"labels have shape {a.shape} but {what} has shape {b.shape}")


def compact(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Map arbitrary integer ids to 0..n-1 (in increasing id order). Returns (ids, n)."""
    flat = labels.ravel()
    lo = int(flat.min())
    hi = int(flat.max())
    if hi - lo <= 4 * flat.size + 1024:  # dense ids: a lookup table, O(pixels + range)
        shifted = flat.astype(np.int64, copy=False) - lo
        present = np.bincount(shifted, minlength=hi - lo + 1) > 0
        lut = np.cumsum(present, dtype=np.int64) - 1
        return lut[shifted].reshape(labels.shape), int(present.sum())
    uniq, inv = np.unique(flat, return_inverse=True)
    return inv.reshape(labels.shape).astype(np.int64, copy=False), int(uniq.size)
