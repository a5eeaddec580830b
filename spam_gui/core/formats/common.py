"""What the exchange formats share: the annotation folder read as a whole, image sizes read from
headers, and a set of files written all or nothing."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, Union

from PIL import Image, UnidentifiedImageError

from spam_gui.core.annotation import (
    CLASS_SUFFIX,
    CLASSES_FILE,
    INSTANCE_SUFFIX,
    Annotation,
    AnnotationError,
    ClassList,
    annotation_paths,
    check_one_class_per_instance,
    class_pixel_counts,
    encode_annotation,
    encode_classes,
    find_annotations,
    read_annotation,
    read_classes,
)
from spam_gui.core.io.images import StagedFiles, list_folder

__all__ = ["AnnotationCopy", "AnnotationSource", "LabelFolder", "MemorySource", "Progress",
           "as_source", "image_size", "match_images", "open_label_folder",
           "prepare_annotation_copy", "refuse_existing", "write_annotation_folder"]

Progress = Callable[[int, int, str], None]
"""Called after each image: (images done, images in all, the image's name)."""

_TRANSPOSED = (5, 6, 7, 8)   # EXIF orientations that swap width and height


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """An image's (height, width) as :func:`spam_gui.core.io.images.read_image` gives it (EXIF
    orientation applied), from its header only.

    Raises :class:`AnnotationError` naming the file when it is missing or not an image.
    """
    p = Path(path)
    try:
        with Image.open(p) as im:
            w, h = im.size
            try:
                orientation = im.getexif().get(0x0112)
            except Exception:  # noqa: BLE001 - a broken EXIF block: read_image ignores it too
                orientation = None
            if orientation in _TRANSPOSED:
                w, h = h, w
    except FileNotFoundError:
        raise AnnotationError(f"{p}: no such image file") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise AnnotationError(f"{p}: not a readable image ({exc})") from None
    return int(h), int(w)


@dataclass(frozen=True)
class LabelFolder:
    """An annotation folder: its classes (``classes.json``) and the stems it annotates."""

    folder: Path
    classes: ClassList
    stems: tuple[str, ...]

    def read(self, stem: str, shape: tuple[int, int] | None = None) -> Annotation:
        """One image's maps, validated (size when ``shape`` is given, classes, one class per
        instance); :class:`AnnotationError` naming the file."""
        return read_annotation(self.folder, stem, shape=shape, classes=self.classes)

    def class_png(self, stem: str) -> Path:
        return annotation_paths(self.folder, stem)["classes"]


def check_annotation(ann: Annotation, classes: ClassList, where: str) -> None:
    """:class:`AnnotationError` naming ``where`` when the maps use a class ``classes`` lacks or
    an instance has two classes (what reading a map from a file checks)."""
    unknown = sorted(set(class_pixel_counts(ann)) - set(classes.ids))
    if unknown:
        raise AnnotationError(f"{where}: the class map uses class id(s) "
                              f"{', '.join(map(str, unknown[:10]))} that {CLASSES_FILE} does not "
                              "list")
    check_one_class_per_instance(ann, where)


@dataclass(frozen=True)
class MemorySource:
    """Annotations held by a program (the app's painted maps) read like a :class:`LabelFolder`:
    the classes, the stems, and a loader per stem returning ``(class map, instance map)``.

    :meth:`read` checks what a file would be checked for (size, classes known, one class per
    instance); errors name ``where / <stem>``.
    """

    classes: ClassList
    loaders: dict[str, Callable[[], tuple[Any, Any]]]
    where: Path = Path("annotation")

    @property
    def stems(self) -> tuple[str, ...]:
        return tuple(self.loaders)

    def read(self, stem: str, shape: tuple[int, int] | None = None) -> Annotation:
        cm, im = self.loaders[stem]()
        ann = Annotation(cm, im)
        if shape is not None and ann.shape != tuple(shape):
            raise AnnotationError(f"{self.class_png(stem)}: the annotation is "
                                  f"{ann.shape[1]}x{ann.shape[0]} pixels, the image "
                                  f"{shape[1]}x{shape[0]}")
        check_annotation(ann, self.classes, str(self.class_png(stem)))
        return ann

    def class_png(self, stem: str) -> Path:
        return self.where / stem

    @property
    def folder(self) -> Path:
        return self.where


AnnotationSource = Union[LabelFolder, MemorySource]
"""What the exporters read: an annotation folder, or annotations in memory."""


def as_source(labels: str | os.PathLike[str] | LabelFolder | MemorySource
              ) -> LabelFolder | MemorySource:
    """An open source as it is; a path opened as an annotation folder
    (:func:`open_label_folder`)."""
    if isinstance(labels, (LabelFolder, MemorySource)):
        return labels
    return open_label_folder(labels)


def open_label_folder(folder: str | os.PathLike[str]) -> LabelFolder:
    """Open an annotation folder: ``classes.json`` read and validated, the ``<stem>_classes.png``
    files listed. :class:`AnnotationError` naming the folder or file when it is not a folder,
    has no ``classes.json`` or no class map, or when ``classes.json`` is bad."""
    d = Path(folder)
    if not d.is_dir():
        raise AnnotationError(f"{d}: no such annotation folder")
    class_file = d / CLASSES_FILE
    if not class_file.is_file():
        raise AnnotationError(f"{d}: no {CLASSES_FILE} (the class list of the folder)")
    classes = read_classes(class_file)
    stems = tuple(find_annotations(d))
    if not stems:
        raise AnnotationError(f"{d}: no <image>_classes.png annotation in the folder")
    return LabelFolder(d, classes, stems)


def match_images(labels: LabelFolder | MemorySource,
                 image_dir: str | os.PathLike[str] | Sequence[Path]
                 ) -> tuple[list[Path], dict[str, Path]]:
    """The images of ``image_dir`` (natural order; or the images of a list, in its order) and,
    for each annotated stem, its image.

    Raises :class:`AnnotationError` naming the class map when no image of ``image_dir`` has its
    stem, or when two images do (``a.jpg`` and ``a.png``).
    """
    if isinstance(image_dir, (list, tuple)):
        images = [Path(p) for p in image_dir]
        d = images[0].parent if images else Path(".")
    else:
        d = Path(image_dir)
        if not d.is_dir():
            raise AnnotationError(f"{d}: no such image folder")
        try:
            images = list_folder(d)
        except OSError as exc:
            raise AnnotationError(f"{d}: cannot list the image folder ({exc})") from None
    by_stem: dict[str, list[Path]] = {}
    for p in images:
        by_stem.setdefault(p.stem, []).append(p)
    found: dict[str, Path] = {}
    for stem in labels.stems:
        cands = by_stem.get(stem, [])
        if not cands:
            raise AnnotationError(f"{labels.class_png(stem)}: no image named {stem}.* in {d}")
        if len(cands) > 1:
            raise AnnotationError(f"{labels.class_png(stem)}: several images of that name in {d} "
                                  f"({', '.join(p.name for p in cands)}); keep one")
        found[stem] = cands[0]
    return images, found


@dataclass(frozen=True)
class AnnotationCopy:
    """Existing annotations of some images, read, checked and encoded, ready to be written into
    an output set's annotation folder (:func:`prepare_annotation_copy`)."""

    source: Path
    classes: ClassList
    files: dict[str, dict[str, bytes]]          # stem -> {"classes": png, "instances": png}

    def write(self, dest: str | os.PathLike[str]) -> list[Path]:
        """Write ``classes.json`` and each image's two PNGs into ``dest``, all or nothing
        (files there are replaced); nothing when ``dest`` is the source folder itself or no
        image has an annotation. Returns the files written."""
        d = Path(dest)
        if not self.files or (d.exists() and d.resolve() == self.source.resolve()):
            return []
        with StagedFiles() as staged:
            for stem, blobs in self.files.items():
                paths = annotation_paths(d, stem)
                staged.add(paths["classes"], blobs["classes"])
                staged.add(paths["instances"], blobs["instances"])
            staged.add(d / CLASSES_FILE, encode_classes(self.classes))
            written = list(staged)
        return written


def prepare_annotation_copy(label_dir: str | os.PathLike[str], images: Iterable[Path]
                            ) -> AnnotationCopy:
    """Read and check the annotations of ``images`` found in ``label_dir`` (by stem): its
    ``classes.json``, each map's size against its image's, the classes used, one class per
    instance. Images without an annotation there are left out.

    Raises :class:`AnnotationError` naming the file at fault (nothing is written here).
    """
    labels = open_label_folder(label_dir)
    have = set(labels.stems)
    files: dict[str, dict[str, bytes]] = {}
    for path in images:
        stem = Path(path).stem
        if stem in have and stem not in files:
            try:
                shape = image_size(path)
            except AnnotationError:   # an unreadable image: the command reports it by itself
                continue
            ann = labels.read(stem, shape=shape)
            files[stem] = encode_annotation(ann, labels.classes, str(labels.class_png(stem)))
    return AnnotationCopy(labels.folder, labels.classes, files)


def refuse_existing(paths: Iterable[Path], overwrite: bool) -> None:
    """Raise :class:`AnnotationError` naming the files that exist already, unless
    ``overwrite``."""
    if overwrite:
        return
    there = [p for p in paths if p.exists()]
    if there:
        more = f" and {len(there) - 3} more" if len(there) > 3 else ""
        raise AnnotationError(f"{', '.join(str(p) for p in there[:3])}{more}: exist(s) already; "
                              "nothing was written (give --overwrite to replace them)")


def write_annotation_folder(out_dir: str | os.PathLike[str], classes: ClassList,
                            images: Sequence[tuple[str, str]],
                            read: Callable[[int], tuple[Annotation, str]], *,
                            overwrite: bool = False,
                            progress: Progress | None = None) -> list[Path]:
    """Write an annotation folder all or nothing: ``classes.json`` and, for each image,
    ``<stem>_classes.png`` and ``<stem>_instances.png`` (what the importers of the exchange
    formats end with).

    Every target is checked first (:func:`refuse_existing`); each image's maps are read,
    checked and staged in turn, and only when all are staged are the files renamed into place
    (:class:`StagedFiles`): an error on the last image leaves the folder as it was.

    Parameters
    ----------
    out_dir:
        The annotation folder to write into; made when missing.
    classes:
        The class list written to ``classes.json`` and checked against each map.
    images:
        ``(stem, name)`` of each image: the stem of its files, the name given to ``progress``.
    read:
        ``read(i)``: the annotation of ``images[i]`` and the place its errors name (a file,
        or a file and an image in it).
    overwrite:
        Replace the files there; by default one file there already stops it before anything
        is written.
    progress:
        ``progress(done, total, name)`` once each image's maps are staged.

    Returns
    -------
    list of Path
        The files written: each image's two maps, then ``classes.json``.

    Raises
    ------
    AnnotationError
        Files that exist already; whatever ``read`` raises; a map that breaks the folder's
        rules (:func:`spam_gui.core.annotation.encode_annotation`), naming its place.
    """
    out = Path(out_dir)
    targets = [out / CLASSES_FILE]
    for stem, _ in images:
        targets += [out / f"{stem}{CLASS_SUFFIX}", out / f"{stem}{INSTANCE_SUFFIX}"]
    refuse_existing(targets, overwrite)
    with StagedFiles() as staged:
        for n, (stem, name) in enumerate(images, start=1):
            ann, where = read(n - 1)
            blobs = encode_annotation(ann, classes, where)
            staged.add(out / f"{stem}{CLASS_SUFFIX}", blobs["classes"])
            staged.add(out / f"{stem}{INSTANCE_SUFFIX}", blobs["instances"])
            if progress is not None:
                progress(n, len(images), name)
        staged.add(out / CLASSES_FILE, encode_classes(classes))
        return list(staged)
