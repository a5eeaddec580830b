"""Fixtures for the app tests: QSettings in tmp_path, a folder of small generated images with a
folder of prior maps, and the real main window (offscreen)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_DRIVER", "PySide6")

import numpy as np
import pytest
from PIL import Image

H, W = 96, 128
# Object 2 (red box) and object 3 (green box) on a blue background (object 1).
OBJ2 = (slice(20, 70), slice(16, 60))
OBJ3 = (slice(30, 80), slice(74, 116))
OBJ2_CENTER = (38, 45)   # x, y
OBJ3_CENTER = (95, 55)


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    """Every test gets its own QSettings (an ini file under tmp_path), cache and data folders."""
    from spam_gui.app.qt import QtCore

    cfg = tmp_path / "qsettings"
    cfg.mkdir()
    monkeypatch.setenv("SPAM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(cfg))
    monkeypatch.delenv("SPAM_SAM_CHECKPOINT", raising=False)
    monkeypatch.delenv("SPAM_DINO_CHECKPOINT", raising=False)
    QtCore.QCoreApplication.setOrganizationName("spam-studio-tests")
    QtCore.QCoreApplication.setApplicationName("spam-gui-tests")
    QtCore.QSettings.setDefaultFormat(QtCore.QSettings.Format.IniFormat)
    for scope in (QtCore.QSettings.Scope.UserScope, QtCore.QSettings.Scope.SystemScope):
        QtCore.QSettings.setPath(QtCore.QSettings.Format.IniFormat, scope, str(cfg))
    QtCore.QStandardPaths.setTestModeEnabled(True)
    yield cfg


def make_image(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.empty((H, W, 3), np.uint8)
    img[:] = (40, 90, 160)
    img[OBJ2] = (200, 60, 50)
    img[OBJ3] = (60, 180, 70)
    noise = rng.integers(-12, 13, img.shape)
    return np.clip(img.astype(int) + noise, 0, 255).astype(np.uint8)


def make_prior() -> np.ndarray:
    prior = np.ones((H, W), np.uint8)
    prior[OBJ2] = 2
    prior[OBJ3] = 3
    return prior


@pytest.fixture
def image_folder(tmp_path) -> Path:
    """Three 96x128 PNGs and priors/<stem>.png maps with three objects each."""
    root = tmp_path / "images"
    (root / "priors").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(make_image(i)).save(root / f"img{i}.png")
        Image.fromarray(make_prior()).save(root / "priors" / f"img{i}.png")
    return root


@pytest.fixture
def make_window(qtbot):
    """Build the real main window with small, fast defaults; closes it after the test."""
    from spam_gui.app.document import Params
    from spam_gui.app.main_window import MainWindow
    from spam_gui.app.settings import Settings

    windows = []

    def _make(pipeline=None, prior_source="maps", k=60, precompute=True):
        s = Settings()
        s.prior_source = prior_source
        s.encoder_mode = "none"        # fast: colour + position features
        s.device = "cpu"
        s.precompute_next = precompute
        s.default_params = Params(n_segments=k, n_iter=5)
        win = MainWindow(s, pipeline=pipeline)
        qtbot.addWidget(win)
        win.resize(900, 640)
        with qtbot.waitExposed(win):
            win.show()
        with qtbot.waitActive(win):    # shortcuts need an active window
            win.activateWindow()
        windows.append(win)
        return win

    yield _make
    for w in windows:
        w.close()
        w.shutdown()


def wait_displayed(qtbot, win, name: str | None = None, timeout: int = 60000):
    """Wait until the window draws a segmentation (of image ``name`` if given)."""

    def ok():
        o = win.displayed
        assert o is not None and o.layers is not None
        if name is not None:
            assert o.path.name == name
        assert o.key == win.current_key()

    qtbot.waitUntil(ok, timeout=timeout)
    return win.displayed
