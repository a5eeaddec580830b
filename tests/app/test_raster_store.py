"""Per-image rasters in the folder's state: saved beside the state file, named by hash, restored,
and refused (named) when they no longer fit the image."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spam_gui.app.model.raster_store import RasterStore, RasterStoreError, raster_folder


def test_store_round_trip_and_refusals(tmp_path):
    store = RasterStore(tmp_path / "r")
    arr = np.arange(12, dtype=np.int32).reshape(3, 4) * 5000
    digest = store.save("a b/ç.png", "classes", arr)
    assert np.array_equal(store.load("a b/ç.png", "classes", (3, 4), digest), arr)
    with pytest.raises(RasterStoreError, match="4×3 pixels, but"):
        store.load("a b/ç.png", "classes", (4, 4), digest)
    with pytest.raises(RasterStoreError, match="not the classes the state file saved"):
        store.load("a b/ç.png", "classes", (3, 4), "0" * 64)
    with pytest.raises(RasterStoreError, match="missing"):
        store.load("other.png", "classes", (3, 4))
    store.path("x.png", "objects").write_bytes(b"not a png")
    with pytest.raises(RasterStoreError, match="not a readable PNG"):
        store.load("x.png", "objects", (3, 4))
    with pytest.raises(ValueError):
        store.save("x.png", "classes", np.full((2, 2), 70000))
    with pytest.raises(ValueError):
        store.path("x.png", "nonsense")


def test_session_saves_and_restores_rasters(qtbot, tmp_path):
    from spam_gui.app.document import FolderSession, Params
    from spam_gui.core.io.images import list_folder

    folder = tmp_path / "f"
    folder.mkdir()
    for n in ("a.png", "b.png"):
        (folder / n).write_bytes(b"x")
    out = folder / "spam_labels"
    s = FolderSession(folder, list_folder(folder), out, Params())
    d = s.doc(1)
    classes = np.zeros((5, 6), np.int32)
    classes[1:3, 2:5] = 7
    with qtbot.waitSignal(d.changed):
        d.set_raster("classes", classes)
    assert d.worth_saving and d.raster_version("classes") == 1
    assert s.save_now()
    data = json.loads((out / ".spam_state.json").read_text())
    digest = data["images"]["b.png"]["rasters"]["classes"]
    assert len(digest) == 64
    assert raster_folder(out / ".spam_state.json").is_dir()

    s2 = FolderSession(folder, list_folder(folder), out, Params())
    assert s2.doc(1).has_raster("classes")
    assert np.array_equal(s2.raster(1, "classes", (5, 6)), classes)
    assert s2.raster(0, "classes", (5, 6)) is None          # nothing copied between images
    # the image changed size since: the raster is named, dropped, and not used
    s3 = FolderSession(folder, list_folder(folder), out, Params())
    assert s3.raster(1, "classes", (6, 6)) is None
    assert any("b.png" in p and "changed since" in p for p in s3.load_problems)
    # removing it deletes the file at the next save
    s2.doc(1).set_raster("classes", None)
    assert s2.save_now()
    assert "rasters" not in json.loads((out / ".spam_state.json").read_text()).get(
        "images", {}).get("b.png", {})
