"""Batch runs of ``spam segment | prior | saliency`` (spam_gui.core.batch.per_image, batch_run,
batch_dask): a real Dask scheduler and worker process on 127.0.0.1 give the in-process files
bit for bit; a run killed with SIGKILL resumes; changed parameters or inputs are redone; bad
images and priors are named and the others written; Ctrl+C stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from spam_gui.cli import main
from spam_gui.core.batch.runner import REPORT_NAME
from spam_gui.core.formats.export import OutputSetError, read_output_set, verify_output_set
from spam_gui.core.io.images import is_temp_file_name, read_label_map

H, W = 36, 48
STEMS = ["im1", "im2", "im3", "im4"]


def _image(seed: int, h: int = H, w: int = W) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = rng.integers(0, 256, 3)
    img[h // 3:, w // 2:] = rng.integers(0, 256, 3)
    img[: h // 4, : w // 3] = rng.integers(0, 256, 3)
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)


def _prior(seed: int) -> np.ndarray:
    p = np.full((H, W), 2, np.uint16)
    p[H // 3:, W // 2:] = 5 + seed
    p[H // 3 - 1, :] = 0
    return p


@pytest.fixture
def data(tmp_path: Path) -> dict[str, Path]:
    """Four images, a prior folder with a map for each, and a small random encoder file."""
    from spam_gui.core.engine.encoder import SSNEncoder, save_encoder

    images = tmp_path / "in"
    priors = tmp_path / "priors"
    images.mkdir()
    priors.mkdir()
    for i, stem in enumerate(STEMS):
        Image.fromarray(_image(i)).save(images / f"{stem}.png")
        Image.fromarray(_prior(i)).save(priors / f"{stem}.png")
    torch.manual_seed(0)
    encoder = save_encoder(tmp_path / "tiny_encoder.pt", SSNEncoder(8))
    return {"images": images, "priors": priors, "encoder": encoder}


@pytest.fixture(scope="module")
def cluster():
    """A real scheduler and one worker process on 127.0.0.1 (bounded, closed at the end)."""
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.comm.timeouts.connect": "60s"}):
        lc = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=":0", scheduler_kwargs={"dashboard": False},
                          silence_logs=40)
    client = Client(lc, timeout=60, set_as_default=False)
    client.wait_for_workers(1, timeout=120)
    try:
        yield lc, client
    finally:
        client.close(timeout=30)
        lc.close(timeout=30)


def _report(out: Path) -> dict:
    return json.loads((out / REPORT_NAME).read_text(encoding="utf-8"))


def _statuses(out: Path) -> dict[str, str]:
    return {e["stem"]: e["status"] for e in _report(out)["images"]}


def _comparable(doc: dict) -> dict:
    """A sidecar without what differs between two runs (when, how long)."""
    doc = dict(doc)
    doc.pop("created")
    doc.pop("timings")
    return doc


def _seg_args(data: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return ["segment", str(data["images"]), "--out", str(out), "--encoder", str(data["encoder"]),
            "--prior", str(data["priors"]), "-k", "30", "--no-progress", *extra]


def test_a_dask_scheduler_gives_the_in_process_files_bit_for_bit(data, tmp_path, cluster, capsys):
    lc, client = cluster
    here, there = tmp_path / "here", tmp_path / "there"
    assert main(_seg_args(data, here)) == 0, capsys.readouterr().err
    assert main(_seg_args(data, there, "--scheduler", lc.scheduler_address)) == 0, \
        capsys.readouterr().err
    for stem in STEMS:
        a, b = read_output_set(here, stem), read_output_set(there, stem)
        for key in ("labels", "objects"):
            assert a.paths[key].read_bytes() == b.paths[key].read_bytes()
        assert _comparable(a.sidecar) == _comparable(b.sidecar)
        assert a.sidecar["batch"]["inputs"]["prior"] is not None
    report = _report(there)
    assert report["state"] == "finished" and report["totals"]["done"] == len(STEMS)
    assert all(e["worker"].startswith("tcp://127.0.0.1") for e in report["images"])
    assert {e["worker"] for e in _report(here)["images"]} == {"in-process"}
    # the worker loaded the encoder once for all the images
    from spam_gui.core.batch.per_image import model_loads

    loads = client.run(model_loads)
    assert list(loads.values()) == [{"encoder": 1}]
    # the same command again: everything is complete and up to date
    capsys.readouterr()
    assert main(_seg_args(data, there, "--scheduler", lc.scheduler_address)) == 0
    assert set(_statuses(there).values()) == {"skipped"}
    assert f"0 done, {len(STEMS)} skipped, 0 failed" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["in-process", "dask"])
def test_a_corrupt_image_and_an_unreadable_prior_are_named_and_the_others_written(
        data, tmp_path, cluster, capsys, where):
    (data["images"] / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really" * 20)
    Image.fromarray(_image(9)).save(data["images"] / "im9.png")
    (data["priors"] / "im9.png").write_bytes(b"garbage, not a label map")
    out = tmp_path / "out"
    extra = ["--scheduler", cluster[0].scheduler_address] if where == "dask" else []
    rc = main(_seg_args(data, out, *extra))
    err = capsys.readouterr().err
    assert rc == 1
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert any("broken.png" in line for line in errors)
    assert any(str(data["priors"] / "im9.png") in line for line in errors)
    assert "2 failed" in err
    status = {e["stem"]: e for e in _report(out)["images"]}
    assert status["broken"]["status"] == "failed" and "broken.png" in status["broken"]["error"]
    assert status["im9"]["status"] == "failed"
    assert str(data["priors"] / "im9.png") in status["im9"]["error"]
    assert status["broken"]["attempts"] == 1           # a user error: not retried
    for stem in STEMS:
        assert status[stem]["status"] == "done"
        read_output_set(out, stem)
    for stem in ("broken", "im9"):
        with pytest.raises(OutputSetError):
            verify_output_set(out, stem)


def _complete(out: Path, stems: list[str]) -> set[str]:
    done = set()
    for stem in stems:
        try:
            verify_output_set(out, stem)
        except OutputSetError:
            continue
        done.add(stem)
    return done


def test_a_run_killed_with_sigkill_resumes_doing_each_image_at_most_once_more(tmp_path,
                                                                              capsys):
    images = tmp_path / "in"
    images.mkdir()
    stems = [f"p{i:02d}" for i in range(40)]
    for i, stem in enumerate(stems):
        Image.fromarray(_image(i, 48, 64)).save(images / f"{stem}.png")
    out = tmp_path / "out"
    args = ["segment", str(images), "--out", str(out), "--encoder", "none", "-k", "40",
            "--no-progress"]
    proc = subprocess.Popen([sys.executable, "-m", "spam_gui.cli", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            if len(list(out.glob("p*.json"))) >= 3:
                break
            time.sleep(0.005)
        assert proc.poll() is None, "the run ended before it could be killed"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    # no half-written file: every PNG there decodes, every set is complete or refused
    for png in out.glob("*.png"):
        read_label_map(png)
    before = _complete(out, stems)
    assert 3 <= len(before) < len(stems)
    killed = _report(out)                               # atomic: readable after a SIGKILL
    assert killed["state"] == "running"
    assert {e["stem"] for e in killed["images"] if e["status"] == "done"} <= before

    assert main(args) == 0, capsys.readouterr().err
    status = _statuses(out)
    assert {s for s, v in status.items() if v == "skipped"} == before
    assert {s for s, v in status.items() if v == "done"} == set(stems) - before
    assert _complete(out, stems) == set(stems)
    assert _report(out)["state"] == "finished"
    assert not [p for p in out.iterdir() if is_temp_file_name(p.name)]


def test_changed_parameters_and_inputs_are_redone(data, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(_seg_args(data, out)) == 0
    first = {s: (out / f"{s}.json").read_bytes() for s in STEMS}
    assert main(_seg_args(data, out)) == 0
    assert set(_statuses(out).values()) == {"skipped"}
    assert {s: (out / f"{s}.json").read_bytes() for s in STEMS} == first   # not rewritten
    # another parameter: every image is redone
    assert main(_seg_args(data, out, "--lambda-s", "3")) == 0
    assert set(_statuses(out).values()) == {"done"}
    assert all(json.loads((out / f"{s}.json").read_text())["parameters"]["lambda_s"] == 3
               for s in STEMS)
    # one image's prior map changes: that image only
    Image.fromarray(_prior(7)).save(data["priors"] / "im2.png")
    assert main(_seg_args(data, out, "--lambda-s", "3")) == 0
    assert _statuses(out) == {"im1": "skipped", "im2": "done", "im3": "skipped",
                              "im4": "skipped"}
    # one image file changes: that image only
    Image.fromarray(_image(11)).save(data["images"] / "im3.png")
    assert main(_seg_args(data, out, "--lambda-s", "3")) == 0
    assert _statuses(out) == {"im1": "skipped", "im2": "skipped", "im3": "done",
                              "im4": "skipped"}
    # a set edited by hand is not complete any more
    (out / "im4_objects.png").write_bytes((out / "im1_objects.png").read_bytes())
    assert main(_seg_args(data, out, "--lambda-s", "3")) == 0
    assert _statuses(out)["im4"] == "done"
    read_output_set(out, "im4")
    # --overwrite redoes everything
    assert main(_seg_args(data, out, "--lambda-s", "3", "--overwrite")) == 0
    assert set(_statuses(out).values()) == {"done"}


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(data, tmp_path, capsys, monkeypatch):
    from spam_gui.core.engine.spam import Spam

    real = Spam.segment
    calls = []

    def interrupted_at_the_third(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Spam, "segment", interrupted_at_the_third)
    out = tmp_path / "out"
    assert main(_seg_args(data, out)) == 130
    err = capsys.readouterr().err
    line = [x for x in err.splitlines() if x.startswith("interrupted:")]
    assert line and f"2 of {len(STEMS)} images done" in line[0]
    assert "run the same command again to resume" in line[0]
    report = _report(out)
    assert report["state"] == "interrupted"
    assert report["totals"] == {"images": 4, "done": 2, "skipped": 0, "failed": 0, "pending": 2}
    assert not [p for p in out.iterdir() if is_temp_file_name(p.name)]
    assert _complete(out, STEMS) == {"im1", "im2"}
    monkeypatch.undo()
    assert main(_seg_args(data, out)) == 0
    assert _statuses(out) == {"im1": "skipped", "im2": "skipped", "im3": "done", "im4": "done"}


def test_saliency_and_prior_on_a_local_cluster_match_the_in_process_run(data, tmp_path, capsys):
    """``--workers 1``: the command starts (and stops) its own local cluster."""
    from spam_gui.core.prior.maps import write_masks_npz

    masks = tmp_path / "masks"
    for i, stem in enumerate(STEMS):
        m = np.zeros((2, H, W), dtype=bool)
        m[0, :, : W // 2 - i] = True
        m[1, H // 2:, W // 2 + 1:] = True
        write_masks_npz(masks / f"{stem}.npz", m, scores=[0.9, 0.8])
    runs = {}
    for where, extra in (("here", []), ("there", ["--workers", "1"])):
        sal, pri = tmp_path / f"sal_{where}", tmp_path / f"pri_{where}"
        assert main(["saliency", str(data["images"]), "--out", str(sal), "--builtin",
                     "--no-cache", "--no-progress", *extra]) == 0, capsys.readouterr().err
        assert main(["prior", str(data["images"]), "--out", str(pri), "--masks", str(masks),
                     "--no-progress", *extra]) == 0, capsys.readouterr().err
        runs[where] = (sal, pri)
    for stem in STEMS:
        for k in (0, 1):
            a, b = runs["here"][k] / f"{stem}.png", runs["there"][k] / f"{stem}.png"
            assert a.read_bytes() == b.read_bytes()
    assert {e["worker"] for e in _report(runs["there"][0])["images"]} != {"in-process"}
    # both resume: a second run skips everything; an edited map is redone
    sal = runs["here"][0]
    (sal / "im1.png").write_bytes((sal / "im2.png").read_bytes())
    assert main(["saliency", str(data["images"]), "--out", str(sal), "--builtin",
                 "--no-progress"]) == 0
    assert _statuses(sal) == {"im1": "done", "im2": "skipped", "im3": "skipped",
                              "im4": "skipped"}
    pri = runs["here"][1]
    assert main(["prior", str(data["images"]), "--out", str(pri), "--masks", str(masks),
                 "--no-progress"]) == 0
    assert set(_statuses(pri).values()) == {"skipped"}
    assert main(["prior", str(data["images"]), "--out", str(pri), "--masks", str(masks),
                 "--opening", "3", "--no-progress"]) == 0
    assert set(_statuses(pri).values()) == {"done"}


def test_bad_batch_options_are_refused_before_any_work(data, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(_seg_args(data, out, "--workers", "0")) == 2
    assert "--workers" in capsys.readouterr().err
    assert main(_seg_args(data, out, "--workers", "2", "--scheduler", "tcp://127.0.0.1:1")) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["saliency", str(data["images"]), "--out", str(out), "--builtin",
                 "--threads-per-worker", "0"]) == 2
    assert "--threads-per-worker" in capsys.readouterr().err
    assert not out.exists()


def test_eval_on_dask_scores_like_the_in_process_run_and_resumes(tmp_path, cluster, capsys):
    from tests.commands.test_eval import make_dataset

    root = make_dataset(tmp_path / "data")
    base = ["eval", "--data", str(root), "--method", "spam,grid", "--n-segments", "20,40",
            "--encoder", "none", "--no-progress"]
    here, there = tmp_path / "here.json", tmp_path / "there.json"
    assert main([*base, "--json", str(here)]) == 0
    out = tmp_path / "scores"
    assert main([*base, "--json", str(there), "--out", str(out),
                 "--scheduler", cluster[0].scheduler_address]) == 0, capsys.readouterr().err

    def scores(path: Path) -> list:
        rows = json.loads(path.read_text())
        for r in rows:
            r["mean"].pop("seconds")
            for e in r["per_image"]:
                e.pop("seconds")
        return rows

    assert scores(here) == scores(there)
    assert set(_statuses(out).values()) == {"done"}
    again = tmp_path / "again.json"
    assert main([*base, "--json", str(again), "--out", str(out)]) == 0
    assert set(_statuses(out).values()) == {"skipped"}          # scores read back
    assert scores(again) == scores(here)


def _dying_task(job):
    """On a worker: the first image to reach it (per marker file) kills the worker process;
    an image named ``doomed`` kills every worker it reaches."""
    from spam_gui.core.batch import per_image as batch

    marker = Path(job.out_dir) / f".died-{job.stem}"
    if job.stem == "doomed" or not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("x")
        os._exit(17)
    return batch._saliency_task(job)


def _install_dying_task():
    from spam_gui.core.batch import per_image as batch

    batch._TASKS["saliency"] = _dying_task


def test_a_dying_worker_has_its_image_retried_once_on_another_then_reported(data, tmp_path):
    from spam_gui.core.batch.job import BatchJob, job_signature
    from spam_gui.core.batch.dask_runner import DaskRunner

    out = tmp_path / "out"
    Image.fromarray(_image(5)).save(data["images"] / "doomed.png")
    opts = {"dino_checkpoint": None, "device": "cpu", "no_cache": True}
    sig = job_signature("saliency", {"dino_checkpoint": None}, {"dino": None})
    jobs = [BatchJob("saliency", str(data["images"] / f"{s}.png"), s, str(out), opts, sig)
            for s in ("im1", "doomed")]
    runner = DaskRunner(workers=2)
    try:
        runner.client.wait_for_workers(2, timeout=120)
        runner.client.run(_install_dying_task)
        got = {o.stem: o for o in runner.run(jobs[:1])}
        assert got["im1"].status == "done"                 # on the other worker
        assert (out / "im1.png").is_file() and (out / ".died-im1").is_file()
        runner.client.wait_for_workers(2, timeout=120)      # the restarted worker is back
        runner.client.run(_install_dying_task)
        got = {o.stem: o for o in runner.run(jobs[1:])}
    finally:
        runner.close()
    assert got["doomed"].status == "failed" and "died" in got["doomed"].error
    assert "doomed.png" in got["doomed"].error


def test_prior_and_saliency_refuse_a_locked_folder_and_release_their_lock(data, tmp_path,
                                                                           capsys):
    """Both run through ``commands.run_batch_in_folder``: a folder another run holds is
    refused (exit code 2, nothing written); a finished run leaves no lock behind."""
    from spam_gui.core.io.locking import LOCK_NAME, FolderLock

    runs = {"saliency": ["--builtin", "--no-cache"], "prior": ["--method", "builtin"]}
    for command, extra in runs.items():
        out = tmp_path / f"out_{command}"
        out.mkdir()
        with FolderLock(out, program="another spam run"):
            rc = main([command, str(data["images"]), "--out", str(out), "--no-progress",
                       *extra])
            err = capsys.readouterr().err
            assert rc == 2, err
            assert str(out) in err and "another spam run" in err
        assert list(out.iterdir()) == []
        assert main([command, str(data["images"]), "--out", str(out), "--no-progress",
                     *extra]) == 0, capsys.readouterr().err
        assert not (out / LOCK_NAME).exists()
        assert _statuses(out) == dict.fromkeys(STEMS, "done")
