"""COCO and Pascal VOC export / import of annotation folders (core.formats)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image
from pycocotools import mask as mu
from pycocotools.coco import COCO

from spam_gui.core.annotation import (
    CLASSES_FILE,
    Annotation,
    AnnotationError,
    ClassList,
    LabelIndex,
    paint_disk,
    paint_labels,
    read_annotation,
    read_classes,
    write_annotation,
    write_classes,
)
from spam_gui.core.formats.coco import (
    build_coco, export_coco, import_coco, mask_from_segmentation, read_coco, rle_from_band,
)
from spam_gui.core.formats.shapes import counts_from_string
from spam_gui.core.formats.common import image_size
from spam_gui.core.formats.voc import export_voc, import_voc, voc_colormap

H, W = 30, 40


def _annotation(seed: int) -> Annotation:
    """Grid superpixels painted with two classes: instances, loose class pixels, a disk."""
    lab = np.arange(H)[:, None] // 10 * 4 + np.arange(W)[None, :] // 10 + 1
    idx = LabelIndex(lab)
    ann = Annotation.empty((H, W))
    paint_labels(ann, idx, [1, 2], 1)
    paint_labels(ann, idx, [6], 2, 3 + seed)
    paint_labels(ann, idx, [8, 12], 2, 7)
    paint_labels(ann, idx, [10], 1, 9)
    paint_disk(ann, 20, 5, 3 + seed, 2)
    return ann


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path, dict[str, Annotation], ClassList]:
    """An image folder (a.jpg, b.png, c.jpg: c not annotated) and its annotation folder."""
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    for name in ("a.jpg", "b.png", "c.jpg"):
        Image.fromarray(np.full((H, W, 3), 90, np.uint8)).save(images / name)
    classes = ClassList.from_names(["sky", "car"]).recolor(1, "#87ceeb")
    anns = {"a": _annotation(0), "b": _annotation(1)}
    for stem, ann in anns.items():
        write_annotation(labels, stem, ann, classes)
    return images, labels, anns, classes


def _maps_from_coco(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Class and instance maps rebuilt from a COCO file with pycocotools alone."""
    coco = COCO(str(path))
    out = {}
    for img in coco.dataset["images"]:
        cls = np.zeros((img["height"], img["width"]), np.uint16)
        inst = np.zeros_like(cls)
        for a in coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]])):
            m = coco.annToMask(a).astype(bool)
            assert not (cls[m] != 0).any(), "annotations of one image overlap"
            cls[m] = a["category_id"]
            if not a["iscrowd"]:
                inst[m] = a["instance_id"]
            assert a["area"] == int(m.sum())
            assert a["bbox"] == mu.toBbox(a["segmentation"]).tolist()
        out[Path(img["file_name"]).stem] = (cls, inst)
    return out


# --------------------------------------------------------------------------------- RLE


@settings(max_examples=80, deadline=None)
@given(mask=arrays(bool, st.tuples(st.integers(1, 9), st.integers(1, 9))), data=st.data())
def test_rle_from_band_is_pycocotools_encoding(mask, data):
    h, w = mask.shape
    x0 = data.draw(st.integers(0, w - 1))
    x1 = data.draw(st.integers(x0, w))
    mask[:, :x0] = False
    mask[:, x1:] = False
    rle = rle_from_band(mask[:, x0:x1], x0, w)
    ref = mu.encode(np.asfortranarray(mask.astype(np.uint8)))
    assert rle == {"size": [h, w], "counts": ref["counts"].decode("ascii")}
    assert counts_from_string(rle["counts"]) == _plain_runs(mask)
    assert np.array_equal(mask_from_segmentation(rle, h, w, "x"), mask)


def _plain_runs(mask: np.ndarray) -> list[int]:
    runs, cur, n = [], False, 0
    for v in mask.ravel(order="F"):
        if v != cur:
            runs.append(n)
            cur, n = v, 0
        n += 1
    return runs + [n]


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools
@settings(max_examples=60, deadline=None)
@given(inst=arrays(np.uint16, st.tuples(st.integers(1, 12), st.integers(1, 12)),
                   elements=st.integers(0, 5)),
       loose=st.data())
def test_any_annotation_survives_coco(inst, loose):
    """Random class and instance maps (one class per instance) -> COCO entries -> pycocotools
    decoding and our reader give both maps back exactly."""
    from spam_gui.core.formats.coco import CocoDataset, CocoImage, annotation_entries

    free = loose.draw(arrays(np.uint16, inst.shape, elements=st.integers(0, 3)))
    cls = np.where(inst > 0, 1 + inst % 3, free).astype(np.uint16)
    inst = np.where(cls > 0, inst, 0).astype(np.uint16)
    ann = Annotation(cls, inst)
    entries = annotation_entries(ann, 7, 1)
    h, w = inst.shape
    got_c, got_i = np.zeros_like(cls), np.zeros_like(inst)
    for e in entries:
        m = mu.decode({"size": e["segmentation"]["size"],
                       "counts": e["segmentation"]["counts"].encode()}).astype(bool)
        assert not got_c[m].any() and e["area"] == int(m.sum()) > 0
        got_c[m] = e["category_id"]
        got_i[m] = e.get("instance_id", 0)
        assert e["iscrowd"] == (0 if "instance_id" in e else 1)
    assert np.array_equal(got_c, cls) and np.array_equal(got_i, inst)
    ds = CocoDataset(Path("x.json"), ClassList.from_names(["a", "b", "c"]),
                     [CocoImage(7, "x.png", h, w, entries)])
    assert ds.annotation(ds.images[0]) == ann


def test_segmentation_forms_and_bad_ones():
    mask = np.zeros((6, 8), bool)
    mask[1:4, 2:7] = True
    unc = {"size": [6, 8], "counts": _plain_runs(mask)}
    assert np.array_equal(mask_from_segmentation(unc, 6, 8, "x"), mask)
    poly = [[2, 1, 6.99, 1, 6.99, 3.99, 2, 3.99]]
    got = mask_from_segmentation(poly, 6, 8, "x")
    assert got[2, 3] and not got[5, 0]
    rle = mu.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode()
    bad = [
        ({"size": [6, 9], "counts": rle["counts"]}, "RLE size"),
        ({"size": [6, 8], "counts": _plain_runs(mask)[:-1]}, "cover"),
        ({"size": [6, 8], "counts": rle["counts"] + "0"}, "cover"),   # one run more
        ({"size": [6, 8], "counts": rle["counts"][:-1] + "o"}, "cut short"),
        ({"size": [6, 8], "counts": "\x01\x02"}, "alphabet"),
        ({"size": [6, 8], "counts": 3}, "list or a string"),
        ([[1, 2, 3]], "polygon"),
        ("nope", "RLE or polygons"),
    ]
    for segm, words in bad:
        with pytest.raises(AnnotationError, match=words):
            mask_from_segmentation(segm, 6, 8, "file.json: annotation 4")


# --------------------------------------------------------------------------------- COCO


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools
def test_coco_round_trip_pixel_for_pixel(folders, tmp_path):
    images, labels, anns, classes = folders
    out = tmp_path / "coco.json"
    summary = export_coco(labels, images, out)
    assert summary == {"images": 3, "annotated": 2, "annotations": 10, "categories": 2}
    data = json.loads(out.read_text())
    assert [i["file_name"] for i in data["images"]] == ["a.jpg", "b.png", "c.jpg"]
    assert data["categories"] == [
        {"id": 1, "name": "sky", "supercategory": "", "color": "#87ceeb"},
        {"id": 2, "name": "car", "supercategory": "", "color": classes.by_id(2).color}]
    assert all(isinstance(a["segmentation"]["counts"], str) for a in data["annotations"])
    crowd = [a for a in data["annotations"] if a["iscrowd"]]
    assert sorted((a["image_id"], a["category_id"]) for a in crowd) == [(1, 1), (1, 2), (2, 1),
                                                                        (2, 2)]
    maps = _maps_from_coco(out)
    assert set(maps) == {"a", "b", "c"} and not maps["c"][0].any()
    for stem, ann in anns.items():
        assert np.array_equal(maps[stem][0], ann.class_map)
        assert np.array_equal(maps[stem][1], ann.instance_map)
    back = tmp_path / "back"
    written = import_coco(out, back, image_dir=images)
    assert sorted(p.name for p in written) == ["a_classes.png", "a_instances.png",
                                               "b_classes.png", "b_instances.png", CLASSES_FILE]
    for p in written:      # the same files, byte for byte
        assert p.read_bytes() == (labels / p.name).read_bytes(), p.name


def test_coco_import_numbers_instances_and_stacks_small_over_large(tmp_path):
    big = np.zeros((10, 12), bool)
    big[1:9, 1:11] = True
    small = np.zeros_like(big)
    small[3:5, 3:6] = True

    def rle(m):
        r = mu.encode(np.asfortranarray(m.astype(np.uint8)))
        return {"size": r["size"], "counts": r["counts"].decode()}

    coco = {"images": [{"id": 5, "file_name": "sub/x.jpg", "width": 12, "height": 10}],
            "categories": [{"id": 3, "name": "cat", "color": "not a colour"},
                           {"id": 9, "name": "dog"}],
            "annotations": [
                {"id": 1, "image_id": 5, "category_id": 9, "segmentation": rle(small),
                 "iscrowd": 0},
                {"id": 2, "image_id": 5, "category_id": 3, "segmentation": rle(big),
                 "iscrowd": 0},
                {"id": 3, "image_id": 5, "category_id": 3, "iscrowd": 0,
                 "segmentation": [[0, 0, 2, 0, 2, 2, 0, 2]]}]}
    path = tmp_path / "in.json"
    path.write_text(json.dumps(coco))
    ds = read_coco(path)
    assert ds.classes.ids == (3, 9) and ds.classes.by_id(3).color.startswith("#")
    import_coco(path, tmp_path / "out")
    ann = read_annotation(tmp_path / "out", "x", (10, 12))
    assert (ann.class_map[small] == 9).all() and (ann.instance_map[small] == 1).all()
    assert (ann.instance_map[5:9, 1:11] == 2).all()         # the file's order: 1, 2, 3
    assert ann.class_map[0, 0] == 3 and ann.instance_map[0, 0] == 3


@pytest.mark.parametrize("edit, words", [
    (lambda d: d["annotations"][0].update(image_id=99), "annotation 1 names image 99, which"),
    (lambda d: d["annotations"][0].update(category_id=42), "names category 42"),
    (lambda d: d["images"].append(dict(d["images"][0], id=77, file_name="other/a.png")),
     "same name"),
    (lambda d: d["images"].append(dict(d["images"][0])), "image id 1 is used twice"),
    (lambda d: d["categories"].append(dict(d["categories"][0], id=5)), "category entry 3"),
    (lambda d: d["images"][0].update(width=0), "image entry 1"),
    (lambda d: d.pop("categories"), "not a COCO file"),
    (lambda d: d["annotations"][0]["segmentation"].update(size=[3, 3]), "RLE size"),
    (lambda d: d["annotations"][0].update(image_id=[1]), "names image [1]"),
    (lambda d: d["annotations"][0].update(category_id="1"), "names category '1'"),
    (lambda d: d["images"][0].update(width=10**6, height=10**6), "above the limit"),
])
def test_bad_coco_names_the_file_and_writes_nothing(folders, tmp_path, edit, words):
    images, labels, _, _ = folders
    src = tmp_path / "coco.json"
    export_coco(labels, images, src)
    data = json.loads(src.read_text())
    edit(data)
    src.write_text(json.dumps(data))
    out = tmp_path / "out"
    with pytest.raises(AnnotationError) as err:
        import_coco(src, out)
    assert str(src) in str(err.value) and words in str(err.value)
    assert not out.exists() or not list(out.iterdir())


def test_coco_naming_a_missing_image(folders, tmp_path):
    images, labels, _, _ = folders
    src = tmp_path / "coco.json"
    export_coco(labels, images, src)
    (images / "b.png").unlink()
    out = tmp_path / "out"
    with pytest.raises(AnnotationError) as err:
        import_coco(src, out, image_dir=images)
    msg = str(err.value)
    assert str(src) in msg and "'b.png'" in msg and str(images) in msg
    assert not out.exists()
    Image.fromarray(np.zeros((H + 1, W, 3), np.uint8)).save(images / "b.png")
    with pytest.raises(AnnotationError, match=r"'b.png' is 40x31 pixels .* but 40x30"):
        import_coco(src, out, image_dir=images)


def test_coco_import_refuses_to_overwrite(folders, tmp_path):
    images, labels, _, _ = folders
    src = tmp_path / "coco.json"
    export_coco(labels, images, src)
    before = {p.name: p.read_bytes() for p in labels.iterdir()}
    (labels / "a_instances.png").write_bytes(b"keep me")
    with pytest.raises(AnnotationError, match="exist.* already; nothing was written"):
        import_coco(src, labels)
    assert (labels / "a_instances.png").read_bytes() == b"keep me"
    import_coco(src, labels, overwrite=True)
    assert {p.name: p.read_bytes() for p in labels.iterdir()} == before


def test_coco_export_bad_inputs_name_the_file(folders, tmp_path):
    images, labels, anns, classes = folders
    out = tmp_path / "coco.json"
    out.write_text("old")
    with pytest.raises(AnnotationError, match="exist"):
        export_coco(labels, images, out)
    (images / "b.png").rename(images / "zz.png")
    with pytest.raises(AnnotationError) as err:
        export_coco(labels, images, out, overwrite=True)
    assert str(labels / "b_classes.png") in str(err.value) and "no image named b.*" in str(err.value)
    Image.fromarray(np.zeros((H, W + 2, 3), np.uint8)).save(images / "b.png")
    with pytest.raises(AnnotationError) as err:
        export_coco(labels, images, out, overwrite=True)
    assert str(labels / "b_classes.png") in str(err.value)
    assert "40x30" in str(err.value) and "42x30" in str(err.value)
    (labels / CLASSES_FILE).write_text("{oops")
    with pytest.raises(AnnotationError, match=r"classes.json: not valid JSON \(line 1"):
        export_coco(labels, images, out, overwrite=True)
    assert out.read_text() == "old"
    write_classes(labels / CLASSES_FILE, classes.remove(2))
    with pytest.raises(AnnotationError, match=r"class id\(s\) 2 that classes.json"):
        build_coco(labels, images)


def test_image_size_follows_exif_orientation(tmp_path):
    from spam_gui.core.io.images import read_image

    im = Image.fromarray(np.zeros((10, 20, 3), np.uint8))
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(tmp_path / "r.jpg", exif=exif)
    assert image_size(tmp_path / "r.jpg") == read_image(tmp_path / "r.jpg").shape[:2] == (20, 10)


# --------------------------------------------------------------------------------- VOC


def test_voc_export_opens_with_the_palette_colours(folders, tmp_path):
    _, labels, anns, classes = folders
    out = tmp_path / "voc"
    written = export_voc(labels, out)
    assert len(written) == 7
    cmap = voc_colormap()
    for stem, ann in anns.items():
        with Image.open(out / "SegmentationClass" / f"{stem}.png") as im:
            assert im.mode == "P"
            assert np.array_equal(np.asarray(im), ann.class_map)
            assert np.array_equal(np.asarray(im.convert("RGB")), cmap[ann.class_map])
        with Image.open(out / "SegmentationObject" / f"{stem}.png") as im:
            assert im.mode == "P"
            assert np.array_equal(np.asarray(im), ann.instance_map)
    assert cmap[1].tolist() == [128, 0, 0] and cmap[15].tolist() == [192, 128, 128]
    assert cmap[255].tolist() == [224, 224, 192]
    assert (out / "ImageSets" / "Segmentation" / "default.txt").read_text() == "a\nb\n"
    assert (out / "labelmap.txt").read_text().splitlines()[1:] == [
        "background:0,0,0::", "sky:128,0,0::", "car:0,128,0::"]
    with pytest.raises(AnnotationError, match="exist"):
        export_voc(labels, out)


def test_voc_renumbers_large_instance_ids_and_refuses_void_class_ids(tmp_path):
    ann = Annotation.empty((8, 8))
    classes = ClassList.from_names(["a"])
    paint_disk(ann, 2, 2, 1, 1, 300)
    paint_disk(ann, 6, 6, 1, 1, 1000)
    write_annotation(tmp_path / "l", "x", ann, classes)
    export_voc(tmp_path / "l", tmp_path / "voc")
    with Image.open(tmp_path / "voc" / "SegmentationObject" / "x.png") as im:
        obj = np.asarray(im)
    assert obj[2, 2] == 1 and obj[6, 6] == 2 and set(np.unique(obj)) == {0, 1, 2}
    write_classes(tmp_path / "l" / CLASSES_FILE, classes.add("void", class_id=255))
    with pytest.raises(AnnotationError, match="id 255; Pascal VOC"):
        export_voc(tmp_path / "l", tmp_path / "voc2")
    assert not (tmp_path / "voc2").exists()


def test_voc_import_round_trip_and_other_tools_class_lists(folders, tmp_path):
    _, labels, anns, classes = folders
    voc = tmp_path / "voc"
    export_voc(labels, voc)
    back = tmp_path / "back"
    written = import_voc(voc, back)
    assert len(written) == 5
    for p in written:                          # classes.json kept the colours: the same bytes
        assert p.read_bytes() == (labels / p.name).read_bytes(), p.name
    (voc / CLASSES_FILE).unlink()              # CVAT / Datumaro: labelmap.txt
    import_voc(voc, tmp_path / "b2")
    cl = read_classes(tmp_path / "b2" / CLASSES_FILE)
    assert [(c.id, c.name) for c in cl] == [(1, "sky"), (2, "car")]
    assert read_annotation(tmp_path / "b2", "a") == anns["a"]
    (voc / "labelmap.txt").unlink()            # labelme2voc: class_names.txt
    (voc / "class_names.txt").write_text("_background_\nsky\ncar\n")
    import_voc(voc, tmp_path / "b3")
    assert [c.name for c in read_classes(tmp_path / "b3" / CLASSES_FILE)] == ["sky", "car"]
    (voc / "class_names.txt").unlink()         # no list at all: named by id
    import_voc(voc, tmp_path / "b4")
    assert [c.name for c in read_classes(tmp_path / "b4" / CLASSES_FILE)] == ["class 1", "class 2"]
    with pytest.raises(AnnotationError, match="exist"):
        import_voc(voc, tmp_path / "b4")


def test_voc_import_void_colour_masks_and_bad_masks(tmp_path):
    voc = tmp_path / "voc"
    (voc / "SegmentationClass").mkdir(parents=True)
    (voc / "SegmentationObject").mkdir()
    cmap = voc_colormap()
    cls = np.zeros((6, 8), np.uint8)
    cls[1:4, 1:4] = 15
    cls[0, :] = 255                            # the void border
    obj = np.where(cls == 15, 1, 0).astype(np.uint8)
    obj[0, :] = 255
    Image.fromarray(cmap[cls]).save(voc / "SegmentationClass" / "x.png")   # an RGB mask
    Image.fromarray(obj).save(voc / "SegmentationObject" / "x.png")
    import_voc(voc, tmp_path / "out")
    ann = read_annotation(tmp_path / "out", "x")
    assert np.array_equal(ann.class_map, np.where(cls == 15, 15, 0))
    assert np.array_equal(ann.instance_map, np.where(cls == 15, 1, 0))
    rgb = cmap[cls].copy()
    rgb[5, 7] = (1, 2, 3)
    Image.fromarray(rgb).save(voc / "SegmentationClass" / "x.png")
    with pytest.raises(AnnotationError, match=r"x.png: colour \(1, 2, 3\) at row 5, column 7"):
        import_voc(voc, tmp_path / "o2")
    cls[4, 4] = 3                              # object 1 now holds two classes
    obj[4, 4] = 1
    Image.fromarray(cls).save(voc / "SegmentationClass" / "x.png")
    Image.fromarray(obj).save(voc / "SegmentationObject" / "x.png")
    with pytest.raises(AnnotationError, match="SegmentationObject/x.png: instance 1 has pixels"):
        import_voc(voc, tmp_path / "o3")
    Image.fromarray(obj[:5]).save(voc / "SegmentationObject" / "x.png")
    with pytest.raises(AnnotationError, match="8x5 pixels, but x.png is 8x6"):
        import_voc(voc, tmp_path / "o4")
    with pytest.raises(AnnotationError, match="no SegmentationClass folder"):
        import_voc(tmp_path, tmp_path / "o5")
    (voc / "SegmentationClass" / "x.png").write_bytes(b"garbage")
    with pytest.raises(AnnotationError, match="x.png: not a readable PNG"):
        import_voc(voc, tmp_path / "o5")
    assert not any((tmp_path / f"o{i}").exists() and any((tmp_path / f"o{i}").iterdir())
                   for i in range(2, 6))
