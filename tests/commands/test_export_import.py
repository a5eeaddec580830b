"""``spam export --format coco|voc`` and ``spam import --format coco`` (and ``spam segment
--labels``): round trips, exit codes and bad input, through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mu

from spam_gui.cli import main
from spam_gui.core.annotation import (
    CLASSES_FILE,
    Annotation,
    ClassList,
    LabelIndex,
    paint_disk,
    paint_labels,
    write_annotation,
)
from spam_gui.core.formats.voc import voc_colormap

H, W = 24, 32


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, Path, dict[str, Annotation]]:
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    lab = np.arange(H)[:, None] // 8 * 4 + np.arange(W)[None, :] // 8 + 1
    idx = LabelIndex(lab)
    classes = ClassList.from_names(["road", "person", "tree"])
    anns = {}
    for k, stem in enumerate(["street", "park"]):
        Image.fromarray(np.full((H, W, 3), 40 * k, np.uint8)).save(images / f"{stem}.jpg")
        ann = Annotation.empty((H, W))
        paint_labels(ann, idx, [1, 2, 3, 4], 1)
        paint_labels(ann, idx, [6 + k], 2, 1)
        paint_labels(ann, idx, [8], 2, 2)
        paint_disk(ann, 18, 20, 3, 3, 5)
        paint_disk(ann, 20, 4, 2, 3)
        write_annotation(labels, stem, ann, classes)
        anns[stem] = ann
    return images, labels, anns


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools
def test_png_coco_pycocotools_import_round_trip(dataset, tmp_path, capsys):
    images, labels, anns = dataset
    out = tmp_path / "coco.json"
    assert main(["export", "--format", "coco", str(labels), "--images", str(images),
                 "--out", str(out)]) == 0
    assert "-> " + str(out) in capsys.readouterr().err
    data = json.loads(out.read_text())
    by_image = {im["id"]: Path(im["file_name"]).stem for im in data["images"]}
    for stem, ann in anns.items():
        cls = np.zeros((H, W), np.uint16)
        inst = np.zeros_like(cls)
        for a in data["annotations"]:
            if by_image[a["image_id"]] != stem:
                continue
            m = mu.decode(a["segmentation"]).astype(bool)    # pycocotools, straight from the JSON
            cls[m] = a["category_id"]
            inst[m] = 0 if a["iscrowd"] else a["instance_id"]
        assert np.array_equal(cls, ann.class_map) and np.array_equal(inst, ann.instance_map)
    back = tmp_path / "back"
    assert main(["import", "--format", "coco", str(out), "--out", str(back),
                 "--images", str(images)]) == 0
    assert f"2 annotated images from {out} -> {back}" in capsys.readouterr().err
    assert _tree(back) == _tree(labels)                     # the same PNGs and classes.json


def test_voc_export_has_the_palette_colours(dataset, tmp_path, capsys):
    _, labels, anns = dataset
    out = tmp_path / "voc"
    assert main(["export", "--format", "voc", str(labels), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"2 images -> {out}" in err and "2/2" in err          # the summary, the bar
    assert main(["export", "--format", "voc", str(labels), "--out", str(tmp_path / "v2"),
                 "--no-progress"]) == 0
    assert "2/2" not in capsys.readouterr().err
    cmap = voc_colormap()
    for stem, ann in anns.items():
        with Image.open(out / "SegmentationClass" / f"{stem}.png") as im:
            assert im.mode == "P"
            assert np.array_equal(np.asarray(im.convert("RGB")), cmap[ann.class_map])
        with Image.open(out / "SegmentationObject" / f"{stem}.png") as im:
            assert np.array_equal(np.asarray(im), ann.instance_map)
    assert main(["export", "--format", "voc", str(labels), "--out", str(out)]) == 2
    assert main(["export", "--format", "voc", str(labels), "--out", str(out), "--overwrite"]) == 0
    back = tmp_path / "back"
    assert main(["import", "--format", "voc", str(out), "--out", str(back)]) == 0
    assert _tree(back) == _tree(labels)
    assert main(["import", "--format", "voc", str(out), "--out", str(back), "--images",
                 str(out)]) == 2


def test_bad_classes_json(dataset, tmp_path, capsys):
    images, labels, _ = dataset
    (labels / CLASSES_FILE).write_text('{"classes": [')
    out = tmp_path / "coco.json"
    for argv in (["export", "--format", "coco", str(labels), "--images", str(images), "--out",
                  str(out)],
                 ["export", "--format", "voc", str(labels), "--out", str(tmp_path / "voc")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"error: {labels / CLASSES_FILE}: not valid JSON" in err
    assert not out.exists() and not (tmp_path / "voc").exists()


def test_class_png_of_the_wrong_size(dataset, tmp_path, capsys):
    images, labels, _ = dataset
    Image.fromarray(np.zeros((H, W + 1), np.uint8)).save(labels / "park_classes.png")
    out = tmp_path / "coco.json"
    out.write_text("previous export")
    assert main(["export", "--format", "coco", str(labels), "--images", str(images), "--out",
                 str(out), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert str(labels / "park_classes.png") in err and "33x24" in err and "32x24" in err
    assert out.read_text() == "previous export"


def test_coco_naming_a_missing_image(dataset, tmp_path, capsys):
    images, labels, _ = dataset
    src = tmp_path / "coco.json"
    assert main(["export", "--format", "coco", str(labels), "--images", str(images),
                 "--out", str(src)]) == 0
    data = json.loads(src.read_text())
    data["annotations"][-1]["image_id"] = 12
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["import", "--format", "coco", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "names image 12" in err
    (images / "park.jpg").unlink()
    assert main(["import", "--format", "coco", str(src), "--out", str(out),
                 "--images", str(images)]) == 2
    err = capsys.readouterr().err
    assert str(src) in err and "'park.jpg'" in err
    assert not out.exists() or not any(out.iterdir())


def test_import_never_overwrites_without_asking(dataset, tmp_path, capsys):
    images, labels, _ = dataset
    src = tmp_path / "coco.json"
    assert main(["export", "--format", "coco", str(labels), "--images", str(images),
                 "--out", str(src)]) == 0
    before = _tree(labels)
    (labels / "street_classes.png").write_bytes(b"edited")
    assert main(["import", "--format", "coco", str(src), "--out", str(labels)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (labels / "street_classes.png").read_bytes() == b"edited"
    assert main(["import", "--format", "coco", str(src), "--out", str(labels),
                 "--overwrite"]) == 0
    assert _tree(labels) == before


def test_usage_errors(dataset, tmp_path, capsys):
    images, labels, _ = dataset
    assert main(["export", "--format", "coco", str(labels), "--out", str(tmp_path / "x.json")]) == 2
    assert "needs --images" in capsys.readouterr().err
    assert main(["export", "--format", "coco", str(labels), "--images", str(images),
                 "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert main(["export", "--format", "voc", str(tmp_path / "nope"), "--out",
                 str(tmp_path / "v")]) == 2
    assert "no such annotation folder" in capsys.readouterr().err
    assert main(["export", "--format", "voc", str(images), "--out", str(tmp_path / "v")]) == 2
    assert f"{images}: no {CLASSES_FILE}" in capsys.readouterr().err
    assert main(["import", "--format", "coco", str(tmp_path / "none.json"), "--out",
                 str(tmp_path / "o")]) == 2
    assert "no such COCO file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["export", "--format", "cvat", str(labels), "--out", str(tmp_path / "x")])
    assert exc.value.code == 2


def _segment(images: Path, out: Path, *extra: str) -> int:
    return main(["segment", str(images), "--out", str(out), "-k", "12", "--iterations", "2",
                 "--encoder", "none", "--device", "cpu", "--no-progress", *extra])


def test_segment_writes_existing_annotations_beside_its_outputs(dataset, tmp_path, capsys):
    images, labels, _ = dataset
    # a class map in the app's 16-bit form: re-exported as the palette PNG of its classes
    Image.fromarray(np.asarray(Image.open(labels / "street_classes.png")).astype(np.uint16)
                    ).save(labels / "park_classes.png")
    (labels / "park_instances.png").write_bytes((labels / "street_instances.png").read_bytes())
    out = tmp_path / "out"
    assert _segment(images, out, "--labels", str(labels)) == 0, capsys.readouterr().err
    assert (out / "park.png").is_file() and (out / "street.png").is_file()
    copied = _tree(out / "spam_labels")
    assert sorted(copied) == ["classes.json", "park_classes.png", "park_instances.png",
                              "street_classes.png", "street_instances.png"]
    assert copied["street_classes.png"] == (labels / "street_classes.png").read_bytes()
    assert copied["park_classes.png"] == copied["street_classes.png"]
    assert copied["classes.json"] == (labels / CLASSES_FILE).read_bytes()


def test_segment_refuses_bad_annotations_before_any_work(dataset, tmp_path, capsys):
    images, labels, _ = dataset
    Image.fromarray(np.zeros((H + 2, W), np.uint8)).save(labels / "park_classes.png")
    out = tmp_path / "out"
    assert _segment(images, out, "--labels", str(labels)) == 2
    err = capsys.readouterr().err
    assert str(labels / "park_classes.png") in err and "32x26" in err and "32x24" in err
    assert not out.exists()
    (labels / CLASSES_FILE).write_text("[]")
    assert _segment(images, out, "--labels", str(labels)) == 2
    assert f"{labels / CLASSES_FILE}: expected an object" in capsys.readouterr().err
    assert not out.exists()


def test_a_failed_write_exits_1_and_leaves_nothing(dataset, tmp_path, capsys, monkeypatch):
    """A full disk while staging (``spam export --format voc``, ``spam import``): exit code 1,
    the error names the file, no file and no temporary file is left."""
    import errno

    from spam_gui.core.io import images as image_io

    images, labels, _ = dataset
    src = tmp_path / "coco.json"
    assert main(["export", "--format", "coco", str(labels), "--images", str(images),
                 "--out", str(src)]) == 0
    capsys.readouterr()

    def full_disk(path, data):
        raise image_io.FileWriteError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr("spam_gui.core.io.images.stage_bytes", full_disk)
    for argv, out in ((["export", "--format", "voc", str(labels)], tmp_path / "voc"),
                      (["import", "--format", "coco", str(src)], tmp_path / "back")):
        assert main([*argv, "--out", str(out), "--no-progress"]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "No space left" in err and str(out) in err
        assert not out.exists() or _tree(out) == {}
