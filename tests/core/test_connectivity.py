"""Object-constrained connectivity (SPEC §4, last step), on hand-made label maps."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skimage.measure import label as cc_label

from spam_gui.core.engine.connectivity import enforce_connectivity, find_pieces, renumber


def _run(labels, objects, label_object, mean_size, **kw):
    labels = np.asarray(labels, dtype=np.int64)
    objects = np.asarray(objects, dtype=np.int64)
    groups, piece_label = enforce_connectivity(labels, objects, np.asarray(label_object),
                                               mean_size, **kw)
    out, old = renumber(groups)
    return out, np.asarray(label_object)[piece_label[old[1:]]], groups, piece_label


def _same_partition(a, b):
    """True when two label maps define the same regions (whatever their values)."""
    pairs = np.unique(np.stack([a.ravel(), b.ravel()], 1), axis=0)
    return np.unique(pairs[:, 0]).size == pairs.shape[0] == np.unique(pairs[:, 1]).size


def test_find_pieces_sizes_and_borders():
    labels = np.array([[1, 1, 2],
                       [1, 3, 2],
                       [1, 1, 2]])
    p = find_pieces(labels, np.ones_like(labels))
    assert p.size.tolist() == [5, 3, 1]
    assert p.comp_label.tolist() == [1, 2, 3]
    border = {tuple(e): w for e, w in zip(p.pairs.tolist(), p.border.tolist())}
    assert border == {(0, 1): 2, (0, 2): 3, (1, 2): 1}


def test_small_piece_joins_the_same_object_neighbour_with_the_longest_border():
    base = np.array([[1, 1, 1, 2, 2, 2],
                     [1, 1, 1, 2, 2, 2],
                     [1, 1, 1, 2, 2, 2],
                     [1, 1, 1, 2, 2, 2]])
    objects = np.ones_like(base)
    lo = np.array([0, 1, 1, 1])
    # pixel (1, 2) of label 3: borders 3 with label 1, 1 with label 2 -> joins label 1
    labels = base.copy()
    labels[1, 2] = 3
    out, *_ = _run(labels, objects, lo, {1: 20.0})
    assert out.max() == 2 and out[1, 2] == out[0, 0]
    # pixel (1, 3) of label 3: borders 3 with label 2, 1 with label 1 -> joins label 2
    labels = base.copy()
    labels[1, 3] = 3
    out, *_ = _run(labels, objects, lo, {1: 20.0})
    assert out.max() == 2 and out[1, 3] == out[0, 5]
    # a 2-pixel piece across the boundary, rows 1-2 of column 3: 4 with label 2, 2 with 1
    labels = base.copy()
    labels[1:3, 3] = 3
    out, *_ = _run(labels, objects, lo, {1: 20.0})
    assert out.max() == 2 and out[1, 3] == out[0, 5]
    # the same piece, but label 2 is another object: it must join label 1
    objects2 = np.where(base == 2, 2, 1)
    objects2[1:3, 3] = 1
    out, sp_obj, *_ = _run(labels, objects2, np.array([0, 1, 2, 1]), {1: 20.0, 2: 20.0})
    assert out.max() == 2 and out[1, 3] == out[0, 0] and sp_obj[out[1, 3] - 1] == 1


def test_piece_above_the_threshold_is_kept():
    labels = np.full((4, 6), 2)
    labels[:, :3] = 1
    labels[1, 2] = 3                         # 1 px; mean size 6 -> threshold 0.9: kept
    # (by the size pass alone: the thin pass would merge a one-pixel piece whatever its size)
    out, *_ = _run(labels, np.ones_like(labels), [0, 1, 1, 1], {1: 6.0}, merge_thin=False)
    assert out.max() == 3
    out, *_ = _run(labels, np.ones_like(labels), [0, 1, 1, 1], {1: 7.0},  # 1.05: merged
                   merge_thin=False)
    assert out.max() == 2
    out, *_ = _run(labels, np.ones_like(labels), [0, 1, 1, 1], {1: 6.0})
    assert out.max() == 2


def test_detached_fragment_of_a_superpixel_is_merged_into_its_surrounding():
    labels = np.full((6, 6), 2)
    labels[:, :3] = 1
    labels[4, 4] = 1          # a stray pixel of label 1 inside label 2
    objects = np.ones_like(labels)
    out, *_ = _run(labels, objects, [0, 1, 1], {1: 18.0})
    assert out.max() == 2
    assert out[4, 4] == out[0, 5]
    assert cc_label(out, background=0, connectivity=1).max() == 2


def test_large_pieces_are_kept_even_when_disconnected():
    labels = np.full((6, 6), 2)
    labels[:, :2] = 1
    labels[:, 4:] = 1          # label 1 in two big pieces
    out, sp_obj, *_ = _run(labels, np.ones_like(labels), [0, 1, 1], {1: 18.0})
    assert out.max() == 3
    assert cc_label(out, background=0, connectivity=1).max() == 3
    assert sp_obj.tolist() == [1, 1, 1]


def test_piece_with_no_same_object_neighbour_stays():
    objects = np.full((6, 6), 2)
    objects[:, :3] = 1
    objects[3, 4] = 3         # object 3: one pixel inside object 2
    objects[0, 5] = 1         # object 1's second piece: one pixel in object 2's corner
    labels = np.where(objects == 1, 1, 2)
    labels[3, 4] = 3
    labels[0, 5] = 4          # (seed of object 1)
    lo = np.array([0, 1, 2, 3, 1])
    out, sp_obj, *_ = _run(labels, objects, lo, {1: 18.0, 2: 17.0, 3: 1.0})
    assert out.max() == 4
    assert sp_obj[out[3, 4] - 1] == 3 and (out == out[3, 4]).sum() == 1
    assert sp_obj[out[0, 5] - 1] == 1 and (out == out[0, 5]).sum() == 1


def test_only_superpixel_of_an_object_is_never_merged_away():
    objects = np.full((8, 8), 4)
    objects[3:5, 3:5] = 9      # object 9: 4 px, its only superpixel, tiny vs any threshold
    labels = np.where(objects == 9, 2, 1)
    out, sp_obj, *_ = _run(labels, objects, [0, 4, 9], {4: 60.0, 9: 1000.0})
    assert out.max() == 2 and sorted(sp_obj.tolist()) == [4, 9]


def test_uncertain_only_piece_may_join_any_neighbour():
    objects = np.zeros((5, 5), np.int64)
    objects[:2] = 2            # object 2 on top
    objects[3:] = 1            # object 1 at the bottom; row 2 uncertain
    labels = np.full((5, 5), 3)
    labels[:2] = 1             # object 2's superpixel
    labels[2] = 2              # uncertain row, labelled by a seed of object 1 ...
    labels[2, 3:] = 1          # ... except two pixels already in object 2's superpixel
    lo = np.array([0, 2, 1, 1])
    # piece of label 2: 3 px, border 3 with label 1 (above) + 1 (right) = 4, with label 3: 3
    out, sp_obj, *_ = _run(labels, objects, lo, {1: 100.0, 2: 100.0})
    assert out.max() == 2
    assert out[2, 0] == out[0, 0]                       # joined object 2's superpixel
    assert sp_obj[out[2, 0] - 1] == 2


def test_certain_piece_does_not_join_an_uncertain_piece_of_another_object():
    objects = np.zeros((4, 4), np.int64)
    objects[0] = 1
    objects[3, 3] = 2
    labels = np.full((4, 4), 2)      # uncertain pixels labelled by object 1's seed 2 ...
    labels[0] = 1                    # object 1's superpixel
    labels[3, 3] = 3                 # object 2's only pixel
    out, sp_obj, *_ = _run(labels, objects, [0, 1, 1, 2], {1: 100.0, 2: 100.0})
    # the object-2 pixel stays alone; the uncertain piece joins object 1's superpixel
    assert (out == out[3, 3]).sum() == 1 and sp_obj[out[3, 3] - 1] == 2
    assert out.max() == 2


def test_uncertain_piece_that_absorbed_certain_pixels_stays_in_their_object():
    # Regression: an uncertain-only piece u (label 2, seed of object A=1) first absorbs the
    # small certain piece p (object A); u is still small, and its longest border is with
    # object B's superpixel. It must not join B, or B's superpixel would hold A's pixel.
    objects = np.array([[2, 2, 2, 2, 2],
                        [2, 2, 2, 2, 2],
                        [0, 0, 0, 0, 0],
                        [0, 0, 1, 0, 0],
                        [3, 3, 3, 3, 3]])
    labels = np.array([[1, 1, 1, 1, 1],
                       [1, 1, 1, 1, 1],
                       [2, 2, 2, 2, 2],
                       [2, 2, 3, 2, 2],
                       [4, 4, 4, 4, 4]])
    lo = np.array([0, 2, 1, 1, 3])
    out, sp_obj, *_ = _run(labels, objects, lo, {1: 100.0, 2: 10.0, 3: 5.0})
    obj_of = sp_obj[out - 1]
    certain = objects > 0
    assert np.array_equal(obj_of[certain], objects[certain])
    assert out[3, 2] == out[2, 0]           # p merged into u, and u stayed
    assert out[2, 0] != out[0, 0] and out[2, 0] != out[4, 0]


def test_active_labels_leave_the_others_untouched():
    labels = np.full((6, 6), 2)
    labels[:, :3] = 1
    labels[4, 4] = 1           # stray pixel of an inactive label: kept as it is
    labels[0, 0] = 5           # stray pixel of an active label: merged (into 1? not active)
    labels[1, 4] = 6           # active label inside inactive label 2: nowhere to go
    labels[5, 0] = 7
    labels[5, 1] = 8           # two small active labels side by side: 7 joins 8 or 8 joins 7
    lo = np.array([0, 1, 1, 0, 0, 1, 1, 1, 1])
    out, _, groups, piece_label = _run(labels, np.ones_like(labels), lo, {1: 100.0},
                                       active_labels=np.array([5, 6, 7, 8]))
    # inactive labels keep exactly their pixels (each of their pieces is its own group)
    for lab in (1, 2):
        for piece in np.unique(groups[labels == lab]):
            assert np.array_equal(groups == piece, (labels == lab) & (groups == piece))
    assert out[0, 0] != out[0, 1] and out[1, 4] != out[1, 3]
    assert out[5, 0] == out[5, 1]


def test_renumber_is_raster_order():
    groups = np.array([[7, 7, 3],
                       [0, 3, 3]])
    out, old = renumber(groups)
    assert out.tolist() == [[1, 1, 2], [3, 2, 2]]
    assert old.tolist() == [-1, 7, 3, 0]


# -- random maps ------------------------------------------------------------------------------

@st.composite
def label_maps(draw):
    h, w = draw(st.integers(3, 14)), draw(st.integers(3, 14))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    n_obj = draw(st.integers(1, 3))
    # objects: vertical stripes, some uncertain pixels
    objects = 1 + (np.arange(w)[None, :] * n_obj // w).repeat(h, 0)
    objects[rng.random((h, w)) < draw(st.sampled_from([0.0, 0.1, 0.4]))] = 0
    # labels: each object has 1..4 labels; certain pixels take a label of their object,
    # uncertain pixels any label
    per = draw(st.integers(1, 4))
    label_object = np.concatenate([[0], np.repeat(np.arange(1, n_obj + 1), per)])
    n_lab = label_object.size - 1
    labels = np.empty((h, w), np.int64)
    for o in range(1, n_obj + 1):
        mine = np.flatnonzero(label_object == o)
        m = objects == o
        labels[m] = rng.choice(mine, size=int(m.sum()))
    m = objects == 0
    labels[m] = rng.integers(1, n_lab + 1, size=int(m.sum()))
    mean_size = {o: float(draw(st.sampled_from([1.0, 5.0, 20.0, 200.0]))) for o in range(1, n_obj + 1)}
    return labels, objects, label_object, mean_size


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(label_maps())
def test_random_maps_give_connected_superpixels_inside_objects(case):
    labels, objects, label_object, mean_size = case
    out, sp_obj, groups, piece_label = _run(labels, objects, label_object, mean_size)
    n = out.max()
    assert np.array_equal(np.unique(out), np.arange(1, n + 1))
    assert cc_label(out, background=0, connectivity=1).max() == n   # each one 4-connected
    certain = objects > 0
    assert np.array_equal(sp_obj[out - 1][certain], objects[certain])
    # every piece at least 0.15 x its object's mean size, and more than one pixel thick, was
    # kept whole and never merged (a thinner one may have been)
    pieces = find_pieces(labels, objects)
    for c in range(pieces.size.size):
        o = label_object[pieces.comp_label[c]]
        ys, xs = np.nonzero(pieces.comp == c)
        thin = ys.min() == ys.max() or xs.min() == xs.max()
        if pieces.size[c] >= 0.15 * mean_size[int(o)] and not thin:
            assert groups[pieces.comp == c][0] == c
