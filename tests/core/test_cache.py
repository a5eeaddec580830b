"""The disk cache: a bad entry (truncated, garbage, wrong keys) is dropped and recomputed."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest

from spam_gui.core import saliency as S
from spam_gui.core.io.cache import DiskCache, make_key


def _image(h: int = 40, w: int = 60) -> np.ndarray:
    rng = np.random.default_rng(3)
    img = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
    img[10:30, 20:45] = (220, 40, 40)
    return img


def _store(tmp_path) -> tuple[DiskCache, str]:
    cache = DiskCache("test", root=tmp_path)
    key = make_key("entry", 1)
    rng = np.random.default_rng(0)
    assert cache.put_arrays(key, a=rng.random((64, 64)), b=np.arange(1000))
    return cache, key


def _entry(cache: DiskCache, key: str):
    (path,) = cache.entries()
    assert key in path.name
    return path


@pytest.mark.parametrize("cut", [0.5, 0.9, 10])
def test_a_truncated_entry_is_a_miss_and_is_deleted(tmp_path, cut):
    cache, key = _store(tmp_path)
    path = _entry(cache, key)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut) if cut < 1 else cut])
    assert cache.get_arrays(key) is None
    assert not path.exists()
    assert cache.get_arrays(key) is None  # and stays a plain miss


@pytest.mark.parametrize("content", [
    b"",
    b"garbage that is not a zip file at all" * 10,
    pickle.dumps({"a": np.zeros(3)}),
])
def test_a_garbage_entry_is_a_miss_and_is_deleted(tmp_path, content):
    cache, key = _store(tmp_path)
    path = _entry(cache, key)
    path.write_bytes(content)
    assert cache.get_arrays(key) is None
    assert not path.exists()


def test_a_bare_npy_or_pickled_array_is_refused(tmp_path):
    cache, key = _store(tmp_path)
    path = _entry(cache, key)
    buf = io.BytesIO()
    np.save(buf, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    path.write_bytes(buf.getvalue())
    assert cache.get_arrays(key) is None
    assert not path.exists()
    buf = io.BytesIO()
    np.save(buf, np.zeros(4))
    assert cache.put(key, buf.getvalue())
    assert cache.get_arrays(key) is None


def test_an_entry_without_the_required_arrays_is_dropped(tmp_path):
    cache, key = _store(tmp_path)
    assert set(cache.get_arrays(key, required=("a", "b"))) == {"a", "b"}
    assert cache.get_arrays(key, required=("a", "features")) is None
    assert not cache.entries()


def test_a_truncated_saliency_entry_is_recomputed(tmp_path):
    """The issue's case: every later run failed with zipfile.BadZipFile."""
    cache = DiskCache("saliency", root=tmp_path)
    img = _image()
    first = S.compute_saliency_info(img, cache=cache)
    (path,) = cache.entries()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    again = S.compute_saliency_info(img, cache=cache)
    assert not again.from_cache
    np.testing.assert_array_equal(again.saliency, first.saliency)
    (path,) = cache.entries()
    assert path.read_bytes() == data  # stored again, whole
    assert S.compute_saliency_info(img, cache=cache).from_cache


def test_a_saliency_entry_with_wrong_keys_is_recomputed(tmp_path):
    cache = DiskCache("saliency", root=tmp_path)
    img = _image()
    first = S.compute_saliency_info(img, cache=cache)
    (path,) = cache.entries()
    key = path.stem
    cache.put_arrays(key, something_else=np.zeros(3))
    again = S.compute_saliency_info(img, cache=cache)
    assert not again.from_cache
    np.testing.assert_array_equal(again.saliency, first.saliency)
    assert set(cache.get_arrays(key)) >= {"saliency", "info"}
