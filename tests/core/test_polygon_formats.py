"""Issue 24 item 4: YOLO-seg, labelme JSON and COCO polygons, and the round trips of every
format on painted maps with holes, several parts and 16-bit ids: export -> rasterised by an
independent reader (pycocotools for COCO, PIL's ImageDraw for polygons) -> per-instance IoU;
import -> the maps again (equal for RLE and VOC, IoU >= 0.95 for polygons)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image, ImageDraw
from pycocotools.coco import COCO

from spam_gui.core.annotation import (
    CLASSES_FILE,
    Annotation,
    AnnotationError,
    ClassList,
    read_annotation,
    read_classes,
    write_annotation,
)
from spam_gui.core.formats.coco import export_coco, import_coco
from spam_gui.core.formats.labelme import export_labelme, import_labelme
from spam_gui.core.formats.voc import export_voc, import_voc
from spam_gui.core.formats.yolo import export_yolo, import_yolo

H, W = 90, 120
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def painted(big_ids: bool = True) -> tuple[Annotation, ClassList]:
    """Instances with a hole (and an instance on an island in it), of two parts, a disk;
    class pixels without an instance in two pieces, one with a hole; 16-bit ids."""
    classes = ClassList().add_many([("road", None, 1), ("car", None, 2),
                                    ("tree", None, 300 if big_ids else 3)])
    tree = classes.by_name("tree").id
    ann = Annotation.empty((H, W))
    c, i = ann.class_map, ann.instance_map
    ring, two, disk, island = ((1000, 65535, 7, 300) if big_ids else (100, 200, 7, 30))
    c[5:45, 5:50], i[5:45, 5:50] = tree, ring               # a ring: hole of 16 x 20
    c[15:35, 15:40], i[15:35, 15:40] = 0, 0
    c[20:30, 22:32], i[20:30, 22:32] = 2, island            # an island in the hole
    c[50:70, 8:30], i[50:70, 8:30] = 1, two                 # two parts, one instance
    c[72:86, 36:60], i[72:86, 36:60] = 1, two
    yy, xx = np.mgrid[:H, :W]
    d = (yy - 26) ** 2 + (xx - 92) ** 2 <= 19 ** 2
    c[d], i[d] = 2, disk
    c[55:85, 70:115] = 1                                    # loose road, with a hole
    c[62:75, 85:100] = 0
    c[5:12, 60:70] = 1                                      # and a second piece
    ann.invalidate()
    return ann, classes


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def pil_fill(polygons: list[list[float]], scale: float = 8) -> np.ndarray:
    """An independent rasteriser: each polygon (x, y in pixel-edge coordinates) drawn by PIL at
    8x, their union, then a pixel is in when at least half of it is covered."""
    s = int(scale)
    acc = np.zeros((H * s, W * s), bool)
    for p in polygons:
        im = Image.new("1", (W * s, H * s), 0)
        ImageDraw.Draw(im).polygon([(x * s, y * s) for x, y in zip(p[0::2], p[1::2])], fill=1)
        acc |= np.asarray(im, dtype=bool)
    return acc.reshape(H, s, W, s).mean(axis=(1, 3)) >= 0.5


@pytest.fixture
def folders(tmp_path: Path):
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    Image.fromarray(np.full((H, W, 3), 80, np.uint8)).save(images / "a.png")
    Image.fromarray(np.full((H, W, 3), 80, np.uint8)).save(images / "b.jpg")
    ann, classes = painted()
    write_annotation(labels, "a", ann, classes)
    return images, labels, ann, classes


def _truth(ann: Annotation) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    inst = {int(k): ann.instance_map == k for k in np.unique(ann.instance_map) if k}
    loose = {int(k): (ann.class_map == k) & (ann.instance_map == 0)
             for k in np.unique(ann.class_map[ann.instance_map == 0]) if k}
    return inst, loose


def _check_import(back: Annotation, ann: Annotation, exact_ids: bool) -> None:
    """Each instance found again with IoU >= 0.95 and its class; the class map too."""
    inst, _ = _truth(ann)
    for k, m in inst.items():
        ids, counts = np.unique(back.instance_map[m], return_counts=True)
        got = int(ids[np.argmax(counts)])
        assert got and (got == k or not exact_ids)
        assert iou(back.instance_map == got, m) >= 0.95, k
        assert int(np.median(back.class_map[back.instance_map == got])) == int(ann.class_map[m][0])
    for c in np.unique(ann.class_map):
        if c:
            assert iou(back.class_map == c, ann.class_map == c) >= 0.95, c


# --------------------------------------------------------------------------------- COCO


def test_coco_polygons_read_by_pycocotools_and_imported(folders, tmp_path):
    images, labels, ann, classes = folders
    out = tmp_path / "coco.json"
    export_coco(labels, images, out, polygons=True)
    coco = COCO(str(out))
    inst, loose = _truth(ann)
    seen = set()
    for a in coco.dataset["annotations"]:
        m = coco.annToMask(a).astype(bool)
        if a["iscrowd"]:
            assert isinstance(a["segmentation"], dict)              # crowd stays RLE: exact
            assert np.array_equal(m, loose[a["category_id"]])
            continue
        assert isinstance(a["segmentation"], list)
        k = a["instance_id"]
        seen.add(k)
        assert iou(m, inst[k]) >= 0.95, k
        assert a["area"] == int(inst[k].sum())
    assert seen == set(inst)
    parts = {a["instance_id"]: len(a["segmentation"]) for a in coco.dataset["annotations"]
             if not a["iscrowd"]}
    assert parts[65535] == 2 and parts[1000] == 1          # two parts; the hole bridged in
    export_coco(labels, images, tmp_path / "exact.json", polygons=True, tolerance=0)
    coco0 = COCO(str(tmp_path / "exact.json"))
    for a in coco0.dataset["annotations"]:                 # no simplification: exact
        if not a["iscrowd"]:
            assert np.array_equal(coco0.annToMask(a).astype(bool), inst[a["instance_id"]])
    import_coco(out, tmp_path / "back")
    back = read_annotation(tmp_path / "back", "a")
    _check_import(back, ann, exact_ids=True)


def test_coco_rle_and_voc_round_trips_are_exact(folders, tmp_path):
    images, labels, ann, classes = folders
    export_coco(labels, images, tmp_path / "c.json")
    import_coco(tmp_path / "c.json", tmp_path / "back")
    assert read_annotation(tmp_path / "back", "a") == ann
    small, small_classes = painted(big_ids=False)            # VOC: 8-bit class ids
    small.instance_map[small.instance_map == 200] = 4000     # a 16-bit instance id
    write_annotation(tmp_path / "l8", "a", small, small_classes)
    export_voc(tmp_path / "l8", tmp_path / "voc")
    import_voc(tmp_path / "voc", tmp_path / "vback")
    got = read_annotation(tmp_path / "vback", "a")
    assert np.array_equal(got.class_map, small.class_map)
    pairs = set(zip(got.instance_map.ravel().tolist(), small.instance_map.ravel().tolist()))
    assert len(pairs) == len(np.unique(small.instance_map))  # the same instances, renumbered


# --------------------------------------------------------------------------------- YOLO


def test_yolo_files_read_by_pil_and_imported(folders, tmp_path):
    images, labels, ann, classes = folders
    out = tmp_path / "yolo"
    written = export_yolo(labels, out)
    assert {p.relative_to(out).as_posix() for p in written} == {
        "labels/a.txt", "dataset.yaml", CLASSES_FILE}
    meta = yaml.safe_load((out / "dataset.yaml").read_text())
    assert meta["names"] == {0: "road", 1: "car", 2: "tree"} and meta["nc"] == 3
    lines = (out / "labels" / "a.txt").read_text().splitlines()
    inst, loose = _truth(ann)
    # one line per instance, then one per connected piece of loose class pixels (2 here)
    assert len(lines) == len(inst) + 2
    masks = []
    for line in lines:
        tok = line.split()
        xy = [float(v) for v in tok[1:]]
        assert all(0 <= v <= 1 for v in xy)
        pts = [v * (W if n % 2 == 0 else H) for n, v in enumerate(xy)]
        masks.append((classes.classes[int(tok[0])].id, pil_fill([pts])))
    for k, m in inst.items():                     # each instance: one line, IoU high
        best = max(masks, key=lambda cm: iou(cm[1], m))
        assert iou(best[1], m) >= 0.93 and best[0] == int(ann.class_map[m][0]), k
    road = np.zeros((H, W), bool)
    for cid, m in masks[len(inst):]:
        assert cid == 1
        road |= m
    assert iou(road, loose[1]) >= 0.95
    back = tmp_path / "back"
    import_yolo(out, back, image_dir=images)
    assert read_classes(back / CLASSES_FILE) == classes
    got = read_annotation(back, "a")
    _check_import(got, ann, exact_ids=False)
    assert iou(got.class_map == 1, ann.class_map == 1) >= 0.95


def test_yolo_import_without_our_files_and_bad_lines(tmp_path):
    d = tmp_path / "ds"
    (d / "labels" / "train").mkdir(parents=True)
    (d / "images" / "train").mkdir(parents=True)
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(d / "images" / "train" / "x.jpg")
    (d / "data.yaml").write_text("names: [cat, dog]\n")
    (d / "labels" / "train" / "x.txt").write_text("1 0.1 0.1 0.5 0.1 0.5 0.5 0.1 0.5\n\n")
    import_yolo(d, tmp_path / "out")
    ann = read_annotation(tmp_path / "out", "x")
    assert [c.name for c in read_classes(tmp_path / "out" / CLASSES_FILE)] == ["cat", "dog"]
    assert ann.class_map[10, 15] == 2 and ann.instance_map[10, 15] == 1
    assert ann.class_map[30, 40] == 0
    bad = ["5 0.1 0.1 0.5 0.1 0.5 0.5", "0 0.1 0.1 0.5 0.1 nan 0.5", "0 0.1 0.1 0.5 0.1 0.5",
           "0 0.5 0.5 0.2 0.2", "0 0.1 0.1 0.5 0.1 1e400 0.5", "x 0.1"]
    for n, line in enumerate(bad):
        (d / "labels" / "train" / "x.txt").write_text("0 0.1 0.1 0.2 0.1 0.2 0.2\n" + line + "\n")
        with pytest.raises(AnnotationError) as err:
            import_yolo(d, tmp_path / f"o{n}")
        assert "x.txt: line 2" in str(err.value)
        assert not (tmp_path / f"o{n}").exists()
    (d / "labels" / "train" / "x.txt").write_text("0 0.1 0.1 0.2 0.1 0.2 0.2\n")
    (d / "images" / "train" / "x.jpg").unlink()
    with pytest.raises(AnnotationError, match="no image named x"):
        import_yolo(d, tmp_path / "o9")


# --------------------------------------------------------------------------------- labelme


def test_labelme_files_read_by_pil_and_imported(folders, tmp_path):
    images, labels, ann, classes = folders
    out = tmp_path / "lm"
    export_labelme(labels, images, out)
    doc = json.loads((out / "a.json").read_text())
    assert doc["imagePath"] == "../images/a.png" and doc["imageData"] is None
    assert (doc["imageHeight"], doc["imageWidth"]) == (H, W) and doc["version"].startswith("5.")
    inst, loose = _truth(ann)
    groups: dict[object, list] = {}
    for sh in doc["shapes"]:
        assert sh["shape_type"] == "polygon" and sh["label"] in ("road", "car", "tree")
        key = sh["group_id"] if sh["group_id"] is not None else sh["label"]
        groups.setdefault(key, []).append([v for p in sh["points"] for v in p])
    assert len(groups[65535]) == 2 and len(groups[1000]) == 1     # parts; hole bridged in
    for k, m in inst.items():
        assert iou(pil_fill(groups[k]), m) >= 0.93, k
    assert len(groups["road"]) == 2 and iou(pil_fill(groups["road"]), loose[1]) >= 0.95
    back = tmp_path / "back"
    import_labelme(out, back)
    got = read_annotation(back, "a")
    _check_import(got, ann, exact_ids=True)                        # group_id kept as the id
    (out / CLASSES_FILE).unlink()                                  # labels in first-seen order
    import_labelme(out, tmp_path / "b2")
    assert {c.name for c in read_classes(tmp_path / "b2" / CLASSES_FILE)} == {"road", "car",
                                                                              "tree"}


def test_labelme_import_other_shapes_and_bad_numbers(tmp_path):
    d = tmp_path / "lm"
    d.mkdir()
    doc = {"version": "5.2.1", "flags": {}, "imagePath": "pic.jpg", "imageData": None,
           "imageHeight": 40, "imageWidth": 50, "shapes": [
               {"label": "box", "points": [[2, 2], [12, 10]], "group_id": None,
                "shape_type": "rectangle", "flags": {}},
               {"label": "ball", "points": [[30, 20], [30, 28]], "group_id": 4,
                "shape_type": "circle", "flags": {}},
               {"label": "ball", "points": [[1, 1]], "group_id": None, "shape_type": "point"}]}
    (d / "pic.json").write_text(json.dumps(doc))
    import_labelme(d, tmp_path / "out")
    ann = read_annotation(tmp_path / "out", "pic")
    names = {c.id: c.name for c in read_classes(tmp_path / "out" / CLASSES_FILE)}
    assert names[int(ann.class_map[5, 5])] == "box" and ann.instance_map[5, 5] == 0
    assert names[int(ann.class_map[20, 30])] == "ball" and ann.instance_map[20, 30] == 4
    for v in (float("nan"), 1e300, 10**400, -50):
        doc["shapes"][0] = {"label": "box", "points": [[2, 2], [v, 3], [5, 9]],
                            "shape_type": "polygon"}
        (d / "pic.json").write_text(json.dumps(doc))
        with pytest.raises(AnnotationError, match="pic.json: shape 1"):
            import_labelme(d, tmp_path / "o")
        assert not (tmp_path / "o").exists()


def test_the_cli_exports_and_imports_each_format(folders, tmp_path, capsys):
    from spam_gui.cli import main as spam_main

    images, labels, ann, classes = folders
    for fmt, extra in (("yolo", []), ("labelme", ["--images", str(images)]),
                       ("coco", ["--images", str(images), "--polygons", "--tolerance", "0.5"]),
                       ("voc", [])):
        out = tmp_path / (f"{fmt}.json" if fmt == "coco" else fmt)
        rc = spam_main(["export", "--format", fmt, str(labels), "--out", str(out),
                        "--no-progress"] + extra)
        if fmt == "voc":             # class id 300: VOC masks are 8-bit, refused by name
            assert rc == 2 and "id 300" in capsys.readouterr().err and not out.exists()
            continue
        assert rc == 0, fmt
        back = tmp_path / f"{fmt}_back"
        more = ["--images", str(images)] if fmt == "yolo" else []
        rc = spam_main(["import", "--format", fmt, str(out), "--out", str(back),
                        "--no-progress"] + more)
        assert rc == 0, (fmt, capsys.readouterr().err)
        _check_import(read_annotation(back, "a"), ann, exact_ids=fmt != "yolo")
    assert spam_main(["export", "--format", "yolo", str(labels), "--out", str(tmp_path / "t"),
                      "--tolerance", "-1"]) == 2


def test_labelme_group_ids_shared_by_two_labels_are_renumbered(tmp_path):
    d = tmp_path / "lm"
    d.mkdir()
    sq = [[[2, 2], [10, 2], [10, 10], [2, 10]], [[20, 2], [30, 2], [30, 12], [20, 12]],
          [[2, 20], [12, 20], [12, 30], [2, 30]]]
    doc = {"version": "5.4.1", "flags": {}, "imagePath": "p.png", "imageData": None,
           "imageHeight": 40, "imageWidth": 40, "shapes": [
               {"label": "a", "points": sq[0], "group_id": 3, "shape_type": "polygon"},
               {"label": "b", "points": sq[1], "group_id": 3, "shape_type": "polygon"},
               {"label": "a", "points": sq[2], "group_id": 3, "shape_type": "polygon"}]}
    (d / "p.json").write_text(json.dumps(doc))
    import_labelme(d, tmp_path / "out")
    ann = read_annotation(tmp_path / "out", "p")
    # (a, 3) is one instance of two parts, (b, 3) another: renumbered 1, 2
    assert ann.instance_map[5, 5] == ann.instance_map[25, 5] != ann.instance_map[5, 25]
    assert {int(ann.instance_map[5, 5]), int(ann.instance_map[5, 25])} == {1, 2}


def test_yolo_names_from_classes_txt(tmp_path):
    d = tmp_path / "ds"
    (d / "labels").mkdir(parents=True)
    (d / "images").mkdir()
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(d / "images" / "q.png")
    (d / "classes.txt").write_text("cat\ndog\n")
    (d / "labels" / "q.txt").write_text("1 0.1 0.1 0.9 0.1 0.9 0.9\n")
    import_yolo(d, tmp_path / "out")
    assert [c.name for c in read_classes(tmp_path / "out" / CLASSES_FILE)] == ["cat", "dog"]
    assert read_annotation(tmp_path / "out", "q").class_map[3, 15] == 2
