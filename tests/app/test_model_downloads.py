"""Preferences → Models: download from a local HTTP server on 127.0.0.1 (started and stopped by
each test), the downloaded model filled into the SAM / DINO checkpoint, Cancel then resume, and
worker errors shown in the row (the GUI never dies from them)."""

from __future__ import annotations

import dataclasses
import hashlib
import threading

import pytest

from spam_gui.app.qt import QtCore
from spam_gui.core.models import Checksum, find_model, installed_path, partial_path, registry
from tests.local_http_server import LocalFileServer

SAM = bytes(range(256)) * 900        # 230400 bytes
DINO = bytes(range(255, -1, -1)) * 300


@pytest.fixture
def served(monkeypatch):
    """A local server with the two files, and a registry whose SAM ViT-B / DINO entries point
    at it (with the files' own size and checksums)."""
    monkeypatch.delenv("SPAM_DATA_DIR", raising=False)
    with LocalFileServer({"sam.pth": SAM, "dino.pth": DINO}) as srv:
        sam = dataclasses.replace(
            find_model("sam_vit_b"), url=srv.url("sam.pth"), size=len(SAM), approx_size=len(SAM),
            checksum=Checksum("sha256", hashlib.sha256(SAM).hexdigest(), "the test"))
        dino = dataclasses.replace(
            find_model("dino_vits16"), url=srv.url("dino.pth"), approx_size=len(DINO),
            checksum=Checksum("md5", hashlib.md5(DINO).hexdigest()[:6], "the test", prefix=True))
        monkeypatch.setattr(registry, "MODELS", (sam, dino))
        yield srv


@pytest.fixture
def dialog(qtbot, served):
    from spam_gui.app.settings import PreferencesDialog, Settings

    dlg = PreferencesDialog(Settings())
    qtbot.addWidget(dlg)
    yield dlg
    dlg.downloads.cancel_all()
    for ev in served.active_holds:
        ev.set()
    assert dlg.downloads.wait(20)


def click(qtbot, button):
    qtbot.mouseClick(button, QtCore.Qt.MouseButton.LeftButton)


def test_download_fills_the_checkpoints(qtbot, dialog, served):
    from spam_gui.app.settings import Settings

    panel = dialog.downloads
    assert list(panel.rows) == ["sam_vit_b", "dino_vits16"]
    assert "not installed" in panel.rows["sam_vit_b"].status.text()
    assert served.requests == []                        # nothing downloads by itself
    click(qtbot, panel.rows["sam_vit_b"].download)
    qtbot.waitUntil(lambda: dialog.sam.path() != "", timeout=30000)
    path = installed_path(registry.MODELS[0], panel.folder)
    assert dialog.sam.path() == str(path) and path.read_bytes() == SAM
    assert Settings().sam_checkpoint == str(path)       # saved at once
    assert "downloaded and verified" in panel.rows["sam_vit_b"].status.text()
    assert panel.rows["sam_vit_b"].download.text() == "Use"
    click(qtbot, panel.rows["dino_vits16"].download)
    qtbot.waitUntil(lambda: dialog.dino.path() != "", timeout=30000)
    assert Settings().dino_checkpoint == str(installed_path(registry.MODELS[1], panel.folder))
    assert dialog.sam.path() == str(path)
    qtbot.waitUntil(lambda: dialog.sam.valid is not None, timeout=30000)  # checked as usual


def test_a_refused_download_is_reported_and_not_used(qtbot, dialog, served, monkeypatch):
    from spam_gui.app.settings import Settings

    monkeypatch.setattr(registry, "MODELS", (dataclasses.replace(
        registry.MODELS[0], checksum=Checksum("sha256", "0" * 64, "the test")),))
    from spam_gui.app.model_downloads import ModelsPanel

    panel = ModelsPanel(folder=dialog.downloads.folder)
    qtbot.addWidget(panel)
    panel.model_ready.connect(dialog._use_downloaded_model)
    click(qtbot, panel.rows["sam_vit_b"].download)
    qtbot.waitUntil(lambda: "sam_vit_b" in panel.last_message, timeout=30000)
    text = panel.rows["sam_vit_b"].status.text()
    assert "✗" in text and "deleted" in text
    assert not installed_path(registry.MODELS[0], panel.folder).exists()
    assert not partial_path(registry.MODELS[0], panel.folder).exists()
    assert dialog.sam.path() == "" and Settings().sam_checkpoint == ""
    assert panel.rows["sam_vit_b"].download.isEnabled()


def test_cancel_then_resume(qtbot, dialog, served):
    panel = dialog.downloads
    gate = threading.Event()
    served.hold["sam.pth"] = (60_000, gate)
    row = panel.rows["sam_vit_b"]
    click(qtbot, row.download)
    qtbot.waitUntil(lambda: row.status.text().startswith("downloading"), timeout=30000)
    assert row.cancel.isEnabled() and not row.download.isEnabled()
    click(qtbot, row.cancel)
    gate.set()                                           # the server sends the rest
    qtbot.waitUntil(lambda: panel.last_message.get("sam_vit_b") == "cancelled", timeout=30000)
    spec = registry.MODELS[0]
    part = partial_path(spec, panel.folder)
    assert part.is_file() and not installed_path(spec, panel.folder).exists()
    assert row.download.text() == "Resume" and dialog.sam.path() == ""
    have = part.stat().st_size
    click(qtbot, row.download)
    qtbot.waitUntil(lambda: dialog.sam.path() != "", timeout=30000)
    assert served.requests[-1] == ("sam.pth", f"bytes={have}-")
    assert installed_path(spec, panel.folder).read_bytes() == SAM


def test_offline_and_worker_errors_never_reach_the_gui(qtbot, dialog, served, monkeypatch):
    import spam_gui.app.model_downloads as md

    panel = dialog.downloads
    served.files.pop("dino.pth")                          # 404
    click(qtbot, panel.rows["dino_vits16"].download)
    qtbot.waitUntil(lambda: "dino_vits16" in panel.last_message, timeout=30000)
    msg = panel.last_message["dino_vits16"]
    assert "HTTP 404" in msg and served.url("dino.pth") in msg
    assert str(installed_path(registry.MODELS[1], panel.folder)) in msg   # where to put it

    def boom(*a, **k):
        raise ZeroDivisionError("a bug in the worker")

    monkeypatch.setattr(md, "download_model", boom)
    click(qtbot, panel.rows["sam_vit_b"].download)
    qtbot.waitUntil(lambda: "sam_vit_b" in panel.last_message, timeout=30000)
    assert "ZeroDivisionError: a bug in the worker" in panel.last_message["sam_vit_b"]
    assert panel.rows["sam_vit_b"].download.isEnabled() and dialog.isEnabled()


def test_closing_preferences_stops_the_download(qtbot, dialog, served):
    panel = dialog.downloads
    gate = threading.Event()
    served.hold["sam.pth"] = (60_000, gate)
    click(qtbot, panel.rows["sam_vit_b"].download)
    qtbot.waitUntil(lambda: panel.is_running("sam_vit_b"), timeout=30000)
    dialog.reject()
    gate.set()
    assert panel.wait(20)
    assert not installed_path(registry.MODELS[0], panel.folder).exists()
