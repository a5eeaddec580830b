"""The autosave in a thread: a save in progress does not block the window, the state file on
disk names complete raster files at every moment, and closing (``save_now``) waits for the
save running and writes the rest."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from spam_gui.app.model import raster_store
from spam_gui.app.model.raster_store import RasterStore, raster_folder
from spam_gui.app.qt import QtCore
from tests.app.conftest import OBJ3_CENTER

SHAPE = (40, 50)


class SlowEncoder:
    """``encode_raster`` held until :attr:`go` is set (what a 12-megapixel map costs, made
    deterministic): :attr:`entered` tells the save thread has started encoding."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.go = threading.Event()
        self.entered = threading.Event()
        self.threads: set[str] = set()
        real = raster_store.encode_raster

        def slow(array):
            self.threads.add(threading.current_thread().name)
            self.entered.set()
            assert self.go.wait(20), "the test never let the encoder go"
            return real(array)

        monkeypatch.setattr(raster_store, "encode_raster", slow)


def _session(tmp_path, autosave_ms=10):
    from spam_gui.app.document import FolderSession, Params
    from spam_gui.core.io.images import list_folder

    folder = tmp_path / "f"
    folder.mkdir()
    for n in ("a.png", "b.png"):
        (folder / n).write_bytes(b"x")
    return FolderSession(folder, list_folder(folder), folder / "spam_labels", Params(),
                         autosave_ms=autosave_ms)


def _named(s, kind="classes", image="a.png"):
    return json.loads(s.primary_state_path.read_text())["images"][image]["rasters"][kind]


def _load(s, digest, kind="classes", image="a.png"):
    return RasterStore(raster_folder(s.primary_state_path)).load(image, kind, SHAPE, digest)


def test_a_save_in_progress_does_not_block_and_the_json_names_complete_files(
        qtbot, tmp_path, monkeypatch):
    s = _session(tmp_path, autosave_ms=60_000)          # saves start when the test says
    d = s.doc(0)
    arr = np.zeros(SHAPE, np.uint16)
    arr[5:9] = 3
    d.set_raster("classes", arr)
    assert s.save_now() and not s.saving
    first = _named(s)
    saved_first = arr.copy()

    slow = SlowEncoder(monkeypatch)
    arr[10:20] = 4
    d.raster_changed("classes")          # a stroke: the autosave timer starts
    assert s._timer.isActive()
    s.save_in_background()               # what the timer does when it fires
    qtbot.waitUntil(slow.entered.is_set, timeout=5000)
    assert s.saving and slow.threads == {"spam-autosave"}
    # the window goes on meanwhile: its event loop runs (a timer fires) while the encoder waits
    ticked = []
    QtCore.QTimer.singleShot(0, lambda: ticked.append(True))
    qtbot.waitUntil(lambda: bool(ticked), timeout=5000)
    assert s.saving
    # the state file on disk still names the first version, and that file is complete
    assert _named(s) == first
    assert np.array_equal(_load(s, first), saved_first)
    snapshot = arr.copy()
    arr[30:] = 7                         # painted while the save runs: for the next save
    d.raster_changed("classes")
    s.save_in_background()               # asked for while one runs: it waits for its end
    assert s.saving
    slow.go.set()
    qtbot.waitUntil(lambda: not s.saving, timeout=10000)
    second = _named(s)
    assert second != first
    assert np.array_equal(_load(s, second), snapshot)        # what was there when it started
    store = RasterStore(raster_folder(s.primary_state_path))
    # once the JSON names the new version, the older one is gone
    assert not store.path("a.png", "classes", first).exists()
    # the change made during the save is saved by the one that follows it
    assert s._timer.isActive() and "classes" in d.dirty_rasters
    s.save_in_background()
    qtbot.waitUntil(lambda: not s.saving, timeout=10000)
    assert _named(s) not in (first, second)
    assert np.array_equal(_load(s, _named(s)), arr)
    assert [p.name for p in store.versions("a.png", "classes")] == [
        store.path("a.png", "classes", _named(s)).name]


def test_save_now_waits_for_the_save_running_then_writes_the_rest(qtbot, tmp_path,
                                                                   monkeypatch):
    s = _session(tmp_path, autosave_ms=60_000)          # the timer never fires by itself
    d = s.doc(0)
    arr = np.ones(SHAPE, np.uint16)
    d.set_raster("classes", arr)
    slow = SlowEncoder(monkeypatch)
    s.save_in_background()
    assert slow.entered.wait(5) and s.saving
    assert not s.primary_state_path.exists()             # nothing named before it is written
    inst = np.full(SHAPE, 9, np.uint16)
    d.set_raster("instances", inst)                       # after the snapshot
    arr[:4] = 2
    d.raster_changed("classes")
    threading.Timer(0.3, slow.go.set).start()
    assert s.save_now()                                   # what closing the window calls
    assert slow.go.is_set() and not s.saving
    assert np.array_equal(_load(s, _named(s)), arr)
    assert np.array_equal(_load(s, _named(s, "instances"), "instances"), inst)
    # and the session's hashes are those the file names (a restore finds the same)
    assert d.raster_hashes == {"classes": _named(s), "instances": _named(s, "instances")}


def test_a_failed_background_save_keeps_the_rasters_for_the_next(qtbot, tmp_path,
                                                                 monkeypatch):
    s = _session(tmp_path, autosave_ms=60_000)
    d = s.doc(1)
    d.set_raster("classes", np.full(SHAPE, 5, np.uint16))

    def refuse(self, image_name, kind, array):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(RasterStore, "save", refuse)
    with qtbot.waitSignal(s.save_failed, timeout=10000) as failed:
        s.save_in_background()
    assert "No space left" in failed.args[0] and not s.saving
    assert "classes" in d.dirty_rasters and not s.primary_state_path.exists()
    monkeypatch.undo()
    assert s.save_now()
    assert np.array_equal(_load(s, _named(s, image="b.png"), image="b.png"),
                          np.full(SHAPE, 5, np.uint16))


def test_painting_goes_on_during_the_autosave_and_closing_waits_for_it(
        qtbot, make_window, image_folder, monkeypatch):
    from tests.app.test_paint import LEFT, SHIFT, ann_of, ready, reopened_annotation

    win = ready(qtbot, make_window, image_folder)
    qtbot.mouseClick(win.canvas.viewport(), LEFT, SHIFT, win.canvas.view_pos_of(*OBJ3_CENTER))
    slow = SlowEncoder(monkeypatch)
    win.annotations.flush_painted()          # the pause in painting: the autosave starts
    qtbot.waitUntil(slow.entered.is_set, timeout=10000)
    assert win.session.saving
    # the window answers while the maps are encoded: another stroke paints and is drawn
    qtbot.keyClick(win, QtCore.Qt.Key.Key_2)
    qtbot.mouseClick(win.canvas.viewport(), LEFT, pos=win.canvas.view_pos_of(5, 5))
    ann = ann_of(win)
    assert ann.class_map[5, 5] == 2 and win.session.saving
    cls, inst = ann.class_map.copy(), ann.instance_map.copy()
    threading.Timer(0.3, slow.go.set).start()
    win.close()                              # waits for the save running, then saves the rest
    assert slow.go.is_set()
    _, back = reopened_annotation(qtbot, make_window, image_folder)
    assert np.array_equal(back.class_map, cls) and np.array_equal(back.instance_map, inst)
