"""An edit's working-grid preview on a large photo (issue 22 item 4).

- the preview of a density click is the final result's own working clustering: the result with
  the preview lent is the result without it, and the preview's cells are the object's region;
- an object edit's preview clusters each changed object on its cells (a merge: the whole merged
  object) and carries the new objects;
- :func:`cell_edge` inverts the grid's pixel-to-cell mapping;
- the preview's rasters cover exactly the changed cells (rectangles) and draw boundaries only
  inside them.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from spam_gui.app.model.rasters import OverlayStyle, preview_raster
from spam_gui.core.engine.fullres.grid import WorkingGrid
from spam_gui.core.engine.fullres.preview import cell_edge
from spam_gui.core.engine.object_edits import merge_objects, resegment_objects
from spam_gui.core.engine.spam import Spam
from tests.core.test_large_images import K, _check_invariants, _photo, _prior


@pytest.fixture(scope="module")
def segmented(tmp_path_factory):
    from spam_gui.core.engine.encoder import SSNEncoder, save_encoder
    import torch

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("enc") / "tiny.pt"
    save_encoder(path, SSNEncoder(feature_dim=8, width=8))
    spam = Spam(encoder=str(path))
    prior = _prior()
    res = spam.segment(_photo(), n_segments=K, prior=prior)
    assert res._work is not None
    return spam, res, prior


@settings(max_examples=60, deadline=None)
@given(full=st.integers(1, 5000), work=st.integers(1, 800))
def test_cell_edge_inverts_row_cell(full, work):
    work = min(work, full)
    g = WorkingGrid(full, full, work, work)
    cells = g.row_cell(np.arange(full))
    for i in range(work + 1):
        e = cell_edge(i, full, work)
        expected = int(np.searchsorted(cells, i)) if i < work else full
        assert e == expected


def test_click_preview_is_the_final_clustering(segmented):
    spam, res, prior = segmented
    pv = spam.preview_rescale(res, 2, 2.0)
    assert pv is not None and pv.objects is None
    with_preview = spam.rescale(res, 2, 2.0, preview=pv)
    without = spam.rescale(res, 2, 2.0)
    assert np.array_equal(with_preview.labels, without.labels)
    _check_invariants(with_preview, prior)
    # the preview covers the object's cells, one label per new superpixel of the object
    g = pv.grid
    obj_cells = prior[g.centre_rows()][:, g.centre_cols()] == 2
    assert pv.cells[obj_cells].all()
    assert pv.labels[pv.cells].min() >= 1 and (pv.labels[~pv.cells] == 0).all()
    assert pv.labels.max() == pv.clusterings[0].seeds.shape[0]
    n_new = len(with_preview.superpixels_of(2))
    assert abs(int(np.unique(pv.labels[pv.cells]).size) - n_new) <= max(2, n_new // 5)
    # a small photo, or an object too small for the grid: no preview (its rescale is quick)
    assert spam.preview_rescale(res, 9, 2.0) is None


def test_merge_preview_clusters_the_merged_object(segmented):
    spam, res, prior = segmented
    edit = merge_objects(res.objects, [1, 7])
    pv = spam.preview_edit(res, edit.objects, edit.changed, {})
    assert pv is not None and pv.objects is not None
    keep = next(iter(edit.changed))
    g = pv.grid
    new_w = edit.objects[g.centre_rows()][:, g.centre_cols()]
    assert np.array_equal(pv.objects, new_w)
    assert pv.cells[new_w == keep].all()                  # the whole merged object
    assert (pv.labels[new_w == keep] > 0).all()
    assert [c.oid for c in pv.clusterings] == [keep]
    # the final result is still exact and complete
    final = resegment_objects(spam, res, edit.objects, {})
    _check_invariants(final, edit.objects)


def test_preview_rasters_cover_the_changed_cells(segmented):
    spam, res, _ = segmented
    pv = spam.preview_rescale(res, 2, 2.0)
    pr = preview_raster(pv, OverlayStyle())
    assert pr is not None
    H, W = res.labels.shape
    covered = np.zeros((H, W), np.int32)
    for x, y, w, h in pr.rects.tolist():
        covered[y:y + h, x:x + w] += 1
    assert covered.max() == 1                             # the rectangles never overlap
    g = pv.grid
    cell_map = pv.cells[g.row_cell(np.arange(H))][:, g.col_cell(np.arange(W))]
    assert np.array_equal(covered.astype(bool), cell_map)
    # boundaries drawn only inside the changed cells, in the boundary colour
    y0, y1, x0, x1 = pr.box
    bh, bw = pr.boundaries.shape[:2]
    drawn = pr.boundaries[..., 3] > 0
    assert drawn.any()
    ys, xs = np.nonzero(drawn)
    fy = y0 + (ys + 0.5) * (y1 - y0) / bh
    fx = x0 + (xs + 0.5) * (x1 - x0) / bw
    assert cell_map[fy.astype(int), fx.astype(int)].all()
    b, gr, r, a = pr.boundaries[ys[0], xs[0]]
    assert (r, gr, b, a) == (*OverlayStyle().boundary_color, 255)
    assert pr.objects is None                             # a click leaves the objects as they are


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two label maps cut the same pixels into the same superpixels (values aside)."""
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    return (np.unique(pairs[0]).size == pairs.shape[1] == np.unique(pairs[1]).size)


@pytest.mark.parametrize("kind", ["split", "draw", "erase"])
def test_cuts_on_a_large_photo_recluster_only_the_edited_objects(segmented, kind):
    from spam_gui.core.engine import object_edits as oe

    spam, res, prior = segmented
    H, W = prior.shape
    if kind == "split":                    # a vertical cut through object 1 (top left)
        cut = np.zeros((H, W), bool)
        cut[:600, 340:346] = True
        edit = oe.split_object(res.objects, cut, object_id=1)
    elif kind == "draw":                   # a new object across objects 1 and 2
        mask = np.zeros((H, W), bool)
        mask[150:450, 550:850] = True
        edit = oe.paint_object(res.objects, mask)
    else:
        mask = np.zeros((H, W), bool)
        mask[200:300, 200:300] = True
        edit = oe.erase_objects(res.objects, mask)
    out = resegment_objects(spam, res, edit.objects, {})
    _check_invariants(out, edit.objects)
    # the objects the edit did not touch keep their superpixels exactly
    touched = set(edit.changed) | set(edit.removed)
    for oid in touched:
        touched |= {int(o) for o in np.unique(res.objects[edit.objects == oid]) if o > 0}
    keep = ~np.isin(res.superpixel_object[res.labels], list(touched)) & \
        ~np.isin(edit.objects, list(touched))
    assert keep.any()
    assert _same_partition(res.labels[keep], out.labels[keep])


def _relabel_reference(old_sp_obj, groups, oid):
    """relabel_values's rule written with a sort (the form it had)."""
    n_old = old_sp_obj.shape[0] - 1
    freed = sorted(np.flatnonzero(old_sp_obj == oid).tolist())
    uniq, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    m = uniq.size
    assigned = freed[:m] + list(range(n_old + 1, n_old + 1 + max(0, m - len(freed))))
    value_of_group = np.empty(m, dtype=np.int64)
    value_of_group[order] = assigned
    return value_of_group[inverse.ravel()]


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 10_000), n_old=st.integers(1, 30), n_groups=st.integers(1, 40),
       spread=st.sampled_from([1, 3, 1000]))
def test_relabel_values_without_a_sort_is_the_rule(seed, n_old, n_groups, spread):
    from spam_gui.core.engine.fullres.rescale import relabel_values

    rng = np.random.default_rng(seed)
    old = np.concatenate([[0], rng.integers(1, 4, n_old)]).astype(np.int32)
    groups = rng.integers(0, n_groups, 200) * spread      # sparse ids take the sort
    values, _, _ = relabel_values(old, groups, 2)
    assert np.array_equal(values, _relabel_reference(old, groups, 2))
