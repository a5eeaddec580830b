"""End-to-end tests of the real main window, driven through its widgets (pytest-qt, offscreen)."""

from __future__ import annotations

import json
import threading

import numpy as np
from PIL import Image

from spam_gui.app.document import DocState
from spam_gui.app.qt import QtCore, QtGui, QtWidgets
from spam_gui.app.pipeline import Pipeline
from tests.app.conftest import OBJ2_CENTER, OBJ3_CENTER, wait_displayed

Qt = QtCore.Qt


def click(qtbot, win, x, y, button=Qt.MouseButton.LeftButton, mods=Qt.KeyboardModifier.NoModifier):
    qtbot.mouseClick(win.canvas.viewport(), button, mods, win.canvas.view_pos_of(x, y))


def open_by_dialog(win, folder, monkeypatch):
    monkeypatch.setattr(QtWidgets.QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *a, **k: str(folder)))
    win.actions_["open_folder"].trigger()


def partition_outside(res, object_ids):
    """Labels of the superpixels that belong to ``object_ids`` (0 elsewhere)."""
    keep = np.isin(res.superpixel_object[res.labels], list(object_ids))
    return np.where(keep, res.labels, 0)


def test_open_folder_shows_superpixels(qtbot, make_window, image_folder, monkeypatch):
    win = make_window()
    open_by_dialog(win, image_folder, monkeypatch)
    o = wait_displayed(qtbot, win, "img0.png")
    res = o.result
    assert res.labels.shape == (96, 128)
    assert res.n_superpixels > 20
    assert sorted(res.objects_info) == [1, 2, 3]
    # every layer is drawn from the result
    assert win.canvas.layers is o.layers
    assert win.canvas.items["boundaries"].qimage is not None
    assert win.objects_panel.table.rowCount() == 3
    assert win.view.row_state(0)[0] == DocState.SUPERPIXELS_READY
    assert "superpixels" in win.status_label.text()
    assert "Prior: prior maps" in win.models_label.text()
    # next image with D; its precomputed or fresh result is drawn
    qtbot.keyClick(win, Qt.Key.Key_D)
    wait_displayed(qtbot, win, "img1.png")
    qtbot.keyClick(win, Qt.Key.Key_PageUp)
    wait_displayed(qtbot, win, "img0.png")


def test_click_scales_one_object_and_undo_restores(qtbot, make_window, image_folder):
    win = make_window()
    win.open_folder(image_folder)
    before = wait_displayed(qtbot, win).result
    k2, n2 = before.objects_info[2].k, before.superpixel_counts()[2]

    click(qtbot, win, *OBJ2_CENTER)
    qtbot.waitUntil(lambda: win.displayed.result.objects_info[2].ratio == 2.0
                    and win.displayed.layers is not None, timeout=30000)
    after = win.displayed.result
    assert win.doc.ratios == {2: 2.0}
    assert after.objects_info[2].k >= 2 * k2 - 1
    assert after.superpixel_counts()[2] > n2
    # the other objects' superpixels are exactly the same
    assert np.array_equal(partition_outside(after, {1, 3}), partition_outside(before, {1, 3}))
    # the objects panel shows it
    row = [r for r in range(3) if win.objects_panel.table.item(r, 0).text() == "2"][0]
    assert win.objects_panel.table.item(row, 2).text() == "2"
    # the overlay was patched: boundaries equal a fresh rendering of the new result
    from spam_gui.app.overlays import boundaries_bgra, boundary_mask
    fresh = boundaries_bgra(boundary_mask(after.labels, win.style_.boundary_width),
                            win.style_.boundary_color)
    assert np.array_equal(win.canvas.layers.boundaries.view, fresh)

    # undo (Ctrl+Z) restores the labels exactly
    qtbot.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: win.displayed.result.objects_info[2].ratio == 1.0
                    and win.displayed.layers is not None, timeout=30000)
    assert win.doc.ratios == {}
    assert np.array_equal(win.displayed.result.labels, before.labels)
    # redo, then a right click halves object 3
    qtbot.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: win.displayed.result.objects_info[2].ratio == 2.0, timeout=30000)
    click(qtbot, win, *OBJ3_CENTER, button=Qt.MouseButton.RightButton)
    qtbot.waitUntil(lambda: win.displayed.result.objects_info[3].ratio == 0.5, timeout=30000)
    assert win.doc.ratios == {2: 2.0, 3: 0.5}
    # Shift+click resets object 2
    click(qtbot, win, *OBJ2_CENTER, mods=Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: win.displayed.result.objects_info[2].ratio == 1.0, timeout=30000)
    assert win.doc.ratios == {3: 0.5}
    assert win.view.row_state(0)[0] == DocState.EDITED


def test_ratio_edited_in_objects_panel(qtbot, make_window, image_folder):
    win = make_window()
    win.open_folder(image_folder)
    wait_displayed(qtbot, win)
    table = win.objects_panel.table
    row = [r for r in range(table.rowCount()) if table.item(r, 0).text() == "3"][0]
    table.item(row, 2).setText("3")
    qtbot.waitUntil(lambda: win.displayed.result.objects_info[3].ratio == 3.0, timeout=30000)
    assert win.doc.ratios == {3: 3.0}


def test_parameter_change_recomputes_and_undoes(qtbot, make_window, image_folder):
    win = make_window(k=60)
    win.open_folder(image_folder)
    first = wait_displayed(qtbot, win).result
    win.controls.k.setValue(120)           # debounced: one recompute when typing stops
    qtbot.waitUntil(lambda: win.displayed is not None and win.displayed.params.n_segments == 120
                    and win.displayed.layers is not None, timeout=30000)
    assert win.displayed.result.n_superpixels > first.n_superpixels
    win.actions_["undo"].trigger()
    qtbot.waitUntil(lambda: win.controls.k.value() == 60, timeout=5000)
    wait_displayed(qtbot, win)
    assert win.displayed.params.n_segments == 60
    assert np.array_equal(win.displayed.result.labels, first.labels)


def test_smoothing_control_reaches_the_engine(qtbot, make_window, image_folder):
    win = make_window(k=60)
    win.open_folder(image_folder)
    first = wait_displayed(qtbot, win).result
    assert first.params["smoothing"] == 1 and win.controls.smoothing.value() == 1
    win.controls.smoothing.setValue(0)
    qtbot.waitUntil(lambda: win.displayed is not None and win.displayed.params.smoothing == 0
                    and win.displayed.layers is not None, timeout=30000)
    raw = win.displayed.result
    assert raw.params["smoothing"] == 0
    assert not np.array_equal(raw.labels, first.labels)   # the raw labels are more ragged


def test_export_folder_writes_valid_files(qtbot, make_window, image_folder):
    win = make_window()
    win.open_folder(image_folder)
    wait_displayed(qtbot, win)
    click(qtbot, win, *OBJ2_CENTER)
    qtbot.waitUntil(lambda: win.displayed.result.objects_info[2].ratio == 2.0, timeout=30000)
    shown = win.displayed.result
    win.actions_["export_all"].trigger()
    qtbot.waitUntil(lambda: win.exports.last_export is not None, timeout=60000)
    assert win.exports.last_export["errors"] == []
    out = image_folder / "spam_labels"
    for i in range(3):
        lab = np.asarray(Image.open(out / f"img{i}.png"))
        obj = np.asarray(Image.open(out / f"img{i}_objects.png"))
        side = json.loads((out / f"img{i}.json").read_text())
        assert lab.dtype == np.uint16 and lab.shape == (96, 128)
        assert lab.min() == 1 and lab.max() == side["n_superpixels"]
        assert set(np.unique(obj)) == {1, 2, 3}
        assert side["image"]["name"] == f"img{i}.png"
        assert side["parameters"]["n_segments"] == 60
    # the current image is exported exactly as shown, with its ratio
    assert np.array_equal(np.asarray(Image.open(out / "img0.png")).astype(np.int32), shown.labels)
    side0 = json.loads((out / "img0.json").read_text())
    assert {o["id"]: o["ratio"] for o in side0["objects"]}[2] == 2.0
    assert side0["ratios"] == {"2": 2.0}
    # edits are never copied to other images
    side1 = json.loads((out / "img1.json").read_text())
    assert all(o["ratio"] == 1.0 for o in side1["objects"])
    assert all(win.view.row_state(r)[0] == DocState.EXPORTED for r in range(3))
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))


def test_export_current_shortcut(qtbot, make_window, image_folder):
    win = make_window()
    win.open_folder(image_folder)
    wait_displayed(qtbot, win)
    qtbot.keyClick(win, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: win.exports.last_export is not None, timeout=30000)
    assert (image_folder / "spam_labels" / "img0.png").is_file()
    assert not (image_folder / "spam_labels" / "img1.png").exists()
    assert win.view.row_state(0)[0] == DocState.EXPORTED


def test_corrupt_image_shows_error_and_others_work(qtbot, make_window, image_folder):
    (image_folder / "a_broken.jpg").write_bytes(b"this is not a jpeg")
    win = make_window()
    win.open_folder(image_folder)
    assert win.session.paths[0].name == "a_broken.jpg"
    qtbot.waitUntil(lambda: win.view.row_state(0)[0] == DocState.ERROR, timeout=30000)
    assert "a_broken.jpg" in win.status_label.text()
    assert win.details_button.isVisible()
    assert win.canvas.message_is_error and "a_broken.jpg" in win.canvas.message
    assert win.displayed is None
    # the details dialog opens (and does not block)
    win.details_button.click()
    assert "a_broken.jpg" in win._error_box.text()
    win._error_box.close()
    # the app goes on: the next image works
    win.step(1)
    wait_displayed(qtbot, win, "img0.png")
    assert not win.canvas.message
    assert win.view.row_state(0)[0] == DocState.ERROR


class GatedPipeline(Pipeline):
    """Holds the result for one image until released (it is computed, then delivered late)."""

    def __init__(self, gated: str) -> None:
        super().__init__()
        self.gated = gated
        self.gate = threading.Event()
        self.reached = threading.Event()

    def segment(self, path, *args, **kwargs):
        out = super().segment(path, *args, **kwargs)
        style = args[5] if len(args) > 5 else kwargs.get("style")
        if path.name == self.gated and style is not None:   # a job for the view
            self.reached.set()
            self.gate.wait(30)
        return out


def test_result_after_switching_is_not_drawn(qtbot, make_window, image_folder):
    pipe = GatedPipeline("img0.png")
    win = make_window(pipeline=pipe, precompute=False)
    drawn = []
    orig = win.view.display
    win.view.display = lambda o: (drawn.append(o.path.name), orig(o))[1]
    win.open_folder(image_folder)
    qtbot.waitUntil(pipe.reached.is_set, timeout=30000)
    win.step(1)                    # the user moves on while img0 is still being computed
    pipe.gate.set()                # img0's result now arrives: it must not be drawn
    o = wait_displayed(qtbot, win, "img1.png")
    qtbot.wait(100)
    assert "img0.png" not in drawn
    assert win.displayed is o and win.displayed.path.name == "img1.png"
    # the late result is kept: going back shows it at once
    assert win.view.row_state(0)[0] == DocState.SUPERPIXELS_READY
    win.step(-1)
    wait_displayed(qtbot, win, "img0.png")


def test_click_result_after_switching_is_not_drawn(qtbot, make_window, image_folder):
    win = make_window(precompute=False)
    win.open_folder(image_folder)
    wait_displayed(qtbot, win, "img0.png")
    gate = threading.Event()
    orig = win.pipeline.transition

    def slow(*a, **k):
        gate.wait(30)
        return orig(*a, **k)

    win.pipeline.transition = slow
    click(qtbot, win, *OBJ2_CENTER)
    win.step(1)
    gate.set()
    wait_displayed(qtbot, win, "img1.png")
    qtbot.wait(200)
    assert win.displayed.path.name == "img1.png"
    assert win.canvas.layers is win.displayed.layers
    assert win.session.doc(0).ratios == {2: 2.0}
    assert win.session.doc(1).ratios == {}


def test_state_is_restored_when_the_folder_is_reopened(qtbot, make_window, image_folder):
    win = make_window(precompute=False)
    win.open_folder(image_folder)
    wait_displayed(qtbot, win)
    click(qtbot, win, *OBJ2_CENTER)
    qtbot.waitUntil(lambda: win.doc.ratios == {2: 2.0}, timeout=30000)
    win.step(1)
    wait_displayed(qtbot, win, "img1.png")
    win.close()
    state = json.loads((image_folder / "spam_labels" / ".spam_state.json").read_text())
    assert state["images"]["img0.png"]["ratios"] == {"2": 2.0}
    assert "img1.png" not in state["images"]         # nothing edited there
    assert state["current"] == "img1.png"

    win2 = make_window(precompute=False)
    win2.open_folder(image_folder)
    wait_displayed(qtbot, win2, "img1.png")          # back where the user was
    assert win2.view.row_state(0)[0] == DocState.EDITED
    win2.step(-1)
    o = wait_displayed(qtbot, win2, "img0.png")
    assert o.result.objects_info[2].ratio == 2.0
    assert win2.doc.ratios == {2: 2.0}


def test_prior_maps_missing_means_one_object(qtbot, make_window, image_folder):
    for p in (image_folder / "priors").glob("*.png"):
        p.unlink()
    win = make_window()
    win.open_folder(image_folder)
    o = wait_displayed(qtbot, win)
    assert list(o.result.objects_info) == [1]
    assert "no prior map" in o.prior_note


def test_prior_source_none_and_va_toggle(qtbot, make_window, image_folder):
    win = make_window(prior_source="none")
    win.open_folder(image_folder)
    o = wait_displayed(qtbot, win)
    assert list(o.result.objects_info) == [1]
    # switch the prior source through the controls
    combo = win.controls.prior
    combo.setCurrentIndex(combo.findData("maps"))
    combo.activated.emit(combo.currentIndex())
    qtbot.waitUntil(lambda: win.displayed is not None and len(win.displayed.result.objects_info) == 3,
                    timeout=30000)
    # visual attention with T: saliency computed (built-in), heatmap available
    qtbot.keyClick(win, Qt.Key.Key_T)
    qtbot.waitUntil(lambda: win.displayed is not None and win.displayed.params.va, timeout=30000)
    o = win.displayed
    assert o.saliency is not None and o.saliency_method
    assert any(i.salient is not None for i in o.result.objects_info.values())
    qtbot.keyClick(win, Qt.Key.Key_H)
    assert win.canvas.layer_visible("heatmap")
    assert win.canvas.items["heatmap"].qimage is not None


def test_layer_keys_zoom_and_hover(qtbot, make_window, image_folder):
    win = make_window()
    win.open_folder(image_folder)
    wait_displayed(qtbot, win)
    assert win.canvas.layer_visible("boundaries")
    qtbot.keyClick(win, Qt.Key.Key_B)
    assert not win.canvas.layer_visible("boundaries")
    assert not win.controls.layer_boxes["boundaries"].isChecked()
    win.controls.layer_boxes["boundaries"].setChecked(True)
    assert win.canvas.layer_visible("boundaries")
    qtbot.keyClick(win, Qt.Key.Key_M)
    assert win.canvas.layer_visible("meanfill")
    win.controls.opacity.setValue(80)
    assert abs(win.canvas.object_opacity() - 0.8) < 1e-6
    # the heatmap with VA off: the saliency is computed for display only
    qtbot.keyClick(win, Qt.Key.Key_H)
    qtbot.waitUntil(lambda: win.canvas.items["heatmap"].qimage is not None, timeout=30000)
    assert win.canvas.layer_visible("heatmap") and not win.displayed.params.va
    # zoom: 1:1, wheel zoom about the cursor, fit
    qtbot.keyClick(win, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert abs(win.canvas.current_scale() - 1.0) < 1e-6
    before = win.canvas.current_scale()
    win.canvas.zoom_by(2.0, anchor_under_mouse=True)
    assert abs(win.canvas.current_scale() - 2 * before) < 1e-6
    qtbot.keyClick(win, Qt.Key.Key_F)
    assert win.canvas.current_scale() > 1.5   # 96x128 fitted into the view
    # hover reports object, ratio, K_o and superpixel
    # a neighbour pixel first: a move to where the pointer already is sends no event
    qtbot.mouseMove(win.canvas.viewport(), win.canvas.view_pos_of(OBJ2_CENTER[0] + 2,
                                                                  OBJ2_CENTER[1]))
    qtbot.mouseMove(win.canvas.viewport(), win.canvas.view_pos_of(*OBJ2_CENTER))
    qtbot.waitUntil(lambda: "object 2" in win.hover_label.text(), timeout=3000)
    assert "K_o" in win.hover_label.text() and "superpixel" in win.hover_label.text()


def test_help_lists_every_shortcut(qtbot, make_window):
    win = make_window()
    qtbot.keyClick(win, Qt.Key.Key_F1)
    dlg = win._help_dialog
    assert dlg.isVisible()
    text = dlg.findChild(QtWidgets.QTextBrowser).toPlainText()
    for spec in win.action_specs:
        for key in spec.shortcuts:
            assert key in text, key
        if spec.shortcuts:
            assert spec.help in text
    for k in ("Ctrl+Z", "PgDown", "PgUp", "Ctrl+E", "F1", "Left click", "Wheel"):
        assert k in text
    dlg.close()


def test_drop_folder_opens_it(qtbot, make_window, image_folder):
    win = make_window()
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(image_folder / "img2.png"))])
    pos = QtCore.QPointF(50, 50)
    ev = QtGui.QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                          Qt.KeyboardModifier.NoModifier)
    win.canvas.dropEvent(ev)
    wait_displayed(qtbot, win, "img2.png")
    assert str(image_folder) in win.settings.recent_folders[0]
    assert win.recent_menu.actions()[0].text().endswith(str(image_folder))


def test_sam_prompt_mode_needs_a_checkpoint(qtbot, make_window, image_folder):
    win = make_window()
    win.open_folder(image_folder)
    wait_displayed(qtbot, win)
    assert "needs a SAM checkpoint" in win.actions_["mode_prompt"].toolTip()
    qtbot.keyClick(win.canvas, Qt.Key.Key_P)          # P says why instead of doing nothing
    assert win.mode == "scale"
    assert "SAM prompt mode needs a SAM checkpoint" in win.status_label.text()


def test_sam_click_prompt_adds_an_object(qtbot, make_window, image_folder, tmp_path):
    """Positive / negative clicks → SAM mask preview → Enter merges it into the prior
    (prior.merge_mask) → superpixels follow; undo removes it. SAM itself is replaced by a
    stand-in that returns a square around the positive clicks minus the negative ones."""
    from spam_gui.app.pipeline import Pipeline

    class FakeSamPipeline(Pipeline):
        calls = 0

        def sam_session(self, image, config):
            return None

        def prompt_mask(self, image, prompt, config):
            FakeSamPipeline.calls += 1
            m = np.zeros(image.shape[:2], bool)
            for x, y, lab in prompt.points:
                if lab:
                    m[max(0, y - 8):y + 8, max(0, x - 8):x + 8] = True
            for x, y, lab in prompt.points:
                if not lab:
                    m[max(0, y - 3):y + 3, max(0, x - 3):x + 3] = False
            return m

    ckpt = tmp_path / "sam_vit_b.pth"
    ckpt.write_bytes(b"stand-in")
    win = make_window(pipeline=FakeSamPipeline())
    win.settings.sam_checkpoint = str(ckpt)
    win.engine.apply()
    win.open_folder(image_folder)
    before = wait_displayed(qtbot, win).result
    assert win.actions_["mode_prompt"].isEnabled()
    qtbot.keyClick(win, Qt.Key.Key_P)
    assert win.mode == "prompt"
    # background (object 1) at (10, 88): a square that the prior does not have
    click(qtbot, win, 10, 88)
    click(qtbot, win, 4, 82, button=Qt.MouseButton.RightButton)
    assert win.tools["prompt"].points == [(10, 88, 1), (4, 82, 0)]
    qtbot.waitUntil(lambda: win.canvas.items["prompt"].qimage is not None, timeout=30000)
    qtbot.keyClick(win, Qt.Key.Key_Return)
    assert win.tools["prompt"].points == []
    qtbot.waitUntil(lambda: win.displayed is not None and len(win.displayed.result.objects_info) == 4,
                    timeout=30000)
    res = win.displayed.result
    new_id = max(res.objects_info)
    assert new_id == 4 and res.objects[88, 10] == 4
    assert res.objects[82, 4] != 4                  # the negative click carved a hole
    assert len(win.doc.prompts) == 1
    # the state file remembers the prompt clicks
    win.session.save_now()
    state = json.loads((image_folder / "spam_labels" / ".spam_state.json").read_text())
    assert state["images"]["img0.png"]["prompts"] == [[[10, 88, 1], [4, 82, 0]]]
    # undo removes the object again
    win.actions_["undo"].trigger()
    qtbot.waitUntil(lambda: win.displayed is not None and len(win.displayed.result.objects_info) == 3,
                    timeout=30000)
    assert np.array_equal(win.displayed.result.labels, before.labels)
    # Esc clears clicks in progress
    click(qtbot, win, 10, 88)
    qtbot.keyClick(win, Qt.Key.Key_Escape)
    assert win.tools["prompt"].points == []


def test_sam_prior_source_with_progress_and_cancel(qtbot, make_window, image_folder, tmp_path):
    """Prior source "SAM": the worker reports SAM's progress; Esc cancels it between steps."""
    import time as _time

    from spam_gui.app.pipeline import Pipeline
    from spam_gui.core.prior.maps import prior_from_label_map
    from tests.app.conftest import make_prior

    release = threading.Event()

    class FakeSam(Pipeline):
        def _sam_prior(self, image, config, progress=None):
            for i in range(200):
                if progress is not None:
                    progress(i / 200, f"SAM prompts {i}/200")
                if release.is_set() or i < 2:
                    continue
                _time.sleep(0.02)
            return (prior_from_label_map(make_prior()), "SAM vit_b prior: 3 objects",
                    {"source": "sam", "variant": "vit_b"})

    ckpt = tmp_path / "sam_vit_b.pth"
    ckpt.write_bytes(b"stand-in")
    win = make_window(pipeline=FakeSam(), prior_source="sam", precompute=False)
    win.settings.sam_checkpoint = str(ckpt)
    win.engine.apply()
    win.open_folder(image_folder)
    qtbot.waitUntil(lambda: "SAM prompts" in win.canvas.message, timeout=30000)
    assert win.progress.isVisible() and win.progress.maximum() == 1000
    qtbot.keyClick(win, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not win.fg.busy, timeout=30000)
    assert win.displayed is None and "Cancelled" in win.canvas.message
    release.set()
    qtbot.keyClick(win, Qt.Key.Key_F5)
    o = wait_displayed(qtbot, win, "img0.png")
    assert o.prior_note.startswith("SAM") and len(o.result.objects_info) == 3
    assert "Prior: SAM" in win.models_label.text()


def test_large_folder_opens_lazily(qtbot, make_window, image_folder):
    """Thousands of files: names only at open; no doc or state is made for unseen rows."""
    import os

    src = image_folder / "img0.png"
    for i in range(3000):
        os.link(src, image_folder / f"many{i}.png")
    win = make_window(precompute=False)
    win.open_folder(image_folder)
    assert len(win.session) == 3003
    # natural order: img0..img2, then many0, many1, many2, ..., many10
    assert win.session.paths[5].name == "many2.png" and win.session.paths[13].name == "many10.png"
    wait_displayed(qtbot, win)
    assert len(win.session._docs) == 1
    win.file_panel.filter.setText("MANY291")
    assert win.file_panel.model.rowCount() == 11           # many291, many2910..many2919
    idx = win.file_panel.model.index(0, 0)
    win.file_panel.view.clicked.emit(idx)
    assert win.session.paths[win.row].name == "many291.png"
    qtbot.keyClick(win, Qt.Key.Key_End)
    assert win.row == 3002
    assert len(win.session._docs) == 3


def test_export_folder_can_be_cancelled(qtbot, make_window, image_folder):
    win = make_window(precompute=False)
    win.open_folder(image_folder)
    wait_displayed(qtbot, win)
    gate = threading.Event()
    orig = win.pipeline.segment

    def slow(*a, **k):
        gate.wait(30)
        return orig(*a, **k)

    win.pipeline.segment = slow          # images not computed yet wait until the cancel
    win.actions_["export_all"].trigger()
    dlg = win.exports.dialog
    assert dlg is not None and dlg.isVisible()
    qtbot.waitUntil(lambda: win.exports.job is not None and win.bg.busy, timeout=10000)
    dlg.findChild(QtWidgets.QPushButton).click()     # the dialog's Cancel button
    gate.set()
    qtbot.waitUntil(lambda: win.exports.last_export is not None, timeout=30000)
    assert win.exports.last_export["cancelled"]
    assert len(win.exports.last_export["done"]) < 3
    assert "cancelled" in win.status_label.text()
    assert win.exports.dialog is None


def test_one_click_runs_one_rescale(qtbot, make_window, image_folder):
    from spam_gui.app.worker import TransitionJob

    win = make_window(precompute=False)
    win.open_folder(image_folder)
    wait_displayed(qtbot, win)
    calls = []
    orig = win.pipeline.transition
    win.pipeline.transition = lambda *a, **k: (calls.append(1), orig(*a, **k))[1]
    submitted = []
    orig_submit = win.fg.submit
    win.fg.submit = lambda job: (submitted.append(job), orig_submit(job))[1]
    click(qtbot, win, *OBJ2_CENTER)
    qtbot.waitUntil(lambda: win.displayed.result.objects_info[2].ratio == 2.0, timeout=30000)
    qtbot.wait(100)
    assert len([j for j in submitted if isinstance(j, TransitionJob)]) == 1
    assert len(calls) == 1


def test_bad_encoder_file_is_reported(qtbot, make_window, image_folder, tmp_path):
    bad = tmp_path / "broken_encoder.pt"
    bad.write_bytes(b"not torch")
    win = make_window(precompute=False)
    win.settings.encoder_mode, win.settings.encoder_file = "file", str(bad)
    win.engine.apply()
    win.open_folder(image_folder)
    qtbot.waitUntil(lambda: win.view.row_state(0)[0] == DocState.ERROR, timeout=30000)
    assert "broken_encoder.pt" in win.status_label.text()
    # back to no network: the image works
    win.settings.encoder_mode = "none"
    win.engine.apply()
    wait_displayed(qtbot, win, "img0.png")
