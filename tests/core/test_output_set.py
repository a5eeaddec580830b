"""An output set (label PNG, object PNG, sidecar) is written and read as one: a full disk or a
kill at any write leaves the old complete set or nothing a reader accepts; the reader checks
the PNGs' sha256 recorded in the sidecar. Also: stale temporary files, the folder lock."""

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

from spam_gui.core import Spam
from spam_gui.core.formats.export import (
    OutputSetError, output_paths, read_output_set, save_result, verify_output_set,
)
from spam_gui.core.io.images import FileWriteError, atomic_write_bytes, remove_stale_temp_files
from spam_gui.core.io.locking import LOCK_NAME, FolderLock, FolderLockedError


@pytest.fixture(scope="module")
def results():
    rng = np.random.default_rng(0)
    img = (rng.random((24, 32, 3)) * 255).astype(np.uint8)
    prior = np.ones((24, 32), np.int64)
    prior[:, 16:] = 2
    spam = Spam(encoder=None, device="cpu")
    return img, spam.segment(img, n_segments=20, prior=prior), spam.segment(img, n_segments=40)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


class _FullDisk:
    """``os.write`` that fills the disk at its n-th call: that call writes half of what it is
    given, the next one fails with ENOSPC (a disk filling up in the middle of a file)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.calls = 0
        self.real = os.write

    def __call__(self, fd: int, data) -> int:
        if fd in (0, 1, 2):
            return self.real(fd, data)
        self.calls += 1
        if self.calls == self.n and len(data) > 1:
            return self.real(fd, bytes(data[: len(data) // 2]))
        if self.calls >= self.n:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.real(fd, data)


def test_a_complete_set_is_read_back(tmp_path, results):
    img, res, _ = results
    save_result(tmp_path, "img", res, image=img)
    got = read_output_set(tmp_path, "img")
    assert np.array_equal(got.labels, res.labels) and np.array_equal(got.objects, res.objects)
    files = got.sidecar["files"]
    assert files["labels"]["name"] == "img.png" and files["objects"]["name"] == "img_objects.png"
    assert len(files["labels"]["sha256"]) == 64
    assert got.paths == output_paths(tmp_path, "img")


@pytest.mark.parametrize("n", [1, 2, 3])
def test_full_disk_at_the_nth_write_keeps_the_old_set(tmp_path, results, monkeypatch, n):
    img, old, new = results
    save_result(tmp_path, "img", old, image=img)
    before = _snapshot(tmp_path)
    full = _FullDisk(n)
    monkeypatch.setattr(os, "write", full)
    with pytest.raises(FileWriteError) as exc:
        save_result(tmp_path, "img", new, image=img)
    monkeypatch.undo()
    assert exc.value.errno == errno.ENOSPC
    assert full.calls >= n                                 # the n-th write was reached
    assert _snapshot(tmp_path) == before                   # old set intact, no temp files
    got = read_output_set(tmp_path, "img")
    assert np.array_equal(got.labels, old.labels)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_full_disk_at_the_nth_write_leaves_nothing_a_reader_accepts(tmp_path, results,
                                                                    monkeypatch, n):
    img, res, _ = results
    monkeypatch.setattr(os, "write", _FullDisk(n))
    with pytest.raises(FileWriteError, match="No space left"):
        save_result(tmp_path, "img", res, image=img)
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OutputSetError, match="no sidecar"):
        read_output_set(tmp_path, "img")


def _kill_before_rename(monkeypatch, k: int) -> None:
    """The process "dies" at its k-th rename: ``os.replace`` fails from then on."""
    real = os.replace
    calls = []

    def killed(src, dst):
        calls.append(dst)
        if len(calls) == k:
            raise OSError(errno.EINTR, "Interrupted")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", killed)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_a_kill_between_the_renames_is_never_accepted_as_a_set(tmp_path, results, monkeypatch,
                                                                k):
    """The process stops before its k-th rename: the reader accepts only the old set (k = 1)
    and refuses the mixed one (the new label PNG, maybe the new object PNG, the old sidecar)."""
    img, old, new = results
    save_result(tmp_path, "img", old, image=img)
    _kill_before_rename(monkeypatch, k)
    with pytest.raises(FileWriteError):
        save_result(tmp_path, "img", new, image=img)
    monkeypatch.undo()
    if k == 1:
        assert np.array_equal(read_output_set(tmp_path, "img").labels, old.labels)
    else:
        with pytest.raises(OutputSetError, match="sha256 differs"):
            read_output_set(tmp_path, "img")


@pytest.mark.parametrize("k", [2, 3])
def test_pngs_without_their_sidecar_are_refused(tmp_path, results, monkeypatch, k):
    img, res, _ = results
    _kill_before_rename(monkeypatch, k)
    with pytest.raises(FileWriteError):
        save_result(tmp_path, "img", res, image=img)
    monkeypatch.undo()
    assert (tmp_path / "img.png").is_file() and not (tmp_path / "img.json").exists()
    with pytest.raises(OutputSetError, match="no sidecar.*img.png.*without it"):
        read_output_set(tmp_path, "img")


def test_a_sidecar_whose_png_changed_is_rejected(tmp_path, results):
    img, res, other = results
    paths = save_result(tmp_path, "img", res, image=img)
    verify_output_set(tmp_path, "img")
    Image.fromarray(other.labels.astype(np.uint16)).save(paths["labels"])   # a valid PNG
    with pytest.raises(OutputSetError) as exc:
        read_output_set(tmp_path, "img")
    assert str(paths["labels"]) in str(exc.value) and "img.json" in str(exc.value)
    paths["labels"].unlink()
    with pytest.raises(OutputSetError, match="missing"):
        verify_output_set(tmp_path, "img")


def test_a_sidecar_without_hashes_or_not_a_sidecar_is_refused(tmp_path, results):
    img, res, _ = results
    paths = save_result(tmp_path, "img", res, image=img)
    doc = json.loads(paths["sidecar"].read_text())
    del doc["files"]
    paths["sidecar"].write_text(json.dumps(doc))
    with pytest.raises(OutputSetError, match="no file hashes"):
        verify_output_set(tmp_path, "img")
    paths["sidecar"].write_text("{not json")
    with pytest.raises(OutputSetError, match="not a readable sidecar"):
        verify_output_set(tmp_path, "img")


def test_stale_temporary_files_are_removed(tmp_path):
    old = time.time() - 3600
    stale = [tmp_path / ".a.png.k2j4_x9q.tmp", tmp_path / ".a.json.abcdefgh.tmp"]
    for p in stale:
        p.write_bytes(b"half")
        os.utime(p, (old, old))
    fresh = tmp_path / ".b.png.zzzz1234.tmp"        # may be a write in progress
    fresh.write_bytes(b"x")
    mine = [tmp_path / "notes.tmp", tmp_path / ".hidden.tmp", tmp_path / "a.png"]
    for p in mine:
        p.write_bytes(b"keep")
        os.utime(p, (old, old))
    removed = remove_stale_temp_files(tmp_path)
    assert sorted(removed) == sorted(stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [fresh.name] + [p.name for p in mine])


def test_temp_files_of_atomic_writes_match_the_stale_pattern(tmp_path, monkeypatch):
    """What remove_stale_temp_files removes is what atomic_write_bytes leaves when killed."""
    from spam_gui.core.io import images as image_io

    left = []
    monkeypatch.setattr(os, "replace", lambda src, dst: left.append(Path(src)) or
                        (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(tmp_path / "a.png", b"data")
    monkeypatch.undo()
    assert left and left[0].exists() and image_io.is_temp_file_name(left[0].name)
    os.utime(left[0], (time.time() - 3600,) * 2)
    assert remove_stale_temp_files(tmp_path) == left
    assert list(tmp_path.iterdir()) == []


# -- the folder lock ----------------------------------------------------------------------

def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_lock_is_exclusive_and_released(tmp_path):
    with FolderLock(tmp_path) as lock:
        owner = json.loads((tmp_path / LOCK_NAME).read_text())
        assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname()
        with pytest.raises(FolderLockedError) as exc:
            FolderLock(tmp_path, program="the app's export").acquire()
        assert str(tmp_path) in str(exc.value) and f"pid {os.getpid()}" in str(exc.value)
        assert lock.held
    assert not (tmp_path / LOCK_NAME).exists()


def test_lock_is_released_on_keyboard_interrupt(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with FolderLock(tmp_path):
            raise KeyboardInterrupt
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_stale_lock_is_taken_over(tmp_path):
    pid = _dead_pid()
    (tmp_path / LOCK_NAME).write_text(json.dumps(
        {"pid": pid, "host": socket.gethostname(), "program": "spam segment"}))
    with FolderLock(tmp_path) as lock:
        assert lock.took_over["pid"] == pid
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_lock_of_another_host_is_not_taken_over(tmp_path):
    (tmp_path / LOCK_NAME).write_text(json.dumps(
        {"pid": _dead_pid(), "host": "elsewhere.invalid", "program": "spam segment"}))
    with pytest.raises(FolderLockedError, match="elsewhere.invalid"):
        FolderLock(tmp_path).acquire()
    assert (tmp_path / LOCK_NAME).exists()


def test_an_old_unreadable_lock_is_taken_over_a_new_one_is_not(tmp_path):
    lock_file = tmp_path / LOCK_NAME
    lock_file.write_text("")              # its owner may be writing it this instant
    with pytest.raises(FolderLockedError, match="unreadable"):
        FolderLock(tmp_path).acquire()
    os.utime(lock_file, (time.time() - 3600,) * 2)
    with FolderLock(tmp_path) as lock:
        assert lock.took_over == {}
