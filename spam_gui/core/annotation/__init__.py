"""Classes and class / instance maps: annotations kept as pixels, painted by superpixel.

An annotation of one image is two maps of its size (:class:`Annotation`):

* ``class_map`` (H, W) uint16: the class id of each pixel, 0 = unlabelled;
* ``instance_map`` (H, W) uint16: the instance id of each pixel, 0 = no instance. Every
  instance has exactly one class (its pixels all carry the same non-zero class id).

Superpixels (and prior objects) are only the brush: :class:`LabelIndex` indexes a label map
once (each label's bounding box and size) so that painting a few superpixels touches only
their boxes, however large the image. Every paint operation returns the bounding box of the
pixels it changed (``(y0, y1, x0, x1)``, half-open like slices) or None, and can record what it
overwrote in a :class:`StrokeRecorder`, whose :class:`AnnotationPatch` undoes and redoes a
whole stroke without copying the full maps.

The classes of a folder are a :class:`ClassList` (immutable, in display order), stored as
``classes.json`` (:func:`read_classes`, :func:`write_classes`) or imported from labelme's
``labels.txt`` (:func:`read_labels_txt`). :func:`write_annotation` and :func:`read_annotation`
store one image's maps as ``<stem>_classes.png`` (an 8-bit palette PNG with the classes'
colours when every id is at most 255, else 16-bit grey) and ``<stem>_instances.png`` (16-bit),
in the folder :data:`LABEL_FOLDER` beside the other outputs by default.

The modules: :mod:`.classes` (classes and their files), :mod:`.maps` (:class:`Annotation`,
:class:`LabelIndex`, the one-class-per-instance rule), :mod:`.paint` (the paint operations),
:mod:`.undo` (strokes and patches), :mod:`.files` (the PNG files). Everything is imported from
here. Qt-free; numpy, scipy and PIL only. The exchange formats (COCO, Pascal VOC) are in
:mod:`spam_gui.core.formats`; the whole story in ``docs/annotation.md``.
"""

from __future__ import annotations

from spam_gui.core.annotation.classes import (
    CLASS_PALETTE,
    CLASSES_FILE,
    MAX_ID,
    AnnotationError,
    ClassList,
    LabelClass,
    color_table,
    encode_classes,
    read_classes,
    read_labels_txt,
    write_classes,
)
from spam_gui.core.annotation.files import (
    CLASS_SUFFIX,
    INSTANCE_SUFFIX,
    LABEL_FOLDER,
    annotation_paths,
    encode_annotation,
    find_annotations,
    read_annotation,
    write_annotation,
)
from spam_gui.core.annotation.maps import (
    Annotation,
    BBox,
    LabelIndex,
    check_one_class_per_instance,
    class_pixel_counts,
    instance_classes,
    new_instance_id,
)
from spam_gui.core.annotation.paint import (
    disk_mask,
    erase_labels,
    paint_disk,
    paint_labels,
    paint_mask,
    paint_segment,
    remove_class,
)
from spam_gui.core.annotation.undo import AnnotationPatch, StrokeRecorder

__all__ = [
    "CLASSES_FILE",
    "CLASS_PALETTE",
    "CLASS_SUFFIX",
    "INSTANCE_SUFFIX",
    "LABEL_FOLDER",
    "MAX_ID",
    "Annotation",
    "AnnotationError",
    "AnnotationPatch",
    "BBox",
    "ClassList",
    "LabelClass",
    "LabelIndex",
    "StrokeRecorder",
    "annotation_paths",
    "check_one_class_per_instance",
    "class_pixel_counts",
    "color_table",
    "disk_mask",
    "encode_annotation",
    "encode_classes",
    "erase_labels",
    "find_annotations",
    "instance_classes",
    "new_instance_id",
    "paint_disk",
    "paint_labels",
    "paint_mask",
    "paint_segment",
    "read_annotation",
    "read_classes",
    "read_labels_txt",
    "remove_class",
    "write_annotation",
    "write_classes",
]
