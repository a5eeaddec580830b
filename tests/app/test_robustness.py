"""The app survives bad state and failing code: no exception takes the process down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from spam_gui.app.document import DocState
from tests.app.conftest import wait_displayed


def _broken_state(folder, images):
    out = folder / "spam_labels"
    out.mkdir(exist_ok=True)
    (out / ".spam_state.json").write_text(json.dumps(
        {"format": "spam-studio-state", "version": 1, "current": "img1.png", "images": images}))
    return out / ".spam_state.json"


def test_mistyped_state_entry_does_not_crash_the_real_app(image_folder, tmp_path):
    """The reported crash: ``"ratios": [1, 2]`` killed spam-gui (exit 139) ~2 s after start."""
    state = _broken_state(image_folder, {f"img{i}.png": {"ratios": [1, 2]} for i in range(3)})
    script = textwrap.dedent(f"""
        import sys
        from spam_gui.app import main as m
        from spam_gui.app.main_window import MainWindow
        from spam_gui.app.qt import QtCore, QtWidgets
        show = MainWindow.show
        def show_then_quit(self):
            show(self)
            QtCore.QTimer.singleShot(4000, QtWidgets.QApplication.instance().quit)
        MainWindow.show = show_then_quit
        sys.exit(m.main([{str(image_folder)!r}, "--no-restore"]))
    """)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path / "home"),
               XDG_CONFIG_HOME=str(tmp_path / "cfg"), XDG_DATA_HOME=str(tmp_path / "data"),
               SPAM_CACHE_DIR=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "ratios" in r.stderr                           # the problem was logged by name
    backups = list(state.parent.glob(".spam_state.json.broken-*"))
    assert len(backups) == 1                              # the original is kept


def test_broken_state_is_reported_on_screen_and_the_rest_restored(qtbot, make_window,
                                                                  image_folder):
    state = _broken_state(image_folder, {"img0.png": {"ratios": {"2": 2.0}},
                                         "img1.png": {"ratios": [1, 2], "prompts": "x"}})
    win = make_window(precompute=False)
    win.open_folder(image_folder)
    wait_displayed(qtbot, win, "img1.png")                # "current" was valid
    box = win.state_notice
    assert box is not None and box.isVisible()
    assert "state file" in box.text() and ".spam_state.json.broken-" in box.text()
    assert "img1.png: 'ratios'" in box.detailedText()
    box.accept()
    assert win.view.row_state(0)[0] == DocState.EDITED         # the good entry was restored
    assert len(list(state.parent.glob(".spam_state.json.broken-*"))) == 1


def test_deeply_nested_state_file_is_moved_aside(qtbot, make_window, image_folder):
    out = image_folder / "spam_labels"
    out.mkdir()
    (out / ".spam_state.json").write_text("[" * 50_000 + "]" * 50_000)
    win = make_window(precompute=False)
    win.open_folder(image_folder)
    wait_displayed(qtbot, win, "img0.png")
    assert "nested too deeply" in win.state_notice.detailedText()
    win.state_notice.accept()
    assert not (out / ".spam_state.json").exists() or \
        (out / ".spam_state.json").read_text().startswith("{")


def test_exception_in_a_model_method_is_reported_not_fatal(qtbot, make_window, image_folder,
                                                           monkeypatch):
    from spam_gui.app import guard

    win = make_window(precompute=False)
    guard.set_reporter(win.report_error)
    guard._seen.clear()

    def boom(row):
        raise AttributeError("simulated bug")

    win.open_folder(image_folder)
    wait_displayed(qtbot, win)
    monkeypatch.setattr(win.file_panel.model, "_state", boom)
    win.file_panel.model.refresh_all()
    win.file_panel.view.viewport().repaint()
    qtbot.waitUntil(lambda: "simulated bug" in win.status_label.text(), timeout=5000)
    assert win.isVisible()
    guard.set_reporter(None)


@pytest.mark.parametrize("exc", [RuntimeError("from a slot")])
def test_excepthook_reports_without_reentering(qtbot, make_window, exc):
    from spam_gui.app import guard

    win = make_window()
    guard.set_reporter(win.report_error)
    old = sys.excepthook
    try:
        guard.install_excepthook()
        sys.excepthook(type(exc), exc, None)
        sys.excepthook(type(exc), exc, None)     # a second one while the first is pending
        qtbot.waitUntil(lambda: "from a slot" in win.status_label.text(), timeout=5000)
    finally:
        sys.excepthook = old
        guard.set_reporter(None)


def test_replaced_image_is_recomputed_and_exported_with_its_own_hash(qtbot, make_window,
                                                                     image_folder):
    import hashlib

    import numpy as np
    from PIL import Image

    from tests.app.conftest import make_image

    win = make_window(precompute=False)
    win.open_folder(image_folder)
    old = wait_displayed(qtbot, win, "img0.png")
    win.step(1)
    wait_displayed(qtbot, win, "img1.png")
    new_pixels = np.ascontiguousarray(make_image(7)[::-1])     # another photo, same size
    target = image_folder / "img0.png"
    Image.fromarray(new_pixels).save(target)
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    win.step(-1)
    o = wait_displayed(qtbot, win, "img0.png")
    assert o is not old and np.array_equal(o.image, new_pixels)
    win.exports.export_current()
    sidecar = image_folder / "spam_labels" / "img0.json"
    qtbot.waitUntil(sidecar.exists, timeout=30000)
    meta = json.loads(sidecar.read_text())
    assert hashlib.sha256(target.read_bytes()).hexdigest() in json.dumps(meta)


def test_export_of_an_image_whose_file_is_gone_fails_by_name(qtbot, make_window, image_folder):
    win = make_window(precompute=False)
    win.open_folder(image_folder)
    wait_displayed(qtbot, win, "img0.png")
    (image_folder / "img0.png").unlink()
    win.exports.export_current()
    qtbot.waitUntil(lambda: win.view.row_state(0)[0] == DocState.ERROR, timeout=30000)
    assert "image file is gone" in win.view.row_state(0)[1]
    assert not (image_folder / "spam_labels" / "img0.png").exists()


def test_app_export_refuses_a_locked_folder_like_the_cli(qtbot, make_window, image_folder):
    from spam_gui.core.io.locking import FolderLock

    win = make_window(precompute=False)
    win.open_folder(image_folder)
    wait_displayed(qtbot, win)
    out = image_folder / "spam_labels"
    out.mkdir(exist_ok=True)
    with FolderLock(out, program="spam segment"):
        win.exports.export_current()
        qtbot.waitUntil(lambda: win.exports.last_export is not None, timeout=30000)
    assert "spam segment" in win.status_label.text()
    assert not (out / "img0.png").exists()


def test_app_export_stops_at_a_full_disk_with_one_message(qtbot, make_window, image_folder,
                                                          monkeypatch):
    import errno

    from spam_gui.core.io import images as image_io

    win = make_window(precompute=False)
    win.open_folder(image_folder)
    wait_displayed(qtbot, win)

    real_write = image_io.os.write

    def full(fd, data):   # the small lock file fits; the first PNG does not
        if len(data) > 200:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    win.exports.export_folder()
    monkeypatch.setattr(image_io.os, "write", full)
    qtbot.waitUntil(lambda: win.exports.last_export is not None, timeout=60000)
    s = win.exports.last_export
    assert s["stopped"] and "No space left" in s["stopped"]
    assert s["done"] == [] and s["errors"] == []           # stopped, not failed image by image
    assert "export stopped at img0.png" in win.status_label.text()


def test_lock_file_that_cannot_be_written_is_reported_by_folder(tmp_path, monkeypatch):
    import errno

    import pytest

    from spam_gui.core.io import locking
    from spam_gui.core.io.images import FileWriteError

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(locking.os, "write", full)
    with pytest.raises(FileWriteError, match="cannot write into the output folder") as e:
        locking.FolderLock(tmp_path).acquire()
    assert str(tmp_path) in str(e.value) and e.value.errno == errno.ENOSPC
    assert not (tmp_path / locking.LOCK_NAME).exists()
