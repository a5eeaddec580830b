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


def test_click_and_merge_on_a_large_photo_preview_then_exact(qtbot, make_window, tmp_path):
    from PySide6 import QtTest

    from spam_gui.app.qt import QtCore

    folder = _large_folder(tmp_path)
    win = make_window(prior_source="maps", k=200, precompute=False)
    previews: list = []
    real = win.canvas.set_preview

    def record(pr):
        if pr is not None:
            previews.append((pr, win.displayed))
        real(pr)

    win.canvas.set_preview = record
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
    pr, shown_under = previews[0]
    assert shown_under is o                             # drawn over the result it edits
    assert pr.objects is None and pr.rects.size         # a click leaves the objects as they are
    assert win.canvas.preview is None                   # replaced by the full resolution
    assert win.canvas.items["boundaries"].hidden is None
    done = win.displayed
    assert done.result.objects_info[right].ratio != 1.0
    assert done.result.labels.max() == done.result.n_superpixels

    # merge the left and right objects
    for x, y in ((200, 300), (1000, 300)):
        QtTest.QTest.mouseClick(win.canvas.viewport(), QtCore.Qt.MouseButton.LeftButton,
                                QtCore.Qt.KeyboardModifier.ControlModifier,
                                win.canvas.view_pos_of(x, y))
    win.actions_["merge_objects"].trigger()
    qtbot.waitUntil(lambda: win.displayed is not done and win.displayed is not None
                    and win.displayed.layers is not None and not win.fg.busy, timeout=60000)
    assert len(previews) == 2
    pr, shown_under = previews[1]
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
