"""The batch job and what became of it: :class:`BatchJob` (one image, what to compute,
where to write it), :class:`JobOutcome`, :func:`job_signature` (the hash that ties outputs to
how they were made) and the sha256 helpers of the input files.

No Qt here; no torch at import time.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

JOB_KINDS = ("segment", "prior", "saliency", "eval")
BATCH_RECORD_VERSION = 1


# ----------------------------------------------------------------------------- job and outcome


@dataclass(frozen=True)
class BatchJob:
    """One image of a batch run: what to compute and where to write it.

    Parameters
    ----------
    kind:
        One of :data:`JOB_KINDS`.
    image:
        The image file's path; the process running the job reads it (no pixels travel).
    stem:
        Base name of the outputs in ``out_dir``.
    out_dir:
        The output folder.
    options:
        JSON-ready parameters of the kind (see the ``_<kind>_task`` functions).
    signature:
        :func:`job_signature` of ``kind``, ``options`` and the model hashes: what a sidecar
        must record for the job to be skipped.
    overwrite:
        Redo the image even when its outputs are complete and up to date.
    threads:
        Torch CPU threads of the process running the job (None: leave it as it is).
    """

    kind: str
    image: str
    stem: str
    out_dir: str
    options: Mapping[str, Any]
    signature: str
    overwrite: bool = False
    threads: int | None = None


@dataclass
class JobOutcome:
    """What became of one :class:`BatchJob`.

    ``status`` is ``"done"``, ``"skipped"`` (outputs complete and up to date) or
    ``"failed"`` (``error`` says why, naming the file). ``fatal`` marks a failure every later
    image would share (full disk): the run stops. ``messages`` are warnings for the console,
    ``line`` the one-line console summary of a done image.
    """

    image: str
    stem: str
    status: str
    seconds: float = 0.0
    worker: str = ""
    error: str | None = None
    fatal: bool = False
    errno: int | None = None
    messages: list[str] = field(default_factory=list)
    line: str | None = None
    attempts: int = 1
    payload: Any = None
    """What the job computed for the caller (``eval``: the image's scores)."""


def job_signature(kind: str, options: Mapping[str, Any], models: Mapping[str, str | None]
                  ) -> str:
    """The hash that ties outputs to how they were made: ``kind``, the ``options`` and the
    sha256 of each model file (``models``: role -> sha256 or None).

    Parameters
    ----------
    kind:
        One of :data:`JOB_KINDS`.
    options:
        The job's JSON-ready options (paths of per-image inputs included; their content is
        checked per image, see :func:`outputs_complete`).
    models:
        ``{"encoder": sha256, "sam": sha256, ...}``: the model files' contents, so a
        changed checkpoint redoes the images even under the same file name.

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    text = json.dumps({"v": BATCH_RECORD_VERSION, "kind": kind, "options": dict(options),
                       "models": dict(models)}, sort_keys=True, default=str,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_sha_or_none(path: str | os.PathLike[str] | None) -> str | None:
    if path is None:
        return None
    from spam_gui.core.io.cache import hash_file

    try:
        return hash_file(path)
    except OSError:
        return None


def name_in(msg: str, path: Path) -> str:
    return msg if str(path) in msg or path.name in msg else f"{path}: {msg}"
