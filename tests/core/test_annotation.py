"""Classes, class / instance maps, painting, undo and the annotation files (core.annotation)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import spam_gui.core.annotation.paint as paint_module
from spam_gui.core.annotation import (
    CLASS_PALETTE,
    CLASSES_FILE,
    LABEL_FOLDER,
    MAX_ID,
    Annotation,
    AnnotationError,
    ClassList,
    LabelClass,
    LabelIndex,
    StrokeRecorder,
    annotation_paths,
    check_one_class_per_instance,
    class_pixel_counts,
    color_table,
    erase_labels,
    find_annotations,
    instance_classes,
    new_instance_id,
    paint_disk,
    paint_labels,
    paint_mask,
    paint_segment,
    read_annotation,
    read_classes,
    read_labels_txt,
    remove_class,
    write_annotation,
    write_classes,
)
from spam_gui.core.errors import SpamError


def _grid_labels(h: int = 12, w: int = 16, cell: int = 4) -> np.ndarray:
    """Square superpixels of ``cell`` pixels, numbered 1.. row by row."""
    return (np.arange(h)[:, None] // cell * ((w + cell - 1) // cell)
            + np.arange(w)[None, :] // cell + 1).astype(np.int32)


# --------------------------------------------------------------------------------- classes


def test_class_list_editing_is_immutable_and_keeps_ids():
    cl = ClassList().add("sky").add("tree", "#00FF00").add("road")
    assert cl.ids == (1, 2, 3)
    assert cl.by_name("tree") == LabelClass(2, "tree", "#00ff00")
    assert cl.by_id(1).color == CLASS_PALETTE[0]
    assert cl.by_id(3).color == CLASS_PALETTE[1]      # the first palette colour not used
    moved = cl.move(3, 0)
    assert moved.ids == (3, 1, 2) and cl.ids == (1, 2, 3)
    assert moved.move(3, 99).ids == (1, 2, 3)
    renamed = moved.rename(1, "  heaven ").recolor(2, "#123456")
    assert renamed.by_id(1).name == "heaven" and renamed.by_id(2).color == "#123456"
    assert renamed.remove(1).ids == (3, 2)
    assert cl.remove(3).add("car").ids == (1, 2, 3)   # max + 1
    assert cl.remove(1).add("car").ids == (2, 3, 4)
    assert len(cl) == 3 and [c.name for c in cl] == ["sky", "tree", "road"] and 2 in cl


@pytest.mark.parametrize("edit", [
    lambda cl: cl.add("sky"),
    lambda cl: cl.add(""),
    lambda cl: cl.add("a\nb"),
    lambda cl: cl.add("car", "red"),
    lambda cl: cl.rename(2, "sky"),
    lambda cl: cl.recolor(1, "#12345"),
    lambda cl: cl.add("car", class_id=2),
    lambda cl: cl.add("car", class_id=MAX_ID + 1),
])
def test_class_list_refuses_bad_edits(edit):
    cl = ClassList.from_names(["sky", "tree"])
    with pytest.raises(SpamError):
        edit(cl)


def test_class_list_unknown_id_is_a_key_error():
    with pytest.raises(KeyError):
        ClassList.from_names(["a"]).rename(5, "b")


def test_palette_colours_are_distinct_past_the_fixed_list():
    cl = ClassList.from_names([f"c{i}" for i in range(60)])
    colours = [c.color for c in cl]
    assert len(set(colours)) == 60
    assert colours[:len(CLASS_PALETTE)] == list(CLASS_PALETTE)


def test_classes_json_round_trip(tmp_path):
    cl = ClassList.from_names(["sky", "tree"]).recolor(1, "#87ceeb").move(2, 0)
    path = write_classes(tmp_path / CLASSES_FILE, cl)
    data = json.loads(path.read_text())
    assert data == {"classes": [{"id": 2, "name": "tree", "color": cl.by_id(2).color},
                                {"id": 1, "name": "sky", "color": "#87ceeb"}]}
    assert read_classes(path) == cl
    assert not [p for p in tmp_path.iterdir() if p.name != CLASSES_FILE]   # no temp file left


@pytest.mark.parametrize("content, words", [
    ("{not json", "not valid JSON (line 1"),
    ('{"classes": 3}', "a list 'classes'"),
    ('{"classes": [{"id": 1, "name": "a"}]}', "no 'color'"),
    ('{"classes": [{"id": 0, "name": "a", "color": "#000000"}]}', "1 to 65535"),
    ('{"classes": [{"id": 70000, "name": "a", "color": "#000000"}]}', "1 to 65535"),
    ('{"classes": [{"id": 1.5, "name": "a", "color": "#000000"}]}', "1 to 65535"),
    ('{"classes": [{"id": 1, "name": "a", "color": "#000000"}, '
     '{"id": 1, "name": "b", "color": "#000000"}]}', "id 1 is used twice"),
    ('{"classes": [{"id": 1, "name": "a", "color": "#000000"}, '
     '{"id": 2, "name": "a", "color": "#000000"}]}', "name 'a' is used twice"),
    ('{"classes": [{"id": 1, "name": " ", "color": "#000000"}]}', "non-empty"),
    ('{"classes": [{"id": 1, "name": "a", "color": "blue"}]}', "'#rrggbb'"),
])
def test_bad_classes_json_names_the_file(tmp_path, content, words):
    path = tmp_path / CLASSES_FILE
    path.write_text(content)
    with pytest.raises(AnnotationError) as err:
        read_classes(path)
    assert str(path) in str(err.value) and words in str(err.value)


def test_missing_classes_json(tmp_path):
    with pytest.raises(AnnotationError, match="no such class list file"):
        read_classes(tmp_path / "nope.json")


def test_labelme_labels_txt(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("__ignore__\n_background_\nperson\n\n car \ndog\n")
    cl = read_labels_txt(path)
    assert [(c.id, c.name) for c in cl] == [(1, "person"), (2, "car"), (3, "dog")]
    path.write_text("person\ncar\nperson\n")
    with pytest.raises(AnnotationError, match=r"line 3: class 'person' is already on line 1"):
        read_labels_txt(path)
    path.write_text("__ignore__\n")
    with pytest.raises(AnnotationError, match="names no class"):
        read_labels_txt(path)


def test_color_table():
    cl = ClassList.from_names(["a"]).add("b", "#010203", class_id=3)
    table = color_table(cl)
    assert table.shape == (4, 3)
    assert table[0].tolist() == [0, 0, 0] and table[2].tolist() == [0, 0, 0]
    assert table[3].tolist() == [1, 2, 3]


# --------------------------------------------------------------------------------- index


def test_label_index_pixels_and_bboxes():
    lab = _grid_labels()
    lab[0, 0] = 0
    idx = LabelIndex(lab)
    for i in range(int(lab.max()) + 1):
        assert np.array_equal(np.sort(idx.pixels(i)), np.flatnonzero(lab.ravel() == i))
        assert idx.count(i) == int((lab == i).sum())
    assert idx.bbox([2, 7]) == (0, 8, 4, 12)
    assert idx.bbox(0) == (0, 1, 0, 1)
    assert idx.bbox(999) is None and idx.pixels(999).size == 0
    assert np.array_equal(np.sort(idx.pixels({1, 2})), np.flatnonzero(np.isin(lab, [1, 2])))
    assert idx.label_at(5, 5) == lab[5, 5]


def test_label_index_of_sparse_large_ids():
    lab = np.zeros((5, 6), np.int64)
    lab[1:3, 1:4] = 10**9
    lab[4, :] = 70_000
    idx = LabelIndex(lab)
    assert idx.n_labels == 10**9
    assert np.array_equal(np.sort(idx.pixels(10**9)), np.flatnonzero(lab.ravel() == 10**9))
    assert idx.bbox(10**9) == (1, 3, 1, 4) and idx.bbox([0, 70_000]) == (0, 5, 0, 6)
    assert idx.count(70_000) == 6 and idx.count(5) == 0 and idx.pixels(5).size == 0
    lab[lab == 0] = 3                                       # no 0 at all
    assert idx.count(0) == 18 and LabelIndex(lab).count(0) == 0
    assert LabelIndex(lab).count(3) == 18
    with pytest.raises(ValueError, match="integers"):
        LabelIndex(np.zeros((2, 2)))


# --------------------------------------------------------------------------------- painting


def test_paint_erase_and_counts():
    lab = _grid_labels()
    idx = LabelIndex(lab)
    ann = Annotation.empty(lab.shape)
    assert ann.is_empty()
    assert paint_labels(ann, idx, [1, 2], 3) == (0, 4, 0, 8)
    assert paint_labels(ann, idx, [1, 2], 3) is None           # nothing changed
    assert class_pixel_counts(ann) == {3: 32}
    iid = new_instance_id(ann)
    assert iid == 1
    assert paint_labels(ann, idx, 6, 2, iid) == (4, 8, 4, 8)
    assert instance_classes(ann) == {1: 2} and new_instance_id(ann) == 2
    before = ann.copy()
    with pytest.raises(ValueError, match="instance 1 has class 2"):
        paint_labels(ann, idx, 7, 3, iid)
    assert ann == before                                       # refused: nothing painted
    assert erase_labels(ann, idx, 6) == (4, 8, 4, 8)
    assert not ann.instance_map.any()
    assert class_pixel_counts(ann) == {3: 32}
    assert paint_labels(ann, idx, 1, 0, 5) == (0, 4, 0, 4)     # class 0 erases the instance too
    assert class_pixel_counts(ann) == {3: 16} and not ann.instance_map.any()


def test_paint_mask_and_disk():
    ann = Annotation.empty((20, 30))
    mask = np.zeros((4, 5), bool)
    mask[1:3, 2:4] = True
    assert paint_mask(ann, (10, 14, 20, 25), mask, 7) == (11, 13, 22, 24)
    assert int((ann.class_map == 7).sum()) == 4
    with pytest.raises(ValueError, match="does not fit"):
        paint_mask(ann, (10, 14, 20, 26), mask, 7)
    with pytest.raises(ValueError, match="inside"):
        paint_mask(ann, (18, 22, 20, 25), mask, 7)
    assert paint_disk(ann, 0, 0, 2, 4, 9) == (0, 3, 0, 3)     # clipped at the corner
    yy, xx = np.nonzero(ann.class_map == 4)
    assert ((yy ** 2 + xx ** 2) <= 4).all() and len(yy) == 6
    assert paint_disk(ann, 5, 5, 0, 1) == (5, 6, 5, 6)        # radius 0: one pixel
    assert paint_disk(ann, -10, -10, 3, 1) is None             # outside
    full = np.ones((20, 30), bool)
    assert paint_mask(ann, None, full, 0) == (0, 13, 0, 24)   # the box of the pixels changed
    assert ann.is_empty()


@pytest.mark.parametrize("radius", [0, 1, 2.5, 4])
def test_paint_segment_is_a_capsule(radius):
    a, b = Annotation.empty((30, 40)), Annotation.empty((30, 40))
    assert paint_segment(a, (10, 12), (10, 12), radius, 1) == paint_disk(b, 10, 12, radius, 1)
    assert a == b
    paint_segment(a, (10, 12), (10, 30), radius, 2)
    for x in range(12, 31):                          # no gap along the drag
        paint_disk(b, 10, x, radius, 2)
    assert np.array_equal(a.class_map == 2, b.class_map == 2)
    assert (a.class_map[10, 12:31] == 2).all()
    assert paint_segment(a, (-50, -50), (-40, -45), radius, 3) is None


def test_patch_forms_dense_and_sparse():
    ann = Annotation.empty((200, 300))
    rec = StrokeRecorder(ann)
    paint_segment(ann, (0, 0), (199, 299), 2, 1, recorder=rec)   # a diagonal: a thin stroke
    paint_segment(ann, (199, 0), (0, 299), 2, 1, recorder=rec)   # crossing the first one
    thin = rec.finish()
    assert thin.index is not None and thin.bbox == (0, 200, 0, 300)
    assert thin.n_pixels == int((ann.class_map == 1).sum())
    assert thin.nbytes < 0.3 * 200 * 300 * 8                       # << four dense maps
    rec = StrokeRecorder(ann)
    paint_mask(ann, (50, 150, 50, 250), np.ones((100, 200), bool), 2, 3, recorder=rec)
    block = rec.finish()
    assert block.index is None and block.old_class.shape == (100, 200)
    assert rec.finish() is None                                    # emptied by finish
    block.revert(ann)
    thin.revert(ann)
    assert ann.is_empty() and class_pixel_counts(ann) == {}
    thin.apply(ann)
    block.apply(ann)
    assert class_pixel_counts(ann) == class_pixel_counts(Annotation(ann.class_map))
    assert instance_classes(ann) == {3: 2} and new_instance_id(ann) == 4


def test_remove_class_and_validation():
    lab = _grid_labels()
    idx = LabelIndex(lab)
    ann = Annotation.empty(lab.shape)
    paint_labels(ann, idx, [1, 12], 2, 4)
    paint_labels(ann, idx, 3, 5)
    rec = StrokeRecorder(ann)
    assert remove_class(ann, 2, recorder=rec) == (0, 12, 0, 16)
    assert remove_class(ann, 2) is None
    assert class_pixel_counts(ann) == {5: 16} and not ann.instance_map.any()
    rec.finish().revert(ann)
    assert class_pixel_counts(ann) == {2: 32, 5: 16} and instance_classes(ann) == {4: 2}
    with pytest.raises(ValueError):
        paint_labels(ann, LabelIndex(np.ones((3, 3), np.int32)), 1, 2)
    with pytest.raises(ValueError):
        paint_labels(ann, idx, 1, MAX_ID + 1)


def test_check_one_class_per_instance_names_the_source():
    cls = np.array([[1, 1, 2], [0, 0, 0]], np.uint16)
    inst = np.array([[3, 3, 3], [0, 0, 0]], np.uint16)
    with pytest.raises(AnnotationError, match=r"here: instance 3 has pixels of classes 1 and 2"):
        check_one_class_per_instance(Annotation(cls, inst), "here")
    inst = np.array([[0, 0, 0], [0, 6, 0]], np.uint16)
    with pytest.raises(AnnotationError, match="instance 6 has pixels without a class"):
        check_one_class_per_instance(Annotation(cls, inst), "here")
    check_one_class_per_instance(Annotation(cls, np.array([[3, 3, 4], [0, 0, 0]], np.uint16)))


# A stroke: a list of operations, each (kind, target, class, instance slot).
_op = st.tuples(st.sampled_from(["labels", "disk", "mask", "erase", "remove"]),
                st.integers(0, 11), st.integers(0, 4), st.integers(0, 3))


def _apply(ann: Annotation, idx: LabelIndex, op: tuple[int, ...], slots: dict[tuple[int, int], int],
           rec: StrokeRecorder) -> None:
    kind, target, cls, slot = op
    inst = 0
    if slot and cls:  # instance slots are per class, so the one-class rule always holds
        inst = slots.setdefault((cls, slot), 4 * cls + slot)
    if kind == "labels":
        paint_labels(ann, idx, [target + 1, (target * 5) % 12 + 1], cls, inst, recorder=rec)
    elif kind == "disk":
        paint_disk(ann, target, target + 3, slot, cls, inst, recorder=rec)
    elif kind == "mask":
        m = (np.add.outer(np.arange(5), np.arange(6)) % (slot + 2)) == 0
        paint_mask(ann, (target % 7, target % 7 + 5, target % 10, target % 10 + 6), m, cls, inst, recorder=rec)
    elif kind == "erase":
        erase_labels(ann, idx, target + 1, recorder=rec)
    else:
        remove_class(ann, cls, recorder=rec)


@settings(max_examples=60, deadline=None)
@given(strokes=st.lists(st.lists(_op, min_size=1, max_size=6), min_size=1, max_size=5),
       dense=st.booleans())
def test_paint_undo_redo_round_trip(strokes, dense):
    """Every stroke's patch undoes and redoes it exactly, in any number of strokes; the counts
    and the one-class-per-instance rule hold throughout. ``dense``: superpixels painted by
    boolean masks on their box (the path of large fills) rather than by pixel indices."""
    saved = paint_module._DENSE_MIN
    paint_module._DENSE_MIN = 1 if dense else saved
    try:
        _round_trip(strokes)
    finally:
        paint_module._DENSE_MIN = saved


def _round_trip(strokes) -> None:
    lab = _grid_labels()
    idx = LabelIndex(lab)
    ann = Annotation.empty(lab.shape)
    slots: dict[tuple[int, int], int] = {}
    states = [ann.copy()]
    patches = []
    for stroke in strokes:
        rec = StrokeRecorder(ann)
        for op in stroke:
            _apply(ann, idx, op, slots, rec)
        patch = rec.finish()
        if patch is None:
            assert ann == states[-1]
            continue
        y0, y1, x0, x1 = patch.bbox
        outside = np.ones(lab.shape, bool)
        outside[y0:y1, x0:x1] = False
        assert np.array_equal(ann.class_map[outside], states[-1].class_map[outside])
        patches.append(patch)
        states.append(ann.copy())
        check_one_class_per_instance(ann)
        assert class_pixel_counts(ann) == class_pixel_counts(Annotation(ann.class_map))
        assert not (ann.instance_map[ann.class_map == 0]).any()
    for patch, before in zip(reversed(patches), reversed(states[:-1])):
        patch.revert(ann)
        assert ann == before
        assert class_pixel_counts(ann) == class_pixel_counts(Annotation(ann.class_map))
    for patch, after in zip(patches, states[1:]):
        patch.apply(ann)
        assert ann == after
    assert instance_classes(ann) == instance_classes(states[-1])


# --------------------------------------------------------------------------------- files


def _sample(shape=(12, 16)) -> tuple[Annotation, ClassList]:
    lab = _grid_labels(*shape)
    idx = LabelIndex(lab)
    ann = Annotation.empty(lab.shape)
    classes = ClassList.from_names(["sky", "tree", "car"])
    paint_labels(ann, idx, [1, 2, 3], 1)
    paint_labels(ann, idx, 5, 3, 1)
    paint_labels(ann, idx, [6, 10], 3, 2)
    paint_labels(ann, idx, 9, 2)
    return ann, classes


def test_write_and_read_annotation_palette(tmp_path):
    ann, classes = _sample()
    folder = tmp_path / LABEL_FOLDER
    paths = write_annotation(folder, "img", ann, classes)
    assert paths == annotation_paths(folder, "img")
    with Image.open(paths["classes"]) as im:
        assert im.mode == "P"
        pal = np.array(im.getpalette()[:12]).reshape(4, 3)
        assert pal[0].tolist() == [0, 0, 0]
        assert [tuple(p) for p in pal[1:]] == [c.rgb for c in classes]
        assert np.array_equal(np.asarray(im), ann.class_map)
    with Image.open(paths["instances"]) as im:
        assert im.mode.startswith("I")
        assert np.array_equal(np.asarray(im), ann.instance_map)
    assert read_classes(paths["class_list"]) == classes
    back = read_annotation(folder, "img", shape=ann.shape, classes=classes)
    assert back == ann
    assert find_annotations(folder) == ["img"]
    assert sorted(p.name for p in folder.iterdir()) == [CLASSES_FILE, "img_classes.png",
                                                        "img_instances.png"]


def test_sixteen_bit_class_map_when_an_id_exceeds_255(tmp_path):
    ann = Annotation.empty((5, 6))
    classes = ClassList.from_names(["a"]).add("big", class_id=300)
    paint_disk(ann, 2, 2, 1, 300)
    paint_disk(ann, 0, 5, 0, 1)
    paths = write_annotation(tmp_path, "x", ann, classes)
    with Image.open(paths["classes"]) as im:
        assert im.mode.startswith("I")
    assert read_annotation(tmp_path, "x", (5, 6), classes) == ann


def test_write_refuses_unknown_class_and_keeps_old_files(tmp_path):
    ann, classes = _sample()
    paths = write_annotation(tmp_path, "img", ann, classes)
    before = {k: p.read_bytes() for k, p in paths.items()}
    paint_disk(ann, 3, 3, 1, 9)
    with pytest.raises(AnnotationError, match=r"img: the class map uses class id\(s\) 9"):
        write_annotation(tmp_path, "img", ann, classes)
    assert {k: p.read_bytes() for k, p in paths.items()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths.values())


def test_read_annotation_wrong_size_names_file_and_both_sizes(tmp_path):
    ann, classes = _sample()
    paths = write_annotation(tmp_path, "img", ann, classes)
    with pytest.raises(AnnotationError) as err:
        read_annotation(tmp_path, "img", shape=(13, 16))
    msg = str(err.value)
    assert str(paths["classes"]) in msg and "16x12" in msg and "16x13" in msg


def test_read_annotation_bad_files(tmp_path):
    ann, classes = _sample()
    paths = write_annotation(tmp_path, "img", ann, classes)
    with pytest.raises(AnnotationError, match="no such file"):
        read_annotation(tmp_path, "other")
    inst = ann.instance_map.copy()
    inst[0, 0] = 1                              # instance 1 (class 3) gets a pixel of class 1
    Image.fromarray(inst).save(paths["instances"])
    with pytest.raises(AnnotationError, match="instance 1 has pixels of classes 1 and 3") as err:
        read_annotation(tmp_path, "img")
    assert str(paths["instances"]) in str(err.value)
    paths["instances"].unlink()                 # no instance file: no instances
    assert read_annotation(tmp_path, "img").instance_map.max() == 0
    paths["classes"].write_bytes(b"not a png")
    with pytest.raises(AnnotationError, match=str(paths["classes"])):
        read_annotation(tmp_path, "img")
    Image.fromarray(ann.class_map.astype(np.uint8)).save(paths["classes"])
    with pytest.raises(AnnotationError, match=r"class id\(s\) 1, 2, 3 that classes.json"):
        read_annotation(tmp_path, "img", classes=ClassList())
