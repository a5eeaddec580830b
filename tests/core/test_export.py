"""Export of a segmentation (SPEC §9): 16-bit label PNGs, object maps, sidecars, atomic writes."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from spam_gui.core import Spam
from spam_gui.core.formats.export import load_labels, output_paths, save_result, sidecar
from spam_gui.core.io.images import FileWriteError, read_label_map


@pytest.fixture(scope="module")
def spam():
    return Spam(encoder=None, device="cpu")


def _image(h=48, w=56, seed=0):
    rng = np.random.default_rng(seed)
    from scipy import ndimage as ndi

    x = ndi.gaussian_filter(rng.random((h, w, 3)), (2, 2, 0))
    return ((x - x.min()) / np.ptp(x) * 255).astype(np.uint8)


def _prior(h=48, w=56):
    p = np.full((h, w), 700, np.int64)   # ids above 255 need 16 bits too
    p[:20, :30] = 3
    p[30:, 40:] = 12
    p[24, :] = 0
    return p


@pytest.fixture(scope="module")
def result(spam):
    img = _image()
    return img, spam.segment(img, n_segments=300, prior=_prior(), ratios={12: 2.0})


def test_label_and_object_maps_round_trip_as_16_bit(tmp_path, result):
    img, res = result
    assert res.n_superpixels > 255        # the round trip needs more than 8 bits
    paths = save_result(tmp_path, "img", res, image=img)
    assert paths == output_paths(tmp_path, "img")
    for key in ("labels", "objects"):
        with Image.open(paths[key]) as im:
            assert im.format == "PNG" and im.mode in ("I;16", "I;16B", "I;16L", "I")
            assert len(im.getbands()) == 1 and im.size == (56, 48)
    labels = load_labels(paths["labels"])
    assert labels.dtype == np.int32 and np.array_equal(labels, res.labels)
    assert np.array_equal(read_label_map(paths["objects"]), res.objects)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.json", "img.png", "img_objects.png"]


def test_sidecar_has_the_spec_keys(tmp_path, result):
    img, res = result
    src = tmp_path / "src" / "photo.png"
    src.parent.mkdir()
    Image.fromarray(img).save(src)
    paths = save_result(tmp_path / "out", "photo", res, image_path=src,
                        extra={"prior": {"source": "label map", "file": "photo.png"}})
    doc = json.loads(paths["sidecar"].read_text(encoding="utf-8"))
    assert doc["format"] == "spam-superpixels" and isinstance(doc["format_version"], int)
    assert doc["image"] == {"name": "photo.png",
                            "sha256": hashlib.sha256(src.read_bytes()).hexdigest(),
                            "width": 56, "height": 48}
    p = doc["parameters"]
    for key in ("n_segments", "lambda_s", "lambda_c", "n_iter", "seed", "encoder",
                "encoder_sha256", "ratio_mode", "attention", "attention_ratio", "prior"):
        assert key in p, key
    assert p["n_segments"] == 300 and p["lambda_s"] == 7.5 and p["lambda_c"] == 0.26
    assert p["n_iter"] == 10 and p["encoder"] == "none (D=5)" and p["encoder_sha256"] is None
    assert p["attention"] is False
    assert doc["prior"] == {"source": "label map", "file": "photo.png"}
    assert [o["id"] for o in doc["objects"]] == [3, 12, 700]
    sp_obj = res.certain_superpixel_object()[1:]
    counts = {int(i): int((sp_obj == i).sum()) for i in np.unique(sp_obj)}
    for o in doc["objects"]:
        assert set(o) >= {"id", "area", "ratio", "k", "salient", "n_superpixels"}
        assert o["area"] == int((res.objects == o["id"]).sum())
        assert o["n_superpixels"] == counts[o["id"]]
        assert o["ratio"] == (2.0 if o["id"] == 12 else 1.0)
    assert doc["n_superpixels"] == res.n_superpixels
    assert len(doc["superpixel_object"]) == res.n_superpixels + 1      # indexed by label
    assert set(doc["timings"]) >= {"features", "clustering", "total"}
    assert doc["program"]["version"]


def test_sidecar_is_enough_to_reproduce_the_map(tmp_path, result, spam):
    img, res = result
    paths = save_result(tmp_path, "img", res, image=img)
    doc = json.loads(paths["sidecar"].read_text(encoding="utf-8"))
    assert doc["image"]["sha256"] == hashlib.sha256(img.tobytes()).hexdigest()
    p = doc["parameters"]
    ratios = {o["id"]: o["ratio"] for o in doc["objects"] if o["ratio"] != 1.0}
    again = spam.segment(img, n_segments=p["n_segments"], prior=read_label_map(paths["objects"]),
                         ratios=ratios, lambda_s=p["lambda_s"], lambda_c=p["lambda_c"],
                         n_iter=p["n_iter"], seed=p["seed"], ratio_mode=p["ratio_mode"])
    assert np.array_equal(again.labels, load_labels(paths["labels"]))


def test_sidecar_with_visual_attention(spam):
    img = _image()
    prior = _prior()
    res = spam.segment(img, n_segments=100, prior=prior, saliency=(prior == 3).astype(float),
                       saliency_method="test")
    doc = sidecar(res, image_name="x.png", image=img)
    assert doc["parameters"]["attention"] is True
    assert doc["parameters"]["attention_ratio"] == 2.5
    assert doc["parameters"]["saliency_method"] == "test"
    assert {o["id"]: o["salient"] for o in doc["objects"]} == {3: True, 12: False, 700: False}
    json.dumps(doc)  # serialisable


def test_more_than_65535_superpixels_is_an_error(tmp_path, result):
    _, res = result
    h, w = 256, 257
    labels = np.arange(1, h * w + 1, dtype=np.int32).reshape(h, w)
    big = replace(res, labels=labels, objects=np.ones((h, w), np.int32),
                  superpixel_object=np.ones(h * w + 1, np.int32))
    assert big.n_superpixels == 65792
    with pytest.raises(ValueError, match="65535"):
        save_result(tmp_path, "big", big)
    assert list(tmp_path.iterdir()) == []


def test_object_ids_above_65535_are_renumbered_and_mapped_back(tmp_path, spam):
    """Four objects with ids up to 123456 fit a 16-bit PNG once renumbered 1..M; the sidecar
    maps the new ids back to the original ones."""
    img = _image()
    prior = _prior()
    prior[prior == 700] = 70000
    prior[prior == 12] = 123456
    res = spam.segment(img, n_segments=80, prior=prior)
    paths = save_result(tmp_path, "img", res, image=img,
                        extra={"prior": {"source": "label map", "file": "img.png"}})
    doc = json.loads(paths["sidecar"].read_text(encoding="utf-8"))
    assert doc["prior"] == {"source": "label map", "file": "img.png",
                            "object_ids": {"1": 3, "2": 70000, "3": 123456}}
    written = read_label_map(paths["objects"])
    assert written.max() == 3
    lut = np.zeros(4, np.int64)
    for new, old in doc["prior"]["object_ids"].items():
        lut[int(new)] = old
    assert np.array_equal(lut[written], prior)                  # nothing lost
    assert [(o["id"], o["original_id"]) for o in doc["objects"]] == [(1, 3), (2, 70000), (3, 123456)]
    labels = read_label_map(paths["labels"])
    sp_obj = np.asarray(doc["superpixel_object"])
    certain = written > 0
    assert np.array_equal(sp_obj[labels][certain], written[certain])
    assert res.objects.max() == 123456                          # the result itself is unchanged


def test_more_than_65535_objects_is_an_error(tmp_path, result):
    _, res = result
    h, w = 256, 257
    objects = np.arange(70000, 70000 + h * w, dtype=np.int32).reshape(h, w)
    bad = replace(res, labels=np.ones((h, w), np.int32), objects=objects,
                  superpixel_object=np.array([0, 70000], np.int32))
    with pytest.raises(ValueError, match="65535"):
        save_result(tmp_path, "bad", bad)
    assert list(tmp_path.iterdir()) == []


def test_superpixels_of_uncertain_pixels_only_get_object_0(tmp_path, spam):
    """A superpixel that covers no pixel of any object (only prior-0 pixels) is uncertain (0)
    in the sidecar; every other one has the object of its certain pixels."""
    img = _image()
    prior = np.full((48, 56), 5, np.int64)
    prior[:, 30:] = 8
    prior[:, 20:40] = 0                    # a wide uncertain band down the middle
    res = spam.segment(img, n_segments=60, prior=prior)
    paths = save_result(tmp_path, "img", res, image=img)
    doc = json.loads(paths["sidecar"].read_text(encoding="utf-8"))
    labels = read_label_map(paths["labels"])
    sp_obj = np.asarray(doc["superpixel_object"])
    assert sp_obj.shape == (res.n_superpixels + 1,) and sp_obj[0] == 0
    for lab in range(1, res.n_superpixels + 1):
        owners = np.unique(prior[(labels == lab) & (prior > 0)])
        assert sp_obj[lab] == (owners[0] if owners.size else 0), lab
    n_uncertain = int((sp_obj[1:] == 0).sum())
    assert n_uncertain > 0                 # the case this test is about does occur
    assert doc["n_uncertain_superpixels"] == n_uncertain
    assert sum(o["n_superpixels"] for o in doc["objects"]) + n_uncertain == res.n_superpixels


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs a non-root POSIX user for a real read-only folder")
def test_read_only_folder_real(tmp_path, result, spam):
    img, res = result
    save_result(tmp_path, "img", res, image=img)
    before = _snapshot(tmp_path)
    other = spam.segment(img, n_segments=50)
    os.chmod(tmp_path, 0o555)
    try:
        with pytest.raises(FileWriteError, match="img.png"):
            save_result(tmp_path, "img", other, image=img)
    finally:
        os.chmod(tmp_path, 0o755)
    assert _snapshot(tmp_path) == before


def test_read_only_folder_names_the_file_and_keeps_the_previous_one(tmp_path, result, spam,
                                                                   monkeypatch):
    """A folder where no file can be created (what a read-only folder does to mkstemp)."""
    import tempfile

    img, res = result
    save_result(tmp_path, "img", res, image=img)
    before = _snapshot(tmp_path)

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    other = spam.segment(img, n_segments=50)
    with pytest.raises(FileWriteError) as exc:
        save_result(tmp_path, "img", other, image=img)
    assert str(tmp_path / "img.png") in str(exc.value)
    assert "Permission denied" in str(exc.value)
    assert _snapshot(tmp_path) == before


def test_failure_in_the_middle_of_a_write_leaves_no_partial_file(tmp_path, result, spam,
                                                                 monkeypatch):
    """The disk fills up after part of a file was written: no temporary or partial file is
    left, and the previous file is untouched."""
    img, res = result
    save_result(tmp_path, "img", res, image=img)
    before = _snapshot(tmp_path)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    other = spam.segment(img, n_segments=50)
    with pytest.raises(FileWriteError, match="No space left") as exc:
        save_result(tmp_path, "img", other, image=img)
    assert "img.png" in str(exc.value)
    assert _snapshot(tmp_path) == before      # no .tmp file, nothing changed


def test_write_into_a_missing_folder_creates_it(tmp_path, result):
    img, res = result
    paths = save_result(tmp_path / "a" / "b", "img", res, image=img)
    assert all(p.is_file() for p in paths.values())


def test_a_file_where_the_folder_should_be(tmp_path, result):
    img, res = result
    blocker = tmp_path / "out"
    blocker.write_text("not a folder")
    with pytest.raises(FileWriteError, match="out"):
        save_result(blocker, "img", res, image=img)
    assert blocker.read_text() == "not a folder"


def test_atomic_writes_get_ordinary_permissions(tmp_path):
    import os

    from spam_gui.core.io.images import atomic_write_bytes

    p = atomic_write_bytes(tmp_path / "a.bin", b"x")
    umask = os.umask(0)
    os.umask(umask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~umask
    os.chmod(p, 0o640)
    atomic_write_bytes(p, b"y")  # an existing file keeps its mode
    assert p.stat().st_mode & 0o777 == 0o640 and p.read_bytes() == b"y"
