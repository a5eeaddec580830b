"""Large fills (the boolean-mask path of :func:`paint_labels`) keep the class counts and the
instance table exact: over unlabelled pixels, over a mix of classes and instances, by undo and
redo, and when the instance table is built only after the stroke."""

from __future__ import annotations

import numpy as np
import pytest

from spam_gui.core.annotation import (Annotation, LabelIndex, StrokeRecorder,
                                      class_pixel_counts, instance_classes, new_instance_id,
                                      paint_labels)
from spam_gui.core.annotation import maps as M

H, W = 240, 320          # 76,800 pixels: above every small-array shortcut


def _grid(cell: int = 16) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    return ((yy // cell) * (W // cell) + xx // cell + 1).astype(np.int32)


def _check(ann: Annotation) -> None:
    fresh = Annotation(ann.class_map.copy(), ann.instance_map.copy())
    assert class_pixel_counts(ann) == class_pixel_counts(fresh)
    table = ann._instances()
    for inst, cls in instance_classes(fresh).items():
        assert table[inst] == cls


def test_label_index_mask_is_the_labels_wanted():
    sp = _grid()
    idx = LabelIndex(sp)
    ids = [3, 4, 25, 26, 400]            # 400 is not in the map
    box = idx.bbox(ids)
    y0, y1, x0, x1 = box
    assert np.array_equal(idx.mask(ids, box), np.isin(sp[y0:y1, x0:x1], ids))
    assert np.array_equal(idx.mask(3, idx.bbox(3)), sp[idx.bbox(3)[0]:idx.bbox(3)[1],
                                                       idx.bbox(3)[2]:idx.bbox(3)[3]] == 3)
    # sparse large ids (a prior's) go through their ranks
    big = sp.astype(np.int64) * 1_000_003
    bidx = LabelIndex(big)
    want = [3 * 1_000_003, 26 * 1_000_003]
    bb = bidx.bbox(want)
    assert np.array_equal(bidx.mask(want, bb), np.isin(big[bb[0]:bb[1], bb[2]:bb[3]], want))


@pytest.mark.parametrize("built_late", [False, True])
def test_fills_over_mixed_pixels_keep_counts_and_instances(built_late):
    sp = _grid()
    idx = LabelIndex(sp)
    rng = np.random.default_rng(3)
    ann = Annotation.empty((H, W))
    # scattered earlier strokes: several classes and instances inside the fill's box
    for k, lab in enumerate(rng.choice(np.arange(1, sp.max() + 1), 60, replace=False)):
        paint_labels(ann, idx, int(lab), 1 + k % 4, 10 + k % 7 * 4 + k % 4)
    if built_late:
        ann.invalidate()                 # counts and table forgotten: built after the fill
    if not built_late:
        _check(ann)
    fill = np.arange(1, sp.max() + 1)[(np.arange(sp.max()) % 20) < 14]   # most of the image
    rec = StrokeRecorder(ann)
    inst = 1000
    box = paint_labels(ann, idx, fill, 2, inst, recorder=rec)
    assert box is not None
    patch = rec.finish()
    assert patch is not None and patch.index is None       # one dense region
    if built_late:
        ann.invalidate()
    _check(ann)
    before = ann.copy()
    patch.revert(ann)                   # the mixed classes and instances come back
    _check(ann)
    assert int(ann.instance_map.max()) < inst and new_instance_id(ann) > inst
    patch.apply(ann)
    _check(ann)
    assert ann == before
    patch.revert(ann)
    # an erase over the mix, then its undo
    rec = StrokeRecorder(ann)
    paint_labels(ann, idx, fill, 0, 0, recorder=rec)
    _check(ann)
    rec.finish().revert(ann)
    _check(ann)


def test_histogram_matches_bincount_with_and_without_a_mask():
    rng = np.random.default_rng(0)
    values = rng.integers(0, 6, (300, 200)).astype(np.uint16)
    values[7, 9] = 65535
    where = rng.random(values.shape) < 0.4
    n = int(where.sum())
    assert np.array_equal(M._histogram(values, where, n),
                          np.bincount(values[where], minlength=65536))
    sub = values[10:200, 5:150]          # a view, as a box of the maps is
    assert np.array_equal(M._histogram(sub, None, sub.size),
                          np.bincount(sub.ravel(), minlength=65536))
