"""The annotation's pixels for the canvas and the stroke geometry (no Qt): a class layer
patched by bounding boxes equals one drawn whole, segments cross what they should, the export
writer refuses maps of the wrong size."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spam_gui.app.model.annotation_view import (EDGE_SHADE, annotation_writer,
                                                class_layer_region, class_lut,
                                                labels_on_segment, segment_pixels)
from spam_gui.core.annotation import (Annotation, ClassList, LabelIndex, StrokeRecorder,
                                      paint_labels, paint_segment, read_annotation)


def test_view_module_needs_no_qt():
    code = ("import sys, spam_gui.app.model.annotation_view; "
            "print('PySide6' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_lut_colours():
    classes = ClassList.from_names(["sky", "tree"]).recolor(2, "#204080")
    lut = class_lut(classes)
    assert lut.shape == (65536, 2, 4)
    assert tuple(lut[2, 0]) == (0x80, 0x40, 0x20, 255)          # BGRA
    assert tuple(lut[2, 1]) == (int(0x80 * EDGE_SHADE), int(0x40 * EDGE_SHADE),
                                int(0x20 * EDGE_SHADE), 255)
    assert not lut[0].any() and not lut[3].any()                 # unlabelled, unknown: clear


def test_region_marks_instance_edges_and_leaves_unlabelled_clear():
    classes = ClassList.from_names(["a"])
    ann = Annotation.empty((6, 8))
    ann.class_map[1:5, 1:7] = 1
    ann.instance_map[1:5, 1:4] = 1
    ann.instance_map[1:5, 4:7] = 2
    ann.invalidate()
    region, bgra = class_layer_region(ann, class_lut(classes))
    assert region == (0, 6, 0, 8) and bgra.shape == (6, 8, 4)
    fill, edge = tuple(class_lut(classes)[1, 0]), tuple(class_lut(classes)[1, 1])
    assert tuple(bgra[2, 3]) == edge and tuple(bgra[2, 4]) == edge      # both sides of 1|2
    assert tuple(bgra[1, 1]) == edge                                     # the outline
    assert tuple(bgra[2, 2]) == fill
    assert bgra[0, 0, 3] == 0 and bgra[5, 7, 3] == 0


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_patched_layer_equals_a_full_redraw(seed):
    """What the canvas shows after strokes patched by bounding box is what one full drawing
    of the final maps gives."""
    rng = np.random.default_rng(seed)
    h, w = 40, 52
    labels = (rng.integers(0, 5, (h // 4, w // 4)).repeat(4, 0).repeat(4, 1)
              * 16 + np.arange(w // 4).repeat(4)[None, :] % 3 + 1)
    index = LabelIndex(labels)
    classes = ClassList.from_names(["a", "b", "c"])
    lut = class_lut(classes)
    ann = Annotation.empty((h, w))
    layer = class_layer_region(ann, lut)[1].copy()
    for k in range(6):
        rec = StrokeRecorder(ann)
        cls = int(rng.integers(0, 4))
        inst = k + 1 if cls else 0
        if rng.random() < 0.5:
            box = paint_labels(ann, index, rng.choice(np.unique(labels), 3), cls, inst,
                               recorder=rec)
        else:
            p0 = (int(rng.integers(0, h)), int(rng.integers(0, w)))
            p1 = (int(rng.integers(0, h)), int(rng.integers(0, w)))
            box = paint_segment(ann, p0, p1, float(rng.integers(0, 5)), cls, inst, recorder=rec)
        if box is not None:
            (y0, y1, x0, x1), bgra = class_layer_region(ann, lut, box)
            layer[y0:y1, x0:x1] = bgra
        patch = rec.finish()
        if patch is not None and rng.random() < 0.3:       # undo it: patched the same way
            (y0, y1, x0, x1), bgra = class_layer_region(ann, lut, patch.revert(ann))
            layer[y0:y1, x0:x1] = bgra
    assert np.array_equal(layer, class_layer_region(ann, lut)[1])


def test_segments():
    xs, ys = segment_pixels(0, 0, 5, 2)
    assert len(xs) == 6 and (xs[0], ys[0]) == (0, 0) and (xs[-1], ys[-1]) == (5, 2)
    assert np.all(np.abs(np.diff(xs)) <= 1) and np.all(np.abs(np.diff(ys)) <= 1)
    labels = np.repeat(np.arange(1, 11)[None, :], 4, axis=0).repeat(3, axis=1)   # 4 x 30
    got = labels_on_segment(labels, 0, 1, 29, 2)
    assert got.tolist() == list(range(1, 11))                  # every label crossed, in order
    assert labels_on_segment(labels, 29, 0, 0, 3).tolist() == list(range(10, 0, -1))
    assert labels_on_segment(labels, 4, 2, 4, 2).tolist() == [2]   # a click
    assert labels_on_segment(labels, -5, 0, 40, 0).tolist() == list(range(1, 11))   # clipped


def test_writer_from_maps_and_from_a_loader(tmp_path):
    classes = ClassList.from_names(["a", "b"])
    cm = np.zeros((5, 6), np.uint16)
    im = np.zeros((5, 6), np.uint16)
    cm[1:3, 1:4], im[1:3, 1:4] = 2, 9
    paths = annotation_writer("photo", classes, maps=(cm, im))(tmp_path, (5, 6))
    assert paths["classes"].name == "photo_classes.png" and paths["class_list"].is_file()
    assert read_annotation(tmp_path, "photo", (5, 6), classes) == Annotation(cm, im)
    seen = []
    loader = annotation_writer("other", classes, load=lambda shape: (seen.append(shape) or
                                                                    (cm.astype(np.int32), im)))
    loader(tmp_path, (5, 6))
    assert seen == [(5, 6)] and (tmp_path / "other_instances.png").is_file()
    with pytest.raises(ValueError, match="6x5 pixels, the image 7x5"):
        annotation_writer("bad", classes, maps=(cm, im))(tmp_path, (5, 7))
    assert not (tmp_path / "bad_classes.png").exists()
    with pytest.raises(ValueError):
        annotation_writer("x", classes)
