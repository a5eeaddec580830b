"""Objects for every image (issue 14): the prior source that picks itself, the coarseness slider,
and editing objects on the real window — merge, split, draw, erase, undo, redo, autosave."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from spam_gui.app.qt import QtCore, QtGui
from spam_gui.app.panels.controls import COARSENESS_SCALE
from spam_gui.core.params import PRIOR_DEFAULTS
from spam_gui.core.engine.object_edits import superpixels_within_objects
from tests.app.conftest import OBJ2, OBJ2_CENTER, OBJ3_CENTER, make_image, wait_displayed

Qt = QtCore.Qt


@pytest.fixture
def plain_folder(tmp_path):
    """Two images, no prior maps (and no SAM checkpoint: the conftest clears it)."""
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(2):
        Image.fromarray(make_image(10 + i)).save(root / f"photo{i}.png")
    return root


def _window(make_window):
    """The real window with the shipped encoder (the built-in prior's merges use its features)."""
    win = make_window(prior_source="auto", precompute=False)
    win.settings.encoder_mode = "shipped"
    win.engine.apply()
    return win


def _mouse(canvas, kind, pos, button, buttons, mods=Qt.KeyboardModifier.NoModifier):
    ev = QtGui.QMouseEvent(kind, QtCore.QPointF(pos), canvas.viewport().mapToGlobal(pos).toPointF(),
                           button, buttons, mods)
    QtCore.QCoreApplication.sendEvent(canvas.viewport(), ev)


def _stroke(win, points, button=Qt.MouseButton.LeftButton, mods=Qt.KeyboardModifier.NoModifier):
    """Drag through image points (x, y) with real mouse events on the canvas."""
    c = win.canvas
    T = QtCore.QEvent.Type
    _mouse(c, T.MouseButtonPress, c.view_pos_of(*points[0]), button, button, mods)
    for p in points[1:]:
        _mouse(c, T.MouseMove, c.view_pos_of(*p), Qt.MouseButton.NoButton, button, mods)
    _mouse(c, T.MouseButtonRelease, c.view_pos_of(*points[-1]), button, Qt.MouseButton.NoButton,
           mods)


def _wait_new(qtbot, win, before):
    """Wait for a drawn result other than ``before`` that is the current doc's."""
    def ok():
        o = win.displayed
        assert o is not None and o is not before and o.layers is not None
        assert o.key == win.current_key()
    qtbot.waitUntil(ok, timeout=60000)
    return win.displayed


def _check_contained(win):
    o = win.displayed
    objects = win.doc.rasters.get("objects")
    if objects is not None:
        assert np.array_equal(o.result.objects, objects)
    assert superpixels_within_objects(o.result.labels, o.result.objects)
    n = o.result.n_superpixels
    assert np.array_equal(np.unique(o.result.labels), np.arange(1, n + 1))


def _lasso(x0, y0, x1, y1, step=4):
    pts = [(x, y0) for x in range(x0, x1 + 1, step)] + [(x1, y) for y in range(y0, y1 + 1, step)]
    pts += [(x, y1) for x in range(x1, x0 - 1, -step)] + [(x0, y) for y in range(y1, y0 - 1, -step)]
    return pts


def test_first_run_every_image_has_objects_and_edits_work(qtbot, make_window, plain_folder,
                                                          tmp_path):
    win = _window(make_window)
    win.open_folder(plain_folder)
    o0 = wait_displayed(qtbot, win, "photo0.png")
    # no prior maps, no checkpoint: the built-in prior gives the objects, and says so
    assert o0.prior_info["source"] == "builtin"
    assert len(o0.result.objects_info) >= 2
    assert "built-in" in win.objects_panel.source.text()
    assert "built-in prior" in win.status_label.text()
    assert "built-in" in win.models_label.text()
    assert win.controls.coarseness_row.isEnabled()
    base_objects = o0.result.objects.copy()
    doc = win.doc

    # -- merge: the objects under the red and the green box, Ctrl+clicked on the image
    a = int(base_objects[OBJ2_CENTER[1], OBJ2_CENTER[0]])
    b = int(base_objects[OBJ3_CENTER[1], OBJ3_CENTER[0]])
    assert a != b and a > 0 and b > 0
    win.set_mode("scale")
    ctrl = Qt.KeyboardModifier.ControlModifier
    for x, y in (OBJ2_CENTER, OBJ3_CENTER):
        qtbot.mouseClick(win.canvas.viewport(), Qt.MouseButton.LeftButton, ctrl,
                         win.canvas.view_pos_of(x, y))
    assert sorted(win.objects_panel.selected_objects()) == sorted([a, b])
    assert doc.ratios == {}                          # Ctrl+click selects, it does not scale
    win.actions_["merge_objects"].trigger()
    o1 = _wait_new(qtbot, win, o0)
    merged = o1.result.objects
    assert merged[OBJ2_CENTER[1], OBJ2_CENTER[0]] == merged[OBJ3_CENTER[1], OBJ3_CENTER[0]]
    assert len(o1.result.objects_info) == len(o0.result.objects_info) - 1
    assert o1.prior_info["source"] == "edited" and "edited" in win.objects_panel.source.text()
    # the sidecar keeps what the edited objects came from (issue 23 #8)
    came_from = o1.prior_info["edited_from"]
    assert (came_from["source"] == "builtin"
            and came_from["coarseness"] == pytest.approx(PRIOR_DEFAULTS.coarseness))
    assert "resegment" in o1.result.timings      # only the touched objects were re-clustered
    _check_contained(win)

    # -- split: a line across the red box cuts the merged object
    win.set_mode("split")
    assert win.canvas.stroke_mode
    y_cut = (OBJ2[0].start + OBJ2[0].stop) // 2
    _stroke(win, [(x, y_cut) for x in range(OBJ2[1].start - 6, OBJ2[1].stop + 7, 3)])
    o2 = _wait_new(qtbot, win, o1)
    cut = o2.result.objects
    above = cut[OBJ2[0].start + 3, OBJ2_CENTER[0]]
    below = cut[OBJ2[0].stop - 3, OBJ2_CENTER[0]]
    assert above != below and above > 0 and below > 0
    _check_contained(win)

    # -- draw: a lasso over the background makes a new object
    win.set_mode("draw_object")
    _stroke(win, _lasso(84, 84, 120, 93, step=3))
    o3 = _wait_new(qtbot, win, o2)
    new_id = int(o3.result.objects[88, 100])
    assert new_id not in np.unique(cut)
    assert np.all(o3.result.objects[86:92, 86:118] == new_id)
    _check_contained(win)

    # -- erase with the brush (Shift+drag): pixels become uncertain
    win.set_mode("erase_object")
    win.actions_["object_brush_larger"].trigger()
    assert win.objects_edit.brush_radius > 6
    _stroke(win, [(x, 8) for x in range(10, 60, 4)], mods=Qt.KeyboardModifier.ShiftModifier)
    o4 = _wait_new(qtbot, win, o3)
    assert np.all(o4.result.objects[8, 12:58] == 0)
    _check_contained(win)
    final = o4.result.objects.copy()
    assert doc.undo_stack.count() == 4

    # -- undo back to the built-in prior, redo to the end
    for _ in range(4):
        before = win.displayed
        win.actions_["undo"].trigger()
        _wait_new(qtbot, win, before)
        _check_contained(win)
    assert "objects" not in doc.rasters
    assert np.array_equal(win.displayed.result.objects, base_objects)
    assert win.displayed.prior_info["source"] == "builtin"
    for _ in range(4):
        before = win.displayed
        win.actions_["redo"].trigger()
        _wait_new(qtbot, win, before)
        _check_contained(win)
    assert np.array_equal(win.displayed.result.objects, final)

    # -- export: the edited objects are <stem>_objects.png
    win.exports.export_current()
    out = win.session.output_dir / "photo0_objects.png"
    qtbot.waitUntil(out.is_file, timeout=30000)
    exported = np.asarray(Image.open(out)).astype(np.int32)
    assert np.array_equal(exported > 0, final > 0)
    assert len(np.unique(exported)) == len(np.unique(final))
    side = json.loads((win.session.output_dir / "photo0.json").read_text())
    assert side["prior"]["source"] == "edited" and len(side["prior"]["objects_sha256"]) == 64

    # -- Reset Edited Objects goes back to the prior source's; undo brings the edits back
    before = win.displayed
    win.actions_["reset_objects"].trigger()
    o_reset = _wait_new(qtbot, win, before)
    assert o_reset.prior_info["source"] == "builtin" and not doc.has_raster("objects")
    win.actions_["undo"].trigger()
    o_back = _wait_new(qtbot, win, o_reset)
    assert np.array_equal(o_back.result.objects, final)

    # -- autosave and restore: a new window finds the edited objects
    win.session.save_now()
    win.close()
    win2 = _window(make_window)
    win2.open_folder(plain_folder)
    o5 = wait_displayed(qtbot, win2, "photo0.png")
    assert np.array_equal(o5.result.objects, final)
    assert o5.prior_info["source"] == "edited"
    assert superpixels_within_objects(o5.result.labels, o5.result.objects)
    # the other image still has its own (built-in) objects
    win2.step(1)
    o6 = wait_displayed(qtbot, win2, "photo1.png")
    assert o6.prior_info["source"] == "builtin" and len(o6.result.objects_info) >= 2


def test_coarseness_slider_is_undoable_and_per_image(qtbot, make_window, plain_folder):
    win = _window(make_window)
    win.open_folder(plain_folder)
    o0 = wait_displayed(qtbot, win, "photo0.png")
    default = win.doc.params.coarseness
    scale = COARSENESS_SCALE
    assert abs(win.controls.coarseness.value() / scale - default) < 1e-9
    win.controls.coarseness.setValue(round(0.95 * scale))
    win.controls.flush()
    qtbot.waitUntil(lambda: abs(win.doc.params.coarseness - 0.95) < 1e-9, timeout=5000)
    o1 = _wait_new(qtbot, win, o0)
    assert o1.prior_info["coarseness"] == pytest.approx(0.95)
    assert len(o1.result.objects_info) <= len(o0.result.objects_info)
    assert "coarseness 0.95" in win.objects_panel.source.text()
    win.controls.default_btn.click()                 # Use as Default: images not edited yet
    assert win.settings.default_params.coarseness == pytest.approx(0.95)
    win.actions_["undo"].trigger()
    qtbot.waitUntil(lambda: abs(win.doc.params.coarseness - default) < 1e-9, timeout=5000)
    assert win.controls.coarseness.value() == int(round(default * scale))
    o2 = _wait_new(qtbot, win, o1)
    assert np.array_equal(o2.result.objects, o0.result.objects)
    win.step(1)                                      # the other image takes the new default
    o3 = wait_displayed(qtbot, win, "photo1.png")
    assert win.doc.params.coarseness == pytest.approx(0.95)
    assert o3.prior_info["coarseness"] == pytest.approx(0.95)


def test_prior_source_choices(qtbot, make_window, image_folder):
    """Auto takes the prior maps when there are some; SAM without a checkpoint is not offered."""
    win = make_window(prior_source="auto", precompute=False)
    win.open_folder(image_folder)
    o = wait_displayed(qtbot, win, "img0.png")
    assert o.prior_info["source"] == "label map"
    assert "prior map" in win.objects_panel.source.text()
    assert not win.controls.coarseness_row.isEnabled()   # the coarseness is the built-in's
    combo = win.controls.prior
    assert [combo.itemData(i) for i in range(combo.count())] == [
        "auto", "maps", "sam", "builtin", "none"]
    sam_item = combo.model().item(combo.findData("sam"))
    assert not sam_item.isEnabled()
    combo.setCurrentIndex(combo.findData("builtin"))
    combo.activated.emit(combo.currentIndex())
    o2 = _wait_new(qtbot, win, o)
    assert o2.prior_info["source"] == "builtin" and win.settings.prior_source == "builtin"
    combo.setCurrentIndex(combo.findData("none"))
    combo.activated.emit(combo.currentIndex())
    o3 = _wait_new(qtbot, win, o2)
    assert o3.prior_info["source"] == "none"
    assert "none" in win.objects_panel.source.text()


def test_sam_priors_of_the_folder_in_the_background(qtbot, make_window, image_folder, tmp_path):
    """With a checkpoint, every image's SAM prior is computed in the background, lowest
    priority, with progress in the Images list and the status bar."""
    from spam_gui.app.document import DocState
    from spam_gui.app.pipeline import Pipeline
    from spam_gui.core.prior.maps import prior_from_label_map
    from tests.app.conftest import make_prior

    seen: list[int] = []

    class FakeSam(Pipeline):
        def _sam_prior(self, image, config, progress=None):
            seen.append(config.sam_points_per_side)
            for i in range(3):
                if progress is not None:
                    progress(i / 3, "SAM prompts")
            return (prior_from_label_map(make_prior()), "SAM vit_b prior: 3 objects",
                    {"source": "sam", "variant": "vit_b"})

    ckpt = tmp_path / "sam_vit_b.pth"
    ckpt.write_bytes(b"stand-in")
    for p in (image_folder / "priors").iterdir():     # no maps: auto picks SAM for each image
        p.unlink()
    win = make_window(pipeline=FakeSam(), prior_source="auto", precompute=False)
    win.settings.sam_checkpoint = str(ckpt)
    win.settings.sam_preset = "fast"
    win.engine.apply()
    win.open_folder(image_folder)
    o = wait_displayed(qtbot, win, "img0.png")
    assert o.prior_info["source"] == "sam" and "SAM" in win.objects_panel.source.text()
    qtbot.waitUntil(lambda: all(win.view.row_state(r)[0] in (DocState.PRIOR_READY,
                                                          DocState.SUPERPIXELS_READY)
                                for r in range(3)), timeout=30000)
    qtbot.waitUntil(lambda: win.sam_folder.job is None, timeout=30000)
    assert set(seen) == {16}                          # the fast preset's points grid
    assert len(seen) == 3                             # each image once (the shown one cached)
    assert not win.progress.isVisible()               # background work shows no busy bar
    win.step(1)                                       # the next image's prior is ready
    o1 = wait_displayed(qtbot, win, "img1.png")
    assert o1.prior_info["source"] == "sam" and len(seen) == 3
