"""The class layer and export side of the annotation controller
(:class:`spam_gui.app.annotating.AnnotationController` inherits :class:`ClassLayer`): the class
layer on the canvas (built once, patched by bounding box), the view kept in step with the image
shown, the hover readout and the export writer of an image's annotation."""

from __future__ import annotations

from typing import Any

import numpy as np

from spam_gui.app.model.annotation_view import (AnnotationWriter, annotation_writer,
                                                class_layer_region)
from spam_gui.app.model.raster_store import RasterStore, raster_folder
from spam_gui.app.overlays import RasterLayer
from spam_gui.core.annotation import Annotation, BBox


class ClassLayer:
    """The class layer, hover readout and export writer of
    :class:`~spam_gui.app.annotating.AnnotationController` (a mixin: the controller holds the
    annotations and the layer)."""

    # -- the class layer -------------------------------------------------------------------
    def _drop_layer(self) -> None:
        self._layer = None
        self._layer_key = None
        self.w.canvas.set_class_layer(None)

    def _empty_layer(self, shape: tuple[int, int]) -> None:
        """A transparent class layer for an image without annotation (painting will fill it)."""
        key = (self.w.row, id(self.w.canvas.image))
        if (self._layer is not None and self._layer_key == key and self._layer.shape == shape
                and self.w.canvas.class_layer() is self._layer.qimage):
            return
        self._layer = RasterLayer(np.zeros(shape + (4,), np.uint8))
        self._layer_key = key
        self.w.canvas.set_class_layer(self._layer.qimage)

    def _ensure_layer(self, ann: Annotation) -> None:
        img = self.w.canvas.image
        key = (self.w.row, id(img))
        if (self._layer is None or self._layer_key != key or self._layer.shape != ann.shape
                or self.w.canvas.class_layer() is not self._layer.qimage):
            self._build_layer(ann, key)

    def _build_layer(self, ann: Annotation, key: tuple[int, int]) -> None:
        region, bgra = class_layer_region(ann, self._lut, None)
        self._layer = RasterLayer(bgra)
        self._layer_key = key
        self.w.canvas.set_class_layer(self._layer.qimage)

    def _rebuild_layer(self) -> None:
        ann = self._anns.get(self.w.row)
        if ann is not None and self._layer is not None:
            self._build_layer(ann, self._layer_key or (self.w.row, id(self.w.canvas.image)))
        self._show_classes()

    def redraw(self, box: BBox) -> None:
        """Recompute the class layer over ``box`` and repaint that rectangle only."""
        ann = self._anns.get(self.w.row)
        if ann is None:
            return
        if self._layer is None or self._layer.shape != ann.shape:
            self._ensure_layer(ann)
            return
        region, bgra = class_layer_region(ann, self._lut, box)
        self._layer.paste(region, bgra)
        self.w.canvas.update_class_region(region)

    def sync_view(self) -> None:
        """A segmentation is on screen: show this image's annotation (loaded on first use)."""
        o = self.w.displayed
        if o is None or self.w.session is None or self.w.row < 0:
            self._show_classes()
            return
        ann = self.annotation(self.w.row, o.result.labels.shape)
        if ann is not None:
            self._ensure_layer(ann)
        elif self.w.mode == "paint":
            self._empty_layer(o.result.labels.shape)   # ready for the first stroke
        elif self._layer is not None:
            self._drop_layer()
        self._show_classes()
        self._show_brush()
        if self.w.mode == "paint" or ann is not None:
            self.prepare_brush_index(o.result)    # the brush is ready before the first click

    def set_opacity(self, v: float) -> None:
        self.w.canvas.set_class_opacity(v)
        self.w.settings.class_opacity = v

    # -- readout, export -------------------------------------------------------------------
    def hover_text(self, x: int, y: int) -> str:
        """`` · class sky, instance 3`` under image pixel (x, y) ('' without an annotation)."""
        ann = self._anns.get(self.w.row)
        if ann is None or not (0 <= y < ann.shape[0] and 0 <= x < ann.shape[1]):
            return ""
        cid = int(ann.class_map[y, x])
        if cid == 0:
            return " · unlabelled"
        c = self.classes.by_id(cid)
        name = c.name if c is not None else f"class {cid}"
        inst = int(ann.instance_map[y, x])
        return f" · {name}" + (f", instance {inst}" if inst else "")

    def export_writer(self, row: int) -> AnnotationWriter | None:
        """What the export job calls to write image ``row``'s annotation (None: it has none,
        or the class list cannot be read)."""
        s = self.w.session
        if s is None or self.classes_error:
            return None
        got = self.map_loader(row)
        if got is None:
            return None
        maps, load = got
        return annotation_writer(s.paths[row].stem, self.classes, maps=maps, load=load)

    def map_loader(self, row: int) -> tuple[tuple[np.ndarray, np.ndarray] | None,
                                             Any] | None:
        """Image ``row``'s maps for a worker thread: ``(maps, None)`` with copies of the maps
        in memory (taken now, on the GUI thread), or ``(None, load)`` with ``load(shape)``
        reading its autosaved rasters; None when it has no annotation."""
        s = self.w.session
        if s is None:
            return None
        ann = self._anns.get(row)
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

    def has_annotation(self, row: int) -> bool:
        return row in self._anns or row in self._annotated_rows()
