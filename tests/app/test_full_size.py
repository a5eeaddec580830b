"""The app at full size: patches and undo steps that cost the changed region, not the image.

- :func:`changed_region` without a full-image gather gives the box of the owner lookup;
- a patch by object (``make_patch(..., object_ids)``: window-local mean colours, a mask of the
  changed superpixels) equals a full redraw, with uncertain pixels and renumbered labels;
- the mean-colour layer is built only while it is shown, and then equals a full build;
- an object edit's undo step keeps the changed box only and restores the exact maps.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from spam_gui.app.document import ImageDoc, Params
from spam_gui.app.model.rasters import _owner_region
from spam_gui.app.overlays import (OverlayStyle, boundaries_bgra, boundary_mask, build_layers,
                                   changed_region, make_patch, mean_color_lut, meanfill_bgra)
from tests.app.conftest import OBJ2_CENTER, wait_displayed


def fake_result(labels, objects, sp_obj):
    return SimpleNamespace(labels=labels, objects=objects, superpixel_object=sp_obj)


def _partition(objects: np.ndarray, owner_of_uncertain: np.ndarray, step: dict[int, int],
               rng: np.random.Generator):
    """Grid superpixels cut by the objects (uncertain pixels join ``owner_of_uncertain``),
    labels renumbered 1..N in a random order (as a rescale may move the highest ids)."""
    h, w = objects.shape
    yy, xx = np.mgrid[0:h, 0:w]
    owner = np.where(objects == 0, owner_of_uncertain, objects)
    cells = np.zeros((h, w), np.int64)
    for oid, s in step.items():
        m = owner == oid
        cells[m] = oid * 100_000 + (yy[m] // s) * 1000 + xx[m] // s
    _, inv = np.unique(cells, return_inverse=True)
    perm = rng.permutation(inv.max() + 1)
    labels = (perm[inv.reshape(h, w)] + 1).astype(np.int32)
    sp = np.zeros(labels.max() + 1, np.int32)
    sp[labels.ravel()] = owner.ravel()
    return labels, sp


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), width=st.integers(1, 3), fine=st.integers(2, 7),
       y0=st.integers(0, 24), x0=st.integers(0, 28), hh=st.integers(4, 16), ww=st.integers(4, 20))
def test_patch_by_object_equals_full_redraw(seed, width, fine, y0, x0, hh, ww):
    h, w = 40, 48
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    objects = np.ones((h, w), np.int32)
    objects[y0:y0 + hh, x0:x0 + ww] = 2
    objects[:, 40:] = 3
    band = np.zeros((h, w), bool)                  # an uncertain band across objects 2 and 1
    band[y0 + hh // 2:y0 + hh // 2 + 3, :40] = True
    objects[band] = 0
    unc_owner = np.where(np.arange(w)[None, :] < x0 + ww // 2, 2, 1) * np.ones((h, 1), np.int64)
    l_old, sp_old = _partition(objects, unc_owner, {1: 6, 2: 6, 3: 6}, rng)
    l_new, sp_new = _partition(objects, unc_owner, {1: 6, 2: fine, 3: 6}, rng)
    r_old, r_new = fake_result(l_old, objects, sp_old), fake_result(l_new, objects, sp_new)
    region = changed_region(r_old, r_new, {2})
    assert region == _owner_region(r_old, r_new, np.array([2]))
    style = OverlayStyle(boundary_color=(10, 200, 30), boundary_width=width)
    layers = build_layers(image, r_old, style)
    patch = make_patch(image, r_new, region, style, {2})
    y0p, y1p, x0p, x1p = patch.region
    assert patch.meanfill_mask is not None and patch.meanfill_mask.shape == (y1p - y0p, x1p - x0p)
    layers.apply(patch)
    full = build_layers(image, r_new, style)
    assert np.array_equal(layers.boundaries.view, full.boundaries.view)
    assert np.array_equal(layers.meanfill.view, full.meanfill.view)


def test_changed_region_of_nothing_and_of_another_object_map():
    labels = np.arange(1, 13, dtype=np.int32).reshape(3, 4)
    objects = np.ones((3, 4), np.int32)
    sp = np.ones(13, np.int32)
    r = fake_result(labels, objects, sp)
    assert changed_region(r, r, set()) is None
    assert changed_region(r, r, {5}) is None
    other = objects.copy()
    other[1, 2] = 2
    sp2 = sp.copy()
    sp2[labels[1, 2]] = 2
    # the object maps differ: the owner of every pixel is looked up
    assert changed_region(r, fake_result(labels, other, sp2), {2}) == (1, 2, 2, 3)


def test_meanfill_is_built_only_when_shown():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (24, 30, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:24, 0:30]
    labels = ((yy // 6) * 5 + xx // 6 + 1).astype(np.int32)
    objects = np.where(xx < 15, 1, 2).astype(np.int32)
    sp = np.zeros(labels.max() + 1, np.int32)
    sp[labels.ravel()] = objects.ravel()
    r = fake_result(labels, objects, sp)
    style = OverlayStyle()
    lazy = build_layers(image, r, style, meanfill=False)
    full = build_layers(image, r, style)
    assert lazy.meanfill is None and lazy.nbytes() == full.nbytes() - full.meanfill.nbytes
    # a patch without the mean-colour layer patches the boundaries only
    lazy.apply(make_patch(image, r, (0, 24, 15, 30), style, {2}))
    assert np.array_equal(lazy.boundaries.view, full.boundaries.view)
    lazy.build_meanfill(image, labels)
    assert np.array_equal(lazy.meanfill.view, full.meanfill.view)
    # a patch made while the layer was not built drops it (it is built again when shown)
    full.apply(make_patch(image, r, (0, 24, 15, 30), style, {2}, meanfill=False))
    assert full.meanfill is None


# ----------------------------------------------------------------------------- the window


def test_click_patches_the_shown_layers_like_a_full_build(qtbot, make_window, image_folder):
    from spam_gui.app.qt import QtCore

    win = make_window(precompute=False)
    win.open_folder(image_folder)
    o0 = wait_displayed(qtbot, win, "img0.png")
    assert o0.layers.meanfill is None                 # hidden: not built
    win.set_layer_visible("meanfill", True)
    assert o0.layers.meanfill is not None
    assert win.canvas.items["meanfill"].qimage is o0.layers.meanfill.qimage
    x, y = OBJ2_CENTER
    qtbot.mouseClick(win.canvas.viewport(), QtCore.Qt.MouseButton.LeftButton,
                     QtCore.Qt.KeyboardModifier.NoModifier, win.canvas.view_pos_of(x, y))
    qtbot.waitUntil(lambda: win.displayed is not o0 and win.displayed is not None
                    and win.displayed.layers is not None
                    and win.displayed.key == win.current_key(), timeout=30000)
    o1 = win.displayed
    labels = o1.result.labels
    assert not np.array_equal(labels, o0.result.labels)
    want = meanfill_bgra(mean_color_lut(o1.image, labels), labels)
    assert np.array_equal(o1.layers.meanfill.view, want)
    style = o1.layers.style
    assert np.array_equal(o1.layers.boundaries.view, boundaries_bgra(
        boundary_mask(labels, style.boundary_width), style.boundary_color))


def test_object_edit_undo_step_keeps_the_changed_box(tmp_path):
    from spam_gui.app.tools.edit_objects import EditObjectsCommand

    h, w = 300, 400
    doc = ImageDoc(tmp_path / "a.png", Params())
    first = np.ones((h, w), np.int32)
    first[50:150, 60:200] = 2
    doc.undo_stack.push(EditObjectsCommand(doc, first, {}, "first edit"))
    assert doc.rasters["objects"] is first             # from the prior source: the whole map
    second = first.copy()
    second[100:120, 300:340] = 3
    keep_first = first.copy()
    cmd = EditObjectsCommand(doc, second, {3: 2.0}, "draw")
    doc.undo_stack.push(cmd)
    assert np.array_equal(doc.rasters["objects"], second) and doc.ratios == {3: 2.0}
    assert cmd.held_bytes() == 2 * 20 * 40 * 4          # the box, before and after
    doc.undo_stack.undo()
    assert np.array_equal(doc.rasters["objects"], keep_first) and doc.ratios == {}
    assert np.array_equal(first, keep_first)            # nobody's array was written
    doc.undo_stack.redo()
    assert np.array_equal(doc.rasters["objects"], second)
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert "objects" not in doc.rasters                 # back to the prior source's objects
    doc.undo_stack.redo()
    assert np.array_equal(doc.rasters["objects"], first)


def test_undo_step_refuses_a_map_changed_outside_the_stack(tmp_path):
    from spam_gui.app.tools.edit_objects import EditObjectsCommand

    doc = ImageDoc(tmp_path / "a.png", Params())
    a = np.ones((20, 30), np.int32)
    b = a.copy()
    b[2:5, 3:9] = 2
    doc.undo_stack.push(EditObjectsCommand(doc, a, {}, "first"))
    doc.undo_stack.push(EditObjectsCommand(doc, b, {}, "second"))
    doc.rasters["objects"] = np.ones((10, 10), np.int32)
    with pytest.raises(RuntimeError, match="a.png"):
        doc.undo_stack.command(1).undo()


# ----------------------------------------------------------------------------- pooled drawing


def _pool_reference(a: np.ndarray, f: int) -> np.ndarray:
    h, w = a.shape[:2]
    ph, pw = -(-h // f), -(-w // f)
    pad = np.zeros((ph * f, pw * f, 4), np.uint8)
    pad[:h, :w] = a
    return pad.reshape(ph, f, pw, f, 4).max(axis=(1, 3))


@pytest.mark.parametrize("shape", [(37, 53), (64, 48)])
def test_pooled_levels_are_block_maxima_and_follow_patches(qapp, shape):
    from spam_gui.app.canvas import RasterItem
    from spam_gui.app.overlays import RasterLayer
    from spam_gui.app.qt import qimage2ndarray

    rng = np.random.default_rng(3)
    a = np.zeros(shape + (4,), np.uint8)
    a[rng.random(shape) < 0.05] = (0, 230, 255, 255)
    layer = RasterLayer(a)
    item = RasterItem(0, pooled=True)
    item.set_image(layer.qimage)
    for f in (2, 4, 8, 16):
        assert np.array_equal(qimage2ndarray.byte_view(item.pooled_image(f)), _pool_reference(a, f))
    a[5:19, 7:30] = (9, 8, 7, 255)
    a[9:12, 10:13] = 0
    layer.paste((5, 19, 7, 30), a[5:19, 7:30])
    item.pixels_changed((5, 19, 7, 30))
    for f in (2, 4, 8, 16):
        assert np.array_equal(qimage2ndarray.byte_view(item.pooled_image(f)), _pool_reference(a, f))


@pytest.mark.parametrize("pooled", [True, False])
def test_a_thin_line_stays_visible_zoomed_out_only_when_pooled(qapp, pooled):
    from spam_gui.app.canvas import RasterItem
    from spam_gui.app.overlays import RasterLayer
    from spam_gui.app.qt import QtCore, QtGui, QtWidgets, qimage2ndarray

    a = np.zeros((256, 256, 4), np.uint8)
    a[:, 130] = (0, 230, 255, 255)           # a 1-pixel line nearest sampling at 1/4 skips
    layer = RasterLayer(a)
    item = RasterItem(0, pooled=pooled)
    item.set_image(layer.qimage)
    out = QtGui.QImage(64, 64, QtGui.QImage.Format.Format_ARGB32_Premultiplied)
    out.fill(0)
    painter = QtGui.QPainter(out)
    painter.scale(0.25, 0.25)
    option = QtWidgets.QStyleOptionGraphicsItem()
    option.exposedRect = QtCore.QRectF(0, 0, 256, 256)
    item.paint(painter, option, None)
    painter.end()
    alpha = qimage2ndarray.byte_view(out)[..., 3]
    assert (alpha[:, 32] > 0).all() == pooled
    assert (alpha.sum(axis=0) > 0).sum() <= 1     # one column wide, at the line
