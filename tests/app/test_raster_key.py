"""An edited object map's key is the hash of its values (issue 22: a merge at 12 MP no longer
encodes a PNG on the GUI thread to name its state): the same in memory and after a save, kept
in the state file, and validated when read."""

from __future__ import annotations

import numpy as np
import pytest

from spam_gui.app.document import ImageDoc
from spam_gui.app.model import Params, validate_entry
from spam_gui.app.model.raster_store import raster_key
from spam_gui.app.model.state_file import entry_to_json


def test_raster_key_is_the_values_not_the_dtype():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 40, (60, 80)).astype(np.int32)
    assert raster_key(a) == raster_key(a.astype(np.uint16)) == raster_key(np.asfortranarray(a))
    b = a.copy()
    b[5, 7] += 1
    assert raster_key(b) != raster_key(a)
    assert raster_key(a.reshape(80, 60)) != raster_key(a)     # same values, another size
    with pytest.raises(ValueError, match="0..65535"):
        raster_key(a - 1)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        raster_key(a[None])


def test_the_key_is_the_same_in_memory_and_from_the_saved_state(tmp_path):
    objects = np.zeros((30, 40), np.int32)
    objects[:, 20:] = 3
    doc = ImageDoc(tmp_path / "a.png", Params())
    doc.set_raster("objects", objects)
    in_memory = doc.key()
    doc.saved_as("objects", "f" * 64, raster_key(objects))   # what a save records
    entry, problems = validate_entry("a.png", entry_to_json(doc.to_entry()))
    assert problems == [] and entry.raster_keys == {"objects": raster_key(objects)}
    again = ImageDoc(tmp_path / "a.png", Params())
    again.load_entry(entry)
    assert "objects" not in again.rasters                     # only on disk
    assert again.key() == in_memory
    again.share_raster("objects", objects.copy())             # loaded: the same key
    assert again.key() == in_memory


def test_a_state_file_without_raster_keys_still_keys_by_the_file():
    raw = {"rasters": {"objects": "a" * 64}}
    entry, problems = validate_entry("a.png", raw)
    assert problems == [] and entry.raster_keys == {}
    raw["raster_keys"] = {"objects": "short", "classes": "b" * 64}
    entry, problems = validate_entry("a.png", raw)
    assert entry.raster_keys == {}
    assert len(problems) == 2 and all("raster_keys" in p for p in problems)
