"""Reading images and label maps, and writing files atomically.

Every reader raises :class:`ImageReadError` with a message that names the file and the
problem; every writer goes through :func:`atomic_write_bytes`, so an interrupted write never
leaves a half-written file behind.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")

# The process umask, read once at import (reading it means setting it, which is not thread-safe).
_UMASK = os.umask(0)
os.umask(_UMASK)

# Large scans are legitimate input; keep a generous but finite decompression-bomb guard.
Image.MAX_IMAGE_PIXELS = 40_000 * 40_000


class ImageReadError(ValueError):
    """An image or label map could not be read; the message names the file and the reason."""


class FileWriteError(OSError):
    """A file could not be written; the message names the file and the reason."""


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Convert a grey, RGB or RGBA array (any integer or float dtype) to (H, W, 3) uint8 RGB.

    Floats are taken in [0, 1]; 16-bit integers are scaled down to 8 bits; alpha is dropped.
    """
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {arr.shape}")
    if arr.shape[2] in (2, 4):  # drop alpha
        arr = arr[:, :, :-1]
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if arr.dtype == bool:
        return np.ascontiguousarray(arr.astype(np.uint8) * 255)
    if np.issubdtype(arr.dtype, np.floating):
        return np.ascontiguousarray(np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8))
    if arr.dtype == np.uint16:
        return np.ascontiguousarray((arr >> 8).astype(np.uint8))
    if np.issubdtype(arr.dtype, np.integer):
        return np.ascontiguousarray(np.clip(arr, 0, 255).astype(np.uint8))
    raise ValueError(f"unsupported image dtype {arr.dtype}")


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB, honouring EXIF orientation.

    Grey, palette, RGBA and 16-bit images are converted. Raises :class:`ImageReadError`
    naming the file when it is missing, empty, truncated or not an image.
    """
    p = Path(path)
    if not p.is_file():
        raise ImageReadError(f"{p}: no such file")
    try:
        with Image.open(p) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im)
                arr = (arr.astype(np.float64) / max(1.0, float(arr.max()))) if arr.size else arr
                return to_rgb_uint8(arr)
            if im.mode not in ("RGB", "L"):
                im = im.convert("RGBA" if "A" in im.getbands() or im.mode == "P" else "RGB")
            arr = np.asarray(im)
    except UnidentifiedImageError:
        raise ImageReadError(f"{p}: not an image file, or a format that cannot be read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"{p}: corrupt or truncated image ({exc})") from None
    if arr.size == 0:
        raise ImageReadError(f"{p}: the image is empty")
    return to_rgb_uint8(arr)


def read_label_map(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a single-channel integer label map (8 or 16 bit PNG, TIFF) as (H, W) int32."""
    p = Path(path)
    if not p.is_file():
        raise ImageReadError(f"{p}: no such file")
    try:
        with Image.open(p) as im:
            if im.mode in ("RGB", "RGBA"):
                arr = np.asarray(im.convert("RGB"))
                if not (np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 0], arr[..., 2])):
                    raise ImageReadError(
                        f"{p}: a label map must be single-channel (grey 8/16-bit), not colour RGB"
                    )
                arr = arr[..., 0]
            else:
                arr = np.asarray(im)
    except UnidentifiedImageError:
        raise ImageReadError(f"{p}: not an image file") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"{p}: corrupt or truncated label map ({exc})") from None
    if arr.ndim != 2:
        raise ImageReadError(f"{p}: a label map must be single-channel, got shape {arr.shape}")
    return arr.astype(np.int32)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    Raises :class:`FileWriteError` naming the file on any failure (read-only folder, full
    disk); the previous content of ``path``, if any, is then left untouched.
    """
    p = Path(path)
    tmp_name = None
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
        try:  # mkstemp makes 0600 files: keep an existing file's mode, else the usual one
            mode = p.stat().st_mode & 0o777 if p.exists() else 0o666 & ~_UMASK
            os.fchmod(fd, mode)
        except OSError:
            pass
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, p)
        tmp_name = None
    except OSError as exc:
        raise FileWriteError(f"{p}: cannot write ({exc.strerror or exc})") from exc
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
    return p


def encode_png(array: np.ndarray) -> bytes:
    """Encode an (H, W) integer map as a single-channel 16-bit PNG (or an RGB uint8 image).

    Values must lie in 0..65535.
    """
    arr = np.asarray(array)
    if arr.ndim == 3 and arr.shape[2] == 3 and arr.dtype == np.uint8:
        im = Image.fromarray(arr, mode="RGB")
    else:
        if arr.ndim != 2:
            raise ValueError(f"expected an (H, W) map, got shape {arr.shape}")
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise ValueError(
                f"values must lie in 0..65535 for a 16-bit PNG (got {arr.min()}..{arr.max()})"
            )
        im = Image.fromarray(arr.astype(np.uint16))
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def write_label_png(path: str | os.PathLike[str], labels: np.ndarray) -> Path:
    """Write an (H, W) label map as a single-channel 16-bit PNG, atomically."""
    arr = np.asarray(labels)
    if arr.ndim != 2:
        raise ValueError(f"{path}: expected an (H, W) label map, got shape {arr.shape}")
    if arr.size and arr.max() > 65535:
        raise ValueError(
            f"{path}: {int(arr.max())} labels do not fit a 16-bit PNG (at most 65535)"
        )
    if arr.size and arr.min() < 0:
        raise ValueError(f"{path}: negative labels cannot be written to a PNG")
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint16)).save(buf, format="PNG", compress_level=3)
    return atomic_write_bytes(path, buf.getvalue())


def write_grey8_png(path: str | os.PathLike[str], values: np.ndarray) -> Path:
    """Write an (H, W) uint8 map (e.g. a saliency map) as an 8-bit grey PNG, atomically."""
    arr = np.asarray(values)
    if arr.ndim != 2 or arr.dtype != np.uint8:
        raise ValueError(f"{path}: expected an (H, W) uint8 map, got {arr.shape} {arr.dtype}")
    buf = io.BytesIO()
    Image.fromarray(arr, mode="L").save(buf, format="PNG")
    return atomic_write_bytes(path, buf.getvalue())


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented UTF-8 JSON, atomically."""
    text = json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    return atomic_write_bytes(path, text.encode("utf-8"))


def list_images(inputs: list[str | os.PathLike[str]]) -> list[Path]:
    """Expand files and folders into a sorted list of image files (folders: not recursive)."""
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out.extend(
                sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_EXTENSIONS)
            )
        else:
            out.append(p)
    return out
