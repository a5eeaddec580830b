"""The per-image pipeline (spam_gui.core.pipeline.run_image) and the prior sources."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi

from spam_gui.core.io.cache import DiskCache
from spam_gui.core.engine.fullres.grid import WorkingGrid, fill_from_superpixels, objects_onto_image
from spam_gui.core.params import SegmentParams
from spam_gui.core.pipeline import ImageRequest, run_image, working_grid
from spam_gui.core.prior.builtin.compute import (
    HIERARCHY_CACHE, build_hierarchy, cached_hierarchy, hierarchy_cache_key,
)
from spam_gui.core.prior.sources import (
    BuiltinSource, EditedSource, LabelMapSource, NoSource, SamSource, choose_source,
)


@pytest.fixture(scope="module")
def engine():
    from spam_gui.core.engine.spam import Spam

    return Spam(encoder="default", device="cpu")


def _scene(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A photo-like synthetic image: a few smooth coloured regions plus noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.float32)
    img[:] = (70, 120, 60)                                          # grass
    img[yy < h * 0.35] = (150, 190, 235)                            # sky
    disc = (yy - h * 0.6) ** 2 + (xx - w * 0.4) ** 2 < (min(h, w) * 0.2) ** 2
    img[disc] = (200, 60, 40)                                       # a red ball
    box = (abs(yy - h * 0.5) < h * 0.12) & (abs(xx - w * 0.78) < w * 0.08)
    img[box] = (240, 230, 60)                                       # a yellow box
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _check_invariants(res) -> None:
    labels, objects, sp_obj = res.labels, res.objects, res.superpixel_object
    n = int(labels.max())
    assert labels.min() == 1 and np.unique(labels).size == n           # labels 1..N
    # containment: each superpixel's certain pixels lie in its own object
    certain = objects > 0
    assert np.all(objects[certain] == sp_obj[labels[certain]])
    # 4-connectivity of every superpixel
    for lab, sl in enumerate(ndi.find_objects(labels), start=1):
        if sl is not None:
            _, k = ndi.label(labels[sl] == lab)
            assert k == 1, f"superpixel {lab} in {k} pieces"


def test_small_image_is_the_stages_called_one_after_the_other(engine):
    img = _scene(200, 300)
    hier = build_hierarchy(img, spam=engine)
    prior = hier.prior(0.5)
    direct = engine.segment(img, prior=prior)
    run = run_image(ImageRequest(img, SegmentParams(), BuiltinSource(0.5)), engine)
    assert run.grid is None
    assert np.array_equal(run.result.objects, prior)
    assert np.array_equal(run.result.labels, direct.labels)
    assert run.prior_info["source"] == "builtin" and "working_size" not in run.prior_info


def test_large_image_prior_on_the_working_grid_and_invariants_at_full_resolution(engine):
    img = _scene(1200, 1700, seed=1)       # 2 MP: above the exact path's size at K = 400
    grid = working_grid(1200, 1700, 400)
    assert grid is not None and grid.work_pixels < 300_000
    run = run_image(ImageRequest(img, SegmentParams(), BuiltinSource()), engine)
    assert run.grid == grid
    assert run.prior_info["working_size"] == [grid.work_width, grid.work_height]
    assert run.prior_info["n_fine_superpixels"] < 2000   # the working image's, not 2 MP's
    res = run.result
    assert res.labels.shape == res.objects.shape == (1200, 1700)
    _check_invariants(res)
    # the red ball is found: one object covers most of it
    yy, xx = np.mgrid[0:1200, 0:1700]
    disc = (yy - 720) ** 2 + (xx - 680) ** 2 < 200 ** 2
    ids, counts = np.unique(res.objects[disc], return_counts=True)
    assert counts.max() / disc.sum() > 0.9
    # the objects' areas follow the filled map
    for oid, info in res.objects_info.items():
        assert info.area == int((res.objects == oid).sum())


def test_rescale_after_the_working_grid_prior_keeps_the_invariants(engine):
    img = _scene(1100, 1500, seed=2)
    run = run_image(ImageRequest(img, SegmentParams(n_segments=200), BuiltinSource()), engine)
    res = run.result
    big = max(res.objects_info.values(), key=lambda i: i.area).id
    out = engine.rescale(res, big, 2.0)
    _check_invariants(out)
    assert np.array_equal(out.objects, res.objects)


@settings(max_examples=40, deadline=None)
@given(h=st.integers(3, 12), w=st.integers(3, 12), sy=st.integers(1, 5), sx=st.integers(1, 5),
       n=st.integers(1, 5), seed=st.integers(0, 10_000))
def test_objects_onto_image_properties(h, w, sy, sx, n, seed):
    rng = np.random.default_rng(seed)
    work = rng.integers(0, n + 1, (h, w)).astype(np.int32)
    grid = WorkingGrid(h * sy + int(rng.integers(0, sy)), w * sx + int(rng.integers(0, sx)), h, w)
    full, band = objects_onto_image(work, grid)
    near = work[grid.row_cell(np.arange(grid.height))][:, grid.col_cell(np.arange(grid.width))]
    assert np.array_equal(full[~band], near[~band])         # off the band: the cell's object
    assert np.all(full[band] == 0) and np.all(near[band] > 0)
    # no object disappears
    assert set(np.unique(full[full > 0])) == set(np.unique(near[near > 0]))
    # filling from a labelling in which every pixel keeps its cell's object gives that map back
    labels = near.astype(np.int64) + 1
    sp_obj = np.arange(n + 2, dtype=np.int32) - 1
    sp_obj[0] = 0
    assert np.array_equal(fill_from_superpixels(full, band, labels, sp_obj), near)


def test_hierarchy_disk_cache_reused_by_a_second_process(engine, tmp_path):
    img = _scene(160, 240, seed=3)
    np.save(tmp_path / "img.npy", img)
    env_cache = tmp_path / "cache"
    script = textwrap.dedent(f"""
        import os, sys, numpy as np
        os.environ["SPAM_CACHE_DIR"] = {str(env_cache)!r}
        from spam_gui.core.prior.builtin import compute as prior_builtin
        from spam_gui.core.engine.spam import Spam
        img = np.load({str(tmp_path / 'img.npy')!r})
        if sys.argv[1] == "second":     # must come from the first process's cache
            def refuse(*a, **k):
                raise SystemExit("recomputed")
            prior_builtin.build_hierarchy = refuse
        h = prior_builtin.cached_hierarchy(img, Spam(device="cpu"))
        np.save({str(tmp_path)!r} + "/" + sys.argv[1] + ".npy", h.prior(0.5))
    """)
    for which in ("first", "second"):
        subprocess.run([sys.executable, "-c", script, which], check=True, timeout=300)
    assert np.array_equal(np.load(tmp_path / "first.npy"), np.load(tmp_path / "second.npy"))


def test_hierarchy_cache_keys_and_damaged_entries(engine, tmp_path):
    store = DiskCache(HIERARCHY_CACHE, root=tmp_path)
    img = _scene(160, 240, seed=4)
    other = img.copy()
    other[0, 0, 0] ^= 1
    assert hierarchy_cache_key(img, engine) != hierarchy_cache_key(other, engine)
    first = cached_hierarchy(img, engine, cache=store)
    (entry,) = store.entries()
    # a truncated entry is dropped and recomputed, giving the same tree
    entry.write_bytes(entry.read_bytes()[:100])
    again = cached_hierarchy(img, engine, cache=store)
    assert np.array_equal(again.fine, first.fine) and np.array_equal(again.heights, first.heights)
    # a valid archive of the wrong shape is not used either
    key = hierarchy_cache_key(img, engine)
    store.put_arrays(key, fine=np.zeros((3, 3), np.int32), children=np.zeros((0, 2)),
                     heights=np.zeros(0), areas=np.ones(1), edge_ucm=np.zeros(0),
                     edge_pairs=np.zeros((0, 2)), seconds=np.zeros(3))
    third = cached_hierarchy(img, engine, cache=store)
    assert third.fine.shape == img.shape[:2]
    assert np.array_equal(third.prior(0.5), first.prior(0.5))


def test_choose_source_is_the_one_rule(tmp_path):
    img_path = tmp_path / "a.jpg"
    maps = tmp_path / "priors"
    maps.mkdir()
    assert isinstance(choose_source(img_path, "auto", maps_folder=maps), BuiltinSource)
    assert isinstance(choose_source(img_path, "auto", maps_folder=maps, sam_checkpoint="x.pth"),
                      SamSource)
    (maps / "a.png").write_bytes(b"")
    src = choose_source(img_path, "auto", maps_folder=maps, sam_checkpoint="x.pth")
    assert isinstance(src, LabelMapSource) and src.path == maps / "a.png"
    assert isinstance(choose_source(img_path, "none"), NoSource)
    edited = choose_source(img_path, "builtin", objects=np.ones((2, 2), np.int32))
    assert isinstance(edited, EditedSource)
    from spam_gui.core.errors import SpamError

    with pytest.raises(SpamError, match="no SAM checkpoint"):
        choose_source(img_path, "sam")
    with pytest.raises(SpamError, match="unknown prior source"):
        choose_source(img_path, "magic")


def test_missing_map_in_a_folder_is_the_automatic_prior_with_a_warning(engine, tmp_path):
    img = _scene(60, 80)
    src = choose_source(tmp_path / "b.jpg", "maps", maps_folder=tmp_path)
    run = run_image(ImageRequest(img, SegmentParams(n_segments=20), src), engine)
    assert run.prior_info["source"] == "automatic"
    assert run.warnings and "b.jpg" in run.warnings[0] and str(tmp_path) in run.warnings[0]
    assert len(run.result.objects_info) == 0 or set(run.result.objects_info) == {1}


def test_superpixels_of_a_large_photo_reused_from_disk(engine, tmp_path):
    from spam_gui.core.engine.result_cache import RESULT_CACHE

    store = DiskCache(RESULT_CACHE, root=tmp_path)
    img = _scene(1000, 1400, seed=5)
    req = ImageRequest(img, SegmentParams(n_segments=150), BuiltinSource())
    first = run_image(req, engine, result_cache=store).result
    assert "from_cache" not in first.timings and len(store.entries()) == 1
    again = run_image(req, engine, result_cache=store).result
    assert again.timings.get("from_cache") == 1.0
    assert np.array_equal(again.labels, first.labels)
    assert np.array_equal(again.objects, first.objects)
    assert again.objects_info == first.objects_info and again.params == first.params
    # a restored result is clicked as a computed one
    big = max(first.objects_info.values(), key=lambda i: i.area).id
    a, b = engine.rescale(first, big, 2.0), engine.rescale(again, big, 2.0)
    assert np.array_equal(a.labels, b.labels)
    # another parameter or another pixel is another entry
    other_k = run_image(ImageRequest(img, SegmentParams(n_segments=160), BuiltinSource()),
                        engine, result_cache=store).result
    assert "from_cache" not in other_k.timings
    img2 = img.copy()
    img2[5, 5, 1] ^= 1
    moved = run_image(ImageRequest(img2, SegmentParams(n_segments=150), BuiltinSource()),
                      engine, result_cache=store).result
    assert "from_cache" not in moved.timings
    # a truncated entry is dropped and computed again
    for e in store.entries():
        e.write_bytes(e.read_bytes()[:64])
    redone = run_image(req, engine, result_cache=store).result
    assert "from_cache" not in redone.timings
    assert np.array_equal(redone.labels, first.labels)


def test_merge_on_a_large_photo_keeps_the_other_superpixels(engine):
    from spam_gui.core.engine.object_edits import resegment_objects

    img = _scene(1100, 1500, seed=6)
    res = run_image(ImageRequest(img, SegmentParams(n_segments=200), BuiltinSource()),
                    engine).result
    assert res._work is not None
    by_area = sorted(res.objects_info.values(), key=lambda i: i.area)
    a, b = by_area[-1].id, by_area[-2].id
    objects = res.objects.copy()
    objects[objects == b] = a
    out = resegment_objects(engine, res, objects, {})
    _check_invariants(out)
    assert b not in out.objects_info and out.objects_info[a].area == int((objects == a).sum())
    # superpixels of the objects left alone are the same pixels (labels may be renumbered)
    other = ~np.isin(res.objects, [a, b]) & (res.objects > 0)
    pairs = np.unique(np.stack([res.labels[other], out.labels[other]]), axis=1)
    assert np.unique(pairs[0]).size == pairs.shape[1] == np.unique(pairs[1]).size
    # the working cells know the merged object
    g = out._work.grid
    assert not np.any(out._work.work_objects == b)
    assert np.array_equal(out._work.work_objects, objects[g.centre_rows()][:, g.centre_cols()])


def test_features_asked_by_two_threads_are_computed_once():
    import threading

    from spam_gui.core.engine.spam import Spam

    eng = Spam(encoder="default", device="cpu")
    calls = []
    original = eng._compute_features

    def counted(*a, **k):
        calls.append(1)
        return original(*a, **k)

    eng._compute_features = counted
    img = _scene(300, 400, seed=7)
    out = [None, None]

    def ask(i):
        out[i] = eng.features(img)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(calls) == 1 and out[0] is out[1]
