"""The class layer and export side of the annotation controller
(:class:`spam_gui.app.annotating.AnnotationController` holds one :class:`ClassLayer`): the
class layer on the canvas (built once, patched by bounding box), and :func:`map_loader`, what
the export writer of an image's annotation reads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from spam_gui.app.model.annotation_view import class_layer_region, class_lut
from spam_gui.app.model.raster_store import RasterStore, raster_folder
from spam_gui.app.overlays import RasterLayer
from spam_gui.core.annotation import Annotation, BBox, ClassList

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.app.canvas import Canvas
    from spam_gui.app.document import FolderSession


class ClassLayer:
    """The class layer of the image shown on ``canvas`` (``row`` gives that image's row):
    ``layer`` is the :class:`RasterLayer` drawn, ``key`` the (row, image) it was built for,
    ``lut`` the class colours."""

    def __init__(self, canvas: "Canvas", row: Callable[[], int]) -> None:
        self.canvas = canvas
        self._row = row
        self.layer: RasterLayer | None = None
        self.key: tuple[int, int] | None = None      # (row, id of the image)
        self.lut = class_lut(ClassList())

    def set_classes(self, classes: ClassList) -> None:
        """New class colours (the layer is rebuilt by :meth:`rebuild`)."""
        self.lut = class_lut(classes)

    def _key(self) -> tuple[int, int]:
        return (self._row(), id(self.canvas.image))

    def drop(self) -> None:
        self.layer = None
        self.key = None
        self.canvas.set_class_layer(None)

    def empty(self, shape: tuple[int, int]) -> None:
        """A transparent class layer for an image without annotation (painting will fill it)."""
        key = self._key()
        if (self.layer is not None and self.key == key and self.layer.shape == shape
                and self.canvas.class_layer() is self.layer.qimage):
            return
        self.layer = RasterLayer(np.zeros(shape + (4,), np.uint8))
        self.key = key
        self.canvas.set_class_layer(self.layer.qimage)

    def ensure(self, ann: Annotation) -> None:
        """The layer shows ``ann`` (the annotation of the image shown): built when it is not."""
        key = self._key()
        if (self.layer is None or self.key != key or self.layer.shape != ann.shape
                or self.canvas.class_layer() is not self.layer.qimage):
            self._build(ann, key)

    def _build(self, ann: Annotation, key: tuple[int, int]) -> None:
        region, bgra = class_layer_region(ann, self.lut, None)
        self.layer = RasterLayer(bgra)
        self.key = key
        self.canvas.set_class_layer(self.layer.qimage)

    def rebuild(self, ann: Annotation | None) -> None:
        """The colours changed: ``ann`` (the image shown's, if any) drawn again."""
        if ann is not None and self.layer is not None:
            self._build(ann, self.key or self._key())

    def redraw(self, ann: Annotation, box: BBox) -> None:
        """Recompute the layer of ``ann`` over ``box`` and repaint that rectangle only."""
        if self.layer is None or self.layer.shape != ann.shape:
            self.ensure(ann)
            return
        region, bgra = class_layer_region(ann, self.lut, box)
        self.layer.paste(region, bgra)
        self.canvas.update_class_region(region)


def hover_text(ann: Annotation | None, classes: ClassList, x: int, y: int) -> str:
    """`` · class sky, instance 3`` under image pixel (x, y) of ``ann`` ('' without one)."""
    if ann is None or not (0 <= y < ann.shape[0] and 0 <= x < ann.shape[1]):
        return ""
    cid = int(ann.class_map[y, x])
    if cid == 0:
        return " · unlabelled"
    c = classes.by_id(cid)
    name = c.name if c is not None else f"class {cid}"
    inst = int(ann.instance_map[y, x])
    return f" · {name}" + (f", instance {inst}" if inst else "")


def map_loader(s: "FolderSession", ann: Annotation | None, row: int
               ) -> tuple[tuple[np.ndarray, np.ndarray] | None, Any] | None:
    """Image ``row``'s maps for a worker thread: ``(maps, None)`` with copies of the maps in
    memory (``ann``, the annotation in memory, if any; taken now, on the GUI thread), or
    ``(None, load)`` with ``load(shape)`` reading its autosaved rasters; None when it has no
    annotation."""
    if ann is not None:
        return (ann.class_map.copy(), ann.instance_map.copy()), None
    if s.has_doc(row):
        doc = s.doc(row)
        if "classes" in doc.rasters:
            inst = doc.rasters.get("instances")
            return (doc.rasters["classes"].copy(),
                    inst.copy() if inst is not None
                    else np.zeros_like(doc.rasters["classes"])), None
        hashes = dict(doc.raster_hashes)
    else:
        e = s.saved_entry(row)
        hashes = dict(e.rasters) if e is not None else {}
    if "classes" not in hashes or s.state_path is None:
        return None
    store = RasterStore(raster_folder(s.state_path))
    name = s.paths[row].name

    def load(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        cm = store.load(name, "classes", shape, hashes["classes"])
        im = (store.load(name, "instances", shape, hashes["instances"])
              if "instances" in hashes else np.zeros(shape, np.int32))
        return cm, im

    return None, load
