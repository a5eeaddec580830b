"""Writing a segmentation: label PNG, object map and sidecar JSON (docs/algorithm.md §9), as one set.

For an image ``<stem>`` in an output folder:

- ``<stem>.png``: single-channel 16-bit PNG, superpixel labels 1..N;
- ``<stem>_objects.png``: single-channel 16-bit PNG, prior object ids, 0 = uncertain;
- ``<stem>.json``: the sidecar, with everything needed to reproduce the map, and the name and
  sha256 of both PNGs (``"files"``).

The three files are one set (:func:`save_result`): all three are written to temporary files
first (so a full disk fails before anything is replaced), then the PNGs are renamed into
place and the sidecar last. A reader that checks the hashes (:func:`read_output_set`,
:func:`verify_output_set`) therefore never accepts a partial or mixed set, whatever moment
a crash or a signal came at.
"""

from __future__ import annotations

import errno
import hashlib
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spam_gui import __version__
from spam_gui.core.io.cache import hash_file
from spam_gui.core.errors import SpamError
from spam_gui.core.io.images import (
    FileWriteError, ImageReadError, discard_staged, encode_png16, read_label_map, stage_bytes,
)

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.core.engine.spam import SegmentationResult

SIDECAR_FORMAT = "spam-superpixels"
SIDECAR_VERSION = 2      # 2: "files" (name and sha256 of both PNGs); uncertain superpixels 0
MAX_LABEL = 65535

# A write that fails with one of these fails for every later file in the folder too.
FOLDER_WRITE_ERRNOS = frozenset(
    e for e in (errno.ENOSPC, errno.EROFS, getattr(errno, "EDQUOT", None)) if e is not None)


class OutputSetError(SpamError):
    """An output set is missing, partial, mixed or changed; the message names the file."""


IMAGE_CHANGED_TEXT = "the file's content changed since it was segmented"


class ImageChangedError(SpamError):
    """The image file's content is not what was segmented (it was replaced since it was read,
    even with the same size and modification time); nothing is written. Names the file."""


def _check_image_content(image_path: Path, result: "SegmentationResult",
                         image: np.ndarray | None) -> None:
    """Raise :class:`ImageChangedError` when the pixels of ``image_path`` now differ from
    those that were segmented (``result.image_key``, else ``image``); a file that cannot be
    read is left to the caller (the sidecar then records no hash)."""
    from spam_gui.core.io.cache import hash_array
    from spam_gui.core.io.images import read_image, to_rgb_uint8

    key = result.image_key or (hash_array(to_rgb_uint8(image)) if image is not None else "")
    if not key:
        return
    try:
        now = read_image(image_path)
    except (OSError, ImageReadError, SpamError):
        return
    if hash_array(to_rgb_uint8(now)) != key:
        raise ImageChangedError(
            f"{image_path}: {IMAGE_CHANGED_TEXT} (replaced on disk); not exported, so that the labels never go out with another image's hash: "
            "segment it again, then export")


class OutputFolderError(FileWriteError):
    """The output folder cannot be used (a file, read-only, not creatable); names the folder."""


def is_folder_write_error(exc: BaseException) -> bool:
    """Whether a write error means no later file can be written there either (full disk,
    read-only file system, quota): a run should stop rather than fail every image."""
    return isinstance(exc, OSError) and exc.errno in FOLDER_WRITE_ERRNOS


def check_output_folder(out_dir: str | os.PathLike[str]) -> Path:
    """Check, before any work, that ``out_dir`` is a folder files can be written into.

    An existing folder is probed by creating (and removing) a temporary file in it; a missing
    one must be creatable (its nearest existing parent a writable folder) — it is not created
    here. Raises :class:`OutputFolderError` naming the folder (``errno`` set when the system
    gave one, e.g. ``EROFS``).
    """
    d = Path(out_dir)
    if d.exists():
        if not d.is_dir():
            raise OutputFolderError(f"{d}: is a file, not a folder; choose another output folder")
        try:
            discard_staged(stage_bytes(d / ".spam-write-check", b""))
        except FileWriteError as exc:
            cause = exc.__cause__
            why = getattr(cause, "strerror", None) or str(cause or exc)
            err = OutputFolderError(f"{d}: cannot write into the output folder ({why})")
            err.errno = exc.errno
            raise err from None
        return d
    parent = d.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputFolderError(f"{d}: the output folder cannot be created: {parent} is a file, "
                                "not a folder")
    read_only = False
    try:
        read_only = bool(os.statvfs(parent).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        pass
    if read_only or not os.access(parent, os.W_OK | os.X_OK):
        err = OutputFolderError(f"{d}: the output folder cannot be created: {parent} is "
                                f"{'on a read-only file system' if read_only else 'not writable'}")
        err.errno = errno.EROFS if read_only else errno.EACCES
        raise err
    return d


def output_paths(out_dir: str | os.PathLike[str], stem: str) -> dict[str, Path]:
    """The three files written for ``stem`` in ``out_dir``."""
    d = Path(out_dir)
    return {"labels": d / f"{stem}.png", "objects": d / f"{stem}_objects.png",
            "sidecar": d / f"{stem}.json"}


def object_renumbering(objects: np.ndarray) -> dict[int, int] | None:
    """Original id -> new id (1..M, in increasing order of the original ids) when an object
    map holds ids above 65535, which a 16-bit PNG cannot store; None when none is needed.

    Raises :class:`ValueError` when the map holds more than 65535 objects.
    """
    if objects.size == 0 or int(objects.max()) <= MAX_LABEL:
        return None
    ids = [int(i) for i in np.unique(objects) if i != 0]
    if len(ids) > MAX_LABEL:
        raise ValueError(f"{len(ids)} prior objects do not fit a 16-bit PNG (at most {MAX_LABEL})")
    return {old: new for new, old in enumerate(ids, start=1)}


def _renumbered(values: np.ndarray, mapping: dict[int, int]) -> np.ndarray:
    keys = np.array(sorted(mapping), dtype=np.int64)
    vals = np.array([mapping[k] for k in keys.tolist()], dtype=np.int64)
    flat = np.asarray(values, dtype=np.int64).ravel()
    out = np.zeros_like(flat)
    nz = flat != 0
    out[nz] = vals[np.searchsorted(keys, flat[nz])]
    return out.reshape(np.shape(values))


def sidecar(result: "SegmentationResult", image_name: str | None = None,
            image: np.ndarray | None = None, image_sha256: str | None = None,
            extra: dict[str, Any] | None = None,
            renumbering: dict[int, int] | None = None) -> dict[str, Any]:
    """The sidecar dictionary of a result (docs/algorithm.md §9).

    ``superpixel_object`` gives each superpixel's object, 0 (uncertain) for a superpixel made
    only of uncertain pixels. With ``renumbering`` (original id -> id in the object PNG, see
    :func:`object_renumbering`) the ids are the new ones, each object keeps its
    ``original_id`` and ``prior.object_ids`` maps new ids to the original ones.
    """
    h, w = result.labels.shape
    if image_sha256 is None and image is not None:
        image_sha256 = hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()
    # indexed by label, like the API's SegmentationResult.superpixel_object (entry 0 unused, 0)
    sp_obj = np.asarray(result.certain_superpixel_object()).copy()
    sp_obj[0] = 0
    if renumbering:
        sp_obj = _renumbered(sp_obj, renumbering)
    ids, n = np.unique(sp_obj[1:], return_counts=True)
    counts = {int(i): int(c) for i, c in zip(ids, n)}
    objects = []
    for oid in sorted(result.objects_info):
        info = result.objects_info[oid].as_dict()
        if renumbering:
            info["id"] = renumbering.get(int(oid), int(oid))
            info["original_id"] = int(oid)
        info["n_superpixels"] = counts.get(int(info["id"]), 0)
        objects.append(info)
    doc: dict[str, Any] = {
        "format": SIDECAR_FORMAT,
        "format_version": SIDECAR_VERSION,
        "image": {"name": image_name, "sha256": image_sha256, "width": int(w), "height": int(h)},
        "parameters": dict(result.params),
        "objects": objects,
        "n_superpixels": result.n_superpixels,
        "n_uncertain_superpixels": counts.get(0, 0),
        "superpixel_object": sp_obj.astype(int).tolist(),
        "timings": {k: round(float(v), 4) for k, v in result.timings.items()},
        "program": {"name": "spam-studio", "version": __version__},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if extra:
        doc.update(extra)
    if renumbering:
        prior = doc.get("prior")
        prior = dict(prior) if isinstance(prior, dict) else {}
        prior["object_ids"] = {str(new): old for old, new in sorted(renumbering.items(),
                                                                     key=lambda t: t[1])}
        doc["prior"] = prior
    return doc


def run_info(*, program: str, prior: dict[str, Any], saliency: dict[str, Any] | None = None,
             ratios: dict[int, float] | None = None,
             prompts: list[list[list[int]]] | None = None) -> dict[str, Any]:
    """The sidecar entries that say how a map was made — one schema for the app and the CLI.

    Parameters
    ----------
    program:
        Who wrote it (``"spam segment"``, ``"spam-gui"``).
    prior:
        The prior's source: ``{"source": "none" | "label map" | "automatic" | "sam", ...}``, a
        label map named by :func:`spam_gui.core.prior.maps.prior_file_info`.
    saliency:
        With visual attention, the saliency map's description (``method``, ``model``...).
    ratios:
        Per-object density ratios other than 1 (the app's clicks).
    prompts:
        SAM prompt objects merged into the prior, ``[[x, y, 1 or 0], ...]`` each.
    """
    return {
        "program": {"name": program, "version": __version__},
        "prior": dict(prior, prompts=list(prompts or [])),
        "saliency": dict(saliency) if saliency else None,
        "ratios": {str(k): float(v) for k, v in sorted((ratios or {}).items())},
    }


def save_result(out_dir: str | os.PathLike[str], stem: str, result: "SegmentationResult",
                image_path: str | os.PathLike[str] | None = None,
                image: np.ndarray | None = None,
                extra: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write ``<stem>.png``, ``<stem>_objects.png`` and ``<stem>.json`` into ``out_dir``.

    The three files are one set: each is first written in full to a temporary file (a full
    disk fails there, and every previous file stays as it was); then the two PNGs are renamed
    into place and the sidecar, which records both PNGs' sha256, last. Read a set back with
    :func:`read_output_set`, which refuses a partial or mixed one.

    Parameters
    ----------
    out_dir:
        Output folder (created if needed).
    stem:
        Base name of the files.
    result:
        The segmentation.
    image_path, image:
        The source image's path (its name and the sha256 of its bytes go in the sidecar) or,
        without a path, the image array (the sha256 of its pixels is recorded).
    extra:
        More top-level sidecar entries (e.g. the prior source, the saliency method).

    Object ids above 65535 are renumbered 1..M in the object PNG and the sidecar (which maps
    them back, ``prior.object_ids``).

    Raises
    ------
    ValueError
        More than 65535 superpixels or prior objects (a 16-bit PNG cannot hold them).
    ImageChangedError
        ``image_path``'s pixels are no longer those that were segmented (the file was replaced,
        whatever its size and modification time): nothing is written.
    spam_gui.core.io.images.FileWriteError
        A file could not be written (read-only folder, full disk); the message names it and
        ``errno`` says why (see :func:`is_folder_write_error`).
    """
    n = result.n_superpixels
    if n > MAX_LABEL:
        raise ValueError(f"{stem}: {n} superpixels do not fit a 16-bit PNG (at most {MAX_LABEL})")
    try:
        renumbering = object_renumbering(result.objects)
    except ValueError as exc:
        raise ValueError(f"{stem}: {exc}") from None
    paths = output_paths(out_dir, stem)
    sha = None
    name = None
    if image_path is not None:
        name = Path(image_path).name
        try:
            sha = hash_file(image_path)
        except OSError:
            sha = None
        if sha is not None:   # the content hash is checked before anything is written
            _check_image_content(Path(image_path), result, image)
    # encode everything first, so a bad input fails before any file is touched
    objects = result.objects if renumbering is None else _renumbered(result.objects, renumbering)
    data = {"labels": encode_png16(result.labels.astype(np.uint16)),
            "objects": encode_png16(objects.astype(np.uint16))}
    doc = sidecar(result, image_name=name, image=None if sha else image, image_sha256=sha,
                  extra=extra, renumbering=renumbering)
    from spam_gui.core.io.file_sets import write_file_set

    return write_file_set(paths["sidecar"].parent,
                          {key: (paths[key].name, data[key]) for key in ("labels", "objects")},
                          paths["sidecar"].name, doc)


def load_labels(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a label map written by :func:`save_result` as (H, W) int32."""
    return read_label_map(path)


@dataclass
class OutputSet:
    """A complete, verified output set (see :func:`read_output_set`)."""

    labels: np.ndarray          # (H, W) int32, 1..N
    objects: np.ndarray         # (H, W) int32, 0 = uncertain (renumbered ids, if any)
    sidecar: dict[str, Any]
    paths: dict[str, Path]


def verify_output_set(out_dir: str | os.PathLike[str], stem: str) -> dict[str, Any]:
    """Check that ``<stem>.png``, ``<stem>_objects.png`` and ``<stem>.json`` are one complete
    set and return the sidecar.

    The sidecar must exist, be a ``spam-superpixels`` sidecar with a ``files`` entry, and
    both PNGs must exist with the sha256 it records. Raises :class:`OutputSetError` naming
    the file otherwise: a missing sidecar (an interrupted export), a PNG missing or changed
    (a mixed set: an export stopped between files, or a file edited or copied over).
    """
    from spam_gui.core.io.file_sets import verify_file_set

    paths = output_paths(out_dir, stem)
    return verify_file_set(paths["sidecar"].parent, paths["sidecar"].name,
                           expect={key: paths[key].name for key in ("labels", "objects")},
                           sidecar_format=SIDECAR_FORMAT, error=OutputSetError,
                           redo="export again")


def read_output_set(out_dir: str | os.PathLike[str], stem: str) -> OutputSet:
    """Read a complete output set written by :func:`save_result`, verified first with
    :func:`verify_output_set` (raises :class:`OutputSetError` on a partial or mixed set)."""
    doc = verify_output_set(out_dir, stem)
    paths = output_paths(out_dir, stem)
    try:
        labels = read_label_map(paths["labels"])
        objects = read_label_map(paths["objects"])
    except ImageReadError as exc:
        raise OutputSetError(str(exc)) from None
    return OutputSet(labels=labels, objects=objects, sidecar=doc, paths=paths)
