"""Issue 23, the interaction surprises, on the real window: the selection belongs to one image
and one purpose, docks keep their width, focus comes back to the canvas, one meaning per key,
Space+drag pans in every tool, Ctrl+S exports, the round brush, the smaller items."""

from __future__ import annotations

import numpy as np
import pytest

from spam_gui.app.qt import QtCore, QtGui
from tests.app.conftest import OBJ2_CENTER, OBJ3_CENTER, wait_displayed

Qt = QtCore.Qt
LEFT, RIGHT = Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton
CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier
BG = (6, 6)    # a pixel of object 1 (the background)


def click(qtbot, win, x, y, button=LEFT, mods=Qt.KeyboardModifier.NoModifier):
    qtbot.mouseClick(win.canvas.viewport(), button, mods, win.canvas.view_pos_of(x, y))


def wait_new(qtbot, win, before):
    def ok():
        o = win.displayed
        assert o is not None and o is not before and o.layers is not None
        assert o.key == win.current_key()
    qtbot.waitUntil(ok, timeout=60000)
    return win.displayed


def wait_current(qtbot, win):
    def ok():
        o = win.displayed
        assert o is not None and o.layers is not None and o.key == win.current_key()
    qtbot.waitUntil(ok, timeout=60000)
    return win.displayed


def opened(qtbot, make_window, folder, **kw):
    win = make_window(precompute=False, **kw)
    win.open_folder(folder)
    wait_displayed(qtbot, win, "img0.png")
    return win


# ----------------------------------------------------------------------------- 1 selection


def test_merge_after_a_scale_click_merges_only_the_ctrl_clicked(qtbot, make_window,
                                                               image_folder):
    win = opened(qtbot, make_window, image_folder)
    o0 = win.displayed
    assert sorted(o0.result.objects_info) == [1, 2, 3]
    win.set_mode("scale")
    click(qtbot, win, *BG)                                   # a plain click: scales object 1
    o1 = wait_new(qtbot, win, o0)
    assert win.doc.ratios == {1: 2.0}
    assert win.objects_panel.selected_objects() == [1]       # focused, shown in the list
    assert "object 1" in win.canvas.selection_text()
    click(qtbot, win, *OBJ2_CENTER, mods=CTRL)
    click(qtbot, win, *OBJ3_CENTER, mods=CTRL)
    assert win.selection.merge_ids(win.row) == [2, 3]
    assert sorted(win.objects_panel.selected_objects()) == [2, 3]
    text = win.canvas.selection_text()
    assert "merge" in text and "2, 3" in text and "Shift+M" in text   # the canvas says it
    assert win.canvas.highlighted()
    qtbot.keyClick(win, Qt.Key.Key_M, SHIFT)
    o2 = wait_new(qtbot, win, o1)
    objs = o2.result.objects
    assert len(o2.result.objects_info) == 2                  # two merged, not three
    a = objs[OBJ2_CENTER[1], OBJ2_CENTER[0]]
    assert a == objs[OBJ3_CENTER[1], OBJ3_CENTER[0]]
    assert objs[BG[1], BG[0]] != a
    # Esc clears the selection (the merged object was focused)
    assert win.selection.shown(win.row) == [a]
    qtbot.keyClick(win, Qt.Key.Key_Escape)
    assert win.selection.shown(win.row) == [] and not win.canvas.highlighted()
    assert win.objects_panel.selected_objects() == []


def test_selection_is_cleared_by_a_tool_or_image_change(qtbot, make_window, image_folder):
    win = opened(qtbot, make_window, image_folder)
    win.set_mode("scale")
    click(qtbot, win, *OBJ2_CENTER, mods=CTRL)
    click(qtbot, win, *OBJ3_CENTER, mods=CTRL)
    assert win.selection.merge_ids(win.row) == [2, 3]
    win.set_mode("inspect")                                  # another tool: nothing selected
    assert win.selection.merge_ids(win.row) == []
    assert not win.canvas.highlighted() and win.canvas.selection_text() == ""
    assert win.objects_panel.selected_objects() == []
    click(qtbot, win, *OBJ2_CENTER, mods=CTRL)
    click(qtbot, win, *OBJ3_CENTER)                          # a plain click replaces it
    assert win.selection.merge_ids(win.row) == [] and win.selection.shown(win.row) == [3]
    qtbot.keyClick(win, Qt.Key.Key_D)                        # the next image
    wait_displayed(qtbot, win, "img1.png")
    assert win.row == 1
    assert win.selection.shown(1) == [] and not win.canvas.highlighted()
    assert win.objects_panel.selected_objects() == []
    qtbot.keyClick(win, Qt.Key.Key_M, SHIFT)                 # nothing to merge here
    assert "Select two or more" in win.status_label.text()


def test_shift_click_in_scale_mode_does_not_range_select_rows(qtbot, make_window, image_folder):
    win = opened(qtbot, make_window, image_folder)
    win.set_mode("scale")
    o0 = win.displayed
    click(qtbot, win, *BG)
    o1 = wait_new(qtbot, win, o0)
    click(qtbot, win, *OBJ3_CENTER, mods=SHIFT)              # reset object 3: no range
    assert win.objects_panel.selected_objects() == [3]
    assert win.selection.merge_ids(win.row) == []
    del o1


# ----------------------------------------------------------------------------- 2 docks


def paint_ready(qtbot, make_window, folder, classes=("fur", "background", "sky")):
    win = opened(qtbot, make_window, folder)
    for name in classes:
        assert win.annotations.add_class(name)
    win.canvas.setFocus()
    qtbot.keyClick(win, Qt.Key.Key_L)
    assert win.mode == "paint"
    return win


def test_docks_keep_their_width_and_the_view_its_scale(qtbot, make_window, image_folder):
    long = ("fur", "background: the long grass behind the animals, to the horizon",
            "sky with clouds, sun and the odd bird in it, seen from the valley floor")
    win = paint_ready(qtbot, make_window, image_folder, classes=long)
    qtbot.wait(50)
    width, scale = win.classes_dock.width(), win.canvas.current_scale()
    center = win.canvas.mapToScene(win.canvas.viewport().rect().center())
    for key in (Qt.Key.Key_2, Qt.Key.Key_3, Qt.Key.Key_1, Qt.Key.Key_2):
        win.actions_[f"class_{int(key) - int(Qt.Key.Key_0)}"].trigger()
        click(qtbot, win, *OBJ2_CENTER)                      # a stroke: "…: instance 1"
        qtbot.wait(20)
        assert win.classes_dock.width() == width
        assert win.canvas.current_scale() == scale
    win.actions_["new_instance"].trigger()
    qtbot.wait(20)
    assert win.classes_dock.width() == width and win.canvas.current_scale() == scale
    for x in (OBJ2_CENTER[0] + 1, OBJ2_CENTER[0]):                # the readout names the class
        qtbot.mouseMove(win.canvas.viewport(), win.canvas.view_pos_of(x, OBJ2_CENTER[1]))
        qtbot.wait(20)
    assert "background: the long grass" in win.hover_label.text()
    assert win.classes_dock.width() == width and win.canvas.current_scale() == scale
    assert win.canvas.mapToScene(win.canvas.viewport().rect().center()) == center


# ----------------------------------------------------------------------------- 3 focus


def focused():
    from spam_gui.app.qt import QtWidgets
    return QtWidgets.QApplication.focusWidget()


def test_keys_reach_the_canvas_after_adding_a_class(qtbot, make_window, image_folder):
    win = opened(qtbot, make_window, image_folder)
    search = win.annotations.panel.search
    win.classes_dock.show()
    win.classes_dock.raise_()
    search.setFocus()
    qtbot.waitUntil(lambda: focused() is search)
    qtbot.keyClicks(search, "fur")
    qtbot.keyClick(search, Qt.Key.Key_Return)
    assert [c.name for c in win.annotations.classes] == ["fur"]
    assert focused() is win.canvas                          # back to the image
    qtbot.keyClick(focused(), Qt.Key.Key_L)                 # a key typed now reaches the canvas
    assert win.mode == "paint" and search.text() == ""
    # Esc always leaves a text field (and a search field forgets its filter)
    search.setFocus()
    qtbot.waitUntil(lambda: focused() is search)
    qtbot.keyClicks(search, "zz")
    assert win.annotations.panel.table.isRowHidden(0)
    qtbot.keyClick(search, Qt.Key.Key_Escape)
    assert focused() is win.canvas and search.text() == ""
    assert not win.annotations.panel.table.isRowHidden(0)
    k = win.controls.k                                      # a spin box too
    k.setFocus()
    qtbot.waitUntil(lambda: focused() in (k, k.lineEdit()))
    qtbot.keyClick(focused(), Qt.Key.Key_Escape)
    assert focused() is win.canvas
    qtbot.keyClick(focused(), Qt.Key.Key_V)
    assert win.mode == "inspect"


# ----------------------------------------------------------------------------- 4 keys


TOOLS = ("scale", "inspect", "paint", "split", "draw_object", "erase_object")


def key_table(win):
    """Every key sequence of the window's actions -> the actions it triggers."""
    from spam_gui.app.qt import QtGui
    out: dict[str, list[str]] = {}
    for a in win.findChildren(QtGui.QAction):
        for k in a.shortcuts():
            out.setdefault(k.toString(QtGui.QKeySequence.SequenceFormat.PortableText),
                           []).append(a.objectName() or a.text())
    return out


def test_one_meaning_per_key_in_every_tool(qtbot, make_window, image_folder):
    win = opened(qtbot, make_window, image_folder)
    assert win.annotations.add_class("fur") and win.annotations.add_class("sky")
    tables = []
    for mode in TOOLS:
        win.set_mode(mode)
        assert win.mode == mode
        table = key_table(win)
        clash = {k: v for k, v in table.items() if len(v) > 1}
        assert not clash, f"{mode}: keys with several actions: {clash}"
        tables.append(table)
    assert all(t == tables[0] for t in tables), "a key changed its action with the tool"
    keys = [k for spec in win.action_specs for k in spec.shortcuts]   # the F1 / README table
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)
    # the same key does the same thing from any tool
    win.set_mode("scale")
    win.canvas.setFocus()
    qtbot.keyClick(win, Qt.Key.Key_2)
    assert win.mode == "paint" and win.annotations.current_class == 2
    qtbot.keyClick(win, Qt.Key.Key_0, CTRL)                 # 1:1 in the paint tool too
    assert abs(win.canvas.current_scale() - 1.0) < 1e-6
    op = win.canvas.object_opacity()
    r = win.annotations.radius
    qtbot.keyClick(win, Qt.Key.Key_BracketRight)             # ] is the brush, never the opacity
    assert win.annotations.radius > r and win.canvas.object_opacity() == op
    win.set_mode("scale")
    qtbot.keyClick(win, Qt.Key.Key_BracketRight)
    assert win.canvas.object_opacity() == op
    win.set_mode("draw_object")
    b = win.objects_edit.brush_radius
    qtbot.keyClick(win, Qt.Key.Key_BracketRight)
    assert win.objects_edit.brush_radius > b
    qtbot.keyClick(win, Qt.Key.Key_BracketRight, Qt.KeyboardModifier.AltModifier)
    assert win.canvas.object_opacity() > op


# ----------------------------------------------------------------------------- 5 Space+drag


def drag(win, a, b, button=LEFT, steps=6):
    """Press at view point a, move to b in steps, release (real mouse events)."""
    vp = win.canvas.viewport()
    T = QtCore.QEvent.Type

    def send(kind, p, btn, btns):
        ev = QtGui.QMouseEvent(kind, QtCore.QPointF(p), vp.mapToGlobal(QtCore.QPointF(p)), btn,
                               btns, Qt.KeyboardModifier.NoModifier)
        QtCore.QCoreApplication.sendEvent(vp, ev)

    send(T.MouseButtonPress, a, button, button)
    for i in range(1, steps + 1):
        p = QtCore.QPointF(a.x() + (b.x() - a.x()) * i / steps, a.y() + (b.y() - a.y()) * i / steps)
        send(T.MouseMove, p, Qt.MouseButton.NoButton, button)
    send(T.MouseButtonRelease, b, button, Qt.MouseButton.NoButton)


def test_space_drag_pans_in_the_paint_tool(qtbot, make_window, image_folder):
    win = paint_ready(qtbot, make_window, image_folder)
    assert "Space+drag pans" in win.status_label.text()      # said when a drawing tool comes
    stack = win.doc.undo_stack
    c = win.canvas
    c.zoom_by(4.0)
    qtbot.wait(10)
    h, v = c.horizontalScrollBar().value(), c.verticalScrollBar().value()
    center = c.mapToScene(c.viewport().rect().center())
    c.setFocus()
    qtbot.keyPress(c, Qt.Key.Key_Space)
    assert c.space_held
    mid = c.viewport().rect().center()
    drag(win, mid, mid + QtCore.QPoint(-80, -50))
    qtbot.keyRelease(c, Qt.Key.Key_Space)
    assert not c.space_held
    dh, dv = c.horizontalScrollBar().value() - h, c.verticalScrollBar().value() - v
    assert abs(dh - 80) <= 4 and abs(dv - 50) <= 4            # the view followed the pointer
    assert c.mapToScene(c.viewport().rect().center()) != center
    assert stack.count() == 0                                 # nothing was painted
    ann = win.annotations.annotation(win.row)
    assert ann is None or not ann.class_map.any()
    # without Space the same drag paints; the hint is not repeated
    drag(win, c.view_pos_of(*OBJ2_CENTER), c.view_pos_of(OBJ2_CENTER[0] + 4, OBJ2_CENTER[1]))
    assert stack.count() == 1
    win.set_mode("split")
    assert "Space+drag" not in win.status_label.text()
    qtbot.keyPress(c, Qt.Key.Key_Space)                      # in the split tool too
    drag(win, mid, mid + QtCore.QPoint(30, 0))
    qtbot.keyRelease(c, Qt.Key.Key_Space)
    assert c.horizontalScrollBar().value() < h + dh - 20
    assert stack.count() == 1


# ----------------------------------------------------------------------------- 8 smaller items


def test_hover_readout_follows_a_stroke_under_a_still_pointer(qtbot, make_window, image_folder):
    win = paint_ready(qtbot, make_window, image_folder)
    win.actions_["class_1"].trigger()                        # fur
    x, y = OBJ3_CENTER
    for px in (x + 1, x):
        qtbot.mouseMove(win.canvas.viewport(), win.canvas.view_pos_of(px, y))
        qtbot.wait(10)
    assert "object 3" in win.hover_label.text() and "fur" not in win.hover_label.text()
    click(qtbot, win, x, y)                                   # paint, the pointer stays
    assert "fur, instance" in win.hover_label.text()
    win.actions_["undo"].trigger()
    assert "unlabelled" in win.hover_label.text()


@pytest.fixture
def odd_prior_folder(tmp_path):
    """One image whose prior has an uncertain band (0) and a 26-pixel object."""
    from PIL import Image
    from tests.app.conftest import make_image, make_prior

    root = tmp_path / "odd"
    (root / "priors").mkdir(parents=True)
    Image.fromarray(make_image(3)).save(root / "odd.png")
    prior = make_prior()
    prior[:, :14] = 0                                         # uncertain
    prior[90:92, 100:113] = 4                                 # 2 x 13 = 26 pixels
    Image.fromarray(prior).save(root / "priors" / "odd.png")
    return root


def test_objects_panel_counts_like_the_sidecar_and_shows_tiny_areas(qtbot, make_window,
                                                                    odd_prior_folder):
    win = make_window(precompute=False)
    win.open_folder(odd_prior_folder)
    o = wait_displayed(qtbot, win, "odd.png")
    res = o.result
    certain = res.certain_superpixel_object()[1:]
    assert ((certain == 0) & (res.superpixel_object[1:] > 0)).any()   # uncertain-only ones
    t = win.objects_panel.table
    shown = {int(t.item(r, 0).data(Qt.ItemDataRole.UserRole)): t.item(r, 4).text()
             for r in range(t.rowCount())}
    for oid, text in shown.items():                           # as the sidecar counts them
        assert int(text) == int(np.count_nonzero(certain == oid)), (oid, text)
    assert "uncertain pixels only" in win.objects_panel.summary.text()
    r4 = win.objects_panel._rows[4]
    assert t.item(r4, 1).text() == "26 px"                    # not "0.0%"


def test_merged_object_is_reclustered_at_one_density(qtbot, make_window, image_folder):
    win = opened(qtbot, make_window, image_folder)
    o = win.displayed
    win.edits.set_ratio(2, 4.0)                               # object 2 four times as dense
    o = wait_new(qtbot, win, o)
    click(qtbot, win, *OBJ2_CENTER, mods=CTRL)
    click(qtbot, win, *OBJ3_CENTER, mods=CTRL)
    win.actions_["merge_objects"].trigger()
    o = wait_new(qtbot, win, o)
    res = o.result
    oid = int(res.objects[OBJ2_CENTER[1], OBJ2_CENTER[0]])
    assert oid == int(res.objects[OBJ3_CENTER[1], OBJ3_CENTER[0]])
    from tests.app.conftest import OBJ2, OBJ3
    sizes = []
    for box in (OBJ2, OBJ3):
        inner = (slice(box[0].start + 4, box[0].stop - 4), slice(box[1].start + 4, box[1].stop - 4))
        lab = res.labels[inner]
        sizes.append(lab.size / np.unique(lab).size)          # mean superpixel size in the box
    assert max(sizes) / min(sizes) < 1.8, sizes               # one density, not 4x apart
    info = res.objects_info[oid]
    assert info.k == res.superpixel_counts()[oid]             # K_o is what it has


def test_a_new_folder_is_offered_the_last_folders_classes(qtbot, make_window, image_folder,
                                                          tmp_path):
    import shutil
    win = opened(qtbot, make_window, image_folder)
    for name in ("fur", "sky", "grass"):
        assert win.annotations.add_class(name)
    other = tmp_path / "other"
    shutil.copytree(image_folder, other, ignore=shutil.ignore_patterns("spam_labels"))
    win.open_folder(other)
    wait_displayed(qtbot, win, "img0.png")
    panel = win.annotations.panel
    assert len(win.annotations.classes) == 0
    assert panel.offer.isVisible() and "fur, sky, grass" in panel.offer.text()
    qtbot.mouseClick(panel.offer_btn, LEFT)
    assert [c.name for c in win.annotations.classes] == ["fur", "sky", "grass"]
    assert (other / "spam_labels" / "classes.json").is_file()
    assert not panel.offer.isVisible()


def test_default_class_colours_are_not_the_boundary_yellow(qtbot, make_window, image_folder):
    win = opened(qtbot, make_window, image_folder)
    for name in ("a", "b", "c", "d", "e"):
        win.annotations.add_class(name)
    by = np.array(win.style_.boundary_color, float)
    for c in win.annotations.classes:
        rgb = np.array([int(c.color[i:i + 2], 16) for i in (1, 3, 5)], float)
        assert np.linalg.norm(rgb - by) > 80, (c.name, c.color)   # #ffe119 was 25 away


def test_status_bar_right_side_is_not_cut(qtbot, make_window, image_folder):
    from spam_gui.app.qt import QtWidgets
    win = opened(qtbot, make_window, image_folder)
    qtbot.wait(20)
    shown = QtWidgets.QLabel.text(win.models_label)
    assert "…" not in shown and shown
    assert "Prior: prior maps" in win.models_label.toolTip()


# ----------------------------------------------------------------------------- 9 saving


def test_ctrl_s_exports_and_images_export_when_left(qtbot, make_window, image_folder):
    win = opened(qtbot, make_window, image_folder)
    out = win.session.output_dir
    win.canvas.setFocus()
    qtbot.keyClick(win, Qt.Key.Key_S, CTRL)                  # as labelme: Ctrl+S writes files
    # the files, and the export taken by the window (the image marked exported): the files
    # exist a moment before the job's result reaches the window
    qtbot.waitUntil(lambda: (out / "img0.json").is_file() and (out / "img0.png").is_file()
                    and win.exports.job is None, timeout=60000)
    stamp = (out / "img0.json").stat().st_mtime_ns
    assert not win.actions_["export_on_leave"].isChecked()
    win.actions_["export_on_leave"].trigger()
    assert win.settings.export_on_leave
    qtbot.keyClick(win, Qt.Key.Key_D)                        # leave img0 (exported already)
    wait_displayed(qtbot, win, "img1.png")
    win.edits.set_ratio(2, 2.0)                              # some work on img1
    qtbot.keyClick(win, Qt.Key.Key_D)                        # leave img1: it is exported
    wait_displayed(qtbot, win, "img2.png")
    qtbot.waitUntil(lambda: (out / "img1.json").is_file(), timeout=60000)
    import json
    side = json.loads((out / "img1.json").read_text())
    assert {o["id"]: o["ratio"] for o in side["objects"]}[2] == 2.0   # with the work done
    assert (out / "img0.json").stat().st_mtime_ns == stamp   # not written again
    assert not (out / "img2.json").exists()                  # not left yet
    # the option is remembered
    win2 = make_window(precompute=False)
    assert win2.actions_["export_on_leave"].isChecked()


# ----------------------------------------------------------------------------- 7 the brush


def wheel(win, x, y, notches, mods=CTRL):
    vp = win.canvas.viewport()
    pos = QtCore.QPointF(win.canvas.view_pos_of(x, y))
    ev = QtGui.QWheelEvent(pos, vp.mapToGlobal(pos), QtCore.QPoint(0, 0),
                           QtCore.QPoint(0, 120 * notches), Qt.MouseButton.NoButton, mods,
                           Qt.ScrollPhase.NoScrollPhase, False)
    QtCore.QCoreApplication.sendEvent(vp, ev)


def test_round_brush_sized_by_ctrl_wheel_and_slider_with_its_outline(qtbot, make_window,
                                                                    image_folder):
    win = paint_ready(qtbot, make_window, image_folder)
    ctl, panel, c = win.annotations, win.annotations.panel, win.canvas
    assert panel.superpixels.isChecked() and panel.pixel.isVisibleTo(panel)   # in sight
    scale = c.current_scale()
    x, y = OBJ3_CENTER
    for px in (x + 1, x):
        qtbot.mouseMove(c.viewport(), c.view_pos_of(px, y))
        qtbot.wait(10)
    r0 = ctl.radius
    wheel(win, x, y, 2)                                       # Ctrl+wheel: the brush grows
    assert ctl.pixel_brush and panel.pixel.isChecked() and ctl.radius > r0
    assert c.current_scale() == scale                         # not a zoom
    rect = c.brush_outline()                                  # its outline, under the pointer
    assert rect is not None and abs(rect.width() - 2 * ctl.radius) < 1e-6
    assert abs(rect.center().x() - (x + 0.5)) < 1e-6 and abs(rect.center().y() - (y + 0.5)) < 1e-6
    assert panel.size_slider.value() == ctl.radius            # the slider follows
    panel.size_slider.setValue(3)                             # and sets it
    assert ctl.radius == 3 and abs(c.brush_outline().width() - 6) < 1e-6
    wheel(win, x, y, -1)
    assert ctl.radius == 2
    click(qtbot, win, x, y)                                   # a disk of radius 2
    painted = win.annotations.annotation(win.row).class_map > 0
    yy, xx = np.nonzero(painted)
    assert painted.sum() == 13 and abs(xx.mean() - x) < 1e-6 and abs(yy.mean() - y) < 1e-6
    qtbot.mouseClick(panel.superpixels, LEFT)                 # whole superpixels again
    assert not ctl.pixel_brush and c.brush_outline() is None
    win.set_mode("scale")                                     # Ctrl+wheel zooms elsewhere
    wheel(win, x, y, 1)
    assert c.current_scale() > scale


# ----------------------------------------------------------------------------- 6 instances


def test_instances_panel_selects_relabels_merges_and_deletes_with_undo(qtbot, make_window,
                                                                        image_folder):
    win = paint_ready(qtbot, make_window, image_folder, classes=("fur", "sky"))
    ctl = win.annotations
    panel = ctl.instances_panel
    win.actions_["class_1"].trigger()
    qtbot.mouseClick(win.canvas.viewport(), LEFT, SHIFT, win.canvas.view_pos_of(*OBJ2_CENTER))
    qtbot.mouseClick(win.canvas.viewport(), LEFT, SHIFT, win.canvas.view_pos_of(*OBJ3_CENTER))
    ann = ctl.annotation(win.row)
    a = int(ann.instance_map[OBJ2_CENTER[1], OBJ2_CENTER[0]])
    b = int(ann.instance_map[OBJ3_CENTER[1], OBJ3_CENTER[0]])
    assert a and b and a != b
    n_a, n_b = int((ann.instance_map == a).sum()), int((ann.instance_map == b).sum())
    win.instances_dock.show()
    win.instances_dock.raise_()
    qtbot.waitUntil(lambda: panel.table.rowCount() == 2, timeout=5000)
    assert "An instance" in panel.about.text() and "Objects" in panel.about.text()
    assert "instances" in win.objects_panel.about.text()
    rows = {int(panel.table.item(r, 0).text()): (panel.table.item(r, 1).text(),
                                                 panel.table.item(r, 2).text())
            for r in range(panel.table.rowCount())}
    assert rows == {a: ("fur", f"{n_a:,}"), b: ("fur", f"{n_b:,}")}
    stack = win.doc.undo_stack
    steps = stack.count()

    # select -> highlight on the canvas, said in words
    qtbot.mouseClick(panel.table.viewport(), LEFT,
                     pos=panel.table.visualItemRect(panel.table.item(panel.row_of(a), 0)).center())
    assert panel.selected_instances() == [a]
    assert win.canvas.highlighted() and f"instance {a} (fur)" in win.canvas.selection_text()

    # relabel as sky, undo, redo
    panel.relabel.setCurrentIndex(panel.relabel.findData(2))
    qtbot.mouseClick(panel.relabel_btn, LEFT)
    assert (ann.class_map[ann.instance_map == a] == 2).all()
    assert (ann.class_map[ann.instance_map == b] == 1).all()
    assert stack.count() == steps + 1
    qtbot.waitUntil(lambda: panel.table.item(panel.row_of(a), 1).text() == "sky", timeout=5000)
    win.actions_["undo"].trigger()
    assert (ann.class_map[ann.instance_map == a] == 1).all()
    qtbot.waitUntil(lambda: panel.table.item(panel.row_of(a), 1).text() == "fur", timeout=5000)
    win.actions_["redo"].trigger()
    assert (ann.class_map[ann.instance_map == a] == 2).all()
    # painting fur after the relabel starts a fur instance (never writes fur into a sky one)
    win.actions_["class_1"].trigger()
    click(qtbot, win, 6, 90)
    assert int(ann.class_map[90, 6]) == 1
    assert ann._instances()[int(ann.instance_map[90, 6])] == 1
    win.actions_["undo"].trigger()

    # merge both: one instance of the larger one's class; undo
    panel.show_selection([a, b])
    panel.selection_changed.emit([a, b])
    qtbot.mouseClick(panel.merge_btn, LEFT)
    keep = a if (n_a, -a) > (n_b, -b) else b
    assert set(np.unique(ann.instance_map)) == {0, keep}
    qtbot.waitUntil(lambda: panel.table.rowCount() == 1, timeout=5000)
    win.actions_["undo"].trigger()
    assert set(np.unique(ann.instance_map)) == {0, a, b}
    qtbot.waitUntil(lambda: panel.table.rowCount() == 2, timeout=5000)

    # delete with the Delete key in the list; undo brings it back
    panel.show_selection([b])
    panel.selection_changed.emit([b])
    panel.table.setFocus()
    qtbot.keyClick(panel.table, Qt.Key.Key_Delete)
    assert not (ann.instance_map == b).any()
    assert int(ann.class_map[OBJ3_CENTER[1], OBJ3_CENTER[0]]) == 0
    qtbot.waitUntil(lambda: panel.table.rowCount() == 1, timeout=5000)
    win.actions_["undo"].trigger()
    assert int((ann.instance_map == b).sum()) == n_b
    assert (ann.class_map[ann.instance_map == b] == 1).all()
    panel.show_selection([b])
    panel.selection_changed.emit([b])
    assert win.canvas.highlighted()
    qtbot.keyClick(win, Qt.Key.Key_Escape)                    # Esc clears the selection
    assert panel.selected_instances() == [] and not win.canvas.highlighted()


def test_space_pans_after_a_panel_had_the_keyboard(qtbot, make_window, image_folder):
    win = paint_ready(qtbot, make_window, image_folder)
    c = win.canvas
    table = win.annotations.panel.table
    table.setFocus()
    qtbot.waitUntil(lambda: focused() is table)
    x, y = OBJ3_CENTER
    qtbot.mouseMove(c.viewport(), c.view_pos_of(x + 1, y))    # the pointer comes to the image
    qtbot.mouseMove(c.viewport(), c.view_pos_of(x, y))
    assert focused() is c
    qtbot.keyPress(focused(), Qt.Key.Key_Space)
    assert c.space_held
    qtbot.keyRelease(focused(), Qt.Key.Key_Space)
    search = win.annotations.panel.search                     # but not from a text field
    search.setFocus()
    qtbot.waitUntil(lambda: focused() is search)
    qtbot.mouseMove(c.viewport(), c.view_pos_of(x + 1, y))
    assert focused() is search
