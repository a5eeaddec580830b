"""One image's annotation files: ``<stem>_classes.png`` and ``<stem>_instances.png`` (with
the folder's ``classes.json``), written as one set and read back checked."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from spam_gui.core.annotation.classes import (
    CLASSES_FILE,
    MAX_ID,
    AnnotationError,
    ClassList,
    color_table,
    encode_classes,
)
from spam_gui.core.annotation.maps import (
    Annotation,
    check_one_class_per_instance,
    class_pixel_counts,
)
from spam_gui.core.io.images import ImageReadError, StagedFiles, encode_png16, read_label_map

__all__ = ["CLASS_SUFFIX", "INSTANCE_SUFFIX", "LABEL_FOLDER", "annotation_paths",
           "encode_annotation", "find_annotations", "read_annotation", "write_annotation"]

LABEL_FOLDER = "spam_labels"
"""The default folder of the annotation files, beside the other outputs (one definition)."""
CLASS_SUFFIX = "_classes.png"
"""``<stem>_classes.png``: the class map of image ``<stem>``."""
INSTANCE_SUFFIX = "_instances.png"
"""``<stem>_instances.png``: the instance map of image ``<stem>``."""


def annotation_paths(folder: str | os.PathLike[str], stem: str) -> dict[str, Path]:
    """``{"classes": <stem>_classes.png, "instances": <stem>_instances.png,
    "class_list": classes.json}`` in ``folder``."""
    d = Path(folder)
    return {"classes": d / f"{stem}{CLASS_SUFFIX}", "instances": d / f"{stem}{INSTANCE_SUFFIX}",
            "class_list": d / CLASSES_FILE}


def find_annotations(folder: str | os.PathLike[str]) -> list[str]:
    """The stems of the ``<stem>_classes.png`` files of a folder, in name order."""
    d = Path(folder)
    try:
        names = sorted(e.name for e in os.scandir(d) if e.name.endswith(CLASS_SUFFIX)
                       and not e.name.startswith(".") and e.is_file())
    except OSError as exc:
        raise AnnotationError(f"{d}: cannot list the annotation folder ({exc.strerror or exc})"
                              ) from None
    return [n[:-len(CLASS_SUFFIX)] for n in names]


def _palette_png(values: np.ndarray, palette: np.ndarray) -> bytes:
    im = Image.fromarray(values.astype(np.uint8))
    im.putpalette(palette.ravel().tolist())
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def _check_known_classes(ann: Annotation, classes: ClassList, where: str) -> None:
    unknown = sorted(set(class_pixel_counts(ann)) - set(classes.ids))
    if unknown:
        raise AnnotationError(f"{where}: the class map uses class id(s) "
                              f"{', '.join(map(str, unknown[:10]))} that {CLASSES_FILE} does not "
                              "list")


def encode_annotation(ann: Annotation, classes: ClassList, stem: str = "annotation"
                      ) -> dict[str, bytes]:
    """The bytes of ``<stem>_classes.png`` and ``<stem>_instances.png`` (keys ``"classes"``,
    ``"instances"``), checked first: every class painted is in ``classes``, every instance has
    one class (:class:`AnnotationError` naming ``stem`` otherwise).

    The class PNG is 8-bit palette (colour ``i`` = class ``i``'s colour, black elsewhere) when
    every class id is at most 255, else 16-bit grey; the instance PNG is 16-bit grey.
    """
    _check_known_classes(ann, classes, stem)
    check_one_class_per_instance(ann, stem)
    if classes.max_id <= 255:
        cls = _palette_png(ann.class_map, color_table(classes, 256))
    else:
        cls = encode_png16(ann.class_map)
    return {"classes": cls, "instances": encode_png16(ann.instance_map)}


def write_annotation(folder: str | os.PathLike[str], stem: str, ann: Annotation,
                     classes: ClassList, *, write_class_list: bool = True) -> dict[str, Path]:
    """Write ``<stem>_classes.png``, ``<stem>_instances.png`` and ``classes.json`` into
    ``folder`` (created if needed) as one set.

    Everything is encoded and checked first (see :func:`encode_annotation`), then each file is
    written in full to a temporary file beside its target (a full disk fails there, and the
    previous files stay as they were), then all are renamed into place.

    Parameters
    ----------
    folder:
        The annotation folder (by default ``<output>/spam_labels``, :data:`LABEL_FOLDER`).
    stem:
        The image's base name.
    ann, classes:
        The maps and the folder's class list.
    write_class_list:
        Write ``classes.json`` too (default).

    Returns
    -------
    dict
        The paths written, keys as :func:`annotation_paths`.

    Raises
    ------
    AnnotationError
        A class painted that the list lacks, an instance of two classes.
    spam_gui.core.io.images.FileWriteError
        A file could not be written; its ``errno`` says why.
    """
    paths = annotation_paths(folder, stem)
    data = encode_annotation(ann, classes, stem)
    if write_class_list:
        data["class_list"] = encode_classes(classes)
    else:
        paths.pop("class_list")
    with StagedFiles() as staged:
        for key, blob in data.items():
            staged.add(paths[key], blob)
    return paths


def _read_map(path: Path, shape: tuple[int, int] | None) -> np.ndarray:
    arr = read_label_map(path)
    if shape is not None and arr.shape != tuple(shape[:2]):
        raise AnnotationError(f"{path}: {arr.shape[1]}x{arr.shape[0]} pixels, but the image is "
                              f"{shape[1]}x{shape[0]} (width x height)")
    if arr.size and int(arr.max()) > MAX_ID:
        raise AnnotationError(f"{path}: ids up to {int(arr.max())}; at most {MAX_ID}")
    return arr


def read_annotation(folder: str | os.PathLike[str], stem: str,
                    shape: tuple[int, int] | None = None, classes: ClassList | None = None
                    ) -> Annotation:
    """Read ``<stem>_classes.png`` (and ``<stem>_instances.png`` when present; without it, no
    instance) from ``folder``.

    Parameters
    ----------
    folder, stem:
        Where, and the image's base name.
    shape:
        The image's (H, W): a map of another size is refused.
    classes:
        When given, every class id in the map must be one of its classes.

    Raises
    ------
    AnnotationError, spam_gui.core.io.images.ImageReadError
        Naming the file: missing, not a PNG, of the wrong size (both sizes given), a class
        unknown to ``classes``, an instance with two classes or none.
    """
    paths = annotation_paths(folder, stem)
    try:
        cls = _read_map(paths["classes"], shape)
        inst = (_read_map(paths["instances"], cls.shape) if paths["instances"].exists()
                else np.zeros(cls.shape, np.uint16))
    except ImageReadError as exc:
        raise AnnotationError(str(exc)) from None
    ann = Annotation(cls, inst)
    if classes is not None:
        _check_known_classes(ann, classes, str(paths["classes"]))
    check_one_class_per_instance(ann, paths["instances"])
    return ann
