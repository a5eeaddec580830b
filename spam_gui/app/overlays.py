"""Overlay rasters for the canvas: numpy → QImage (through qimage2ndarray), cached and patched.

Each layer is one premultiplied ARGB32 :class:`QImage` that owns its pixels; a numpy view of it
(``qimage2ndarray.byte_view``, BGRA order) is written in place. A full :class:`LayerSet` is built
once per segmentation (in the worker thread: creating a QImage off the GUI thread is allowed,
only QPixmaps are not). After a rescale, only the changed object's bounding box is recomputed
(:func:`make_patch`, also in the worker) and pasted (:meth:`LayerSet.apply`, a region copy in
the GUI thread), so a repaint after a click costs the changed object, not the whole image.

Layers:
- ``objects``: the prior's objects, one colour each, uncertain pixels transparent (the canvas
  sets the opacity);
- ``boundaries``: superpixel boundaries in a colour and a width;
- ``meanfill``: each superpixel filled with its mean colour, built only while it is shown
  (``build_layers(meanfill=False)``, then :meth:`LayerSet.build_meanfill`): a 12-megapixel
  photo saves 48 MB per segmentation and the time to fill it;
- ``heatmap``: the saliency map through a colour map, alpha rising with saliency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from spam_gui.app.model.rasters import (OverlayStyle, Patch, Region, boundaries_bgra,  # noqa: F401
                                        boundary_mask, changed_region, heatmap_bgra,
                                        make_patch, mean_color_lut, meanfill_bgra,
                                        object_color, object_colors, objects_bgra,
                                        thin_boundaries)
from spam_gui.app.qt import QtGui, qimage2ndarray


# ----------------------------------------------------------------------------- layers


class RasterLayer:
    """A premultiplied ARGB32 QImage that owns its pixels, with a writable BGRA numpy view."""

    def __init__(self, bgra: np.ndarray | None = None, shape: tuple[int, int] | None = None
                 ) -> None:
        h, w = bgra.shape[:2] if bgra is not None else shape   # type: ignore[misc]
        self.qimage = QtGui.QImage(w, h, QtGui.QImage.Format.Format_ARGB32_Premultiplied)
        self.view = qimage2ndarray.byte_view(self.qimage)  # (h, w, 4) BGRA, shares memory
        if bgra is not None:
            self.view[...] = bgra
        self.version = 0

    @classmethod
    def filled(cls, shape: tuple[int, int], fill: Callable[[np.ndarray], Any]) -> "RasterLayer":
        """A layer of ``shape`` whose pixels ``fill(view)`` writes in place (no copy of a
        12-megapixel BGRA array)."""
        layer = cls(shape=shape)
        fill(layer.view)
        return layer

    @property
    def shape(self) -> tuple[int, int]:
        return self.view.shape[0], self.view.shape[1]

    @property
    def nbytes(self) -> int:
        return int(self.qimage.sizeInBytes())

    def paste(self, region: Region, bgra: np.ndarray, mask: np.ndarray | None = None) -> None:
        """Copy ``bgra`` into ``region`` (where ``mask`` is True, when given)."""
        y0, y1, x0, x1 = region
        if mask is None:
            self.view[y0:y1, x0:x1] = bgra
        else:   # 4-byte pixels under a 2-D mask
            np.copyto(self.view[y0:y1, x0:x1].view(np.uint32)[..., 0],
                      np.ascontiguousarray(bgra).view(np.uint32)[..., 0], where=mask)
        self.version += 1


@dataclass
class LayerSet:
    """The overlays of one segmentation of one image."""

    objects: RasterLayer
    boundaries: RasterLayer
    meanfill: RasterLayer | None
    style: OverlayStyle
    heatmap: RasterLayer | None = None
    mean_lut: np.ndarray | None = field(default=None, repr=False)
    colors: dict[int, tuple[int, int, int]] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return self.boundaries.shape

    def nbytes(self) -> int:
        """Bytes of the layers' pixels."""
        return sum(layer.nbytes for layer in (self.objects, self.boundaries, self.meanfill,
                                              self.heatmap) if layer is not None)

    def apply(self, patch: Patch) -> None:
        self.boundaries.paste(patch.region, patch.boundaries)
        if self.meanfill is not None:
            if patch.meanfill is None:   # made while the layer was hidden: build it again
                self.meanfill = None
            else:
                self.meanfill.paste(patch.region, patch.meanfill, patch.meanfill_mask)

    def build_meanfill(self, image: np.ndarray, labels: np.ndarray) -> None:
        """The mean-colour layer of ``labels`` (when it is shown for the first time)."""
        labels = np.asarray(labels)
        self.mean_lut = mean_color_lut(image, labels)
        self.meanfill = RasterLayer(meanfill_bgra(self.mean_lut, labels))

    def restyle(self, labels: np.ndarray, style: OverlayStyle) -> None:
        """Redraw the boundaries in a new colour or width."""
        self.boundaries.paste((0, labels.shape[0], 0, labels.shape[1]),
                              boundaries_bgra(boundary_mask(labels, style.boundary_width),
                                              style.boundary_color))
        self.style = style

    def set_heatmap(self, saliency: np.ndarray | None) -> None:
        self.heatmap = None if saliency is None else RasterLayer(heatmap_bgra(saliency))


def build_layers(image: np.ndarray, result: Any, style: OverlayStyle,
                 saliency: np.ndarray | None = None, meanfill: bool = True) -> LayerSet:
    """Every overlay of a segmentation result (``result.labels`` / ``result.objects``);
    without the mean-colour layer when ``meanfill`` is False (built when it is shown)."""
    labels = np.asarray(result.labels)
    lut = mean_color_lut(image, labels) if meanfill else None
    objects = np.asarray(result.objects)
    colors = object_colors(objects)
    shape = (labels.shape[0], labels.shape[1])
    return LayerSet(
        objects=RasterLayer.filled(shape, lambda v: objects_bgra(objects, colors, out=v)),
        boundaries=RasterLayer.filled(shape, lambda v: boundaries_bgra(
            boundary_mask(labels, style.boundary_width), style.boundary_color, out=v)),
        meanfill=RasterLayer(meanfill_bgra(lut, labels)) if lut is not None else None,
        style=style,
        heatmap=None if saliency is None else RasterLayer(heatmap_bgra(saliency)),
        mean_lut=lut,
        colors=colors,
    )
