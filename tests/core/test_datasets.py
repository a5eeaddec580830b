"""Reading BSDS-layout dataset folders (spam_gui.core.evaluation.datasets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spam_gui.core.evaluation.datasets import DatasetError, load_dataset


def write_image(path: Path, h: int = 6, w: int = 8, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.random.default_rng(seed).integers(0, 256, (h, w, 3)).astype(np.uint8)
    Image.fromarray(rgb).save(path)


def write_gt(path: Path, labels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(labels.astype(np.uint16)).save(path)


def make_dataset(root: Path) -> Path:
    write_image(root / "images" / "b_1.png")
    write_image(root / "images" / "a.jpg", seed=1)
    write_image(root / "images" / "c.png", seed=2)
    gt = np.arange(48).reshape(6, 8) // 4 + 1000  # 16-bit values
    write_gt(root / "gt" / "a_0.png", gt)
    write_gt(root / "gt" / "a_1.png", gt // 2)
    write_gt(root / "gt" / "a_10.png", gt * 0 + 1)  # numeric, not text, annotator order
    write_gt(root / "gt" / "b_1_0.png", gt)  # the id has an underscore
    write_gt(root / "gt" / "c_0.png", gt)
    (root / "index.csv").write_text("id,height,width,n_annotators\n")
    (root / "images" / "Thumbs.db").write_bytes(b"junk")
    (root / "gt" / ".hidden.png").write_bytes(b"junk")
    return root


def test_reads_sorted_ids_annotators_and_16bit_maps(tmp_path):
    ds = load_dataset(make_dataset(tmp_path / "set"))
    assert ds.ids == ["a", "b_1", "c"]
    a = ds[0]
    assert [p.name for p in a.gt_paths] == ["a_0.png", "a_1.png", "a_10.png"]
    assert a.n_annotators == 3 and ds[1].n_annotators == 1
    image, gts = a.load()
    assert image.shape == (6, 8, 3) and image.dtype == np.uint8
    assert gts[0].dtype == np.int32 and gts[0].max() == 1011 and gts[0].min() == 1000
    assert len(list(ds)) == len(ds) == 3


def test_limit_takes_the_first_ids(tmp_path):
    root = make_dataset(tmp_path / "set")
    assert load_dataset(root, limit=2).ids == ["a", "b_1"]
    assert load_dataset(root, limit=99).ids == ["a", "b_1", "c"]
    with pytest.raises(DatasetError, match="limit"):
        load_dataset(root, limit=0)


def test_missing_folders_are_named(tmp_path):
    with pytest.raises(DatasetError, match="no such folder"):
        load_dataset(tmp_path / "nope")
    make_dataset(tmp_path / "bsds" / "val")
    with pytest.raises(DatasetError, match=r"images: no such folder.*split folders: val"):
        load_dataset(tmp_path / "bsds")
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "images").mkdir()
    with pytest.raises(DatasetError, match=r"only/gt: no such folder"):
        load_dataset(tmp_path / "only")
    (tmp_path / "only" / "gt").mkdir()
    with pytest.raises(DatasetError, match="no image files"):
        load_dataset(tmp_path / "only")


def test_image_without_ground_truth_is_named(tmp_path):
    root = make_dataset(tmp_path / "set")
    write_image(root / "images" / "d.png")
    with pytest.raises(DatasetError, match=r"d\.png: no ground truth.*d_0\.png"):
        load_dataset(root)


def test_ground_truth_without_image_or_with_a_bad_name(tmp_path):
    root = make_dataset(tmp_path / "set")
    write_gt(root / "gt" / "zz_0.png", np.ones((6, 8)))
    with pytest.raises(DatasetError, match=r"zz_0\.png: .*no images/zz"):
        load_dataset(root)
    (root / "gt" / "zz_0.png").unlink()
    write_gt(root / "gt" / "a.png", np.ones((6, 8)))
    with pytest.raises(DatasetError, match=r"a\.png: a ground-truth file must be named"):
        load_dataset(root)


def test_duplicates_are_refused(tmp_path):
    root = make_dataset(tmp_path / "set")
    write_image(root / "images" / "a.png")
    with pytest.raises(DatasetError, match="two images have the id 'a'"):
        load_dataset(root)
    (root / "images" / "a.png").unlink()
    write_gt(root / "gt" / "a_01.png", np.ones((6, 8)))
    with pytest.raises(DatasetError, match="annotator 1 of 'a' appears twice"):
        load_dataset(root)


def test_size_mismatch_and_corrupt_files_name_the_file(tmp_path):
    root = make_dataset(tmp_path / "set")
    write_gt(root / "gt" / "a_1.png", np.ones((5, 8)))
    ds = load_dataset(root)
    with pytest.raises(DatasetError, match=r"a_1\.png: the ground truth is 5x8.*a\.jpg is 6x8"):
        ds[0].load()
    (root / "images" / "c.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=r"c\.png"):
        ds[2].load_image()
    (root / "gt" / "c_0.png").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"c_0\.png"):
        ds[2].load_gt()
