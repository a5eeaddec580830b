"""Per-image rasters of the folder's state: edited object maps, class and instance maps (no Qt).

The autosave file (:mod:`spam_gui.app.model.state_file`) holds what fits in JSON; what the user
paints or edits pixel by pixel is kept beside it as 16-bit PNGs in a folder named after the
state file (``<output>/.spam_state.json.d/``)::

    .spam_state.json.d/photo-1a2b3c4d.objects.png      the object map as edited
    .spam_state.json.d/photo-1a2b3c4d.classes.png      class ids, 0 = unlabelled
    .spam_state.json.d/photo-1a2b3c4d.instances.png    instance ids, 0 = none

The state file's entry of the image names each raster with the sha256 of its bytes
(``"rasters": {"objects": "<sha256>", ...}``), so a raster that does not match what the JSON
says (a file copied from elsewhere) is named and not used, and the JSON stays the one index of
the saved work. Each version of a raster is a file of its own, named by the start of its hash
(``photo-1a2b3c4d.classes.<16 hex digits>.png``): a save writes the new version, then the JSON
that names it, then removes the older versions (:meth:`RasterStore.prune`), so the JSON on disk
names complete files at every moment, a crash between the writes included. Files written by
earlier versions of the app without the hash in their name (``photo-1a2b3c4d.classes.png``)
are still read. Files are written atomically (:func:`spam_gui.core.io.images.atomic_write_bytes`).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from pathlib import Path

import numpy as np
from PIL import Image

from spam_gui.core.errors import SpamError
from spam_gui.core.io.images import atomic_write_bytes, encode_png16

RASTER_KINDS = ("objects", "classes", "instances")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class RasterStoreError(SpamError):
    """A saved raster that cannot be used; the message names the file and the problem.

    ``path`` is the file found (None when none was), so that a damaged one can be kept aside
    (:func:`keep_aside`)."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


def keep_aside(path: Path) -> Path | None:
    """Rename a raster file that cannot be used to ``<name>.broken-<time>`` beside it (never
    taken for a version again, never pruned); the new path, or None when it cannot be moved."""
    import time

    target = path.with_name(f"{path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}-{n}")
    try:
        os.replace(path, target)
    except OSError:
        return None
    return target


def encode_raster(array: np.ndarray) -> bytes:
    """The PNG bytes a raster is saved as (16-bit grey); raises ValueError for a map that is not
    (H, W) with values in 0..65535."""
    # Fast compression: this runs on autosave; the exported files use the usual level.
    return encode_png16(array, compress_level=1, name="a raster")


def raster_key(array: np.ndarray) -> str:
    """What identifies a raster's content (sha256 of its size and 16-bit values): the key of
    an edited object map in :func:`spam_gui.app.model.doc_data.state_key`. Tens of
    milliseconds for a 12-megapixel map, where encoding the PNG whose sha256 names the file
    (:meth:`RasterStore.save`) takes several times that; the state file keeps both. Raises ValueError
    for a map that is not (H, W) with values in 0..65535, as saving it would."""
    arr = np.asarray(array)
    if arr.ndim != 2:
        raise ValueError(f"a raster is (H, W), got shape {arr.shape}")
    if arr.dtype != np.uint16:
        if arr.size and (int(arr.min()) < 0 or int(arr.max()) > 65535):
            raise ValueError("a raster holds values 0..65535")
        arr = arr.astype(np.uint16)
    arr = np.ascontiguousarray(arr)
    h = hashlib.sha256(f"raster|{arr.shape[0]}x{arr.shape[1]}|u16|".encode())
    h.update(memoryview(arr.reshape(-1)).cast("B"))
    return h.hexdigest()


def raster_folder(state_path: str | Path) -> Path:
    """Where the rasters of the state file ``state_path`` live."""
    p = Path(state_path)
    return p.with_name(p.name + ".d")


class RasterStore:
    """Rasters of one folder's images, in ``root`` (see the module docstring).

    Parameters
    ----------
    root:
        The folder, usually ``raster_folder(state_path)``; created on the first save.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _base(self, image_name: str, kind: str) -> str:
        if kind not in RASTER_KINDS:
            raise ValueError(f"unknown raster kind {kind!r} (one of {RASTER_KINDS})")
        stem = _SAFE.sub("_", Path(image_name).stem)[:80] or "image"
        digest = hashlib.sha1(image_name.encode("utf-8")).hexdigest()[:8]
        return f"{stem}-{digest}.{kind}"

    def path(self, image_name: str, kind: str, sha256: str | None = None) -> Path:
        """The file of raster ``kind`` of the image called ``image_name``: the version whose
        bytes have the hash ``sha256``, or (None) the name without a hash that earlier
        versions of the app wrote."""
        base = self._base(image_name, kind)
        if sha256 is None:
            return self.root / f"{base}.png"
        return self.root / f"{base}.{sha256[:_HASH_CHARS]}.png"

    def versions(self, image_name: str, kind: str) -> list[Path]:
        """Every file of raster ``kind`` of ``image_name`` in the folder (all versions)."""
        base = self._base(image_name, kind)
        pattern = re.compile(re.escape(base) + r"(\.[0-9a-f]{%d})?\.png" % _HASH_CHARS)
        try:
            return sorted(p for p in self.root.glob(f"{base}*.png") if pattern.fullmatch(p.name))
        except OSError:
            return []

    def save(self, image_name: str, kind: str, array: np.ndarray) -> str:
        """Write an (H, W) map with values in 0..65535 as a version of its own; returns the
        sha256 of the file. The older versions stay until :meth:`prune`."""
        arr = np.asarray(array)
        data = encode_raster(arr)
        digest = hashlib.sha256(data).hexdigest()
        atomic_write_bytes(self.path(image_name, kind, digest), data)
        return digest

    def write_bytes(self, image_name: str, kind: str, data: bytes) -> str:
        """Write a raster's file as it is (moving it from another folder); its sha256."""
        digest = hashlib.sha256(data).hexdigest()
        atomic_write_bytes(self.path(image_name, kind, digest), data)
        return digest

    def read_bytes(self, image_name: str, kind: str, sha256: str | None = None
                   ) -> tuple[Path, bytes]:
        """The file of raster ``kind`` of ``image_name`` and its bytes: the version named
        ``sha256``, else the file without a hash in its name, else the newest other version
        (whose hash then tells it is not the one asked for).

        Raises
        ------
        RasterStoreError
            No file of that raster, or it cannot be read.
        """
        wanted = self.path(image_name, kind, sha256)
        candidates = [wanted]
        if sha256 is not None:
            legacy = self.path(image_name, kind)
            others = [p for p in self.versions(image_name, kind) if p not in (wanted, legacy)]
            others.sort(key=_mtime, reverse=True)
            candidates += [legacy] + others
        for p in candidates:
            try:
                return p, p.read_bytes()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise RasterStoreError(f"{p}: cannot be read ({exc.strerror or exc})",
                                       p) from None
        raise RasterStoreError(f"{wanted}: the saved {kind} of {image_name} is missing")

    def prune(self, image_name: str, kind: str, keep: str | None) -> None:
        """Remove the files of raster ``kind`` of ``image_name`` other than the version
        ``keep`` (a sha256; None removes them all). Call it once the state file naming
        ``keep`` is written."""
        keep_path = None if keep is None else self.path(image_name, kind, keep)
        for p in self.versions(image_name, kind):
            if p != keep_path:
                try:
                    p.unlink()
                except FileNotFoundError:
                    pass

    def load(self, image_name: str, kind: str, shape: tuple[int, int],
             sha256: str | None = None) -> np.ndarray:
        """Read raster ``kind`` of ``image_name`` as an (H, W) int32 map.

        Raises
        ------
        RasterStoreError
            The file is missing, unreadable, not the bytes the state file names (``sha256``),
            or not of ``shape`` (the image changed since).
        """
        p, data = self.read_bytes(image_name, kind, sha256)
        if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
            raise RasterStoreError(f"{p}: not the {kind} the state file saved for {image_name} "
                                   "(changed or half-written); not used", p)
        try:
            with Image.open(io.BytesIO(data)) as im:
                arr = np.asarray(im)
        except Exception:  # noqa: BLE001 - PIL raises many kinds for a damaged PNG
            raise RasterStoreError(f"{p}: not a readable PNG; not used", p) from None
        if arr.ndim != 2:
            raise RasterStoreError(f"{p}: not a single-channel map; not used", p)
        if tuple(arr.shape) != tuple(shape):
            raise RasterStoreError(
                f"{p}: {arr.shape[1]}×{arr.shape[0]} pixels, but {image_name} has "
                f"{shape[1]}×{shape[0]}; the image changed since, so the saved {kind} is not used",
                p)
        return arr.astype(np.int32)

    def delete(self, image_name: str, kind: str) -> None:
        """Remove a raster, every version of it (nothing happens when there is none)."""
        self.prune(image_name, kind, None)


_HASH_CHARS = 16
"""Hex digits of a version's sha256 in its file name."""


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return 0.0
