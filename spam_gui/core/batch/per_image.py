"""Batch runs over many images: the per-image job, its outputs, the resume check, the report.

One :class:`BatchJob` names one image (its *path*: whoever runs the job reads the pixels) and
what to do with it (``kind``: ``"segment"``, ``"prior"``, ``"saliency"``; JSON-ready
``options``); :func:`run_job` does it and returns a :class:`JobOutcome`. The same function runs
in the command's own process (:func:`run_batch` without workers) and on Dask workers
(:mod:`spam_gui.core.batch.dask_runner`), so both give the same files, bit for bit.

Resuming
    Every sidecar written by a job holds a ``"batch"`` record: the job's ``signature`` (a hash
    of the kind, the options and the sha256 of every model file, see :func:`job_signature`)
    and the sha256 of the per-image inputs (the image file, its prior map or mask file). A job
    whose outputs form a complete, verified set (:func:`spam_gui.core.formats.export.verify_output_set`
    for superpixels; the ``"files"`` hashes for priors and saliency maps) with the same record
    is *skipped*; ``overwrite`` redoes it.

Models
    A process keeps the engines it loaded (:func:`engine`, :func:`keep_model`), keyed on the
    model file, its sha256 and the device, so a worker loads each model once however many
    images it is given. ``device="auto"`` is resolved where the job runs: a GPU worker uses its
    GPU.

Failures
    A problem of the image (unreadable, a prior of the wrong size: a
    :class:`~spam_gui.core.errors.SpamError`, :class:`ValueError` or :class:`OSError`) ends
    the job with status ``"failed"`` and the message; it is not retried. A write error that
    every later image would hit too (full disk, read-only file system) is ``fatal``: the run
    stops. Anything else is a bug or a dying worker and is raised, so that the runner retries
    the image once (Dask: on another worker) before reporting it.

This module holds the model cache, the task of each kind and :func:`run_job`; beside it:
the job and its signature (:mod:`spam_gui.core.batch.job`), the prior and saliency file sets
(:mod:`spam_gui.core.io.file_sets`) and the resume check (:mod:`spam_gui.core.batch.resume`).
Running a batch (the report, the progress bar, Ctrl+C): :mod:`spam_gui.core.batch.runner`.

No Qt here; no torch at import time.
"""

from __future__ import annotations

import logging
import socket
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping

from spam_gui import __version__
from spam_gui.core.io.file_sets import write_file_set
from spam_gui.core.io.cache import ModelCache
from spam_gui.core.batch.job import (
    JOB_KINDS, BatchJob, JobOutcome, file_sha_or_none, name_in,
)
from spam_gui.core.batch.resume import (
    EVAL_FORMAT, batch_record, eval_saved, job_inputs, masks_file, outputs_complete,
)
from spam_gui.core.errors import SpamError

log = logging.getLogger(__name__)

__all__ = [
    "engine",
    "keep_model",
    "model_loads",
    "run_job",
]


# ----------------------------------------------------------------------------- the model cache

_models = ModelCache(4)


def keep_model(role: str, key: tuple[Any, ...], load: Callable[[], Any]) -> Any:
    """The model of ``role`` stored under ``key`` in this process, loaded with ``load()`` the
    first time; at most a few are kept (least recently used dropped first).

    Parameters
    ----------
    role:
        ``"encoder"``, ``"sam"``, ``"dino"``: counted in :func:`model_loads`.
    key:
        The model file, its sha256 and the device (anything hashable that tells models apart).
    load:
        Builds the model; its exceptions (a bad checkpoint) reach the caller.
    """
    return _models.get(role, key, load)


def model_loads() -> dict[str, int]:
    """How many times this process loaded a model of each role (a worker loads each once)."""
    return _models.loads()


def encoder_identity(encoder: str) -> tuple[str, str | None]:
    """The encoder's file (or ``"none"``) and its sha256, without loading it."""
    if str(encoder).lower() == "none":
        return "none", None
    if str(encoder) == "default":
        from spam_gui.core.engine.spam import default_encoder_path

        path = default_encoder_path()   # MissingResourceError names a missing shipped file
    else:
        path = Path(encoder)
    p = path.expanduser()
    if not p.is_file():
        return str(p), None   # loading reports it by name
    from spam_gui.core.io.cache import hash_file_cached

    return str(p.resolve()), hash_file_cached(p)


def engine(encoder: str = "default", device: str = "auto",
           expect_sha256: str | None = None) -> Any:
    """The :class:`~spam_gui.core.engine.spam.Spam` engine of this process for ``encoder`` on
    ``device``, built once (keyed on the weight file, its sha256 and the device).

    Parameters
    ----------
    encoder:
        ``"default"``, ``"none"`` or a weight file (as :class:`~spam_gui.core.engine.spam.Spam`).
    device:
        ``"auto"`` resolves here: a worker with a GPU uses it.
    expect_sha256:
        The weight file's sha256 as the submitting machine saw it; a worker whose file differs
        refuses the job (a :class:`~spam_gui.core.errors.CheckpointError` naming the file).

    Raises
    ------
    spam_gui.core.engine.encoder.EncoderLoadError
        A weight file that cannot be used (names the file).
    """
    from spam_gui.core.devices import resolve_device
    from spam_gui.core.errors import CheckpointError, checkpoint_message

    dev = str(resolve_device(device))
    path, sha = encoder_identity(encoder)
    if expect_sha256 is not None and sha is not None and sha != expect_sha256:
        raise CheckpointError(checkpoint_message(
            path, "encoder", f"its sha256 on {socket.gethostname()} differs from the file the "
            "run was started with; give every machine the same weights"))

    def load() -> Any:
        from spam_gui.core.engine import spam as spam_mod

        return spam_mod.Spam(encoder=encoder, device=dev, cache_size=1)

    return keep_model("encoder", (str(encoder), path, sha, dev), load)


def _sam_model(checkpoint: str, device: str) -> Any:
    from spam_gui.core.devices import resolve_device
    from spam_gui.core.prior.sam import load_sam

    dev = str(resolve_device(device))
    key = (str(Path(checkpoint).expanduser().resolve()), file_sha_or_none(checkpoint), dev)
    return keep_model("sam", key, lambda: load_sam(checkpoint, dev))


def _dino_model(checkpoint: str, device: str) -> Any:
    from spam_gui.core.devices import resolve_device
    from spam_gui.core.saliency import get_dino

    dev = str(resolve_device(device))
    key = (str(Path(checkpoint).expanduser().resolve()), file_sha_or_none(checkpoint), dev)
    return keep_model("dino", key, lambda: get_dino(checkpoint, dev))


# ----------------------------------------------------------------------------- the tasks


class _Result:
    """What a task returns to :func:`run_job`: warnings, the console line, a payload."""

    def __init__(self, line: str | None = None, messages: list[str] | None = None,
                 payload: Any = None) -> None:
        self.line = line
        self.messages = messages or []
        self.payload = payload


def _segment_source(o: Mapping[str, Any], path: Path) -> Any:
    """The prior source of one image for ``spam segment``
    (:func:`spam_gui.core.prior.sources.choose_source`): ``--prior`` (a file, or a folder of
    ``<stem>.png`` maps: a missing one gives the automatic prior and a warning),
    ``--builtin-prior``, ``--sam-checkpoint``, else none."""
    from spam_gui.core.prior.sources import choose_source

    if o.get("prior"):
        if o.get("prior_is_dir"):
            return choose_source(path, "maps", maps_folder=o["prior"])
        return choose_source(path, "maps", map_file=o["prior"])
    if o.get("builtin_prior"):
        return choose_source(path, "builtin", coarseness=float(o["coarseness"]))
    if o.get("sam_checkpoint"):
        _sam_model(o["sam_checkpoint"], o["device"])
        return choose_source(path, "sam", sam_checkpoint=o["sam_checkpoint"],
                             points_per_side=int(o["points_per_side"]))
    return choose_source(path, "none")


def _segment_task(job: BatchJob) -> _Result:
    """``spam segment`` of one image (:func:`spam_gui.core.pipeline.run_image`):
    ``<stem>.png``, ``<stem>_objects.png``, ``<stem>.json``
    (:func:`spam_gui.core.formats.export.save_result`)."""
    from spam_gui.core.formats.export import run_info, save_result
    from spam_gui.core.io.images import read_image
    from spam_gui.core.params import SegmentParams
    from spam_gui.core.pipeline import ImageRequest, run_image

    o = job.options
    path = Path(job.image)
    spam = engine(o["encoder"], o["device"], o.get("encoder_sha256"))
    inputs = job_inputs(job)
    image = read_image(path)
    attention = bool(o.get("visual_attention"))
    if attention and o.get("dino_checkpoint"):
        _dino_model(o["dino_checkpoint"], o["device"])
    params = SegmentParams(
        n_segments=o["n_segments"], lambda_s=o["lambda_s"], lambda_c=o["lambda_c"],
        n_iter=o["iterations"], smoothing=o["smoothing"], seed=o["seed"],
        attention_ratio=o["ratio"], saliency_threshold=o["saliency_threshold"])
    request = ImageRequest(image, params, _segment_source(o, path), attention=attention,
                           dino_checkpoint=o.get("dino_checkpoint"), device=o["device"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = run_image(request, spam)
    messages = list(run.warnings) + [f"{path.name}: {w.message}" for w in caught]
    extra = run_info(program="spam segment", prior=run.prior_info,
                     saliency=run.saliency_info if attention else None)
    extra["batch"] = batch_record(job, inputs)
    save_result(job.out_dir, job.stem, run.result, image_path=path, extra=extra)
    return _Result(None, messages)


def _prior_cache() -> Any:
    from spam_gui.core.io.cache import default_cache_dir
    from spam_gui.core.prior.sam import default_cache

    return keep_model("cache", ("sam", str(default_cache_dir())), default_cache)


def _prior_task(job: BatchJob) -> _Result:
    """``spam prior`` of one image: ``<stem>.png`` (16-bit object map, 0 = uncertain) and
    ``<stem>.json`` (parameters, provenance), with ``<stem>_masks.npz`` when asked.

    ``options["method"]``: ``"masks"`` (aggregated proposals from ``.npz`` files),
    ``"sam"`` (a SAM checkpoint) or ``"builtin"``
    (:func:`spam_gui.core.prior.builtin.compute.build_hierarchy` cut at ``coarseness``).
    """
    from spam_gui.core.io.cache import hash_array
    from spam_gui.core.io.images import encode_png16, read_image
    from spam_gui.core.prior.maps import aggregate_proposals, read_masks_npz

    o = job.options
    path = Path(job.image)
    t0 = time.perf_counter()
    inputs = job_inputs(job)
    image = read_image(path)
    h, w = image.shape[:2]
    side: dict[str, Any] = {"tool": "spam prior", "version": __version__, "image": str(path)}
    files: dict[str, tuple[str, bytes]] = {}
    method = o.get("method") or ("masks" if o.get("masks") else "sam")
    if method == "builtin":
        from spam_gui.core.params import DEFAULTS

        from spam_gui.core.engine.fullres.grid import map_onto
        from spam_gui.core.pipeline import working_grid
        from spam_gui.core.prior.maps import prior_from_label_map
        from spam_gui.core.prior.builtin.compute import builtin_description, cached_hierarchy

        spam = engine(o["encoder"], o["device"], o.get("encoder_sha256"))
        # on the working grid of spam segment's default K, as in spam segment --builtin-prior
        grid = working_grid(h, w, DEFAULTS.n_segments)
        hierarchy = cached_hierarchy(image if grid is None else grid.resize(image), spam)
        a_min = o.get("a_min")
        if a_min is not None and grid is not None:   # given in image pixels
            a_min = float(a_min) * grid.work_pixels / (h * w)
        omap = hierarchy.prior(o["coarseness"], a_min=a_min)
        if grid is not None:   # each pixel takes its working cell's object
            omap = map_onto(omap, h, w, "the prior", nearest=True)
        prior = prior_from_label_map(omap)
        side.update({"image_sha256": hash_array(image), "source": "builtin",
                     "builtin": builtin_description(hierarchy, o["coarseness"], spam)})
        side.update(prior.to_json())
        how = f"built-in prior (coarseness {o['coarseness']:g})"
    elif method == "masks":
        mfile = masks_file(o, path)
        masks, scores, stability = read_masks_npz(mfile, (h, w))
        prior = aggregate_proposals(masks, a_min=o.get("a_min"), opening=o["opening"],
                                    scores=scores, stability=stability)
        side.update({"image_sha256": hash_array(image), "source": "masks",
                     "masks": {"file": str(mfile), "n_proposals": int(masks.shape[0])}})
        side.update(prior.to_json())
        how = f"{masks.shape[0]} proposals from {mfile.name}"
    else:
        from spam_gui.core.prior.sam import AmgParams, sam_prior

        _sam_model(o["sam_checkpoint"], o["device"])
        params = AmgParams(**o["amg"])
        res = sam_prior(image, o["sam_checkpoint"], params=params, device=o["device"],
                        cache=None if o.get("no_cache") else _prior_cache(),
                        a_min=o.get("a_min"), opening=o["opening"],
                        keep_proposals=bool(o.get("save_proposals")))
        prior = res.prior
        prov = res.provenance
        side.update({"image_sha256": prov["image_sha256"], "source": "sam",
                     "sam": {k: prov[k] for k in ("checkpoint", "generator") if k in prov}})
        side["sam"].update({k: prov[k] for k in ("device", "cache", "n_proposals", "timings")
                            if k in prov and prov[k] is not None})
        side.update(prior.to_json())
        if o.get("save_proposals") and res.proposals is not None:
            import io

            import numpy as np

            p = res.proposals   # the format of spam_gui.core.prior.maps.write_masks_npz
            arrays = {"masks": np.asarray(p.masks, dtype=bool)}
            for name in ("scores", "stability"):
                if getattr(p, name, None) is not None:
                    arrays[name] = np.asarray(getattr(p, name), dtype=np.float32)
            buf = io.BytesIO()
            np.savez_compressed(buf, **arrays)
            files["proposals"] = (f"{job.stem}_masks.npz", buf.getvalue())
        how = ("from the cache" if prov.get("cache") == "prior"
               else f"{prov.get('n_proposals', '?')} SAM proposals"
               + (" (cached)" if prov.get("cache") == "proposals" else ""))
    files = {"prior": (f"{job.stem}.png", encode_png16(prior.object_map.astype("uint16"))),
             **files}
    side["batch"] = batch_record(job, inputs)
    written = write_file_set(job.out_dir, files, f"{job.stem}.json", side)
    line = (f"{path.name}: {prior.n_objects} objects, {100 * prior.uncertain_fraction:.1f}% "
            f"uncertain, {how}, {time.perf_counter() - t0:.1f} s -> {written['prior']}")
    return _Result(line)


def _saliency_task(job: BatchJob) -> _Result:
    """``spam saliency`` of one image: ``<stem>.png`` (8-bit, 0..255 = saliency 0..1) and
    ``<stem>.json``."""
    import io

    from PIL import Image

    from spam_gui.core.io.images import read_image
    from spam_gui.core.saliency import compute_saliency_info, saliency_to_uint8

    o = job.options
    path = Path(job.image)
    t0 = time.perf_counter()
    inputs = job_inputs(job)
    image = read_image(path)
    checkpoint = o.get("dino_checkpoint")
    if checkpoint:
        _dino_model(checkpoint, o["device"])
    res = compute_saliency_info(image, dino_checkpoint=checkpoint, device=o["device"],
                                cache=False if o.get("no_cache") else None)
    buf = io.BytesIO()
    Image.fromarray(saliency_to_uint8(res.saliency), mode="L").save(buf, format="PNG")
    png = f"{job.stem}.png"
    h, w = res.saliency.shape
    doc = {
        "format": "spam-saliency",
        "format_version": 1,
        "image": {"name": path.name, "sha256": inputs["image"], "width": w, "height": h},
        "saliency": {**res.info, "png": png, "scale": "0..255 = saliency 0..1"},
        "program": {"name": "spam", "version": __version__},
        "seconds": round(time.perf_counter() - t0, 3),
        "from_cache": res.from_cache,
        "batch": batch_record(job, inputs),
    }
    written = write_file_set(job.out_dir, {"saliency": (png, buf.getvalue())},
                             f"{job.stem}.json", doc)
    note = " (cached)" if res.from_cache else ""
    return _Result(f"{path} -> {written['saliency']}  [{res.method}, "
                   f"{time.perf_counter() - t0:.2f} s{note}]")


class _ImageFailure(SpamError):
    """A method failed on one image (``spam eval``); the message names the method and file."""


def _eval_task(job: BatchJob) -> _Result:
    """``spam eval`` of one image: every method at every K, scored against its ground truths
    (:func:`spam_gui.core.evaluation.evaluate.evaluate_sample`); saved as ``OUT/<id>.json`` when the
    run has an output folder. The payload: ``{"methods": [...], "entries": [[i, K, entry]]}``."""
    from spam_gui.core.evaluation.datasets import Sample
    from spam_gui.core.evaluation.evaluate import EvaluationError, evaluate_sample, make_method

    o = job.options
    methods = []
    for name in o["methods"]:
        key = (name, o["encoder"], o.get("encoder_sha256"), o["device"], o["lambda_s"],
               o["prior"], o["smoothing"])
        methods.append(keep_model("method", key, lambda name=name: make_method(
            name, encoder=o["encoder"], device=o["device"], lambda_s=o["lambda_s"],
            prior=o["prior"], smoothing=o["smoothing"])))
    sample = Sample(job.stem, Path(job.image), tuple(Path(g) for g in o["gt_paths"]))
    inputs = job_inputs(job)
    try:
        scores = evaluate_sample(sample, methods, o["n_segments"], r=o["r"])
    except EvaluationError as exc:
        raise _ImageFailure(str(exc)) from None
    payload = {"methods": [{"name": m.name, "label": m.label, "options": dict(m.options)}
                           for m in methods],
               "entries": [[mi, k, entry] for (mi, k), entry in scores.items()]}
    if job.out_dir:
        from spam_gui.core.io.images import write_json

        write_json(Path(job.out_dir) / f"{job.stem}.json",
                   {"format": EVAL_FORMAT, "format_version": 1, "image": job.image,
                    "scores": payload, "batch": batch_record(job, inputs)})
    return _Result(None, payload=payload)


_TASKS: dict[str, Callable[[BatchJob], _Result]] = {
    "segment": _segment_task, "prior": _prior_task, "saliency": _saliency_task,
    "eval": _eval_task}


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "in-process"


def run_job(job: BatchJob) -> JobOutcome:
    """Do one job (or skip it when its outputs are complete and up to date) and say how it went.

    Runs wherever it is called: in the command's process or on a Dask worker, which then
    reads the image and writes the outputs itself.

    Parameters
    ----------
    job:
        The image and what to do with it.

    Returns
    -------
    JobOutcome
        ``"done"``, ``"skipped"`` or ``"failed"`` (a problem of this image, by name; ``fatal``
        when the output folder can take no more files).

    Raises
    ------
    Exception
        Anything that is not a problem of the image (a bug, an exhausted GPU): the runner
        retries the image once, then reports it.
    """
    from spam_gui.core.formats.export import is_folder_write_error

    if job.kind not in _TASKS:
        raise ValueError(f"unknown batch job kind {job.kind!r}; use one of {JOB_KINDS}")
    t0 = time.perf_counter()
    worker = _worker_name()
    if job.threads is not None:
        import torch

        if torch.get_num_threads() != job.threads:
            torch.set_num_threads(job.threads)
    out = JobOutcome(image=job.image, stem=job.stem, status="done", worker=worker)
    path = Path(job.image)
    try:
        saved = eval_saved(job) if job.kind == "eval" and not job.overwrite else None
        if saved is not None:
            out.status, out.payload = "skipped", saved
        elif job.kind != "eval" and not job.overwrite and outputs_complete(job):
            out.status = "skipped"
        else:
            result = _TASKS[job.kind](job)
            out.line, out.messages, out.payload = result.line, result.messages, result.payload
    except OSError as exc:
        out.status, out.error = "failed", name_in(str(exc), path)
        if is_folder_write_error(exc):
            out.fatal, out.errno = True, exc.errno
    except (SpamError, ValueError) as exc:
        out.status, out.error = "failed", name_in(str(exc), path)
    except MemoryError:
        out.status, out.error = "failed", f"{path}: out of memory"
    out.seconds = time.perf_counter() - t0
    return out
