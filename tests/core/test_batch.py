"""spam_gui.core.batch.per_image / batch_run: signatures, file sets, the model cache, the report, the
in-process runner's retry — without the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spam_gui.core.batch import per_image as batch
from spam_gui.core.batch.job import BatchJob, JobOutcome, job_signature
from spam_gui.core.io.file_sets import FileSetError, verify_file_set, write_file_set
from spam_gui.core.batch.per_image import keep_model, run_job
from spam_gui.core.batch.resume import outputs_complete
from spam_gui.core.batch.runner import BatchReport, run_in_process


def test_the_signature_depends_on_every_option_and_model_but_not_on_order():
    opts = {"n_segments": 100, "lambda_s": 1.0, "prior": None}
    sig = job_signature("segment", opts, {"encoder": "ab" * 32})
    assert len(sig) == 64
    assert sig == job_signature("segment", dict(reversed(list(opts.items()))),
                                {"encoder": "ab" * 32})
    assert sig != job_signature("segment", {**opts, "n_segments": 101}, {"encoder": "ab" * 32})
    assert sig != job_signature("segment", opts, {"encoder": "cd" * 32})
    assert sig != job_signature("prior", opts, {"encoder": "ab" * 32})


def test_a_file_set_is_written_sidecar_last_and_verified(tmp_path):
    paths = write_file_set(tmp_path, {"map": ("x.png", b"png bytes"), "extra": ("x.npz", b"z")},
                           "x.json", {"what": "test"})
    assert paths["sidecar"] == tmp_path / "x.json"
    doc = verify_file_set(tmp_path, "x.json")
    assert doc["what"] == "test" and set(doc["files"]) == {"map", "extra"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json", "x.npz", "x.png"]
    (tmp_path / "x.npz").write_bytes(b"changed")
    with pytest.raises(FileSetError, match="x.npz"):
        verify_file_set(tmp_path, "x.json")
    (tmp_path / "x.npz").unlink()
    with pytest.raises(FileSetError, match="x.npz: missing"):
        verify_file_set(tmp_path, "x.json")
    with pytest.raises(FileSetError, match="no sidecar"):
        verify_file_set(tmp_path, "y.json")
    (tmp_path / "z.json").write_text("{not json")
    with pytest.raises(FileSetError, match="z.json"):
        verify_file_set(tmp_path, "z.json")


def test_keep_model_loads_once_per_key(monkeypatch):
    monkeypatch.setattr(batch, "_models", type(batch._models)())   # counts its own loads
    made = []

    def load():
        made.append(1)
        return object()

    a = keep_model("encoder", ("f.pt", "sha", "cpu"), load)
    assert keep_model("encoder", ("f.pt", "sha", "cpu"), load) is a
    assert keep_model("encoder", ("f.pt", "sha", "cuda:0"), load) is not a
    assert len(made) == 2 and batch.model_loads() == {"encoder": 2}


def _saliency_job(tmp_path: Path, name: str = "a.png", **kw) -> BatchJob:
    img = tmp_path / "in" / name
    if not img.exists():
        img.parent.mkdir(exist_ok=True)
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 255, (20, 24, 3)).astype(np.uint8)).save(img)
    opts = {"dino_checkpoint": None, "device": "cpu", "no_cache": True}
    return BatchJob("saliency", str(img), img.stem, str(tmp_path / "out"), opts,
                    job_signature("saliency", {"dino_checkpoint": None}, {"dino": None}), **kw)


def test_run_job_writes_then_skips_then_redoes_on_a_new_signature(tmp_path):
    job = _saliency_job(tmp_path)
    first = run_job(job)
    assert first.status == "done" and first.worker == "in-process" and first.line
    assert outputs_complete(job)
    assert run_job(job).status == "skipped"
    assert run_job(BatchJob(**{**job.__dict__, "overwrite": True})).status == "done"
    other = BatchJob(**{**job.__dict__, "signature": "0" * 64})
    assert not outputs_complete(other)
    assert run_job(other).status == "done"
    side = json.loads((tmp_path / "out" / "a.json").read_text())
    assert side["batch"]["signature"] == "0" * 64
    assert side["batch"]["inputs"]["image"] == side["image"]["sha256"]


def test_a_user_error_fails_the_job_and_names_the_file(tmp_path):
    (tmp_path / "in").mkdir()
    bad = tmp_path / "in" / "bad.png"
    bad.write_bytes(b"not an image")
    out = run_job(_saliency_job(tmp_path, "bad.png"))
    assert out.status == "failed" and "bad.png" in out.error and not out.fatal


def test_the_in_process_runner_retries_an_unexpected_error_once(tmp_path, monkeypatch):
    calls = []
    real = batch._TASKS["saliency"]

    def flaky(job):
        calls.append(job.stem)
        if len(calls) == 1:
            raise RuntimeError("CUDA error: an illegal memory access")
        return real(job)

    monkeypatch.setitem(batch._TASKS, "saliency", flaky)
    [out] = list(run_in_process([_saliency_job(tmp_path)]))
    assert out.status == "done" and out.attempts == 2

    def broken(job):
        raise RuntimeError("always")

    monkeypatch.setitem(batch._TASKS, "saliency", broken)
    [out] = list(run_in_process([_saliency_job(tmp_path, overwrite=True)]))
    assert out.status == "failed" and out.attempts == 2
    assert "a.png" in out.error and "RuntimeError: always" in out.error


def test_the_report_lists_every_image_and_is_rewritten_atomically(tmp_path):
    path = tmp_path / "batch_report.json"
    images = [("/x/a.png", "a"), ("/x/b.png", "b"), ("/x/c.png", "c")]
    rep = BatchReport(path, "spam segment", images, "in-process", argv=["spam", "segment"])
    rep.write()
    doc = json.loads(path.read_text())
    assert doc["format"] == "spam-batch-report" and doc["state"] == "running"
    assert doc["totals"] == {"images": 3, "done": 0, "skipped": 0, "failed": 0, "pending": 3}
    rep.add(JobOutcome("/x/a.png", "a", "done", seconds=0.5, worker="tcp://w:1"))
    rep.add(JobOutcome("/x/b.png", "b", "failed", error="/x/b.png: broken"))
    rep.write(state="finished")
    doc = json.loads(path.read_text())
    assert doc["state"] == "finished" and doc["argv"] == ["spam", "segment"]
    assert [e["status"] for e in doc["images"]] == ["done", "failed", "pending"]
    assert doc["images"][0]["worker"] == "tcp://w:1" and doc["images"][1]["error"].endswith(
        "broken")
    assert [p.name for p in tmp_path.iterdir()] == ["batch_report.json"]   # no temp file left
