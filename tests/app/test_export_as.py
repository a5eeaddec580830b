"""File -> Export As... on the real main window (issue 24 item 4): the dialog, the worker
thread and its progress dialog, the files of the chosen format, errors shown and never fatal."""

from __future__ import annotations

import json

import numpy as np
import yaml

from spam_gui.app.qt import QtCore, QtWidgets
from tests.app.conftest import OBJ2, OBJ3, wait_displayed


def _painted_window(qtbot, make_window, image_folder):
    """The window on the folder, two classes, img0 painted in memory: instance 700 of class 1
    (the red box, with a hole) and class 2 pixels without an instance (the green box)."""
    win = make_window(precompute=False)
    win.open_folder(image_folder)
    wait_displayed(qtbot, win, "img0.png")
    assert win.annotations.add_class("red box") and win.annotations.add_class("green box")
    ann = win.annotations.annotation(0, create=True)
    ann.class_map[OBJ2], ann.instance_map[OBJ2] = 1, 700
    ann.class_map[35:50, 30:45], ann.instance_map[35:50, 30:45] = 0, 0      # a hole
    ann.class_map[OBJ3] = 2
    ann.invalidate()
    return win, ann


def _run_dialog(qtbot, win, fmt, target, current_only=False):
    """Trigger File -> Export As..., fill the real dialog and press Export."""
    from spam_gui.app.export_as import ExportAsDialog

    seen = {}

    def fill():
        dlg = next((d for d in win.findChildren(ExportAsDialog) if d.isVisible()), None)
        if dlg is None:
            QtCore.QTimer.singleShot(20, fill)
            return
        seen["dialog"] = True
        dlg.set_format(fmt)
        dlg.target.setText(str(target))
        (dlg.image_scope if current_only else dlg.folder_scope).setChecked(True)
        dlg.accept()

    QtCore.QTimer.singleShot(0, fill)
    win.export_as.last_result = None
    win.actions_["export_as"].trigger()
    assert seen.get("dialog")
    qtbot.waitUntil(lambda: win.export_as.last_result is not None, timeout=30000)
    return win.export_as.last_result


def test_export_as_writes_yolo_files_from_the_main_window(qtbot, make_window, image_folder,
                                                         tmp_path):
    win, ann = _painted_window(qtbot, make_window, image_folder)
    menu_texts = [a.text() for a in win.menuBar().actions()[0].menu().actions()]
    assert "Export &As…" in menu_texts                      # File -> Export As...
    out = tmp_path / "yolo"
    result = _run_dialog(qtbot, win, "yolo", out)
    assert result["ok"], result
    lines = (out / "labels" / "img0.txt").read_text().splitlines()
    assert len(lines) == 2                                  # the instance, the loose piece
    assert [ln.split()[0] for ln in lines] == ["0", "1"]    # classes.json order, from 0
    meta = yaml.safe_load((out / "dataset.yaml").read_text())
    assert meta["names"] == {0: "red box", 1: "green box"}
    xy = np.array([float(v) for v in lines[0].split()[1:]]).reshape(-1, 2)
    h, w = ann.shape
    assert abs(xy[:, 0].min() * w - OBJ2[1].start) < 1e-3 and abs(xy[:, 1].max() * h
                                                                   - OBJ2[0].stop) < 1e-3
    assert str(out) in win.status_label.text()               # the folder named
    assert not (out / "labels" / "img1.txt").exists()        # only annotated images


def test_export_as_this_image_as_labelme_and_coco(qtbot, make_window, image_folder, tmp_path):
    win, ann = _painted_window(qtbot, make_window, image_folder)
    result = _run_dialog(qtbot, win, "labelme", tmp_path / "lm", current_only=True)
    assert result["ok"], result
    doc = json.loads((tmp_path / "lm" / "img0.json").read_text())
    assert doc["imageData"] is None and doc["imagePath"].endswith("images/img0.png")
    assert {s["group_id"] for s in doc["shapes"]} == {700, None}
    result = _run_dialog(qtbot, win, "coco-polygons", tmp_path / "c" / "instances.json")
    assert result["ok"], result
    data = json.loads((tmp_path / "c" / "instances.json").read_text())
    assert len(data["images"]) == 3                          # every image of the folder
    assert [a["iscrowd"] for a in data["annotations"]] == [0, 1]
    result = _run_dialog(qtbot, win, "voc", tmp_path / "voc")
    assert result["ok"], result
    from PIL import Image

    with Image.open(tmp_path / "voc" / "SegmentationClass" / "img0.png") as im:
        assert np.array_equal(np.asarray(im), ann.class_map)


def test_export_as_errors_are_shown_and_the_window_lives(qtbot, make_window, image_folder,
                                                        tmp_path, monkeypatch):
    from spam_gui.app.export_as import ExportChoice
    from spam_gui.core.formats import yolo

    win, _ = _painted_window(qtbot, make_window, image_folder)
    blocker = tmp_path / "a file"
    blocker.write_text("x")                                   # labels/ cannot be made in it
    win.export_as.last_result = None
    assert win.export_as.start(ExportChoice("yolo", False, 1.4, blocker))
    qtbot.waitUntil(lambda: win.export_as.last_result is not None, timeout=30000)
    assert win.export_as.last_result["error"] and "⚠" in win.status_label.text()

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(yolo, "export_yolo", boom)
    win.export_as.last_result = None
    assert win.export_as.start(ExportChoice("yolo", False, 1.4, tmp_path / "y2"))
    qtbot.waitUntil(lambda: win.export_as.last_result is not None, timeout=30000)
    assert "disk on fire" in win.status_label.text() and win.isVisible()
    assert "Traceback" in win.last_error_details
    assert win.findChild(QtWidgets.QProgressDialog, "exportAsProgress") is None or \
        not win.findChild(QtWidgets.QProgressDialog, "exportAsProgress").isVisible()
