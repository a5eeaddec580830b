"""Superpixel metrics (spam_gui.core.evaluation.metrics) against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spam_gui.core.evaluation import metrics as M
from spam_gui.core.evaluation import regularity as R

SQ2 = math.sqrt(2.0)


def squares_grid(n_rows: int, n_cols: int, side: int) -> np.ndarray:
    y = np.arange(n_rows * side)[:, None] // side
    x = np.arange(n_cols * side)[None, :] // side
    return (y * n_cols + x + 1).astype(np.int32)


# --------------------------------------------------------------------------- ASA


def asa_case() -> tuple[np.ndarray, np.ndarray]:
    """3 x 12 map. gt: row 0 = twelve one-pixel labels 1..12, row 1 = label 20, row 2 = 21 on
    the first 8 pixels, 22 on the last 4. Superpixels: row 0 = one superpixel (id 100, covers 12
    gt labels), row 1 + first 4 pixels of row 2 = id 5, the last 8 pixels of row 2 = id -3."""
    gt = np.zeros((3, 12), np.int64)
    gt[0] = np.arange(1, 13)
    gt[1] = 20
    gt[2, :8] = 21
    gt[2, 8:] = 22
    sp = np.zeros((3, 12), np.int64)
    sp[0] = 100
    sp[1] = 5
    sp[2, :4] = 5
    sp[2, 4:] = -3
    return sp, gt


def test_asa_hand_worked_contingency():
    sp, gt = asa_case()
    # best overlaps: id 100 -> 1 (each gt label once), id 5 -> 12 (label 20), id -3 -> 4 (21 or 22)
    assert M.asa(sp, gt) == pytest.approx((1 + 12 + 4) / 36)


def test_asa_sparse_path_matches_dense(monkeypatch):
    sp, gt = asa_case()
    monkeypatch.setattr(M, "_DENSE_CONTINGENCY_MAX", 0)
    assert M.asa(sp, gt) == pytest.approx(17 / 36)


def test_asa_exact_with_huge_sparse_ids_and_many_labels():
    # ids far apart (no fixed-bin histogram can hold them) and 200 gt labels
    rng = np.random.default_rng(1)
    gt = rng.integers(0, 200, size=(30, 40)).astype(np.uint16) * 300
    assert M.asa(gt.astype(np.int64) * 10**9 - 7, gt) == 1.0
    sp = np.full((30, 40), 2**40, np.int64)  # one superpixel over everything
    best = np.bincount(gt.ravel()).max()
    assert M.asa(sp, gt) == pytest.approx(best / gt.size)


def test_asa_identical_and_permuted():
    gt = squares_grid(3, 4, 5)
    perm = (gt * 7919) % 101
    assert M.asa(gt, gt) == 1.0
    assert M.asa(perm, gt) == 1.0


def test_shape_mismatch_and_bad_dtype():
    with pytest.raises(ValueError, match="shape"):
        M.asa(np.zeros((3, 4), int), np.zeros((4, 3), int))
    with pytest.raises(TypeError, match="integer"):
        M.asa(np.zeros((3, 4), float), np.zeros((3, 4), int))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        M.boundary_recall(np.zeros((3, 4, 2), int), np.zeros((3, 4, 2), int))


# --------------------------------------------------------------------------- boundaries


def test_boundary_map_right_or_lower_neighbour():
    lab = np.array([[1, 1, 2], [1, 1, 2], [3, 3, 3]])
    expected = np.array([[0, 1, 0], [1, 1, 1], [0, 0, 0]], bool)
    np.testing.assert_array_equal(M.boundary_map(lab), expected)


def quadrants(shift: int) -> np.ndarray:
    y, x = np.mgrid[:20, :20]
    return ((y >= 10) * 2 + (x >= 10 + shift) + 1).astype(np.int32)


def test_br_bp_identical_maps_are_one():
    g = quadrants(0)
    assert M.boundary_recall(g, g) == 1.0
    assert M.boundary_precision(g, g) == 1.0
    assert M.boundary_recall_precision(g, g, r=0) == (1.0, 1.0)


def test_br_bp_vertical_boundary_shifted():
    y, x = np.mgrid[:12, :20]
    g = (x >= 10).astype(int)
    for r in (1, 2, 3):
        far = (x >= 10 + r + 1).astype(int)  # shifted by r + 1: out of every window
        near = (x >= 10 + r).astype(int)  # shifted by r: just inside
        assert M.boundary_recall(far, g, r=r) == 0.0
        assert M.boundary_precision(far, g, r=r) == 0.0
        assert M.boundary_recall(near, g, r=r) == 1.0
        assert M.boundary_precision(near, g, r=r) == 1.0


def test_br_bp_quadrants_shifted_by_r_plus_1():
    # gt boundary: column 9 and row 9 (39 pixels); the superpixels' vertical boundary moves to
    # column 12 (r + 1 = 3 away). Matched gt pixels: row 9 (20) and column 9 at rows 7, 8, 10,
    # 11 (within 2 rows of the superpixels' row-9 boundary): 24 of 39. Same for precision.
    g, s = quadrants(0), quadrants(3)
    assert M.boundary_recall(s, g, r=2) == pytest.approx(24 / 39)
    assert M.boundary_precision(s, g, r=2) == pytest.approx(24 / 39)
    assert M.boundary_recall_precision(s, g, r=2) == pytest.approx((24 / 39, 24 / 39))


def test_br_bp_without_boundaries_and_bad_r():
    one = np.ones((5, 5), int)
    g = quadrants(0)[:5, 8:13]
    assert M.boundary_recall(g, one) == 1.0  # nothing to recall
    assert M.boundary_precision(one, g) == 1.0  # nothing claimed
    assert M.boundary_recall(one, g) == 0.0
    with pytest.raises(ValueError, match="tolerance"):
        M.boundary_recall(g, g, r=-1)


# --------------------------------------------------------------------------- EV


def test_ev_one_when_each_superpixel_is_one_colour():
    lab = squares_grid(3, 3, 4)
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, size=(lab.max() + 1, 3)).astype(np.uint8)
    assert M.explained_variation(lab, colours[lab]) == pytest.approx(1.0)


def test_ev_hand_worked():
    # grey values 0, 2, 4, 6 (mean 3, total variation 20); superpixels {0, 2}, {4, 6}:
    # means 1 and 5, explained 2 * 4 + 2 * 4 = 16 -> EV = 0.8 (the same on 3 equal channels)
    img = np.repeat(np.array([[0, 2, 4, 6]], np.uint8)[:, :, None], 3, axis=2)
    assert M.explained_variation(np.array([[1, 1, 2, 2]]), img) == pytest.approx(0.8)
    assert M.explained_variation(np.array([[1, 1, 1, 1]]), img) == pytest.approx(0.0)
    assert M.explained_variation(np.array([[1, 1, 2, 2]]), img[:, :, 0]) == pytest.approx(0.8)
    assert M.explained_variation(np.array([[1, 2, 3, 4]]), np.zeros((1, 4, 3))) == 1.0
    with pytest.raises(ValueError, match="shape"):
        M.explained_variation(np.ones((2, 4), int), img)


# --------------------------------------------------------------------------- perimeters and hulls


def one_label(mask: np.ndarray) -> np.ndarray:
    """Label 1 on the mask, 0 elsewhere (the map padded so that 0 exists)."""
    return np.pad(mask.astype(np.int32), 1)


@pytest.mark.parametrize(
    "rows, expected",
    [
        (["#"], 0.0),  # one pixel
        (["####"], 6.0),  # a line walked there and back
        (["##", "##"], 4.0),
        (["##", "#."], 2 + SQ2),  # L tromino
        ([".#.", "###", ".#."], 4 * SQ2),  # plus
        (["#..", ".#.", "..#"], 4 * SQ2),  # diagonal line, there and back
        (["#.#", "#.#", "###"], 8 + 2 * SQ2),  # U
        (["###", "#.#", "###"], 8 + 4 * SQ2),  # ring: outer 8 + hole 4 sqrt 2
    ],
)
def test_traced_perimeter_hand_worked(rows, expected):
    mask = np.array([[c == "#" for c in row] for row in rows])
    assert R.traced_perimeters(one_label(mask))[1] == pytest.approx(expected)


def test_traced_perimeter_equals_moore_trace_of_opencv():
    cv2 = pytest.importorskip("cv2")
    from scipy import ndimage

    rng = np.random.default_rng(3)
    for _ in range(60):
        h, w = rng.integers(3, 14, 2)
        m = rng.random((h, w)) < rng.uniform(0.35, 0.8)
        lab8, n = ndimage.label(m, structure=np.ones((3, 3)))
        if n == 0:
            continue
        comp = ndimage.binary_fill_holes(lab8 == 1 + np.argmax(np.bincount(lab8.ravel())[1:]))
        contours, _ = cv2.findContours(
            one_label(comp).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
        )
        ref = cv2.arcLength(contours[0], True) if len(contours[0]) > 1 else 0.0
        assert R.traced_perimeters(one_label(comp))[1] == pytest.approx(ref, abs=1e-4)


def test_convex_hull_measures_hand_worked_and_against_skimage():
    # plus: hull = diamond of side sqrt 2, 5 lattice points; U: 3 x 3 square, 9 points
    plus = one_label(np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]]))
    per, area = R.convex_hull_measures(plus)
    assert per[1] == pytest.approx(4 * SQ2) and area[1] == 5
    seg = one_label(np.array([[1, 1, 1, 1]]))  # flat hull: twice its length, 4 points
    per, area = R.convex_hull_measures(seg)
    assert per[1] == pytest.approx(6.0) and area[1] == 4
    dot = one_label(np.array([[1]]))
    per, area = R.convex_hull_measures(dot)
    assert per[1] == 0.0 and area[1] == 1

    from scipy.spatial import ConvexHull
    from skimage.morphology import convex_hull_image

    rng = np.random.default_rng(5)
    for _ in range(40):
        m = rng.random((9, 11)) < 0.3
        if m.sum() < 3 or np.linalg.matrix_rank(np.argwhere(m) - np.argwhere(m)[0]) < 2:
            continue
        per, area = R.convex_hull_measures(one_label(m))
        assert per[1] == pytest.approx(ConvexHull(np.argwhere(m)).area)
        assert area[1] == convex_hull_image(m, offset_coordinates=False).sum()


# --------------------------------------------------------------------------- SRC, SMF, GR


def test_grid_of_identical_squares_is_perfectly_regular():
    lab = squares_grid(6, 8, 5)
    assert R.src(lab) == pytest.approx(1.0)
    assert R.smf(lab) == pytest.approx(1.0)
    assert R.shape_regularity(lab) == pytest.approx(1.0)
    assert R.shape_regularity(squares_grid(4, 4, 4)) == pytest.approx(1.0)  # even side


def test_thin_stripes_are_clearly_less_regular():
    w = 40
    lab = np.repeat(np.arange(20), 2)[:, None] * np.ones((1, w), int)  # 2 x 40 stripes
    # rectangles: CR = 1; V = sqrt(sigma_y / sigma_x), sigma_y = 1/2, sigma_x = sqrt((w^2-1)/12)
    v = math.sqrt(0.5 / math.sqrt((w * w - 1) / 12))
    assert R.src(lab) == pytest.approx(v)
    assert R.smf(lab) == pytest.approx(1.0)
    assert R.shape_regularity(lab) == pytest.approx(v)
    assert R.shape_regularity(lab) < 0.25 < R.shape_regularity(squares_grid(8, 8, 5))


def test_src_hand_worked_u_shape():
    # U of 7 pixels in a 3 x 3 box; the 2 missing pixels form a vertical domino (V = 0).
    lab = np.array([[1, 2, 1], [1, 2, 1], [1, 1, 1]])
    cr = (7 / 9) * (8 / (8 + 2 * SQ2))
    sy, sx = math.sqrt(34 / 49), math.sqrt(6 / 7)
    v = math.sqrt(min(sy, sx) / max(sy, sx))
    assert R.src(lab) == pytest.approx(7 / 9 * cr * v)


def test_one_pixel_superpixels_have_src_zero():
    lab = np.arange(1, 26).reshape(5, 5)
    assert R.src(lab) == 0.0
    assert R.shape_regularity(lab) == 0.0


def test_smf_hand_worked():
    # [1, 2, 2]: shifted shapes {0} and {-1, 0} (barycentre 1.5 rounds to 2);
    # Sbar = {0: 2/3, -1: 1/3}; L1 distances 2/3 and 1/3; SMF = 1 - (1/3 * 1/3 + 2/3 * 1/6)
    assert R.smf(np.array([[1, 2, 2]])) == pytest.approx(7 / 9)


def test_gr_runs_on_a_bsds_sized_map_with_1000_superpixels():
    y = (np.arange(481) * 40) // 481
    x = (np.arange(321) * 25) // 321
    lab = y[:, None] * 25 + x[None, :]  # 40 x 25 near-squares of 12-13 pixels a side
    assert M.n_superpixels(lab) == 1000
    assert 0.9 < R.shape_regularity(lab) <= 1.0


# --------------------------------------------------------------------------- delta K


def test_delta_k():
    assert M.delta_k(360, 400) == pytest.approx(0.1)
    assert M.delta_k(414, 400) == pytest.approx(0.035)
    assert M.delta_k(np.array([[3, 3, 9], [9, 70, 3]]), 4) == pytest.approx(0.25)
    assert M.delta_k(np.int64(200), 200) == 0.0
    with pytest.raises(ValueError):
        M.delta_k(10, 0)
