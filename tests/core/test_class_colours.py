"""Issue 23 item 12: automatic class colours for any number of classes, fast."""

from __future__ import annotations

import json
import time

import pytest

from spam_gui.core.annotation import (CLASS_PALETTE, AnnotationError, ClassList, read_classes,
                                      read_labels_txt)
from spam_gui.core.annotation.classes import auto_color


def test_the_3825th_class_gets_a_colour_and_all_are_distinct():
    cl = ClassList.from_names([f"c{i}" for i in range(5000)])     # used to loop at 3,825
    colours = [c.color for c in cl]
    assert len(set(colours)) == 5000
    assert colours[:len(CLASS_PALETTE)] == list(CLASS_PALETTE)    # the first ones unchanged
    more = cl.add("one more")                                     # add() past them, too
    assert more.classes[-1].color not in set(colours)


def test_every_class_id_can_have_its_own_colour():
    cl = ClassList.from_names([f"c{i}" for i in range(65535)])
    assert len({c.color for c in cl}) == 65535
    assert len({auto_color(k) for k in range(70000)}) == 70000


def test_two_thousand_classes_well_under_a_second():
    t = time.perf_counter()
    ClassList.from_names([f"class {i}" for i in range(2000)])
    assert time.perf_counter() - t < 0.5     # was 4.9 s; a generous bound on a shared machine


def test_add_many_skips_colours_in_use_and_names_the_entry():
    first = auto_color(0)
    cl = ClassList().add("mine", first)
    cl = cl.add_many([("a", None, None), ("b", "#010203", 40), ("c", None, None)])
    assert [c.id for c in cl] == [1, 2, 40, 41]
    assert cl.by_name("a").color == auto_color(1) and cl.by_name("c").color == auto_color(2)
    with pytest.raises(AnnotationError, match="entry 2: a class named 'a' exists"):
        cl.add_many([("x", None, None), ("a", None, None)], where=lambda i: f"entry {i + 1}")


def test_many_class_sources_finish(tmp_path):
    """labels.txt, COCO categories and VOC labelmap lines with thousands of classes."""
    from spam_gui.core.formats.coco import read_coco
    from spam_gui.core.formats.voc import read_voc_classes, voc_colormap

    names = [f"n{i}" for i in range(4000)]
    (tmp_path / "labels.txt").write_text("\n".join(names))
    assert len(read_labels_txt(tmp_path / "labels.txt")) == 4000
    coco = {"images": [], "annotations": [],
            "categories": [{"id": i + 1, "name": n} for i, n in enumerate(names)]}
    (tmp_path / "c.json").write_text(json.dumps(coco))
    cl = read_coco(tmp_path / "c.json").classes
    assert len({c.color for c in cl}) == 4000
    cmap = voc_colormap()
    (tmp_path / "voc").mkdir()
    (tmp_path / "voc" / "labelmap.txt").write_text(
        "\n".join(f"k{i}:{','.join(map(str, cmap[i]))}::" for i in range(1, 255)))
    assert len(read_voc_classes(tmp_path / "voc", set())) == 254


def test_voc_labelmap_lists_background_once(tmp_path):
    from spam_gui.core.annotation import Annotation, paint_disk, write_annotation
    from spam_gui.core.formats.voc import export_voc, import_voc

    classes = ClassList.from_names(["cat", "background", "Background_"])
    ann = Annotation.empty((12, 12))
    paint_disk(ann, 3, 3, 2, 2)
    paint_disk(ann, 8, 8, 2, 1, 5)
    write_annotation(tmp_path / "l", "x", ann, classes)
    export_voc(tmp_path / "l", tmp_path / "voc")
    lines = (tmp_path / "voc" / "labelmap.txt").read_text().splitlines()[1:]
    names = [ln.split(":")[0] for ln in lines]
    assert len(names) == len(set(names)) == 4
    assert names[0] == "_background_" and lines[0].endswith(":0,0,0::")
    (tmp_path / "voc" / "classes.json").unlink()       # read back through labelmap.txt
    import_voc(tmp_path / "voc", tmp_path / "back")
    got = read_classes(tmp_path / "back" / "classes.json")
    assert [(c.id, c.name) for c in got] == [(c.id, c.name) for c in classes]
