"""Clustering features: CIE Lab colour, scaled pixel positions, and the seed grid docs/algorithm.md §2 uses.

The clustering feature of a pixel is ``[E(p), lambda_c * Lab(p), s * y, s * x]`` where ``E`` are
the deep features and ``s = lambda_s * max(n_h / H, n_w / W)`` (docs/algorithm.md §2).
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def rgb_to_lab(image: np.ndarray) -> np.ndarray:
    """CIE Lab (D65) of an (H, W, 3) uint8 RGB image as float32, L in 0..100.

    Matches :func:`skimage.color.rgb2lab` on the image scaled to [0, 1] (OpenCV's float path,
    which is much faster on large images).
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    rgb = image.astype(np.float32) * np.float32(1.0 / 255.0)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)


def seed_grid(height: int, width: int, n_segments: int) -> tuple[int, int]:
    """The seed grid ``(n_h, n_w)`` SSN uses for K superpixels on an H x W image (each >= 1)."""
    n_w = max(1, int(math.floor(math.sqrt(n_segments * width / height))))
    n_h = max(1, int(math.floor(math.sqrt(n_segments * height / width))))
    return n_h, n_w


def position_scale(height: int, width: int, n_segments: int, lambda_s: float) -> float:
    """``s = lambda_s * max(n_h / H, n_w / W)``: the factor applied to (y, x) positions."""
    n_h, n_w = seed_grid(height, width, n_segments)
    return float(lambda_s) * max(n_h / height, n_w / width)


def pixel_positions(height: int, width: int) -> np.ndarray:
    """(H * W, 2) float32 array of (y, x) pixel coordinates in raster order."""
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([yy.ravel(), xx.ravel()], axis=1).astype(np.float32)
