"""Resuming a batch: the ``"batch"`` record a job writes into its sidecars (signature and
the sha256 of the per-image inputs), and whether a job's outputs are already complete and up
to date (:func:`outputs_complete`; ``spam eval``: :func:`eval_saved`), so it can be skipped.

No Qt here; no torch at import time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from spam_gui.core.io.file_sets import MAX_SIDECAR_BYTES, output_file_problem, verify_file_set
from spam_gui.core.batch.job import BATCH_RECORD_VERSION, BatchJob, file_sha_or_none
from spam_gui.core.io.cache import hash_file
from spam_gui.core.errors import SpamError

EVAL_FORMAT = "spam-eval-scores"


def batch_record(job: BatchJob, inputs: Mapping[str, str | None]) -> dict[str, Any]:
    return {"version": BATCH_RECORD_VERSION, "signature": job.signature, "inputs": dict(inputs)}


def job_inputs(job: BatchJob) -> dict[str, str | None]:
    """sha256 of the per-image inputs of a job (image file; prior map or mask file)."""
    o = job.options
    image = Path(job.image)
    found: dict[str, str | None] = {"image": _image_sha256(image)}
    if job.kind == "segment" and o.get("prior"):
        prior = Path(o["prior"])
        if o.get("prior_is_dir"):
            from spam_gui.core.prior.maps import prior_map_path

            found["prior"] = file_sha_or_none(prior_map_path(prior, image))
        else:
            found["prior"] = file_sha_or_none(prior)
    if job.kind == "prior" and o.get("masks"):
        found["masks"] = file_sha_or_none(masks_file(o, image))
    if job.kind == "eval":
        found["gt"] = ",".join(str(file_sha_or_none(g)) for g in o["gt_paths"])
    return found


def _image_sha256(image: Path) -> str:
    """The sha256 of an image file; a file that cannot be read raises
    :class:`~spam_gui.core.io.images.ImageReadError` naming it in our words (a dangling link,
    a missing file), never the system's ``[Errno 2] ...``."""
    import os

    from spam_gui.core.io.images import ImageReadError

    try:
        return hash_file(image)
    except OSError as exc:
        if image.is_symlink() and not image.exists():
            try:
                target = os.readlink(image)
            except OSError:
                target = "a file"
            raise ImageReadError(f"{image}: a link to {target}, which does not exist") from None
        if not image.exists():
            raise ImageReadError(f"{image}: no such file") from None
        raise ImageReadError(f"{image}: cannot be read ({exc.strerror or exc})") from None


def outputs_complete(job: BatchJob) -> bool:
    """Whether ``job``'s outputs are a complete, verified set made with the same signature
    and the same per-image inputs (so the job can be skipped)."""
    try:
        if job.kind == "eval":
            return eval_saved(job) is not None
        if job.kind == "segment":
            from spam_gui.core.formats.export import verify_output_set

            doc = verify_output_set(job.out_dir, job.stem)
        else:
            doc = verify_file_set(job.out_dir, f"{job.stem}.json")
        record = doc.get("batch")
        if not isinstance(record, dict) or record.get("signature") != job.signature:
            return False
        return record.get("inputs") == job_inputs(job)
    except (SpamError, OSError):
        return False


def masks_file(o: Mapping[str, Any], image: Path) -> Path:
    masks = Path(o["masks"])
    return masks / f"{image.stem}.npz" if o.get("masks_is_dir") else masks


def eval_saved(job: BatchJob) -> dict[str, Any] | None:
    """The scores saved by an earlier run of the same eval job (``OUT/<id>.json``), or None."""
    if not job.out_dir:
        return None
    path = Path(job.out_dir) / f"{job.stem}.json"
    if output_file_problem(path.parent, path.name, MAX_SIDECAR_BYTES):
        return None        # missing, or not a regular file of a sane size: never read
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != EVAL_FORMAT:
        return None
    record = doc.get("batch")
    if not isinstance(record, dict) or record.get("signature") != job.signature \
            or record.get("inputs") != job_inputs(job):
        return None
    return doc.get("scores") if isinstance(doc.get("scores"), dict) else None
