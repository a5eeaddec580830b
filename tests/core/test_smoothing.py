"""The 3 x 3 majority filter on hard labels (spam_gui.core.engine.smoothing)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from spam_gui.core.engine.smoothing import majority_filter


def blocks(h: int = 30, w: int = 40, size: int = 10) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (yy // size) * (w // size + 1) + xx // size + 1


def test_single_pixel_speckle_is_removed():
    lab = blocks()
    noisy = lab.copy()
    noisy[5, 5] = 99          # inside block 1
    noisy[15, 25] = 99        # inside another block
    out = majority_filter(noisy)
    assert np.array_equal(out, lab)
    assert out.dtype == np.int32


def test_straight_borders_and_corners_stay():
    lab = blocks()
    assert np.array_equal(majority_filter(lab, passes=3), lab)


def test_ties_keep_the_pixel_label():
    # a vertical border: pixels on both sides see 6 of their own and 3 of the other label
    lab = np.ones((6, 6), np.int32)
    lab[:, 3:] = 2
    assert np.array_equal(majority_filter(lab), lab)
    # a pixel whose window holds 4 of its own label and 4 of another label keeps its own
    lab = np.array([[2, 2, 2], [2, 1, 3], [1, 1, 1]], np.int32)
    assert majority_filter(lab)[1, 1] == 1
    lab[2, 0] = 2                 # now 5 against 3: the pixel changes
    assert majority_filter(lab)[1, 1] == 2


def test_zero_passes_is_identity():
    lab = np.random.default_rng(0).integers(1, 5, (12, 9))
    assert np.array_equal(majority_filter(lab, passes=0), lab)


def test_pixels_never_take_a_label_of_another_object():
    # object 1 on the left with a one-pixel-wide finger into object 2 on the right: in the
    # 3 x 3 window, the finger's pixels mostly see label 2, which belongs to object 2
    objects = np.ones((9, 9), np.int64)
    objects[:, 5:] = 2
    objects[4, 5:8] = 1
    label_object = np.array([0, 1, 2])
    labels = label_object[objects] * 0 + objects          # label 1 = object 1, label 2 = object 2
    free = majority_filter(labels)
    assert np.any(free[objects == 1] == 2)                 # unconstrained, the finger is eaten
    out = majority_filter(labels, objects, label_object, passes=2)
    assert np.array_equal(out, labels)


def test_uncertain_pixels_may_take_any_label():
    objects = np.ones((7, 7), np.int64)
    objects[:, 4:] = 2
    objects[3, 3] = 0             # an uncertain pixel at the border
    labels = np.where(objects == 2, 2, 1)
    labels[3, 3] = 9              # its own odd label
    label_object = np.zeros(10, np.int64)
    label_object[1], label_object[2] = 1, 2
    out = majority_filter(labels, objects, label_object)
    assert out[3, 3] in (1, 2)


def test_mutable_and_allowed_labels_are_respected():
    lab = blocks()
    noisy = lab.copy()
    noisy[5, 5] = 99
    noisy[15, 25] = 99
    mutable = np.zeros(lab.shape, bool)
    mutable[:10, :10] = True
    out = majority_filter(noisy, mutable=mutable)
    assert out[5, 5] == lab[5, 5] and out[15, 25] == 99
    allowed = np.zeros(200, bool)        # nothing may be taken: nothing changes
    assert np.array_equal(majority_filter(noisy, allowed_labels=allowed), noisy)


def test_constraint_needs_label_objects():
    with pytest.raises(ValueError, match="label_object"):
        majority_filter(np.ones((3, 3), int), np.ones((3, 3), int))


@settings(max_examples=60, deadline=None)
@given(arrays(np.int64, st.tuples(st.integers(1, 12), st.integers(1, 12)),
              elements=st.integers(1, 6)),
       arrays(np.int64, 7, elements=st.integers(0, 2)),
       st.integers(0, 3))
def test_objects_are_kept_on_random_maps(labels, label_object, passes):
    label_object[1:] = np.maximum(label_object[1:], 1)   # labels belong to objects 1..2
    objects = label_object[labels]
    objects[::3, ::2] = 0                                 # some uncertain pixels
    out = majority_filter(labels, objects, label_object, passes=passes)
    assert out.shape == labels.shape
    certain = objects > 0
    assert np.all(label_object[out][certain] == objects[certain])
    # a pixel only ever takes a label present in the input
    assert set(np.unique(out)) <= set(np.unique(labels))
