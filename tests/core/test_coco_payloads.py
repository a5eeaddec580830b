"""Issue 23 items 10 and 11: COCO import checks every number before any decoder sees it (the
payloads that crashed or exhausted the process run here, in-process, because they are refused
first), and decodes one annotation at a time into its box."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mu

from spam_gui.core.annotation import AnnotationError
from spam_gui.core.formats.coco import check_segmentation, import_coco, read_coco

H, W = 20, 30


def _coco(tmp_path: Path, segm: object, h: int = H, w: int = W, name: str = "bad.json") -> Path:
    data = {"images": [{"id": 1, "file_name": "x.png", "width": w, "height": h}],
            "categories": [{"id": 1, "name": "thing"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                             "segmentation": segm}]}
    path = tmp_path / name
    path.write_text(json.dumps(data))          # NaN / Infinity written as JSON allows
    return path


PAYLOADS = [
    # runs that wrap past 2**64 (and 2**63) to exactly the image's pixel count
    ({"size": [H, W], "counts": [2**64 - 5, 5 + H * W]}, "cover"),
    ({"size": [H, W], "counts": [2**63, 2**63 + H * W]}, "cover"),
    ({"size": [H, W], "counts": [2**62] * 4 + [H * W]}, "cover"),
    ({"size": [H, W], "counts": [H * W + 7, -7]}, "negative run"),
    ({"size": [H, W], "counts": [10**30, 1]}, "cover"),
    ({"size": [H, W], "counts": [1.5, H * W - 1.5]}, "whole numbers"),
    ([[1e300, 1, 5, 1, 5, 5]], "1e+300"),
    ([[float("nan"), 1, 5, 1, 5, 5]], "nan"),
    ([[1, 1, float("inf"), 1, 5, 5]], "inf"),
    ([[1, 1, 10**400, 1, 5, 5]], "not a finite number"),
    ([[1, 1, 5, -40, 5, 5]], "-40"),
    ([[1, 1, 5, 1, 5, 5], "x"], "at least 3"),
]


@pytest.mark.parametrize("segm, words", PAYLOADS)
def test_bad_numbers_are_refused_by_name_before_decoding(tmp_path, segm, words):
    path = _coco(tmp_path, segm)
    with pytest.raises(AnnotationError) as err:
        read_coco(path)
    assert str(path) in str(err.value) and words in str(err.value)


def test_wrapping_string_counts_are_refused(tmp_path):
    """A compressed RLE string whose runs are huge (and would wrap in 64 bits)."""
    def enc(x: int) -> str:          # pycocotools' LEB128-like character code of one value
        out = ""
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = not ((c & 0x10) == 0 and x == 0 or (c & 0x10) != 0 and x == -1)
            if more:
                c |= 0x20
            out += chr(c + 48)
        return out

    text = enc(2**64 - 3) + enc(3 + H * W - (2**64 - 3))   # the second is a delta from none
    path = _coco(tmp_path, {"size": [H, W], "counts": text})
    with pytest.raises(AnnotationError, match="cover|negative"):
        read_coco(path)


def test_an_endless_rle_value_is_refused_at_once(tmp_path):
    """Continuation characters without end would build a huge integer (slowly): refused."""
    path = _coco(tmp_path, {"size": [H, W], "counts": "o" * 200_000 + "0"})
    with pytest.raises(AnnotationError, match="longer than any image"):
        read_coco(path)


@pytest.mark.parametrize("segm", [p for p, _ in PAYLOADS[:3]] + [PAYLOADS[6][0], PAYLOADS[7][0]])
def test_the_cli_refuses_the_file_with_exit_2_and_writes_nothing(tmp_path, capsys, segm):
    from spam_gui.cli import main as spam_main

    path = _coco(tmp_path, segm)
    out = tmp_path / "out"
    rc = spam_main(["import", "--format", "coco", str(path), "--out", str(out), "--no-progress"])
    assert rc == 2
    err = capsys.readouterr().err
    assert str(path) in err and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools
def test_box_decoding_equals_pycocotools(tmp_path):
    rng = np.random.default_rng(0)
    for _ in range(25):
        h, w = rng.integers(5, 40, 2)
        m = np.zeros((h, w), np.uint8)
        y, x = rng.integers(0, h), rng.integers(0, w)
        m[y:y + rng.integers(1, 9), x:x + rng.integers(1, 9)] = 1
        m[rng.random((h, w)) < 0.05] = 1
        rle = mu.encode(np.asfortranarray(m))
        shape = check_segmentation({"size": [int(h), int(w)], "counts": rle["counts"].decode()},
                                   int(h), int(w), "x")
        assert np.array_equal(shape.full_mask(), m.astype(bool))
        assert shape.area == int(m.sum())
        poly = (rng.random((6, 2)) * [w, h]).ravel().tolist()
        ref = mu.decode(mu.merge(mu.frPyObjects([poly], int(h), int(w)))).astype(bool)
        got = check_segmentation([poly], int(h), int(w), "x").full_mask()
        assert np.array_equal(got, ref)


def test_many_small_instances_on_a_large_image_are_decoded_box_by_box(tmp_path):
    """A 4,000 x 5,000 image with 150 small instances: the import's peak memory stays near
    the two maps (80 MB), not an image-sized mask per instance (150 x 20 MB before)."""
    h, w = 4000, 5000
    anns = []
    rng = np.random.default_rng(1)
    for i in range(150):
        y, x = int(rng.integers(0, h - 20)), int(rng.integers(0, w - 20))
        counts = [x * h + y]
        for _ in range(12):                      # 12 columns of 15 pixels
            counts += [15, h - 15]
        counts[-1] = h * w - sum(counts[:-1])
        anns.append({"id": i + 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                     "instance_id": i + 1, "segmentation": {"size": [h, w], "counts": counts}})
    data = {"images": [{"id": 1, "file_name": "big.png", "width": w, "height": h}],
            "categories": [{"id": 1, "name": "dot"}], "annotations": anns}
    path = tmp_path / "big.json"
    path.write_text(json.dumps(data))
    ds = read_coco(path)
    tracemalloc.start()
    try:
        ann = ds.annotation(ds.images[0])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * h * w * 2 + 30e6          # the two uint16 maps and a little
    assert int((ann.instance_map > 0).sum()) > 0.8 * 150 * 180
    assert set(np.unique(ann.class_map).tolist()) == {0, 1}
    with pytest.raises(AnnotationError):          # (nothing else is needed to refuse a file)
        import_coco(_coco(tmp_path, [[0, 0, 1, 1, float("nan"), 2]], name="n.json"),
                    tmp_path / "o")
