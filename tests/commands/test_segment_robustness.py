"""``spam segment`` and its output folder: checked before any work, locked against a second
run, cleaned of stale temporary files, and a full disk stops the run with one message.
Also float and 32-bit priors through the command line."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spam_gui.cli import main
from spam_gui.core.formats.export import read_output_set
from spam_gui.core.io.images import read_label_map
from spam_gui.core.io.locking import LOCK_NAME, FolderLock

H, W = 24, 32
BASE = ["--encoder", "none", "--no-progress", "-k", "12"]


def _image(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.zeros((H, W, 3), np.uint8)
    img[:] = rng.integers(0, 256, 3)
    img[:, W // 2:] = rng.integers(0, 256, 3)
    return img


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    for i, stem in enumerate("abc"):
        Image.fromarray(_image(i)).save(d / f"{stem}.png")
    return d


@pytest.fixture
def no_engine(monkeypatch):
    """Fail the test if the engine is built: the run must stop before any computing."""
    import spam_gui.core.engine.spam as spam_mod

    def refuse(*args, **kwargs):
        raise AssertionError("the engine was built before the output folder was checked")

    monkeypatch.setattr(spam_mod, "Spam", refuse)


def test_a_file_as_output_folder_is_refused_before_any_work(folder, tmp_path, capsys,
                                                           no_engine):
    out = tmp_path / "out"
    out.write_text("a file")
    assert main(["segment", str(folder), "--out", str(out), *BASE]) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "is a file" in err
    assert out.read_text() == "a file"
    below = out / "sub"
    assert main(["segment", str(folder), "--out", str(below), *BASE]) == 2
    assert "is a file" in capsys.readouterr().err


def test_a_read_only_output_folder_is_refused_before_any_work(folder, tmp_path, capsys,
                                                             no_engine, monkeypatch):
    """A read-only file system refuses file creation with EROFS (even for root)."""
    import tempfile

    out = tmp_path / "out"
    out.mkdir()

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    assert main(["segment", str(folder), "--out", str(out), *BASE]) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "Read-only file system" in err
    assert err.count("error:") == 1
    assert list(out.iterdir()) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs a non-root POSIX user for a real read-only folder")
def test_a_real_read_only_folder_is_refused(folder, tmp_path, capsys, no_engine):
    out = tmp_path / "out"
    out.mkdir()
    os.chmod(out, 0o555)
    try:
        assert main(["segment", str(folder), "--out", str(out), *BASE]) == 2
    finally:
        os.chmod(out, 0o755)
    assert str(out) in capsys.readouterr().err


def _tmp_fd(fd: int) -> bool:
    """A temporary file of an image's outputs (not of the run's batch_report.json)."""
    try:
        name = os.readlink(f"/proc/self/fd/{fd}")
        return name.endswith(".tmp") and ".batch_report.json." not in name
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "disk is full"),
                                         (errno.EROFS, "read-only")])
def test_a_full_disk_stops_the_run_with_one_message(folder, tmp_path, capsys, monkeypatch,
                                                    code, words):
    """The disk fills up while the second image is written: one error naming the folder, the
    first image's set complete, nothing of the others, no temporary file, the lock gone."""
    out = tmp_path / "out"
    real = os.write
    n_tmp = []

    def filling(fd, data):
        if _tmp_fd(fd):
            n_tmp.append(fd)
            if len(n_tmp) > 3:                    # after the three files of the first image
                raise OSError(code, os.strerror(code))
        return real(fd, data)

    monkeypatch.setattr(os, "write", filling)
    rc = main(["segment", str(folder), "--out", str(out), *BASE])
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert rc == 1
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, err
    assert str(out) in errors[0] and words in errors[0] and os.strerror(code) in errors[0]
    assert "1 of 3" in errors[0] and "b.png" in errors[0]
    assert len(n_tmp) == 4                          # c was never tried
    read_output_set(out, "a")
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "a.png", "a_objects.png",
                                                      "batch_report.json"]


def test_a_second_run_while_the_lock_is_held_is_refused(folder, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    with FolderLock(out, program="another spam segment"):
        rc = main(["segment", str(folder), "--out", str(out), *BASE])
        err = capsys.readouterr().err
        assert rc == 2
        assert str(out) in err and "another spam segment" in err and f"pid {os.getpid()}" in err
        assert (out / LOCK_NAME).exists()
    assert sorted(p.name for p in out.iterdir()) == []     # nothing was written


def test_a_stale_lock_is_taken_over_and_the_lock_released(folder, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    (out / LOCK_NAME).write_text(json.dumps({"pid": proc.pid, "host": socket.gethostname()}))
    assert main(["segment", str(folder), "--out", str(out), *BASE]) == 0, capsys.readouterr().err
    assert not (out / LOCK_NAME).exists()
    for stem in "abc":
        read_output_set(out, stem)


def test_the_lock_is_released_on_error_and_on_interrupt(folder, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    (folder / "bad.png").write_bytes(b"not a png")
    assert main(["segment", str(folder), "--out", str(out), *BASE]) == 1
    assert not (out / LOCK_NAME).exists()
    from spam_gui.core.engine.spam import Spam

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Spam, "segment", interrupted)
    assert main(["segment", str(folder), "--out", str(out), *BASE, "--overwrite"]) == 130
    assert not (out / LOCK_NAME).exists()


def test_stale_temporary_files_are_removed_when_a_run_starts(folder, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".a.png.q1w2e3r4.tmp"
    stale.write_bytes(b"half a png")
    os.utime(stale, (time.time() - 3600,) * 2)
    keep = out / "my_notes.tmp"
    keep.write_text("not ours")
    assert main(["segment", str(folder / "a.png"), "--out", str(out), *BASE]) == 0
    assert not stale.exists() and keep.exists()


def test_a_fractional_prior_is_refused_by_name(folder, tmp_path, capsys):
    prior = np.ones((H, W), np.float32)
    prior[:, W // 2:] = 1.5
    path = tmp_path / "prior.tif"
    Image.fromarray(prior).save(path)
    rc = main(["segment", str(folder / "a.png"), "--out", str(tmp_path / "out"),
               "--prior", str(path), *BASE])
    err = capsys.readouterr().err
    assert rc != 0 and str(path) in err and "non-integer" in err
    assert not (tmp_path / "out" / "a.png").exists()


def test_a_prior_of_whole_floats_and_large_ids_is_renumbered(folder, tmp_path, capsys):
    prior = np.full((H, W), 70000.0, np.float32)
    prior[:, W // 2:] = 99999.0
    prior[0, :] = 0.0
    path = tmp_path / "prior.tif"
    Image.fromarray(prior).save(path)
    out = tmp_path / "out"
    rc = main(["segment", str(folder / "a.png"), "--out", str(out), "--prior", str(path), *BASE])
    assert rc == 0, capsys.readouterr().err
    got = read_output_set(out, "a")
    assert got.sidecar["prior"]["object_ids"] == {"1": 70000, "2": 99999}
    assert np.array_equal(np.array([0, 70000, 99999])[got.objects], prior)
    assert np.array_equal(read_label_map(out / "a_objects.png"), got.objects)
