"""Edits on a large photo answer first on the working grid (issue 22 item 4), on the real
window: a density click and a merge draw their preview (the old layers hidden under it), then
the full-resolution result replaces it; the result shown is the exact one and the preview is
gone."""

from __future__ import annotations

import numpy as np
from PIL import Image

from tests.app.conftest import wait_displayed


def _large_folder(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    h, w = 1000, 1500                                   # 1.5 MP: the working path at K = 200
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.uint8)
    img[...] = (40, 120, 200)
    img[xx > 500] = (200, 60, 40)
    img[(yy > 600) & (xx > 900)] = (40, 200, 60)
    rng = np.random.default_rng(0)
    img = np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
    Image.fromarray(img).save(folder / "a_large.png")
    maps = folder / "priors"
    maps.mkdir()
    prior = np.ones((h, w), np.uint8)
    prior[xx > 500] = 2
    prior[(yy > 600) & (xx > 900)] = 3
    Image.fromarray(prior).save(maps / "a_large.png")
    return folder


def _opened(qtbot, make_window, tmp_path, pipeline=None):
    """The real window (on ``pipeline``) showing the large photo: (window, its outcome)."""
    win = make_window(pipeline=pipeline, prior_source="maps", k=200, precompute=False)
    win.open_folder(_large_folder(tmp_path))
    win.show_row(0)
    return win, wait_displayed(qtbot, win, "a_large.png", timeout=120000)


def _box(shape, x0: float, y0: float, side: float = 200.0):
    """A closed square lasso (a Stroke) on an image of ``shape``."""
    from spam_gui.core.engine.object_edits import Stroke

    return Stroke(shape, ((x0, y0), (x0 + side, y0), (x0 + side, y0 + side), (x0, y0 + side)),
                  closed=True)


def _held_edit(nth: int):
    """The real pipeline, whose ``nth`` edit of a large photo is held while it is being made
    (in its working-grid preview) until the returned event is set (at most 30 s)."""
    import threading

    from spam_gui.app.pipeline import Pipeline

    release = threading.Event()
    calls = []

    def preview_edit(self, *args, make=None, **kw):
        if make is not None:
            calls.append(1)
            if len(calls) == nth:
                release.wait(30)
        return Pipeline.preview_edit(self, *args, make=make, **kw)

    return type("HeldEdit", (Pipeline,), {"preview_edit": preview_edit})(), release


def _record_previews(win, note):
    """The list of ``note(preview)`` for every preview the canvas is given from now on."""
    seen: list = []
    real = win.canvas.set_preview

    def record(pr):
        if pr is not None:
            seen.append(note(pr))
        real(pr)

    win.canvas.set_preview = record
    return seen


def _panel_rows(win) -> dict[int, tuple[str, str, str]]:
    """The objects panel's rows as shown: object id -> (ratio, K_o, SP) texts."""
    t = win.objects_panel.table
    out = {}
    for r in range(t.rowCount()):
        oid = int(t.item(r, 0).text())
        out[oid] = (t.item(r, 2).text(), t.item(r, 3).text(), t.item(r, 4).text())
    return out


def _held_first(method: str):
    """The real pipeline, whose first call of ``method`` (a click's or an edit's full
    resolution) waits inside its labelling, as a long one would, until its job is cancelled;
    and the event set once it waits."""
    import threading
    import time

    from spam_gui.app.pipeline import Pipeline

    inside = threading.Event()
    calls = []

    def wrapper(self, *args, check=None, **kw):
        calls.append(1)
        base = getattr(Pipeline, method)
        if len(calls) == 1 and check is not None:
            def held():
                inside.set()
                while True:
                    check()                 # raises once a newer click or edit cancels it
                    time.sleep(0.005)
            return base(self, *args, check=held, **kw)
        return base(self, *args, check=check, **kw)

    held_cls = type("Held", (Pipeline,), {method: wrapper})
    return held_cls(), inside


def test_click_and_merge_on_a_large_photo_preview_then_exact(qtbot, make_window, tmp_path):
    from PySide6 import QtTest

    from spam_gui.app.qt import QtCore

    folder = _large_folder(tmp_path)
    win = make_window(prior_source="maps", k=200, precompute=False)
    previews = _record_previews(win, lambda pr: (pr, win.displayed, _panel_rows(win)))
    win.open_folder(folder)
    win.show_row(0)
    o = wait_displayed(qtbot, win, "a_large.png", timeout=120000)
    assert o.result._work is not None                   # the working path: a preview applies
    right, left = int(o.result.objects[300, 1000]), int(o.result.objects[300, 200])
    assert right > 0 and left > 0 and right != left

    # a density click on the right-hand object
    win.set_mode("scale")
    QtTest.QTest.mouseClick(win.canvas.viewport(), QtCore.Qt.MouseButton.LeftButton,
                            QtCore.Qt.KeyboardModifier.NoModifier, win.canvas.view_pos_of(1000, 300))
    qtbot.waitUntil(lambda: win.displayed is not o and win.displayed is not None
                    and win.displayed.layers is not None and not win.fg.busy, timeout=60000)
    assert len(previews) == 1
    pr, shown_under, panel = previews[0]
    assert shown_under is o                             # drawn over the result it edits
    assert panel[right] == ("2", "…", "…")              # the panel says what is coming
    assert panel[left][0] == "1" and panel[left][1] != "…"
    assert pr.objects is None and pr.rects.size         # a click leaves the objects as they are
    assert win.canvas.preview is None                   # replaced by the full resolution
    assert win.canvas.items["boundaries"].hidden is None
    done = win.displayed
    assert done.result.objects_info[right].ratio != 1.0
    assert done.result.labels.max() == done.result.n_superpixels
    assert _panel_rows(win)[right] == ("2", str(done.result.objects_info[right].k),
                                       str(done.result.superpixel_counts()[right]))

    # merge the left and right objects
    for x, y in ((200, 300), (1000, 300)):
        QtTest.QTest.mouseClick(win.canvas.viewport(), QtCore.Qt.MouseButton.LeftButton,
                                QtCore.Qt.KeyboardModifier.ControlModifier,
                                win.canvas.view_pos_of(x, y))
    win.actions_["merge_objects"].trigger()
    qtbot.waitUntil(lambda: win.displayed is not done and win.displayed is not None
                    and win.displayed.layers is not None and not win.fg.busy, timeout=60000)
    assert len(previews) == 2
    pr, shown_under, _ = previews[1]
    assert shown_under is done
    assert pr.objects is not None                       # the merged object's colour shows at once
    assert win.canvas.preview is None
    assert win.canvas.items["objects"].hidden is None
    merged = win.displayed.result
    assert len(merged.objects_info) == 2
    # the exact result keeps every guarantee at full resolution
    labels, objects = merged.labels, merged.objects
    assert labels.min() == 1 and np.unique(labels).size == labels.max()
    certain = objects > 0
    assert np.array_equal(merged.superpixel_object[labels[certain]], objects[certain])


def test_a_second_click_cancels_the_first_ones_full_resolution(qtbot, make_window, tmp_path):
    """A click made while the last one's full resolution is computed does not wait for it:
    that job is cancelled inside the labelling, and the new preview shows both objects."""

    from PySide6 import QtTest

    from spam_gui.app.qt import QtCore
    from spam_gui.app.worker import TransitionJob

    pipeline, inside = _held_first("transition")

    folder = _large_folder(tmp_path)
    win = make_window(pipeline=pipeline, prior_source="maps", k=200, precompute=False)
    previews = _record_previews(win, lambda pr: pr)
    cancelled: list = []
    win.fg.cancelled_job.connect(lambda job: cancelled.append(job))
    win.open_folder(folder)
    win.show_row(0)
    o = wait_displayed(qtbot, win, "a_large.png", timeout=120000)
    right, left = int(o.result.objects[300, 1000]), int(o.result.objects[300, 200])
    win.set_mode("scale")
    click = lambda x, y: QtTest.QTest.mouseClick(  # noqa: E731
        win.canvas.viewport(), QtCore.Qt.MouseButton.LeftButton,
        QtCore.Qt.KeyboardModifier.NoModifier, win.canvas.view_pos_of(x, y))
    click(1000, 300)
    qtbot.waitUntil(inside.is_set, timeout=60000)
    assert len(previews) == 1
    click(200, 300)
    qtbot.waitUntil(lambda: win.displayed is not o and win.displayed is not None
                    and win.displayed.layers is not None and not win.fg.busy, timeout=60000)
    assert any(isinstance(j, TransitionJob) for j in cancelled)
    assert len(previews) == 2

    def covers(pr, x, y):
        return any(rx <= x < rx + rw and ry <= y < ry + rh for rx, ry, rw, rh in pr.rects.tolist())

    assert covers(previews[0], 1000, 300) and not covers(previews[0], 200, 300)
    assert covers(previews[1], 1000, 300) and covers(previews[1], 200, 300)   # both objects
    info = win.displayed.result.objects_info
    assert info[right].ratio != 1.0 and info[left].ratio != 1.0


def test_an_edit_follows_another_without_waiting_for_its_full_resolution(qtbot, make_window,
                                                                       tmp_path):
    """While an object edit's full resolution computes, the next edit starts from the map
    that edit made (not refused, not lost): both are in the result."""

    from spam_gui.core.engine.object_edits import paint_object

    pipeline, inside = _held_first("edit_objects")

    win, o = _opened(qtbot, make_window, tmp_path, pipeline)
    a = np.zeros(o.result.objects.shape, bool)
    a[100:200, 100:200] = True
    b = np.zeros_like(a)
    b[700:800, 1100:1200] = True
    assert win.objects_edit.apply(lambda objects: paint_object(objects, a))
    qtbot.waitUntil(inside.is_set, timeout=60000)
    assert win.objects_edit.apply(lambda objects: paint_object(objects, b))   # not refused
    qtbot.waitUntil(lambda: win.displayed is not o and win.displayed is not None
                    and win.displayed.layers is not None and not win.fg.busy, timeout=60000)
    objects = win.displayed.result.objects
    first, second = int(objects[150, 150]), int(objects[750, 1150])
    assert first > 0 and second > 0 and first != second
    assert (objects[100:200, 100:200] == first).all() and (objects[700:800, 1100:1200] == second).all()
    assert win.displayed.key == win.current_key()


def _stroke_across(win, points):
    """Press, move through and release at image points with real mouse events."""
    from spam_gui.app.qt import QtCore, QtGui

    Qt, T = QtCore.Qt, QtCore.QEvent.Type
    c = win.canvas
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    for kind, p, button, buttons in ([(T.MouseButtonPress, points[0], left, left)]
                                     + [(T.MouseMove, q, none, left) for q in points[1:]]
                                     + [(T.MouseButtonRelease, points[-1], left, none)]):
        pos = c.view_pos_of(*p)
        ev = QtGui.QMouseEvent(kind, QtCore.QPointF(pos), c.viewport().mapToGlobal(pos).toPointF(),
                               button, buttons, Qt.KeyboardModifier.NoModifier)
        QtCore.QCoreApplication.sendEvent(c.viewport(), ev)


def test_a_split_on_a_large_photo_is_previewed_before_the_full_map_is_edited(
        qtbot, make_window, tmp_path):
    """The stroke's edit is made on the working grid first (its preview drawn before the
    image's full map changes), then on the full map (one undo step), then re-clustered."""
    folder = _large_folder(tmp_path)
    win = make_window(prior_source="maps", k=200, precompute=False)
    seen = _record_previews(win, lambda pr: win.doc.has_raster("objects"))
    win.open_folder(folder)
    win.show_row(0)
    o = wait_displayed(qtbot, win, "a_large.png", timeout=120000)
    left = int(o.result.objects[300, 200])
    win.set_mode("split")
    _stroke_across(win, [(250, y) for y in [*range(0, 1000, 25), 999]])   # top to bottom
    qtbot.waitUntil(lambda: win.displayed is not o and win.displayed is not None
                    and win.displayed.layers is not None and not win.fg.busy, timeout=60000)
    assert seen and seen[0] is False          # previewed before the full map was edited
    assert len(seen) == 1                     # and drawn once
    objects = win.displayed.result.objects
    a, b = int(objects[300, 100]), int(objects[300, 400])
    assert a > 0 and b > 0 and a != b and left in (a, b)
    assert win.doc.undo_stack.count() == 1
    assert win.canvas.preview is None


def test_edits_made_while_one_is_being_made_wait_their_turn(qtbot, make_window, tmp_path):
    """A second edit of a large photo made while the first is still being made (off the GUI
    thread) is queued and applied after it, on its result; a stroke that cuts nothing is said
    and leaves no undo step."""

    from spam_gui.core.engine.object_edits import Stroke, erase_objects, split_object

    pipeline, release = _held_edit(1)

    win, o = _opened(qtbot, make_window, tmp_path, pipeline)
    shape = o.result.objects.shape
    first, second = _box(shape, 100.0, 100.0), _box(shape, 1100.0, 700.0)
    ed = win.objects_edit
    assert ed.apply(lambda objs: erase_objects(objs, first.mask(objs.shape)))
    assert ed.busy_editing()
    assert ed.apply(lambda objs: erase_objects(objs, second.mask(objs.shape)))   # queued
    release.set()
    qtbot.waitUntil(lambda: not ed.busy_editing() and not win.fg.busy
                    and win.displayed is not None and win.displayed is not o
                    and win.displayed.key == win.current_key(), timeout=60000)
    objects = win.displayed.result.objects
    assert (objects[150:250, 150:250] == 0).all() and (objects[750:850, 1150:1250] == 0).all()
    assert win.doc.undo_stack.count() == 2
    # a stroke inside one object cuts nothing: said, no undo step, no preview left
    inside = Stroke(shape, ((600.0, 300.0), (700.0, 300.0)))
    assert ed.apply(lambda objs: split_object(objs, inside.mask(objs.shape)))
    qtbot.waitUntil(lambda: not ed.busy_editing() and not win.fg.busy, timeout=60000)
    assert win.doc.undo_stack.count() == 2
    assert win.canvas.preview is None
    assert "does not cut an object in two" in win.last_error_message


def test_esc_cancels_an_edit_being_made_and_the_next_edit_still_works(qtbot, make_window,
                                                                      tmp_path):
    """Esc while an edit of a large photo is being made lets it go (no undo step, no preview
    left, the edits made after it dropped), and a later edit is made as usual."""

    from spam_gui.core.engine.object_edits import erase_objects

    pipeline, release = _held_edit(1)

    win, o = _opened(qtbot, make_window, tmp_path, pipeline)
    shape = o.result.objects.shape
    box = _box(shape, 100.0, 100.0)
    ed = win.objects_edit
    erase = lambda objs: erase_objects(objs, box.mask(objs.shape))  # noqa: E731
    assert ed.apply(erase)
    assert ed.apply(erase)                       # queued behind it
    win.view.cancel_work()                       # Esc
    release.set()
    qtbot.waitUntil(lambda: not win.fg.busy, timeout=60000)
    assert not ed.busy_editing()
    assert win.doc.undo_stack.count() == 0
    assert win.canvas.preview is None
    win.show_row(0)
    win.view.refresh(force=True)
    o2 = wait_displayed(qtbot, win, "a_large.png", timeout=120000)
    assert ed.apply(erase)                       # made as usual afterwards
    qtbot.waitUntil(lambda: not ed.busy_editing() and not win.fg.busy
                    and win.displayed is not None and win.displayed is not o2
                    and win.displayed.key == win.current_key(), timeout=60000)
    assert win.doc.undo_stack.count() == 1
    assert (win.displayed.result.objects[150:250, 150:250] == 0).all()


def test_an_edit_whose_image_changed_meanwhile_is_not_applied(qtbot, make_window, tmp_path):
    """An undo made while an edit of a large photo is being made: that edit was made from the
    map the undo took back, so it is not applied (and said), and nothing is lost."""

    from spam_gui.core.engine.object_edits import erase_objects

    pipeline, release = _held_edit(2)

    win, o = _opened(qtbot, make_window, tmp_path, pipeline)
    shape = o.result.objects.shape
    boxes = [_box(shape, x0, 100.0) for x0 in (100.0, 1100.0)]
    ed = win.objects_edit
    assert ed.apply(lambda objs: erase_objects(objs, boxes[0].mask(objs.shape)))
    qtbot.waitUntil(lambda: not ed.busy_editing() and win.doc.undo_stack.count() == 1,
                    timeout=60000)
    assert ed.apply(lambda objs: erase_objects(objs, boxes[1].mask(objs.shape)))
    win.doc.undo_stack.undo()                 # while the second edit is being made
    release.set()
    qtbot.waitUntil(lambda: not ed.busy_editing() and not win.fg.busy, timeout=60000)
    assert "not applied" in win.status_label.text()
    stack = win.doc.undo_stack
    assert stack.count() == 1 and stack.index() == 0   # the first edit undone, redo-able
    assert win.canvas.preview is None


def test_esc_during_a_clicks_full_resolution_gives_the_panel_its_figures_back(
        qtbot, make_window, tmp_path):
    """While a click's full resolution is computed the objects panel shows the new ratio with
    its counts pending ("…"); Esc lets the click go, and the panel shows the displayed
    result's own figures again."""
    from PySide6 import QtTest

    from spam_gui.app.qt import QtCore

    pipeline, inside = _held_first("transition")
    win, o = _opened(qtbot, make_window, tmp_path, pipeline)
    right = int(o.result.objects[300, 1000])
    before = _panel_rows(win)
    win.set_mode("scale")
    QtTest.QTest.mouseClick(win.canvas.viewport(), QtCore.Qt.MouseButton.LeftButton,
                            QtCore.Qt.KeyboardModifier.NoModifier, win.canvas.view_pos_of(1000, 300))
    qtbot.waitUntil(inside.is_set, timeout=60000)
    assert _panel_rows(win)[right] == ("2", "…", "…")
    win.view.cancel_work()                              # Esc
    qtbot.waitUntil(lambda: not win.fg.busy, timeout=30000)
    assert win.canvas.preview is None and win.displayed is o
    assert _panel_rows(win) == before
