"""Reading images and label maps, and writing files atomically.

Every reader raises :class:`ImageReadError` with a message that names the file and the
problem; every writer goes through :func:`atomic_write_bytes`, so an interrupted write never
leaves a half-written file behind.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Iterator

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from spam_gui.core.errors import SpamError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif")
"""Accepted everywhere: as arguments and when a folder is scanned (the app and ``spam``). A file
of several frames (an animated GIF, a multi-page TIFF) gives its first frame, with a warning
that names the file and the frame count."""

log = logging.getLogger(__name__)

# The process umask, read once at import (reading it means setting it, which is not thread-safe).
_UMASK = os.umask(0)
os.umask(_UMASK)

MAX_PIXELS = 100_000_000
"""The largest image SPAM Studio segments (100 MP, e.g. 12,000 x 8,000): the working-resolution
engine (:mod:`spam_gui.core.engine.fullres.working`) peaks at about 50 bytes per full-resolution pixel (in
connectivity; measured on a 9.9 MP photo), so 100 MP needs about 5 GB besides the program's
own ~1 GB (``benchmarks/photo_size.py`` measures it). Larger images are refused up front by
:func:`check_image_size`, before decoding."""
# PIL's decompression-bomb guard at the same limit; our own check (with its message) comes first
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


class ImageReadError(SpamError):
    """An image or label map could not be read; the message names the file and the reason."""


class ImageTooLargeError(ImageReadError):
    """An image has more pixels than :data:`MAX_PIXELS`; the message gives its size and the limit."""


def check_image_size(width: int, height: int, name: str | os.PathLike[str] | None = None) -> None:
    """Refuse an image of more than :data:`MAX_PIXELS` pixels, from its size alone.

    Parameters
    ----------
    width, height:
        The image's size in pixels.
    name:
        The file (or a description) the message starts with; "the image" when None.

    Raises
    ------
    ImageTooLargeError
        Naming the image, its size in pixels and megapixels, and the limit.
    """
    n = int(width) * int(height)
    if n > MAX_PIXELS:
        what = "the image" if name is None else str(name)
        raise ImageTooLargeError(
            f"{what}: {int(width)} x {int(height)} pixels ({n / 1e6:.1f} MP) is more than the "
            f"{MAX_PIXELS / 1e6:.0f} MP SPAM Studio can segment; reduce it to at most "
            f"{MAX_PIXELS / 1e6:.0f} MP first")


class FileWriteError(OSError, SpamError):
    """A file could not be written; the message names the file and the reason.

    A :class:`SpamError` and still an :class:`OSError` (first, so ``errno`` and the message
    work as OSError's)."""


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
            check_image_size(im.width, im.height, p)   # before any pixel is decoded
            n_frames = int(getattr(im, "n_frames", 1) or 1)
            if n_frames > 1:  # one rule: the first frame, never silently
                log.warning("%s: %d frames (animated or multi-page); the first frame is used",
                            p, n_frames)
            if im.getexif().get(0x0112, 1) not in (0, 1):   # rotated or mirrored
                im = ImageOps.exif_transpose(im)                # (a copy: only then)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im)
                arr = (arr.astype(np.float64) / max(1.0, float(arr.max()))) if arr.size else arr
                return to_rgb_uint8(arr)
            if im.mode not in ("RGB", "L"):
                im = im.convert("RGBA" if "A" in im.getbands() or im.mode == "P" else "RGB")
            arr = np.asarray(im)
    except UnidentifiedImageError:
        raise ImageReadError(f"{p}: not an image file, or a format that cannot be read") from None
    except Image.DecompressionBombError as exc:   # (PIL's guard, at twice the limit)
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f" ({int(found.group(1)) / 1e6:.1f} MP)" if found else ""
        raise ImageTooLargeError(f"{p}: the image{size} is more than the "
                                 f"{MAX_PIXELS / 1e6:.0f} MP SPAM Studio can segment; reduce "
                                 f"it to at most {MAX_PIXELS / 1e6:.0f} MP first") from None
    except ImageTooLargeError:
        raise
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
    with _label_map_errors(p), Image.open(p) as im:
        _check_label_map_size(p, im.width, im.height)    # before any pixel is decoded
        if im.mode in ("RGB", "RGBA"):
            arr = np.asarray(im.convert("RGB"))
            if not (np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 0], arr[..., 2])):
                raise ImageReadError(
                    f"{p}: a label map must be single-channel (grey 8/16-bit), not colour RGB"
                )
            arr = arr[..., 0]
        else:
            arr = np.asarray(im)
    if arr.ndim != 2:
        raise ImageReadError(f"{p}: a label map must be single-channel, got shape {arr.shape}")
    try:
        return integer_labels(arr)
    except ValueError as exc:
        raise ImageReadError(f"{p}: {exc}") from None


def _check_label_map_size(p: Path, width: int, height: int) -> None:
    """Refuse a label map of more than :data:`MAX_PIXELS` pixels from its header."""
    n = int(width) * int(height)
    if n > MAX_PIXELS:
        raise ImageTooLargeError(
            f"{p}: the label map is {int(width)} x {int(height)} pixels ({n / 1e6:.1f} MP), "
            f"more than the {MAX_PIXELS / 1e6:.0f} MP SPAM Studio reads; not read")


def label_map_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(height, width) of a label map from its header alone (nothing decoded); raises
    :class:`ImageReadError` naming the file when it is missing, not an image, or larger than
    :data:`MAX_PIXELS`."""
    p = Path(path)
    if not p.is_file():
        raise ImageReadError(f"{p}: no such file")
    with _label_map_errors(p), Image.open(p) as im:
        _check_label_map_size(p, im.width, im.height)
        return int(im.height), int(im.width)


@contextmanager
def _label_map_errors(p: Path) -> Iterator[None]:
    """Reading label map ``p``: PIL's errors said in our words, naming the file once."""
    try:
        yield
    except ImageReadError:
        raise                      # ours: names the file once
    except UnidentifiedImageError:
        raise ImageReadError(f"{p}: not an image file") from None
    except Image.DecompressionBombError as exc:   # (PIL's guard, at open)
        raise _label_map_bomb(p, exc) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"{p}: corrupt or truncated label map ({_reason(exc, p)})") from None


def _label_map_bomb(p: Path, exc: BaseException) -> ImageTooLargeError:
    """PIL's decompression-bomb refusal of a label map, in our words."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    size = f" ({int(found.group(1)) / 1e6:.1f} MP)" if found else ""
    return ImageTooLargeError(f"{p}: the label map{size} is more than the "
                              f"{MAX_PIXELS / 1e6:.0f} MP SPAM Studio reads; not read")


def _reason(exc: BaseException, p: Path) -> str:
    """A library's message without the path it may repeat."""
    text = str(exc).replace(f"'{p}'", "").replace(str(p), "").strip(" :")
    return text or type(exc).__name__


def integer_labels(labels: np.ndarray) -> np.ndarray:
    """Check that a label map holds non-negative integer ids and return it as int32.

    Integer and boolean arrays are accepted as they are; float arrays only when every value is
    a whole number (``3.0``). NaN, infinite, fractional (``1.5``) or negative values raise
    :class:`ValueError` with a message saying which value and where (no silent truncation);
    the caller adds the file's name.
    """
    arr = np.asarray(labels)
    if arr.dtype == bool:
        return arr.astype(np.int32)
    if np.issubdtype(arr.dtype, np.floating):
        if arr.size:
            bad = ~np.isfinite(arr)
            if bad.any():
                y, x = (int(v[0]) for v in np.nonzero(bad))
                raise ValueError(
                    f"the label map holds {int(bad.sum())} NaN or infinite value(s) (first: "
                    f"{arr[y, x]} at row {y}, column {x}); labels must be whole numbers "
                    "(0 = uncertain)")
            frac = arr != np.floor(arr)
            if frac.any():
                y, x = (int(v[0]) for v in np.nonzero(frac))
                raise ValueError(
                    f"the label map holds {int(frac.sum())} non-integer value(s) (first: "
                    f"{float(arr[y, x]):g} at row {y}, column {x}); labels must be whole numbers "
                    "(0 = uncertain) and are never rounded")
    elif not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"the label map has values of type {arr.dtype}; labels must be integers")
    if arr.size:
        lo, hi = arr.min(), arr.max()
        if lo < 0:
            raise ValueError(f"the label map holds negative values (down to {lo:g}); labels "
                             "must be >= 0 (0 = uncertain)")
        if hi > np.iinfo(np.int32).max:
            raise ValueError(f"the label map holds values up to {hi:g}; labels must be below "
                             f"{np.iinfo(np.int32).max + 1}")
    return arr.astype(np.int32)


# Temporary files of :func:`stage_bytes`: ``.<name>.<8 random characters>.tmp`` (mkstemp's).
TEMP_SUFFIX = ".tmp"
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


def _write_error(path: Path, exc: OSError) -> FileWriteError:
    """A :class:`FileWriteError` naming ``path`` that keeps the errno of ``exc`` (ENOSPC...)."""
    err = FileWriteError(f"{path}: cannot write ({exc.strerror or exc})")
    err.errno = exc.errno   # (setting strerror too would change str(err) to "[Errno n] ...")
    return err


def stage_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path`` (flushed to disk) and return its path.

    ``path`` itself is not touched: :func:`commit_staged` renames the temporary file onto it,
    :func:`discard_staged` removes it. Raises :class:`FileWriteError` naming ``path`` (its
    ``errno`` is the system's, e.g. ``ENOSPC``); no temporary file is then left behind.
    """
    p = Path(path)
    tmp_name: str | None = None
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=TEMP_SUFFIX, dir=p.parent)
        try:
            try:  # mkstemp makes 0600 files: keep an existing file's mode, else the usual one
                mode = p.stat().st_mode & 0o777 if p.exists() else 0o666 & ~_UMASK
                os.fchmod(fd, mode)
            except OSError:
                pass
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        if tmp_name is not None:
            discard_staged(tmp_name)
        raise _write_error(p, exc) from exc
    return Path(tmp_name)


def commit_staged(tmp: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """Rename a file made by :func:`stage_bytes` onto ``path`` (atomic on one file system)."""
    p = Path(path)
    try:
        os.replace(tmp, p)
    except OSError as exc:
        discard_staged(tmp)
        raise _write_error(p, exc) from exc
    return p


def discard_staged(tmp: str | os.PathLike[str]) -> None:
    """Remove a temporary file made by :func:`stage_bytes`, ignoring errors."""
    try:
        os.unlink(tmp)
    except OSError:
        pass


def sync_folder(folder: str | os.PathLike[str]) -> None:
    """Flush a folder's entries (the renames into it) to disk, where the system allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class StagedFiles:
    """The one way to write several files all or nothing: each :meth:`add` writes a temporary
    file beside its target (:func:`stage_bytes`: a full disk fails there); leaving the ``with``
    block without an error renames them into place in the order they were added (so a sidecar
    added last lands last) and flushes their folders; with an error, or when a rename fails,
    the files not yet renamed are removed (their targets keep their old content)."""

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []

    def add(self, path: str | os.PathLike[str], data: bytes) -> Path:
        target = Path(path)
        self._staged.append((stage_bytes(target, data), target))
        return target

    def __iter__(self) -> Iterator[Path]:
        return (target for _, target in self._staged)

    def __enter__(self) -> StagedFiles:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        pending = self._staged
        try:
            if exc_type is None:
                folders: dict[Path, None] = {}
                while pending:
                    tmp, target = pending.pop(0)
                    commit_staged(tmp, target)
                    folders[target.parent] = None
                for f in folders:
                    sync_folder(f)
        finally:
            for tmp, _ in pending:
                discard_staged(tmp)
            pending.clear()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    Raises :class:`FileWriteError` naming the file on any failure (read-only folder, full
    disk; ``errno`` tells which); the previous content of ``path``, if any, is then left
    untouched and no temporary file is left behind.
    """
    return commit_staged(stage_bytes(path, data), path)


def is_temp_file_name(name: str) -> bool:
    """Whether ``name`` has the form of this module's temporary files."""
    return bool(_TEMP_NAME.match(name))


def remove_stale_temp_files(folder: str | os.PathLike[str], older_than_s: float = 60.0
                            ) -> list[Path]:
    """Remove this module's temporary files left in ``folder`` by a killed process.

    Only files named like :func:`stage_bytes`'s (``.<name>.<8 characters>.tmp``) and last
    modified more than ``older_than_s`` seconds ago are removed (a younger one may belong to
    a write in progress). Returns the files removed; errors are ignored.
    """
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not is_temp_file_name(entry.name):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            if now - entry.stat(follow_symlinks=False).st_mtime < older_than_s:
                continue
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed


def encode_png16(array: np.ndarray, *, compress_level: int = 3, name: Any = None) -> bytes:
    """The one 16-bit PNG encoder: an (H, W) integer map as single-channel 16-bit grey PNG
    bytes. Raises ValueError (starting with ``name``, when given) for a map that is not (H, W)
    or has values outside 0..65535."""
    arr = np.asarray(array)
    where = f"{name}: " if name is not None else ""
    if arr.ndim != 2:
        raise ValueError(f"{where}expected an (H, W) map, got shape {arr.shape}")
    if arr.size and arr.dtype != np.uint16 and (arr.min() < 0 or arr.max() > 65535):
        raise ValueError(f"{where}values must lie in 0..65535 for a 16-bit PNG "
                         f"(got {arr.min()}..{arr.max()})")
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint16)).save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def encode_png(array: np.ndarray) -> bytes:
    """Encode an (H, W) integer map as a single-channel 16-bit PNG (:func:`encode_png16`), or
    an RGB uint8 image.

    Values must lie in 0..65535.
    """
    arr = np.asarray(array)
    if arr.ndim == 3 and arr.shape[2] == 3 and arr.dtype == np.uint8:
        buf = io.BytesIO()
        Image.fromarray(arr, mode="RGB").save(buf, format="PNG", compress_level=3)
        return buf.getvalue()
    return encode_png16(arr)


def write_label_png(path: str | os.PathLike[str], labels: np.ndarray) -> Path:
    """Write an (H, W) label map as a single-channel 16-bit PNG (:func:`encode_png16`),
    atomically."""
    return atomic_write_bytes(path, encode_png16(labels, name=path))


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


def list_folder(folder: str | os.PathLike[str]) -> list[Path]:
    """The image files of a folder (not recursive), in natural name order (``img2`` before
    ``img10``), hidden files left out. Names only: no pixel is read and no file is opened, so a
    folder of thousands of images lists in milliseconds. The one lister of the app and the CLI.

    Raises :class:`OSError` naming the folder when it cannot be listed.
    """
    names = []
    try:
        with os.scandir(folder) as it:
            for e in it:
                if e.name.startswith(".") or os.path.splitext(e.name)[1].lower() not in IMAGE_EXTENSIONS:
                    continue
                try:
                    if not e.is_symlink() and not e.is_file():   # d_type: no stat needed
                        continue
                except OSError:
                    continue
                names.append(e.name)
    except OSError as exc:
        raise OSError(f"{folder}: cannot list the folder ({exc.strerror or exc})") from exc
    names.sort(key=_natural_key)
    base = Path(folder)
    return [base / n for n in names]


_DIGITS = re.compile(r"(\d+)")


def _natural_key(name: str) -> list[Any]:
    return [int(t) if t.isdigit() else t.lower() for t in _DIGITS.split(name)]


def list_images(inputs: list[str | os.PathLike[str]]) -> list[Path]:
    """Expand files and folders (:func:`list_folder`) into a list of image files, in order."""
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        out.extend(list_folder(p) if p.is_dir() else [p])
    return out
