"""The paint tool and the Classes dock on the real window: superpixel clicks and drags, object
fills, erasing, the pixel brush, instances, class keys, undo / redo, re-segmenting, autosave and
restore, export and import of the class / instance PNGs, a bad classes.json."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from spam_gui.app.qt import QtCore, QtGui
from spam_gui.core.annotation import (Annotation, ClassList, annotation_paths, read_annotation,
                                      read_classes, write_annotation, write_classes)
from tests.app.conftest import H, OBJ2, OBJ2_CENTER, OBJ3_CENTER, W, wait_displayed

Qt = QtCore.Qt
LEFT, RIGHT = Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton
SHIFT = Qt.KeyboardModifier.ShiftModifier


def _send(win, kind, x, y, button, buttons, mods=Qt.KeyboardModifier.NoModifier):
    vp = win.canvas.viewport()
    pos = QtCore.QPointF(win.canvas.view_pos_of(x, y))
    ev = QtGui.QMouseEvent(kind, pos, vp.mapToGlobal(pos), button, buttons, mods)
    QtCore.QCoreApplication.sendEvent(vp, ev)


def stroke(win, points, button=LEFT, mods=Qt.KeyboardModifier.NoModifier):
    """Press at the first point, move through the others, release at the last."""
    (x, y), rest = points[0], points[1:]
    _send(win, QtCore.QEvent.Type.MouseButtonPress, x, y, button, button, mods)
    for x, y in rest:
        _send(win, QtCore.QEvent.Type.MouseMove, x, y, Qt.MouseButton.NoButton, button, mods)
    _send(win, QtCore.QEvent.Type.MouseButtonRelease, x, y, button, Qt.MouseButton.NoButton, mods)


def ready(qtbot, make_window, folder, classes=("red box", "green box")):
    win = make_window()
    win.open_folder(folder)
    wait_displayed(qtbot, win, "img0.png")
    for name in classes:
        assert win.annotations.add_class(name)
    qtbot.keyClick(win, Qt.Key.Key_L)
    assert win.mode == "paint"
    assert win.classes_dock.isVisible()
    assert not win.classes_dock.visibleRegion().isEmpty()     # raised over the Objects tab
    qtbot.keyClick(win, Qt.Key.Key_1)
    return win


def ann_of(win):
    return win.annotations.annotation(win.row)


def reopened_annotation(qtbot, make_window, folder):
    """A new window on ``folder`` (the state saved by the last one), showing the first image:
    the window and that image's annotation, which must be there."""
    win = make_window()
    win.open_folder(folder)
    win.show_row(0)
    wait_displayed(qtbot, win, "img0.png")
    back = win.annotations.annotation(0)
    assert back is not None
    return win, back


def superpixel_mask(win, x, y):
    labels = win.displayed.result.labels
    return labels == labels[y, x]


def test_a_shift_drag_fills_every_object_it_crosses_as_one_instance(qtbot, make_window,
                                                                      image_folder):
    """One gesture, one instance: a Shift+drag across two objects (a car the prior cut in two)
    fills both as the same new instance, in one undo step; the next Shift+click on another
    object starts another instance."""
    win = ready(qtbot, make_window, image_folder)
    res = win.displayed.result
    stroke(win, [OBJ2_CENTER, (70, 50), OBJ3_CENTER], mods=SHIFT)
    ann = ann_of(win)
    fills = res.fill_map()
    obj2, obj3 = fills == 2, fills == 3
    assert (ann.class_map[obj2 | obj3] == 1).all()
    insts = np.unique(ann.instance_map[obj2 | obj3])
    assert insts.size == 1 and insts[0] > 0
    assert win.doc.undo_stack.count() == 1
    stroke(win, [(5, 5)], mods=SHIFT)                    # another object: another instance
    other = np.unique(ann.instance_map[fills == fills[5, 5]])
    assert other.size == 1 and other[0] not in (0, insts[0])


def test_click_drag_fill_erase_with_undo(qtbot, make_window, image_folder):
    win = ready(qtbot, make_window, image_folder)
    res = win.displayed.result
    stack = win.doc.undo_stack
    # key 1 picks the first class; a click paints the superpixel under the pointer
    qtbot.keyClick(win, Qt.Key.Key_1)
    assert win.annotations.current_class == 1
    qtbot.mouseClick(win.canvas.viewport(), LEFT, pos=win.canvas.view_pos_of(*OBJ2_CENTER))
    ann = ann_of(win)
    sp = superpixel_mask(win, *OBJ2_CENTER)
    assert (ann.class_map[sp] == 1).all() and (ann.class_map[~sp] == 0).all()
    inst1 = int(ann.instance_map[OBJ2_CENTER[1], OBJ2_CENTER[0]])
    assert inst1 > 0 and (ann.instance_map[sp] == inst1).all()
    assert stack.count() == 1
    # the class layer shows the class colour there, transparent elsewhere
    view = win.annotations.layer.layer.view
    b, g, r, a = view[OBJ2_CENTER[1], OBJ2_CENTER[0]]
    assert a == 255 and (r, g, b) in {win.annotations.classes.by_id(1).rgb,
                                      tuple(int(v * 0.45) for v in win.annotations.classes.by_id(1).rgb)}
    assert view[5, 5, 3] == 0
    assert win.canvas.class_layer() is win.annotations.layer.layer.qimage
    # a drag across object 2 paints every superpixel crossed, in one undo step
    stroke(win, [(18, 25), (30, 40), (45, 55), (58, 66)])
    crossed = np.unique(res.labels[[25, 40, 55, 66], [18, 30, 45, 58]])
    for lab in crossed:
        assert (ann.class_map[res.labels == lab] == 1).all()
    assert stack.count() == 2
    # and no pixel outside the superpixels touched
    touched = np.isin(res.labels, np.concatenate([crossed, [res.labels[OBJ2_CENTER[1], OBJ2_CENTER[0]]]]))
    line_labels = set()
    for (x0, y0), (x1, y1) in zip([(18, 25), (30, 40), (45, 55)], [(30, 40), (45, 55), (58, 66)]):
        for t in np.linspace(0, 1, 40):
            line_labels.add(int(res.labels[int(round(y0 + (y1 - y0) * t)), int(round(x0 + (x1 - x0) * t))]))
    touched |= np.isin(res.labels, list(line_labels))
    assert (ann.class_map[~touched] == 0).all()
    # Shift+click with class 2 fills object 3 whole, as one new instance
    qtbot.keyClick(win, Qt.Key.Key_2)
    qtbot.mouseClick(win.canvas.viewport(), LEFT, SHIFT, win.canvas.view_pos_of(*OBJ3_CENTER))
    obj3 = res.superpixel_object[res.labels] == 3
    assert (ann.class_map[obj3] == 2).all()
    insts = np.unique(ann.instance_map[obj3])
    assert len(insts) == 1 and insts[0] not in (0, inst1)
    assert win.annotations.panel.table.item(1, 2).text() == f"{int(obj3.sum()):,}"
    # right click erases a superpixel of it
    x, y = OBJ3_CENTER
    qtbot.mouseClick(win.canvas.viewport(), RIGHT, pos=win.canvas.view_pos_of(x, y))
    assert (ann.class_map[superpixel_mask(win, x, y)] == 0).all()
    assert (ann.instance_map[superpixel_mask(win, x, y)] == 0).all()
    assert stack.count() == 4
    # the hover readout names class and instance
    def hovered():          # moved again if the view was laid out anew meanwhile
        x, y = OBJ2_CENTER  # by a neighbour first: a move to where the pointer is already is
        qtbot.mouseMove(win.canvas.viewport(), win.canvas.view_pos_of(x + 2, y))  # not sent
        qtbot.mouseMove(win.canvas.viewport(), win.canvas.view_pos_of(x, y))
        assert "red box, instance" in win.hover_label.text()

    qtbot.waitUntil(hovered, timeout=5000)
    # undo / redo step by stroke
    before_erase = None
    qtbot.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert (ann.class_map[obj3] == 2).all()
    before_erase = ann.class_map.copy()
    qtbot.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert (ann.class_map[obj3] == 0).all()
    qtbot.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not ann.class_map.any() and not ann.instance_map.any()
    assert win.annotations.layer.layer.view[..., 3].max() == 0      # the layer follows
    for _ in range(3):
        qtbot.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | SHIFT)
    assert np.array_equal(ann.class_map, before_erase)
    assert win.doc.has_raster("classes") and win.doc.has_raster("instances")


def test_pixel_brush_new_instance_and_eraser(qtbot, make_window, image_folder):
    win = ready(qtbot, make_window, image_folder)
    ctl = win.annotations
    # pixel brush: X, radius with the spin box; a click paints a disk
    qtbot.keyClick(win, Qt.Key.Key_X)
    assert ctl.pixel_brush and win.canvas._brush_radius > 0
    ctl.panel.radius.setValue(3)
    assert ctl.radius == 3
    qtbot.keyClick(win, Qt.Key.Key_BracketRight)
    assert ctl.radius == 4
    qtbot.keyClick(win, Qt.Key.Key_BracketLeft)
    assert ctl.radius == 3 and win.canvas._brush_radius == 3
    qtbot.mouseClick(win.canvas.viewport(), LEFT, pos=win.canvas.view_pos_of(30, 30))
    ann = ann_of(win)
    yy, xx = np.mgrid[:H, :W]
    disk = (yy - 30) ** 2 + (xx - 30) ** 2 <= 9
    assert np.array_equal(ann.class_map > 0, disk)
    first = int(ann.instance_map[30, 30])
    # a drag with the pixel brush leaves no gaps
    stroke(win, [(10, 85), (60, 85)])
    assert (ann.class_map[85, 10:61] == 1).all() and ann.class_map[85, 70] == 0
    assert ann.instance_map[85, 40] == first          # same instance until N
    # N: the next stroke is another instance of the class
    qtbot.keyClick(win, Qt.Key.Key_N)
    stroke(win, [(100, 10), (110, 10)])
    second = int(ann.instance_map[10, 105])
    assert second not in (0, first)
    assert ann.class_map[10, 105] == 1
    # the eraser makes the left button unlabel
    qtbot.keyClick(win, Qt.Key.Key_E)
    assert ctl.eraser and ctl.panel.eraser.isChecked()
    qtbot.mouseClick(win.canvas.viewport(), LEFT, pos=win.canvas.view_pos_of(30, 30))
    assert ann.class_map[30, 30] == 0 and ann.instance_map[30, 30] == 0
    # picking a class turns the eraser off; 1-9 pick a class (and the paint tool) in any tool
    qtbot.keyClick(win, Qt.Key.Key_2)
    assert not ctl.eraser and ctl.current_class == 2
    qtbot.keyClick(win, Qt.Key.Key_S)
    assert win.mode == "scale"
    qtbot.keyClick(win, Qt.Key.Key_1)
    assert win.mode == "paint" and ctl.current_class == 1


def test_shortcuts_do_not_collide(qtbot, make_window, image_folder):
    win = ready(qtbot, make_window, image_folder, classes=("a",))
    for mode in ("paint", "scale"):
        win.set_mode(mode)
        seen: dict[str, str] = {}
        for name, act in win.actions_.items():
            if not act.isEnabled():
                continue
            for sc in act.shortcuts():
                k = sc.toString()
                assert k not in seen, f"{k}: {seen.get(k)} and {name} in {mode} mode"
                seen[k] = name


def test_resegmenting_keeps_the_maps(qtbot, make_window, image_folder):
    win = ready(qtbot, make_window, image_folder)
    qtbot.mouseClick(win.canvas.viewport(), LEFT, SHIFT, win.canvas.view_pos_of(*OBJ2_CENTER))
    stroke(win, [(80, 35), (110, 75)])
    ann = ann_of(win)
    cls0, inst0 = ann.class_map.tobytes(), ann.instance_map.tobytes()
    old_labels = win.displayed.result.labels
    win.controls.k.setValue(140)           # another K: the superpixels change, not the classes
    win.controls.flush()
    qtbot.waitUntil(lambda: win.displayed is not None and win.displayed.params.n_segments == 140
                    and win.displayed.layers is not None, timeout=60000)
    assert not np.array_equal(win.displayed.result.labels, old_labels)
    assert ann_of(win).class_map.tobytes() == cls0
    assert ann_of(win).instance_map.tobytes() == inst0
    assert win.canvas.class_layer() is win.annotations.layer.layer.qimage
    # the new superpixels are the brush now
    qtbot.mouseClick(win.canvas.viewport(), LEFT, pos=win.canvas.view_pos_of(5, 90))
    assert (ann_of(win).class_map[superpixel_mask(win, 5, 90)] == 1).all()


def test_autosave_restore_and_nothing_crosses_images(qtbot, make_window, image_folder):
    win = ready(qtbot, make_window, image_folder)
    qtbot.mouseClick(win.canvas.viewport(), LEFT, SHIFT, win.canvas.view_pos_of(*OBJ3_CENTER))
    ann = ann_of(win)
    cls0, inst0 = ann.class_map.copy(), ann.instance_map.copy()
    # the autosave waits for a pause in painting, then names both maps in the state file
    assert win.annotations._pause.isActive()
    state = win.session.primary_state_path

    def saved():
        assert state.is_file()
        entry = json.loads(state.read_text())["images"]["img0.png"]
        assert set(entry["rasters"]) >= {"classes", "instances"}

    qtbot.waitUntil(saved, timeout=10000)
    qtbot.keyClick(win, Qt.Key.Key_D)
    wait_displayed(qtbot, win, "img1.png")
    assert win.annotations.annotation(1) is None          # nothing copied to the next image
    assert win.canvas.class_layer() is None or win.annotations.layer.layer.view[..., 3].max() == 0
    win.close()
    win2, back = reopened_annotation(qtbot, make_window, image_folder)
    assert np.array_equal(back.class_map, cls0) and np.array_equal(back.instance_map, inst0)
    assert win2.canvas.class_layer() is not None
    assert [c.name for c in win2.annotations.classes] == ["red box", "green box"]
    assert win2.annotations.annotation(1) is None


def test_export_writes_class_and_instance_pngs(qtbot, make_window, image_folder):
    win = ready(qtbot, make_window, image_folder)
    qtbot.mouseClick(win.canvas.viewport(), LEFT, SHIFT, win.canvas.view_pos_of(*OBJ2_CENTER))
    qtbot.keyClick(win, Qt.Key.Key_2)
    qtbot.mouseClick(win.canvas.viewport(), LEFT, SHIFT, win.canvas.view_pos_of(*OBJ3_CENTER))
    ann = ann_of(win)
    win.exports.last_export = None
    qtbot.keyClick(win, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: win.exports.last_export is not None, timeout=60000)
    out = win.session.output_dir
    p = annotation_paths(out, "img0")
    assert p["classes"].is_file() and p["instances"].is_file() and p["class_list"].is_file()
    assert (out / "img0.png").is_file()                     # beside the other outputs
    classes = read_classes(p["class_list"])
    assert [(c.id, c.name) for c in classes] == [(1, "red box"), (2, "green box")]
    back = read_annotation(out, "img0", (H, W), classes)
    assert back == ann
    with Image.open(p["classes"]) as im:                    # a palette PNG in the class colours
        assert im.mode == "P"
        assert tuple(im.getpalette()[3:6]) == classes.by_id(1).rgb
    assert "img0_classes.png" in win.status_label.text()
    # a folder export also writes an image painted in an earlier run (autosaved, not open now)
    qtbot.keyClick(win, Qt.Key.Key_D)
    wait_displayed(qtbot, win, "img1.png")
    qtbot.keyClick(win, Qt.Key.Key_1)
    qtbot.mouseClick(win.canvas.viewport(), LEFT, pos=win.canvas.view_pos_of(10, 10))
    img1 = ann_of(win).class_map.copy()
    win.close()
    win2 = make_window()
    win2.open_folder(image_folder)
    wait_displayed(qtbot, win2)
    win2.exports.last_export = None
    win2.exports.export_folder()
    qtbot.waitUntil(lambda: win2.exports.last_export is not None, timeout=120000)
    assert not win2.exports.last_export["errors"]
    assert np.array_equal(read_annotation(out, "img1", (H, W)).class_map, img1)
    assert not annotation_paths(out, "img2")["classes"].exists()   # nothing painted there


def test_exported_pngs_are_opened_and_bad_ones_named(qtbot, make_window, image_folder):
    out = image_folder / "spam_labels"
    classes = ClassList.from_names(["sky", "tree"])
    ann = Annotation.empty((H, W))
    ann.class_map[OBJ2] = 2
    ann.instance_map[OBJ2] = 7
    ann.invalidate()
    write_annotation(out, "img0", ann, classes)
    Image.fromarray(np.ones((10, 10), np.uint8)).save(out / "img1_classes.png")   # wrong size
    bad_bytes = (out / "img1_classes.png").read_bytes()
    win = make_window()
    win.open_folder(image_folder)
    wait_displayed(qtbot, win, "img0.png")
    assert [c.name for c in win.annotations.classes] == ["sky", "tree"]
    got = win.annotations.annotation(0)
    assert got == ann
    assert win.canvas.class_layer() is not None
    # painting goes on from there; an instance of the file's class 2 is never given class 1
    win.set_mode("paint")
    qtbot.keyClick(win, Qt.Key.Key_1)
    win.annotations.brush.set_instance(0, 1, 7)
    qtbot.mouseClick(win.canvas.viewport(), Qt.MouseButton.LeftButton,
                     pos=win.canvas.view_pos_of(100, 10))
    assert got.class_map[10, 100] == 1 and got.instance_map[10, 100] not in (0, 7)
    assert (got.class_map[OBJ2] == 2).all() and (got.instance_map[OBJ2] == 7).all()
    qtbot.keyClick(win, Qt.Key.Key_D)
    wait_displayed(qtbot, win, "img1.png")
    assert "img1_classes.png" in win.last_error_message and "10x10" in win.last_error_message
    assert win.annotations.annotation(1) is None
    assert (out / "img1_classes.png").read_bytes() == bad_bytes


def test_bad_classes_json_is_named_and_kept(qtbot, make_window, image_folder):
    out = image_folder / "spam_labels"
    out.mkdir()
    (out / "classes.json").write_text('{"classes": [{"id": 1, "name": "sky",,]}')
    before = (out / "classes.json").read_bytes()
    win = make_window()
    win.open_folder(image_folder)
    wait_displayed(qtbot, win, "img0.png")
    ctl = win.annotations
    assert ctl.classes_error and "classes.json" in ctl.classes_error
    assert "not valid JSON" in ctl.classes_error and "line 1" in ctl.classes_error
    assert ctl.panel.error.isVisible() and ctl.panel.reload.isVisible()
    assert "classes.json" in win.last_error_message
    assert ctl.add_class("tree") == 0                  # refused: nothing written over the file
    win.set_mode("paint")
    assert win.mode == "scale"
    win.exports.last_export = None
    win.exports.export_current()
    qtbot.waitUntil(lambda: win.exports.last_export is not None, timeout=60000)
    assert (out / "classes.json").read_bytes() == before
    # fixed on disk, Reload takes it
    write_classes(out / "classes.json", ClassList.from_names(["sky"]))
    ctl.panel.reload.click()
    assert ctl.classes_error is None and [c.name for c in ctl.classes] == ["sky"]
    assert not ctl.panel.error.isVisible()


def test_class_list_editing(qtbot, make_window, image_folder, tmp_path, monkeypatch):
    win = make_window()
    win.open_folder(image_folder)
    wait_displayed(qtbot, win, "img0.png")
    ctl, panel = win.annotations, win.annotations.panel
    path = win.session.output_dir / "classes.json"
    # type a new name in the search field, Enter adds it
    qtbot.keyClicks(panel.search, "sky")
    qtbot.keyClick(panel.search, Qt.Key.Key_Return)
    assert [c.name for c in ctl.classes] == ["sky"] and ctl.current_class == 1
    assert json.loads(path.read_text())["classes"][0]["name"] == "sky"
    # import labels.txt (labelme's --labels): known names are skipped
    txt = tmp_path / "labels.txt"
    txt.write_text("__ignore__\n_background_\nsky\nhorse\nperson\n")
    assert ctl.import_labels(txt) == 2
    assert [c.name for c in ctl.classes] == ["sky", "horse", "person"]
    # the search filters the table, Enter picks the first match
    qtbot.keyClicks(panel.search, "ers")
    shown = [r for r in range(panel.table.rowCount()) if not panel.table.isRowHidden(r)]
    assert [panel.table.item(r, 1).text() for r in shown] == ["person"]
    qtbot.keyClick(panel.search, Qt.Key.Key_Return)
    assert ctl.current_class == 3 and panel.search.text() == ""
    # rename in the table
    panel.table.item(1, 1).setText("pony")
    assert ctl.classes.by_id(2).name == "pony"
    # a taken name is refused and the table shows the old one again
    panel.table.item(1, 1).setText("sky")
    assert ctl.classes.by_id(2).name == "pony" and panel.table.item(1, 1).text() == "pony"
    # paint with class 2 (the key follows the order), then move it up: now key 1
    win.set_mode("paint")
    qtbot.keyClick(win, Qt.Key.Key_2)
    qtbot.mouseClick(win.canvas.viewport(), LEFT, SHIFT, win.canvas.view_pos_of(*OBJ2_CENTER))
    panel.table.selectRow(1)
    panel.up_btn.click()
    assert ctl.classes.ids == (2, 1, 3)
    qtbot.keyClick(win, Qt.Key.Key_1)
    assert ctl.current_class == 2
    # recolour: the layer takes the new colour
    assert ctl.recolor_class(2, "#102030")
    b, g, r, _ = ctl.layer.layer.view[OBJ2_CENTER[1], OBJ2_CENTER[0]]
    assert (r, g, b) in {(0x10, 0x20, 0x30), (7, 14, 21)}
    # delete asks when pixels use the class; no: nothing changes
    asked = []
    monkeypatch.setattr(ctl, "confirm", lambda title, text: asked.append(text) or False)
    assert not ctl.delete_class(2)
    assert 2 in ctl.classes and "pixels of this image" in asked[0]
    monkeypatch.setattr(ctl, "confirm", lambda title, text: True)
    assert ctl.delete_class(2)
    assert 2 not in ctl.classes and not ann_of(win).class_map.any()
    assert ctl.layer.layer.view[..., 3].max() == 0
    assert [c["name"] for c in json.loads(path.read_text())["classes"]] == ["sky", "person"]
    # a class no pixel uses goes without asking
    monkeypatch.setattr(ctl, "confirm", lambda title, text: (_ for _ in ()).throw(AssertionError))
    assert ctl.delete_class(3)
    assert [c.name for c in ctl.classes] == ["sky"]


def test_class_layer_toggle_and_opacity(qtbot, make_window, image_folder):
    win = ready(qtbot, make_window, image_folder)
    qtbot.mouseClick(win.canvas.viewport(), LEFT, pos=win.canvas.view_pos_of(*OBJ2_CENTER))
    assert win.canvas.layer_visible("classes")
    qtbot.keyClick(win, Qt.Key.Key_C)
    assert not win.canvas.layer_visible("classes")
    assert not win.controls.layer_boxes["classes"].isChecked()
    qtbot.keyClick(win, Qt.Key.Key_C)
    assert win.canvas.layer_visible("classes")
    win.controls.class_opacity.setValue(30)
    assert abs(win.canvas.class_opacity() - 0.3) < 1e-6
    assert abs(win.settings.class_opacity - 0.3) < 1e-6
