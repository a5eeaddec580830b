"""Photos of any size (issue 17): the working-resolution path and the size limit.

The large images are built here (about 2 MP, small K): the working path must keep every
guarantee at full resolution (labels 1..N, 4-connected superpixels inside one prior object,
superpixels for objects too small for the working grid); an image over the limit is refused
from its size, before anything is allocated; BSDS-sized images never leave the exact path.
Memory and speed are measured by ``benchmarks/photo_size.py``, not here.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch
from skimage.measure import label as connected_components

from spam_gui.core.engine.fullres import working as fullres
from spam_gui.core.engine.fullres.grid import WorkingGrid
from spam_gui.core.engine.fullres.labelling import Centroids, assign_nearest, majority_filter_tiled
from spam_gui.core.engine.fullres.objects import ObjectIndex, object_areas
from spam_gui.core.engine.fullres.rescale import _relabel_box
from spam_gui.core.engine.encoder import SSNEncoder, save_encoder
from spam_gui.core.io.images import (
    MAX_PIXELS, ImageReadError, ImageTooLargeError, check_image_size, read_image,
)
from spam_gui.core.engine.smoothing import majority_filter
from spam_gui.core.engine.spam import Spam, _relabel_object

H, W = 1500, 1400          # 2.1 MP: the working path at any K below 1250
K = 60


def _photo(h: int = H, w: int = W) -> np.ndarray:
    """A smooth colour field with a few sharp discs and stripes (deterministic)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([128 + 100 * np.sin(xx / 157.0), 128 + 100 * np.cos(yy / 131.0),
                    128 + 60 * np.sin((xx + yy) / 97.0)], axis=2)
    for cy, cx, r, col in ((400, 300, 180, (250, 20, 20)), (1000, 900, 260, (20, 20, 240)),
                           (1200, 250, 90, (30, 200, 30))):
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = col
    img[:, 700:760] = (240, 240, 60)
    return np.clip(img, 0, 255).astype(np.uint8)


def _prior(h: int = H, w: int = W) -> np.ndarray:
    """Four large objects, an uncertain band, a 3 x 3 object and a one-pixel-thin line."""
    pr = np.ones((h, w), np.int32)
    pr[:, w // 2:] = 2
    pr[h // 2:, :w // 3] = 7
    pr[h * 3 // 4:, w * 2 // 3:] = 40
    pr[600:640, :] = 0                       # uncertain band
    pr[100:103, 100:103] = 9                 # far too small for the working grid
    pr[900, 200:1300] = 11                   # one pixel thick, crosses other objects
    return pr


def _check_invariants(res, prior: np.ndarray | None) -> None:
    labels = res.labels
    assert labels.shape == (H, W) and labels.dtype == np.int32
    n = res.n_superpixels
    assert labels.min() == 1 and labels.max() == n
    assert np.unique(labels).size == n                       # exactly 1..N
    comp = connected_components(labels, background=0, connectivity=1)
    assert comp.max() == n                                   # each superpixel one 4-connected piece
    assert res.superpixel_object.shape == (n + 1,)
    if prior is None:
        return
    certain = prior > 0
    # containment: every certain pixel lies in a superpixel of its own object
    assert np.array_equal(res.superpixel_object[labels[certain]], prior[certain])
    for oid in np.unique(prior[certain]):
        assert res.superpixel_object[1:].tolist().count(int(oid)) >= 1


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory) -> str:
    torch.manual_seed(0)
    model = SSNEncoder(feature_dim=8, width=8)
    path = tmp_path_factory.mktemp("enc") / "tiny.pt"
    save_encoder(path, model)
    return str(path)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return _photo()


# -- the plan ----------------------------------------------------------------------------
def test_bsds_sizes_keep_the_exact_path():
    for k in (50, 400, 1000):
        assert fullres.plan_working_grid(321, 481, k) is None
        assert fullres.plan_working_grid(481, 321, k) is None
    assert fullres.plan_working_grid(700, 700, 400) is None            # 0.49 MP
    grid = fullres.plan_working_grid(642, 962, 400)                    # BSDS x 2
    assert grid is not None
    assert abs(grid.work_pixels - fullres.working_pixels(400)) < 2000
    assert grid.work_width / grid.work_height == pytest.approx(962 / 642, rel=0.01)
    assert fullres.working_pixels(10**6) == fullres.WORK_MAX_PIXELS


def test_bsds_sized_segment_never_takes_the_working_path(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("the working path was taken")

    monkeypatch.setattr(fullres, "cluster_working", boom)
    img = _photo(321, 481)
    res = Spam(encoder=None).segment(img, n_segments=100)
    assert "working_size" not in res.params and res._work is None
    assert res.labels.shape == (321, 481)


def test_grid_maps_every_pixel_to_its_nearest_cell():
    grid = WorkingGrid(1000, 700, 387, 271)
    rows = np.arange(1000)
    cell = grid.row_cell(rows)
    # the nearest working row centre of each full-resolution row
    assert np.array_equal(cell, np.clip(np.rint(grid.work_y(rows)).astype(int), 0, 386))
    assert np.array_equal(grid.row_cell(grid.centre_rows()), np.arange(387))
    assert np.array_equal(grid.col_cell(grid.centre_cols()), np.arange(271))
    assert grid.resize(np.zeros((1000, 700, 3), np.uint8)).shape == (387, 271, 3)


# -- the pieces --------------------------------------------------------------------------
def test_assign_nearest_is_the_nearest_candidate():
    rng = np.random.default_rng(1)
    k, n, ca = 30, 5000, 6
    c_app = torch.from_numpy(rng.normal(size=(k, ca)).astype(np.float32))
    c_pos = torch.from_numpy(rng.uniform(0, 50, size=(k, 2)).astype(np.float32))
    s2 = torch.from_numpy(rng.uniform(0.01, 0.2, size=k).astype(np.float32))
    cen = Centroids(torch.cat([c_app, s2[:, None] * c_pos], 1),
                            (c_app ** 2).sum(1) + s2 * (c_pos ** 2).sum(1), s2)
    cand = np.stack([rng.permutation(k)[:9] for _ in range(12)])
    key = rng.integers(0, 12, n)
    feats = torch.zeros((n + 1, ca + 2))
    feats[:n, :ca] = torch.from_numpy(rng.normal(size=(n, ca)).astype(np.float32))
    feats[:n, ca:] = torch.from_numpy(rng.uniform(0, 50, size=(n, 2)).astype(np.float32))
    got = assign_nearest(feats, key, cand, cen)
    c = torch.from_numpy(cand[key])                                           # (n, 9)
    d = ((feats[:n, None, :ca] - c_app[c]) ** 2).sum(-1) \
        + s2[c] * ((feats[:n, None, ca:] - c_pos[c]) ** 2).sum(-1)
    want = torch.gather(c, 1, d.argmin(1, keepdim=True))[:, 0].numpy()
    # ties and float rounding aside, the same seed, with the torch path and the compiled one
    plain = np.concatenate([c_app.numpy(), c_pos.numpy()], 1)
    fused = Centroids(cen.weights, cen.norm2, cen.scale2, plain)
    for result in (got, assign_nearest(feats, key, cand, fused)):
        assert (result == want).mean() > 0.999
        dg = d.gather(1, (c == torch.from_numpy(result)[:, None]).int().argmax(1, keepdim=True))[:, 0]
        assert torch.allclose(dg, d.min(1).values, rtol=1e-4, atol=1e-3)


def test_tiled_majority_filter_equals_the_whole_map():
    rng = np.random.default_rng(2)
    labels = rng.integers(1, 6, (97, 61)).astype(np.int32)
    objects = (np.arange(61)[None, :] // 20 + 1).repeat(97, 0).astype(np.int32)
    objects[40:45] = 0
    label_object = np.array([0, 1, 1, 2, 3, 3], np.int64)
    for passes in (1, 2):
        want = majority_filter(labels, objects, label_object, passes=passes)
        got = majority_filter_tiled(labels.copy(), objects, label_object, passes, 7)
        assert np.array_equal(got, want)


def test_box_relabelling_matches_the_exact_rule():
    rng = np.random.default_rng(3)
    labels = (np.arange(40)[:, None] // 10 * 4 + np.arange(40)[None, :] // 10 + 1).astype(np.int32)
    sp_obj = np.array([0] + [1 if v in (6, 7, 10, 11) else 2 for v in range(1, 17)], np.int32)
    region = np.isin(labels, [6, 7, 10, 11])
    for n_groups in (2, 4, 7):
        groups = np.where(region, rng.integers(100, 100 + n_groups, labels.shape), 0)
        want_l, want_s = _relabel_object(labels, sp_obj, groups, np.zeros(1), region, 1)
        box = (slice(9, 31), slice(9, 31))
        got_l, got_s = _relabel_box(labels, sp_obj, groups[box], region[box], box, 1)
        assert np.array_equal(got_l, want_l) and np.array_equal(got_s, want_s)


def test_relabel_values_keep_other_superpixels_and_labels_1_to_n():
    """Fewer, as many and more new groups than the object had superpixels: the others keep
    their pixels (moved values included), the values stay exactly 1..N, sp_obj follows."""
    rng = np.random.default_rng(4)
    labels = (np.arange(40)[:, None] // 10 * 4 + np.arange(40)[None, :] // 10 + 1).astype(np.int32)
    sp_obj = np.array([0] + [1 if v in (2, 6, 7, 10) else 2 for v in range(1, 17)], np.int32)
    region = np.isin(labels, [2, 6, 7, 10])
    for n_groups in (1, 2, 4, 7):
        groups = np.where(region, rng.integers(100, 100 + n_groups, labels.shape), 0)
        got_l, got_s = _relabel_object(labels, sp_obj, groups, np.zeros(1), region, 1)
        n = int(got_l.max())
        assert n == 12 + np.unique(groups[region]).size
        assert set(np.unique(got_l).tolist()) == set(range(1, n + 1))
        assert got_s.shape == (n + 1,) and np.array_equal(got_s[got_l], np.where(region, 1, 2))
        for v in np.unique(labels[~region]):    # every other superpixel: one value, same pixels
            assert np.unique(got_l[labels == v]).size == 1
            assert np.array_equal(got_l == got_l[labels == v][0], labels == v)
        for g in np.unique(groups[region]):      # each new group: one value of its own
            assert np.unique(got_l[groups == g]).size == 1


def test_object_ids_of_any_size():
    objects = np.array([[0, 5, 5], [2**30, 5, 0]], np.int32)
    ids, areas = object_areas(objects)
    assert ids.tolist() == [5, 2**30] and areas.tolist() == [3, 1]
    index = ObjectIndex(ids)
    assert index(objects).tolist() == [[-1, 0, 0], [1, 0, -1]]
    small = ObjectIndex(np.array([3, 8]))
    assert small(np.array([0, 3, 8, 9, 2**30])).tolist() == [-1, 0, 1, -1, -1]


# -- segmentation at full resolution -------------------------------------------------------
def test_large_photo_without_prior(photo):
    res = Spam(encoder=None).segment(photo, n_segments=K)
    assert res.params["working_size"][0] * res.params["working_size"][1] == pytest.approx(
        fullres.working_pixels(K), rel=0.02)
    _check_invariants(res, None)
    assert abs(res.n_superpixels - K) <= 0.25 * K
    assert "labelling" in res.timings


def test_large_photo_with_prior_keeps_every_guarantee(photo, tiny_encoder):
    prior = _prior()
    spam = Spam(encoder=tiny_encoder)
    res = spam.segment(photo, n_segments=K, prior=prior)
    _check_invariants(res, prior)
    assert 9 in res._work.small_ids                 # clustered with full-resolution pixels
    assert res.objects_info[9].area == 9 and res.objects_info[9].k == 1

    # rescale: the object's superpixels change, the others keep pixels and values
    more = spam.rescale(res, 2, 2.0)
    _check_invariants(more, prior)
    assert len(more.superpixels_of(2)) > len(res.superpixels_of(2))
    outside = ~((prior == 2) | ((prior == 0) & (res.superpixel_object[res.labels] == 2)))
    assert np.array_equal(more.labels[outside], res.labels[outside])
    fewer = spam.rescale(more, 2, 0.5)
    _check_invariants(fewer, prior)
    assert len(fewer.superpixels_of(2)) < len(res.superpixels_of(2))
    tiny = spam.rescale(res, 9, 3.0)
    _check_invariants(tiny, prior)


def test_large_photo_with_saliency(photo):
    prior = _prior()
    saliency = np.zeros((H, W), np.float32)
    saliency[prior == 7] = 1.0
    res = Spam(encoder=None).segment(photo, n_segments=K, prior=prior, saliency=saliency)
    _check_invariants(res, prior)
    assert res.objects_info[7].salient and not res.objects_info[1].salient
    density = {o: len(res.superpixels_of(o)) / res.objects_info[o].area for o in (1, 7)}
    assert density[7] > 1.5 * density[1]


# -- the size limit ----------------------------------------------------------------------
def test_refusal_names_the_size_and_the_limit():
    check_image_size(10_000, MAX_PIXELS // 10_000)            # at the limit: accepted
    with pytest.raises(ImageTooLargeError) as err:
        check_image_size(12_000, 9_000, "big.jpg")
    msg = str(err.value)
    assert msg.startswith("big.jpg: 12000 x 9000 pixels (108.0 MP)")
    assert f"{MAX_PIXELS / 1e6:.0f} MP" in msg
    assert isinstance(err.value, ImageReadError)


def test_segment_refuses_before_allocating():
    # a zero-copy view with the shape of a 30,000 x 20,000 photo: nothing is allocated
    huge = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (30_000, 20_000, 3))
    with pytest.raises(ImageTooLargeError, match="20000 x 30000 pixels"):
        Spam(encoder=None).segment(huge)


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))


# (PIL warns from 1x to 2x its limit, which is ours; the module filters that warning, pytest
# resets filters per test)
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("size", [(15_000, 10_000), (30_000, 20_000)])
def test_read_image_refuses_from_the_header(tmp_path, size):
    path = tmp_path / "huge.png"
    path.write_bytes(_png_header(*size))          # a header only: 150 and 600 MP
    with pytest.raises(ImageTooLargeError) as err:
        read_image(path)
    assert str(err.value).startswith(str(path))
    assert f"({size[0] * size[1] / 1e6:.1f} MP)" in str(err.value)
    assert f"{MAX_PIXELS / 1e6:.0f} MP" in str(err.value)


def test_spam_segment_writes_full_resolution_16_bit_labels(tmp_path, photo):
    from PIL import Image

    from spam_gui.cli import main
    from spam_gui.core.io.images import read_label_map

    src = tmp_path / "photo.png"
    Image.fromarray(photo).save(src)
    out = tmp_path / "out"
    assert main(["segment", str(src), "--out", str(out), "--encoder", "none", "-k", str(K),
                 "--no-progress"]) == 0
    with Image.open(out / "photo.png") as im:
        assert im.mode == "I;16" and im.size == (W, H)
    labels = read_label_map(out / "photo.png")
    assert labels.min() == 1 and np.unique(labels).size == labels.max()


def test_prior_and_saliency_of_another_resolution(photo):
    prior = _prior()
    saliency = np.zeros((H, W), np.float32)
    saliency[prior == 7] = 1.0
    spam = Spam(encoder=None)
    # maps computed on a copy at half and a quarter of the size map onto the full image
    res = spam.segment(photo, n_segments=K, prior=prior[::2, ::2], saliency=saliency[::4, ::4])
    assert res.objects.shape == (H, W)
    assert np.array_equal(res.objects, prior[::2, ::2].repeat(2, 0).repeat(2, 1))
    _check_invariants(res, res.objects)
    assert res.objects_info[7].salient and not res.objects_info[1].salient
    with pytest.raises(ValueError, match="same aspect ratio"):
        spam.segment(photo, n_segments=K, prior=prior[:, ::2])
    with pytest.raises(ValueError, match="same aspect ratio"):
        spam.segment(photo, n_segments=K, saliency=saliency[::2])
