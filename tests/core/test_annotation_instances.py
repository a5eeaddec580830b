"""Instances as items (spam_gui.core.annotation.instances): list, relabel, delete, merge, each
one undo step through a StrokeRecorder patch."""

from __future__ import annotations

import numpy as np
import pytest

from spam_gui.core.annotation import Annotation, AnnotationError, StrokeRecorder
from spam_gui.core.annotation.instances import (delete_instances, instance_infos,
                                                merge_instances, relabel_instances)


def _ann():
    cm = np.zeros((20, 30), np.uint16)
    im = np.zeros((20, 30), np.uint16)
    cm[2:8, 2:10], im[2:8, 2:10] = 1, 1          # 48 px, class 1
    cm[10:18, 5:25], im[10:18, 5:25] = 1, 2      # 160 px, class 1
    cm[2:6, 20:28], im[2:6, 20:28] = 2, 3        # 32 px, class 2
    return Annotation(cm, im)


def _undo_redo(ann, op):
    before = ann.copy()
    rec = StrokeRecorder(ann)
    out = op(ann, rec)
    patch = rec.finish()
    ann.invalidate()
    after = ann.copy()
    patch.revert(ann)
    ann.invalidate()
    assert ann == before
    patch.apply(ann)
    ann.invalidate()
    assert ann == after
    return out


def test_list_relabel_delete_merge():
    ann = _ann()
    assert [(i.id, i.class_id, i.pixels) for i in instance_infos(ann)] == [
        (1, 1, 48), (2, 1, 160), (3, 2, 32)]
    _undo_redo(ann, lambda a, r: relabel_instances(a, [1], 2, recorder=r))
    assert (ann.class_map[ann.instance_map == 1] == 2).all()
    assert {i.id: i.class_id for i in instance_infos(ann)} == {1: 2, 2: 1, 3: 2}
    _, keep = _undo_redo(ann, lambda a, r: merge_instances(a, [1, 2, 3], recorder=r))
    assert keep == 2 and set(np.unique(ann.instance_map)) == {0, 2}
    assert (ann.class_map[ann.instance_map == 2] == 1).all()      # the largest one's class
    _undo_redo(ann, lambda a, r: delete_instances(a, [2], recorder=r))
    assert not ann.class_map.any() and not ann.instance_map.any()


def test_refusals_name_the_problem():
    ann = _ann()
    with pytest.raises(AnnotationError, match="two or more"):
        merge_instances(ann, [1, 9])
    with pytest.raises(AnnotationError, match="needs a class"):
        relabel_instances(ann, [1], 0)
    with pytest.raises(AnnotationError, match="one or more"):
        delete_instances(ann, [])
