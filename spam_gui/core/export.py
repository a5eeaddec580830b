"""Writing a segmentation: label PNG, object map and sidecar JSON (SPEC §9).

For an image ``<stem>`` in an output folder:

- ``<stem>.png``: single-channel 16-bit PNG, superpixel labels 1..N;
- ``<stem>_objects.png``: single-channel 16-bit PNG, prior object ids, 0 = uncertain;
- ``<stem>.json``: the sidecar, with everything needed to reproduce the map.

Every file is written to a temporary name in the same folder and renamed, so an interrupted
export never leaves a half-written file; on failure the previous files stay as they were.
"""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spam_gui import __version__
from spam_gui.core.image_io import (
    encode_png,
    atomic_write_bytes,
    read_label_map,
    write_json,
)

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.core.spam import SegmentationResult

SIDECAR_FORMAT = "spam-superpixels"
SIDECAR_VERSION = 1
MAX_LABEL = 65535


def output_paths(out_dir: str | os.PathLike[str], stem: str) -> dict[str, Path]:
    """The three files written for ``stem`` in ``out_dir``."""
    d = Path(out_dir)
    return {"labels": d / f"{stem}.png", "objects": d / f"{stem}_objects.png",
            "sidecar": d / f"{stem}.json"}


def sidecar(result: "SegmentationResult", image_name: str | None = None,
            image: np.ndarray | None = None, image_sha256: str | None = None,
            extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The sidecar dictionary of a result (SPEC §9)."""
    h, w = result.labels.shape
    if image_sha256 is None and image is not None:
        image_sha256 = hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()
    counts = result.superpixel_counts()
    objects = []
    for oid in sorted(result.objects_info):
        info = result.objects_info[oid].as_dict()
        info["n_superpixels"] = counts.get(oid, 0)
        objects.append(info)
    doc: dict[str, Any] = {
        "format": SIDECAR_FORMAT,
        "format_version": SIDECAR_VERSION,
        "image": {"name": image_name, "sha256": image_sha256, "width": int(w), "height": int(h)},
        "parameters": dict(result.params),
        "objects": objects,
        "n_superpixels": result.n_superpixels,
        "superpixel_object": result.superpixel_object[1:].astype(int).tolist(),
        "timings": {k: round(float(v), 4) for k, v in result.timings.items()},
        "program": {"name": "spam-studio", "version": __version__},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if extra:
        doc.update(extra)
    return doc


def save_result(out_dir: str | os.PathLike[str], stem: str, result: "SegmentationResult",
                image_path: str | os.PathLike[str] | None = None,
                image: np.ndarray | None = None,
                extra: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write ``<stem>.png``, ``<stem>_objects.png`` and ``<stem>.json`` into ``out_dir``.

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

    Raises
    ------
    ValueError
        More than 65535 superpixels (a 16-bit PNG cannot hold them).
    spam_gui.core.image_io.FileWriteError
        A file could not be written (read-only folder, full disk); the message names it.
    """
    n = result.n_superpixels
    if n > MAX_LABEL:
        raise ValueError(f"{stem}: {n} superpixels do not fit a 16-bit PNG (at most {MAX_LABEL})")
    if result.objects.max(initial=0) > MAX_LABEL:
        raise ValueError(f"{stem}: object ids above {MAX_LABEL} do not fit a 16-bit PNG")
    paths = output_paths(out_dir, stem)
    sha = None
    name = None
    if image_path is not None:
        name = Path(image_path).name
        try:
            sha = hashlib.sha256(Path(image_path).read_bytes()).hexdigest()
        except OSError:
            sha = None
    # encode everything first, so a bad input fails before any file is touched
    label_bytes = encode_png(result.labels.astype(np.uint16))
    object_bytes = encode_png(result.objects.astype(np.uint16))
    doc = sidecar(result, image_name=name, image=None if sha else image, image_sha256=sha,
                  extra=extra)
    atomic_write_bytes(paths["labels"], label_bytes)
    atomic_write_bytes(paths["objects"], object_bytes)
    write_json(paths["sidecar"], doc)
    return paths


def load_labels(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a label map written by :func:`save_result` as (H, W) int32."""
    return read_label_map(path)
