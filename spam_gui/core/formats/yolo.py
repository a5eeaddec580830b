"""YOLO-seg (Ultralytics) instance segmentation labels from class / instance maps, and back.

Writing (:func:`export_yolo`), into the output folder:

* ``labels/<stem>.txt`` for each annotated image: one line per instance (increasing id), then
  one line per 4-connected piece of the class pixels that belong to no instance (YOLO-seg has
  only instances), each ``c x1 y1 x2 y2 ...``: ``c`` the class's position in ``classes.json``
  (display order, from 0), ``x / W`` and ``y / H`` in pixel-edge coordinates (the image spans
  0..1), 6 decimals. An annotated image with nothing painted gets an empty file (a background
  image for Ultralytics);
* ``dataset.yaml``: ``names`` (position -> class name, ``classes.json`` order) and ``nc``, with
  ``train`` / ``val`` pointing at ``images`` beside ``labels`` (put the images, or links to
  them, there: Ultralytics finds an image's labels by replacing ``/images/`` with
  ``/labels/`` in its path);
* ``classes.json``: the classes with their ids and colours (so that an import gives them back).

Polygons: one line per instance, so an instance of several parts is one outline whose parts
are joined by zero-width bridges between their closest vertices (as Ultralytics' own COCO
converter joins them), and each hole is joined to its part's outline the same way (the
even-odd fill of Ultralytics' OpenCV rasteriser leaves it empty); simplified with a tolerance
in pixels (1.4 by default), see :mod:`spam_gui.core.formats.polygons`.

Reading (:func:`import_yolo`): ``labels/**/*.txt`` (or the ``.txt`` files of the folder
itself), each image's size from its image (``--images``, else ``images/`` beside ``labels/``,
the same sub-folders); class names from ``classes.json`` if there, else the dataset ``.yaml``'s
``names``, else ``classes.txt`` (one name a line), else ``class 1``, ``class 2``...; every line
becomes an instance (numbered 1.. in line order), rasterised into its box; every number is
checked first (a class index the names lack, an odd count, fewer than 3 points, a coordinate
that is not a finite number within the image: the file and line are named).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from spam_gui import __version__
from spam_gui.core.annotation import (CLASSES_FILE, AnnotationError, ClassList, encode_classes,
                                      read_classes)
from spam_gui.core.formats.common import (
    AnnotationSource,
    Progress,
    as_source,
    image_size,
    refuse_existing,
    write_annotation_folder,
)
from spam_gui.core.formats.polygons import DEFAULT_TOLERANCE, join_parts, mask_polygons, regions
from spam_gui.core.formats.shapes import Shape, check_polygons, paint_shapes
from spam_gui.core.io.images import IMAGE_EXTENSIONS, StagedFiles

__all__ = ["DATASET_FILE", "export_yolo", "import_yolo", "yolo_lines"]

DATASET_FILE = "dataset.yaml"


def _num(v: float) -> str:
    t = f"{min(max(v, 0.0), 1.0):.6f}".rstrip("0").rstrip(".")
    return t or "0"


def yolo_lines(ann: Any, index: dict[int, int], tolerance: float = DEFAULT_TOLERANCE
               ) -> list[str]:
    """The label file's lines of one image: ``index`` maps a class id to its position."""
    h, w = ann.shape
    lines = []
    for r in regions(ann, pieces=True):
        poly = join_parts(mask_polygons(r.mask, tolerance, r.y0, r.x0))
        coords = " ".join(f"{_num(x / w)} {_num(y / h)}" for x, y in poly)
        lines.append(f"{index[r.class_id]} {coords}")
    return lines


def _dataset_yaml(classes: ClassList) -> str:
    names = "\n".join(f"  {i}: {json.dumps(c.name, ensure_ascii=False)}"
                      for i, c in enumerate(classes))
    return (f"# YOLO-seg dataset written by spam-studio {__version__}.\n"
            "# labels/<stem>.txt: one line per instance, 'class x1 y1 x2 y2 ...' (class = its\n"
            "# position in names, from 0; x / width, y / height). Put the images (or links to\n"
            "# them) in images/ beside labels/: Ultralytics finds an image's labels by\n"
            "# replacing /images/ with /labels/ in its path.\n"
            "train: images\nval: images\n"
            f"nc: {len(classes)}\nnames:\n{names}\n")


def export_yolo(label_dir: str | os.PathLike[str] | AnnotationSource,
                out_dir: str | os.PathLike[str], *, tolerance: float = DEFAULT_TOLERANCE,
                overwrite: bool = False, progress: Progress | None = None) -> list[Path]:
    """Write an annotation folder (or annotations in memory) as a YOLO-seg dataset (see the
    module's notes).

    Every map is read and checked, and every file staged, before any file is renamed into
    place; files that exist already are kept (nothing is written) unless ``overwrite``.

    Parameters
    ----------
    label_dir:
        The annotation folder, or a :class:`spam_gui.core.formats.common.MemorySource`.
    out_dir:
        The dataset folder (created if needed).
    tolerance:
        Douglas-Peucker tolerance of the outlines, pixels.
    overwrite:
        Replace files that exist already.
    progress:
        Called after each image.

    Returns
    -------
    list of Path
        The files written: each image's label file, then ``dataset.yaml`` and
        ``classes.json``.

    Raises
    ------
    AnnotationError
        Naming the file: a bad ``classes.json``, a map that breaks the folder's rules, files
        that exist already.
    """
    labels = as_source(label_dir)
    out = Path(out_dir)
    targets = [out / "labels" / f"{stem}.txt" for stem in labels.stems]
    targets += [out / DATASET_FILE, out / CLASSES_FILE]
    refuse_existing(targets, overwrite)
    index = {c.id: i for i, c in enumerate(labels.classes)}
    with StagedFiles() as staged:
        for n, stem in enumerate(labels.stems, start=1):
            ann = labels.read(stem)
            text = "".join(line + "\n" for line in yolo_lines(ann, index, tolerance))
            staged.add(out / "labels" / f"{stem}.txt", text.encode("utf-8"))
            if progress is not None:
                progress(n, len(labels.stems), stem)
        staged.add(out / DATASET_FILE, _dataset_yaml(labels.classes).encode("utf-8"))
        staged.add(out / CLASSES_FILE, encode_classes(labels.classes))
        return list(staged)


# --------------------------------------------------------------------------------------------
# reading


def _yaml_names(path: Path) -> list[str] | None:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise AnnotationError(f"{path}: not a readable YAML file ({exc})") from None
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict):
        try:
            keys = sorted(int(k) for k in names)
        except (TypeError, ValueError):
            raise AnnotationError(f"{path}: 'names' must map 0, 1, ... to class names") from None
        if keys != list(range(len(keys))):
            raise AnnotationError(f"{path}: 'names' must number the classes 0, 1, ... without "
                                  "gaps")
        names = [names[k] if k in names else names[str(k)] for k in keys]
    if names is None:
        return None
    if not isinstance(names, list):
        raise AnnotationError(f"{path}: 'names' must be a list or a mapping of class names")
    return [str(n) for n in names]


def _yolo_classes(src: Path, used: int) -> ClassList:
    """The classes in index order: classes.json, else a dataset .yaml's names, else
    classes.txt, else 'class 1', 'class 2', ... for the ``used`` indices."""
    if (src / CLASSES_FILE).is_file():
        return read_classes(src / CLASSES_FILE)
    for y in sorted(list(src.glob("*.yaml")) + list(src.glob("*.yml"))):
        names = _yaml_names(y)
        if names is not None:
            return ClassList().add_many(((n, None, None) for n in names),
                                        where=lambda i, y=y: f"{y}: class {i}")
    txt = src / "classes.txt"
    if txt.is_file():
        names = [ln.strip() for ln in txt.read_text(encoding="utf-8-sig").splitlines()
                 if ln.strip()]
        return ClassList().add_many(((n, None, None) for n in names),
                                    where=lambda i: f"{txt}: line {i + 1}")
    return ClassList.from_names(f"class {i + 1}" for i in range(used))


def _parse_labels(path: Path) -> list[tuple[int, int, list[float]]]:
    """``(line number, class index, flat normalised coordinates)`` of each line that is not
    blank, the numbers parsed."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise AnnotationError(f"{path}: not a readable text file ({exc})") from None
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        tok = line.split()
        if not tok:
            continue
        try:
            c = int(tok[0])
            coords = [float(t) for t in tok[1:]]
        except ValueError:
            raise AnnotationError(f"{path}: line {n}: expected 'class x1 y1 x2 y2 ...' "
                                  "(numbers)") from None
        if len(coords) == 4:
            raise AnnotationError(f"{path}: line {n}: a box (YOLO detection), not a polygon")
        if c < 0:
            raise AnnotationError(f"{path}: line {n}: class {c} is negative")
        out.append((n, c, coords))
    return out


def _image_for(label: Path, labels_dir: Path, image_dir: Path,
               cache: dict[Path, dict[str, Path]]) -> Path | None:
    from spam_gui.core.io.images import list_folder

    rel = label.relative_to(labels_dir).parent
    for folder in (image_dir / rel, image_dir):
        if folder not in cache:
            try:
                cache[folder] = {p.stem: p for p in list_folder(folder)
                                 if p.suffix.lower() in IMAGE_EXTENSIONS}
            except OSError:
                cache[folder] = {}
        if label.stem in cache[folder]:
            return cache[folder][label.stem]
    return None


def import_yolo(src_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
                image_dir: str | os.PathLike[str] | None = None, overwrite: bool = False,
                progress: Progress | None = None) -> list[Path]:
    """Write the annotation folder of a YOLO-seg dataset: ``classes.json`` and, for each label
    file, ``<stem>_classes.png`` and ``<stem>_instances.png`` (see the module's notes).

    Everything is parsed and checked first; the files are then written all or nothing.

    Parameters
    ----------
    src_dir:
        The dataset folder (holding ``labels/``, or the label files themselves).
    out_dir:
        The annotation folder (created if needed).
    image_dir:
        The images' folder (their sizes; YOLO coordinates are fractions of them); default
        ``images/`` beside ``labels/``.
    overwrite, progress:
        As for the other importers.

    Raises
    ------
    AnnotationError
        Naming the file (and line): no label file, no image for a label file or two label
        files of one name, a bad line, files that exist already.
    """
    src = Path(src_dir)
    if not src.is_dir():
        raise AnnotationError(f"{src}: no such YOLO dataset folder")
    labels_dir = src / "labels" if (src / "labels").is_dir() else src
    files = sorted(p for p in labels_dir.rglob("*.txt")
                   if p.name != "classes.txt" and not p.name.startswith("."))
    if not files:
        raise AnnotationError(f"{labels_dir}: no .txt label file")
    images = Path(image_dir) if image_dir is not None else src / "images"
    if not images.is_dir():
        raise AnnotationError(f"{src}: YOLO coordinates are fractions of the image's size: give "
                              "the images' folder (--images), or put them in images/ beside "
                              "labels/")
    parsed = {f: _parse_labels(f) for f in files}
    used = max((c + 1 for lines in parsed.values() for _, c, _ in lines), default=0)
    classes = _yolo_classes(src, used)
    ids = [c.id for c in classes]
    cache: dict[Path, dict[str, Path]] = {}
    todo: list[tuple[Path, Path, tuple[int, int]]] = []
    stems: dict[str, Path] = {}
    for f, lines in parsed.items():
        for n, c, _ in lines:
            if c >= len(ids):
                raise AnnotationError(f"{f}: line {n}: class {c} is not one of the {len(ids)} "
                                      f"classes (0..{len(ids) - 1})")
        if f.stem in stems:
            raise AnnotationError(f"{stems[f.stem]} and {f}: two label files of one name; "
                                  "their annotation files would collide")
        stems[f.stem] = f
        img = _image_for(f, labels_dir, images, cache)
        if img is None:
            raise AnnotationError(f"{f}: no image named {f.stem}.* in {images}")
        todo.append((f, img, image_size(img)))
    shapes: dict[Path, list[tuple[int, object, Shape]]] = {}
    for f, _img, (h, w) in todo:      # every number checked before anything is written
        regs = []
        for k, (n, c, coords) in enumerate(parsed[f], start=1):
            pix = [v * (w if i % 2 == 0 else h) for i, v in enumerate(coords)]
            polys = check_polygons([pix], h, w, f"{f}: line {n}")
            regs.append((ids[c], k, Shape(h, w, polygons=polys)))
        shapes[f] = regs
    return write_annotation_folder(
        out_dir, classes, [(f.stem, f.name) for f, _, _ in todo],
        lambda i: (paint_shapes(todo[i][2], shapes[todo[i][0]], str(todo[i][0])),
                   str(todo[i][0])),
        overwrite=overwrite, progress=progress)
