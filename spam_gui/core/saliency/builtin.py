"""The built-in saliency (:data:`BUILTIN_METHOD`): no weights, numpy / OpenCV only.

Boolean-map saliency (Zhang & Sclaroff, ICCV 2013) averaged with a multi-scale spectral residual
(Hou & Zhang, CVPR 2007), on the Lab channels, smoothed, with a mild centre prior. It is the
fallback when no DINO checkpoint is set.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import cv2
import numpy as np

from spam_gui.core.io.images import to_rgb_uint8

__all__ = ["BUILTIN_DESCRIPTION", "BUILTIN_METHOD", "BUILTIN_PARAMS", "builtin_saliency",
           "normalise01"]

BUILTIN_METHOD = "builtin-bms-sr"
"""Name of the weight-free fallback, as shown to users and written to sidecars."""

BUILTIN_DESCRIPTION = ("built-in saliency, no weights: boolean maps + spectral residual "
                       "(less accurate than DINO)")


def normalise01(sal: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1] (float32); a constant map becomes all zeros (nothing stands out)."""
    sal = np.asarray(sal, dtype=np.float64)
    sal = np.where(np.isfinite(sal), sal, 0.0)
    lo, hi = float(sal.min()), float(sal.max())
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return np.zeros(sal.shape, np.float32)
    return np.clip((sal - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


BUILTIN_PARAMS: dict[str, Any] = {
    # spectral residual (Hou & Zhang, CVPR 2007): what stands out of the image's spectrum
    "sr_widths": (64, 128),  # working resolutions (long side)
    "sr_avg_kernel": 3,  # box filter on the log-amplitude spectrum
    "sr_pad": 0.125,  # reflect padding before the FFT (fraction of a side): no border artefacts
    # boolean maps (BMS, Zhang & Sclaroff, ICCV 2013): regions enclosed by others, not touching
    # the border, in thresholded L, a, b channels; fills whole objects, where SR marks details
    "bms_size": 200,  # working resolution (long side)
    "bms_step": 16,  # threshold step on the 8-bit Lab channels
    "bms_weight": 0.5,  # final = (1 - w) * SR + w * BMS
    "blur_sigma": 0.04,  # Gaussian smoothing, fraction of the long side
    "center_sigma": 0.45,  # centre prior: Gaussian, fraction of each side
    "center_weight": 0.4,  # map *= (1 - w) + w * prior
    "gamma": 2.0,  # contrast: the background goes towards 0, as with DINO's attention
}


def _spectral_residual(channel: np.ndarray, avg_kernel: int) -> np.ndarray:
    """Spectral-residual saliency of one 2-D float channel (Hou & Zhang 2007), unsmoothed."""
    from scipy.ndimage import uniform_filter

    f = np.fft.fft2(channel)
    log_amp = np.log(np.abs(f) + 1e-8)
    phase = np.angle(f)
    # the spectrum is periodic: average with wrap-around
    residual = log_amp - uniform_filter(log_amp, size=avg_kernel, mode="wrap")
    return np.abs(np.fft.ifft2(np.exp(residual + 1j * phase))) ** 2


def _resize_long(image: np.ndarray, long_side: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = float(long_side) / max(h, w)
    sh, sw = max(8, int(round(h * scale))), max(8, int(round(w * scale)))
    interp = cv2.INTER_AREA if sh * sw < h * w else cv2.INTER_LINEAR
    return cv2.resize(image, (sw, sh), interpolation=interp)


def _spectral_residual_map(lab: np.ndarray, cfg: Mapping[str, Any]) -> np.ndarray:
    """Multi-scale spectral residual of the Lab channels, at the size of ``lab``, in [0, 1]."""
    h, w = lab.shape[:2]
    maps = []
    for width in cfg["sr_widths"]:
        small = _resize_long(lab, int(width))
        sh, sw = small.shape[:2]
        py, px = int(round(float(cfg["sr_pad"]) * sh)), int(round(float(cfg["sr_pad"]) * sw))
        if py or px:
            small = cv2.copyMakeBorder(small, py, py, px, px, cv2.BORDER_REFLECT_101)
        sal = np.zeros(small.shape[:2], np.float64)
        for c in range(3):
            ch = small[..., c].astype(np.float64)
            if float(ch.std()) > 1e-6:
                sal += _spectral_residual(ch, int(cfg["sr_avg_kernel"]))
        sigma = max(0.5, float(cfg["blur_sigma"]) * max(sh, sw))
        sal = cv2.GaussianBlur(sal, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
        sal = normalise01(sal[py:py + sh, px:px + sw])
        maps.append(cv2.resize(sal, (w, h), interpolation=cv2.INTER_LINEAR))
    return normalise01(np.mean(maps, axis=0))


def _boolean_map_saliency(lab: np.ndarray, cfg: Mapping[str, Any]) -> np.ndarray:
    """Boolean-map saliency: the mean, over thresholds of each Lab channel, of the regions that
    do not touch the image border (each map weighted by 1/sqrt(area), favouring compact
    objects), smoothed; at the size of ``lab``, in [0, 1]."""
    h, w = lab.shape[:2]
    small = cv2.GaussianBlur(_resize_long(lab, int(cfg["bms_size"])), (0, 0), 1.0)
    sh, sw = small.shape[:2]
    acc = np.zeros((sh, sw), np.float64)
    step = max(1, int(cfg["bms_step"]))
    n_maps = 0
    for c in range(3):
        ch = small[..., c]
        lo, hi = float(ch.min()), float(ch.max())
        for t in np.arange(lo + step / 2.0, hi, step):
            above = ch > t
            for mask in (above, ~above):
                n_maps += 1
                n, comp = cv2.connectedComponents(mask.astype(np.uint8), connectivity=4)
                inside = np.ones(n, bool)
                inside[0] = False  # the other side of the threshold
                inside[np.concatenate([comp[0], comp[-1], comp[:, 0], comp[:, -1]])] = False
                enclosed = inside[comp]
                area = int(enclosed.sum())
                if area:
                    acc += enclosed / math.sqrt(area)
    if n_maps:
        acc /= n_maps
    acc = cv2.GaussianBlur(acc, (0, 0), max(0.5, float(cfg["blur_sigma"]) * max(sh, sw)))
    return normalise01(cv2.resize(acc, (w, h), interpolation=cv2.INTER_LINEAR))


def builtin_saliency(image: np.ndarray, **params: Any) -> np.ndarray:
    """Weight-free saliency (H, W) float32 in [0, 1]: :data:`BUILTIN_METHOD`.

    The mean of two classical maps computed on the Lab channels: a multi-scale spectral
    residual (Hou & Zhang, CVPR 2007; what stands out of the image's spectrum: small objects,
    details) and boolean-map saliency (Zhang & Sclaroff, ICCV 2013; regions enclosed by others,
    not touching the border: whole objects). Smoothed, a mild centre prior applied, normalised
    to [0, 1] with a gamma of 2 that pushes the background towards 0 (as DINO's attention does,
    so the VA threshold of 0.1 picks objects, not everything). About 20 ms per BSDS image.
    Override any of :data:`BUILTIN_PARAMS` by keyword.
    """
    unknown = set(params) - set(BUILTIN_PARAMS)
    if unknown:
        raise TypeError(f"unknown built-in saliency parameter(s): {sorted(unknown)}")
    cfg = {**BUILTIN_PARAMS, **params}
    rgb = to_rgb_uint8(image)
    h, w = rgb.shape[:2]
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    bw = float(cfg["bms_weight"])
    sal = np.zeros((h, w), np.float64)
    if bw < 1:
        sal += (1.0 - bw) * _spectral_residual_map(lab.astype(np.float32), cfg)
    if bw > 0:
        sal += bw * _boolean_map_saliency(lab, cfg)
    cw = float(cfg["center_weight"])
    if cw > 0:
        ys = (np.arange(h, dtype=np.float64) - (h - 1) / 2) / (float(cfg["center_sigma"]) * h)
        xs = (np.arange(w, dtype=np.float64) - (w - 1) / 2) / (float(cfg["center_sigma"]) * w)
        prior = np.exp(-0.5 * (ys[:, None] ** 2 + xs[None, :] ** 2))
        sal = sal * ((1.0 - cw) + cw * prior)
    sal = normalise01(sal)
    if float(cfg["gamma"]) != 1.0:
        sal = sal ** float(cfg["gamma"])
    return sal.astype(np.float32)
