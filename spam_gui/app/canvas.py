"""The canvas: a QGraphicsView with the image and its overlay layers, zoom, pan and hit-testing.

Layers, bottom to top: the image, the mean-colour fill, the object fill (opacity slider), the
painted classes (their own opacity; patched by the bounding box of each stroke), the saliency
heatmap, the superpixel boundaries, a SAM prompt preview and its click points. Each
overlay is a :class:`RasterItem` that paints only the exposed part of its QImage, so a patch
after a click repaints the changed object's rectangle and nothing else.

Mouse: wheel zooms about the cursor; dragging with any button pans; a click (press and release
without moving) is reported as ``clicked(x, y, button, modifiers)`` in image pixels. Moving the
pointer reports ``hovered(x, y)`` (``-1, -1`` outside the image). Folders and images dropped on
the view are reported as ``files_dropped``.

Strokes: when the active tool draws (``set_stroke_mode(True)``: paint, split, lasso, brush), the
left and right buttons no longer pan or click; a press, the moves while held and the release are
reported as ``stroke_started(x, y, button, modifiers)``, ``stroke_moved(x, y)`` and
``stroke_finished(x, y, moved)`` in image pixels clamped to the image (a stroke may start or
leave outside it). The middle button always pans, and so does any button while Space is held
(Space+drag, as in CVAT, GIMP and Photoshop), in every tool. ``set_stroke_path`` previews a
stroke or a lasso; ``set_brush_radius`` shows the brush outline under the pointer.
"""

from __future__ import annotations

import numpy as np

from spam_gui.app.guard import guarded
from spam_gui.app.model.rasters import PreviewRaster
from spam_gui.app.overlays import LayerSet, RasterLayer, Region
from spam_gui.app.qt import QtCore, QtGui, QtWidgets

Qt = QtCore.Qt

LAYER_NAMES = ("image", "meanfill", "objects", "heatmap", "boundaries", "classes")
LAYER_TITLES = {
    "image": "Image",
    "meanfill": "Mean colour",
    "objects": "Objects",
    "heatmap": "Saliency heatmap",
    "boundaries": "Boundaries",
    "classes": "Classes",
}


class RasterItem(QtWidgets.QGraphicsItem):
    """Draws a QImage at 1 scene unit per pixel, repainting only the exposed rectangle.

    ``pooled`` (thin lines: the boundaries): zoomed out below 1:2, the item draws a copy
    max-pooled by the power of two that brings it to at least one screen pixel per pooled pixel,
    so every line stays visible at screen resolution instead of being dropped by the nearest-
    pixel sampling. Each level is built on first use (a dilation and a stride, OpenCV) and
    patched by :meth:`pixels_changed` (the changed rectangle only).
    """

    MAX_POOL = 32

    def __init__(self, z: float, smooth: bool = False, pooled: bool = False) -> None:
        super().__init__()
        self.setZValue(z)
        self.setFlag(QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self._qimage: QtGui.QImage | None = None
        self._rect = QtCore.QRectF()
        self._keep: object = None  # keeps the numpy buffer of a zero-copy QImage alive
        self.smooth = smooth
        self.pooled = pooled
        self._pools: dict[int, QtGui.QImage] = {}   # factor -> max-pooled copy
        self._hidden: QtGui.QRegion | None = None    # not drawn there (an edit's preview is)

    @property
    def hidden(self) -> QtGui.QRegion | None:
        """The region left undrawn (:meth:`set_hidden`), or None."""
        return self._hidden

    def set_hidden(self, region: QtGui.QRegion | None) -> None:
        """Leave ``region`` (scene pixels) undrawn, or draw everywhere again (None)."""
        self._hidden = region
        self.update()

    def set_image(self, qimage: QtGui.QImage | None, keep: object = None) -> None:
        self.prepareGeometryChange()
        self._qimage = qimage
        self._keep = keep
        self._pools = {}
        self._rect = QtCore.QRectF(0, 0, qimage.width(), qimage.height()) if qimage else QtCore.QRectF()
        self.update()

    def pixels_changed(self, region: Region | None = None) -> None:
        """The QImage's pixels changed in ``region`` (y0, y1, x0, x1; None: anywhere) through
        its numpy view: patch the pooled copies."""
        if not self._pools or self._qimage is None:
            return
        if region is None:
            self._pools = {}
            return
        for f in sorted(self._pools):     # each level from the one below it
            self._pool_level(f, region)

    def pooled_image(self, factor: int) -> QtGui.QImage:
        """The QImage max-pooled by ``factor`` (a power of two; each output pixel: the
        channel-wise maximum of its ``factor`` × ``factor`` block), built on first use from the
        level below it."""
        assert self._qimage is not None
        img = self._pools.get(factor)
        if img is None:
            if factor > 2:
                self.pooled_image(factor // 2)
            w, h = self._qimage.width(), self._qimage.height()
            img = QtGui.QImage(-(-w // factor), -(-h // factor), self._qimage.format())
            self._pools[factor] = img
            self._pool_level(factor, (0, h, 0, w))
        return img

    def _pool_level(self, f: int, region: Region) -> None:
        """Pool level ``f`` over ``region`` (full-resolution pixels) from level ``f / 2``."""
        import cv2

        from spam_gui.app.qt import qimage2ndarray

        below = self._qimage if f == 2 else self._pools[f // 2]
        src = qimage2ndarray.byte_view(below)
        dst = qimage2ndarray.byte_view(self._pools[f])
        g = f // 2                                  # one pixel of ``src`` covers g × g
        y0, y1, x0, x1 = region
        y0, x0 = (y0 // f) * 2, (x0 // f) * 2       # whole 2 × 2 blocks of ``src``
        y1, x1 = min(src.shape[0], -(-y1 // f) * 2), min(src.shape[1], -(-x1 // f) * 2)
        if y1 <= y0 or x1 <= x0 or g < 1:
            return
        # a 2 × 2 dilation anchored at each block's first pixel, sampled every 2: the block max
        grown = cv2.dilate(np.ascontiguousarray(src[y0:y1, x0:x1]), np.ones((2, 2), np.uint8),
                           anchor=(0, 0), borderType=cv2.BORDER_CONSTANT, borderValue=0)
        dst[y0 // 2:-(-y1 // 2), x0 // 2:-(-x1 // 2)] = grown[::2, ::2]

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 - Qt API
        return self._rect

    @property
    def qimage(self) -> QtGui.QImage | None:
        return self._qimage

    @guarded(None)
    def paint(self, painter: QtGui.QPainter, option: QtWidgets.QStyleOptionGraphicsItem,
              widget: QtWidgets.QWidget | None = None) -> None:
        if self._qimage is None:
            return
        r = option.exposedRect.toAlignedRect().intersected(self._rect.toAlignedRect())
        if r.isEmpty():
            return
        if self._hidden is not None:
            painter.setClipRegion(QtGui.QRegion(r).subtracted(self._hidden),
                                  Qt.ClipOperation.IntersectClip)
        scale = painter.worldTransform().m11()
        zoomed_out = scale < 1.0
        painter.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform,
                              self.smooth and zoomed_out)
        if self.pooled and 0 < scale <= 0.5:
            f = 1
            while f * scale < 1.0 and f < self.MAX_POOL:
                f *= 2
            src = QtCore.QRectF(r.x() / f, r.y() / f, r.width() / f, r.height() / f)
            painter.drawImage(QtCore.QRectF(r), self.pooled_image(f), src)
            return
        painter.drawImage(QtCore.QRectF(r), self._qimage, QtCore.QRectF(r))


def rgb_qimage(image: np.ndarray) -> QtGui.QImage:
    """A QImage sharing the memory of an (H, W, 3) uint8 array (keep the array alive)."""
    arr = np.ascontiguousarray(image)
    h, w = arr.shape[:2]
    return QtGui.QImage(arr.data, w, h, arr.strides[0], QtGui.QImage.Format.Format_RGB888)


class Canvas(QtWidgets.QGraphicsView):
    clicked = QtCore.Signal(int, int, object, object)   # x, y, Qt.MouseButton, modifiers
    hovered = QtCore.Signal(int, int)
    stroke_started = QtCore.Signal(int, int, object, object)   # x, y, button, modifiers
    stroke_moved = QtCore.Signal(int, int)
    stroke_finished = QtCore.Signal(int, int, bool)             # x, y, moved beyond a click
    files_dropped = QtCore.Signal(list)
    zoom_changed = QtCore.Signal(float)
    brush_wheel = QtCore.Signal(int)    # Ctrl+wheel notches (+: larger) where a tool has a brush

    MIN_SCALE, MAX_SCALE = 0.02, 64.0
    DRAG_THRESHOLD = 4

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("canvas")
        self._scene = QtWidgets.QGraphicsScene(self)
        self.setScene(self._scene)
        self.setBackgroundBrush(QtGui.QColor(38, 38, 42))
        self.setTransformationAnchor(QtWidgets.QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QtWidgets.QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QtWidgets.QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setMouseTracking(True)
        self.setAcceptDrops(True)
        self.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

        self.items: dict[str, RasterItem] = {
            "image": RasterItem(0, smooth=True),
            "meanfill": RasterItem(1),
            "objects": RasterItem(2),
            "classes": RasterItem(3),   # the annotation (spam_gui.app.annotating)
            "heatmap": RasterItem(4, smooth=True),
            "boundaries": RasterItem(5, pooled=True),
            "prompt": RasterItem(6),
        }
        # an edit's working-grid preview (set_preview), scaled onto the photo, each just above
        # the layer it stands in for
        for name, base in (("preview_objects", "objects"), ("preview_boundaries", "boundaries")):
            self.items[name] = RasterItem(self.items[base].zValue() + 0.5)
        for it in self.items.values():
            self._scene.addItem(it)
        self.items["objects"].setOpacity(0.35)
        self.items["heatmap"].setOpacity(0.7)
        self.items["meanfill"].setVisible(False)
        self.meanfill_shown = False
        self.items["heatmap"].setVisible(False)
        self.preview: PreviewRaster | None = None
        self._points: list[QtWidgets.QGraphicsItem] = []
        self._highlight: QtWidgets.QGraphicsPathItem | None = None

        self.layers: LayerSet | None = None
        self._image: np.ndarray | None = None
        self._image_size: tuple[int, int] | None = None
        self._fit_mode = True
        self._press: tuple[QtCore.QPointF, Qt.MouseButton] | None = None
        self._panning = False
        self._space = False            # Space held: any drag pans
        self._last_pan = QtCore.QPointF()
        self.stroke_mode = False
        self._stroking = False
        self._stroke_moved = False
        self._stroke_item: QtWidgets.QGraphicsPathItem | None = None
        self._brush_item: QtWidgets.QGraphicsEllipseItem | None = None
        self._brush_radius = 0
        self.brush_wheel_enabled = False   # Ctrl+wheel sizes the brush instead of zooming
        self._wheel_acc = 0
        self.message = ""
        self.message_is_error = False
        self._message_label = QtWidgets.QLabel(self)
        self._message_label.setObjectName("canvasMessage")
        self._message_label.setWordWrap(True)
        self._message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._message_label.hide()
        self._selection_label = QtWidgets.QLabel(self)
        self._selection_label.setObjectName("canvasSelection")
        self._selection_label.setWordWrap(True)
        self._selection_label.setStyleSheet(
            "QLabel { background: rgba(20, 20, 24, 200); color: #bff6ff; border-radius: 5px;"
            " padding: 3px 8px; }")
        self._selection_label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self._selection_label.hide()
        self.mode = "view"
        self._update_cursor()

    # -- content --------------------------------------------------------------------------
    @property
    def image(self) -> np.ndarray | None:
        return self._image

    def set_image(self, image: np.ndarray | None) -> None:
        """Show a new image; drops every overlay. Refits when the size changes or in fit mode."""
        self.set_layers(None)
        self.set_prompt([], None)
        if image is not self._image:
            self.set_class_layer(None)
        self._image = image
        if image is None:
            self.items["image"].set_image(None)
            self._image_size = None
            self._scene.setSceneRect(QtCore.QRectF(0, 0, 1, 1))
            self.viewport().update()
            return
        qimg = rgb_qimage(image)
        self.items["image"].set_image(qimg, keep=image)
        size = (image.shape[1], image.shape[0])
        self._scene.setSceneRect(QtCore.QRectF(0, 0, size[0], size[1]))
        if self._fit_mode or size != self._image_size:
            self._image_size = size
            self.fit()
        self.viewport().update()

    def set_layers(self, layers: LayerSet | None) -> None:
        self.set_preview(None)
        self.layers = layers
        for name in ("objects", "boundaries", "meanfill", "heatmap"):
            layer: RasterLayer | None = getattr(layers, name) if layers is not None else None
            self.items[name].set_image(layer.qimage if layer is not None else None)

    def set_preview(self, preview: PreviewRaster | None) -> None:
        """Show an edit's working-grid preview over the layers (the old superpixels, and the
        old objects when the edit changes them, are hidden under it), or drop it (None)."""
        self.preview = preview
        region = None
        if preview is not None:
            region = QtGui.QRegion()
            for x, y, w, h in preview.rects.tolist():
                region = region.united(QtCore.QRect(x, y, w, h))
        for name in ("boundaries", "meanfill", "objects"):
            hide = region if name != "objects" or getattr(preview, "objects", None) is not None \
                else None
            if hide is not None or self.items[name].hidden is not None:
                self.items[name].set_hidden(hide)
        for name, arr in (("preview_boundaries", getattr(preview, "boundaries", None)),
                          ("preview_objects", getattr(preview, "objects", None))):
            item = self.items[name]
            if preview is None or arr is None:
                if item.qimage is not None:
                    item.set_image(None)
                continue
            layer = RasterLayer(arr)
            item.set_image(layer.qimage, keep=layer)
            y0, y1, x0, x1 = preview.box
            item.setTransform(QtGui.QTransform.fromTranslate(x0, y0).scale(
                (x1 - x0) / arr.shape[1], (y1 - y0) / arr.shape[0]))
        self._sync_preview_items()

    def _sync_preview_items(self) -> None:
        """The preview items follow their layers' visibility and opacity."""
        for prev, base in (("preview_boundaries", "boundaries"), ("preview_objects", "objects")):
            self.items[prev].setVisible(self.items[base].isVisible())
            self.items[prev].setOpacity(self.items[base].opacity())

    def set_class_layer(self, qimage: QtGui.QImage | None) -> None:
        """The class layer (painted classes and instance edges), or None."""
        self.items["classes"].set_image(qimage)

    def class_layer(self) -> QtGui.QImage | None:
        return self.items["classes"].qimage

    def update_class_region(self, region: Region) -> None:
        """Repaint the class layer over ``region`` (y0, y1, x0, x1) only."""
        y0, y1, x0, x1 = region
        self.items["classes"].update(QtCore.QRectF(x0, y0, x1 - x0, y1 - y0))

    def set_class_opacity(self, opacity: float) -> None:
        self.items["classes"].setOpacity(min(max(float(opacity), 0.0), 1.0))

    def class_opacity(self) -> float:
        return float(self.items["classes"].opacity())

    def refresh_heatmap(self) -> None:
        layer = self.layers.heatmap if self.layers is not None else None
        self.items["heatmap"].set_image(layer.qimage if layer is not None else None)

    def update_region(self, region: Region) -> None:
        """The layers' pixels changed in ``region`` (a patch): repaint that rectangle."""
        y0, y1, x0, x1 = region
        rect = QtCore.QRectF(x0, y0, x1 - x0, y1 - y0)
        for name in ("boundaries", "meanfill"):
            self.items[name].pixels_changed(region)
            self.items[name].update(rect)

    def refresh_all(self) -> None:
        """The layers' pixels may have changed anywhere: repaint everything."""
        for it in self.items.values():
            it.pixels_changed(None)
            it.update()

    def set_layer_visible(self, name: str, visible: bool) -> None:
        self.items[name].setVisible(bool(visible))
        self._sync_preview_items()
        if name == "meanfill":
            self.meanfill_shown = bool(visible)   # a plain flag the layer builders may read

    def layer_visible(self, name: str) -> bool:
        return self.items[name].isVisible()

    def set_object_opacity(self, opacity: float) -> None:
        self.items["objects"].setOpacity(min(max(float(opacity), 0.0), 1.0))
        self._sync_preview_items()

    def object_opacity(self) -> float:
        return float(self.items["objects"].opacity())

    def set_message(self, text: str, error: bool = False) -> None:
        """A note over the top-left corner of the view (empty text hides it)."""
        self.message, self.message_is_error = text, error
        lab = self._message_label
        lab.setVisible(bool(text))
        if not text:
            return
        bg = "rgba(150, 30, 30, 225)" if error else "rgba(20, 20, 24, 210)"
        lab.setStyleSheet(f"QLabel {{ background: {bg}; color: #f4f4f4; border-radius: 6px;"
                          " padding: 6px 10px; }")
        lab.setText(text)
        max_w = max(240, self.viewport().width() - 40)
        natural = max(lab.fontMetrics().horizontalAdvance(line) for line in text.splitlines() or [""])
        lab.setFixedWidth(int(min(natural + 26, max_w)))
        lab.setFixedHeight(lab.heightForWidth(lab.width()))
        lab.move(12, 12)
        lab.raise_()

    def set_prompt(self, points: list[tuple[int, int, int]], mask: np.ndarray | None) -> None:
        """Show SAM click points (green +, red −) and the mask they currently give."""
        for it in self._points:
            self._scene.removeItem(it)
        self._points = []
        for x, y, lab in points:
            color = QtGui.QColor(40, 220, 80) if lab else QtGui.QColor(235, 50, 50)
            dot = QtWidgets.QGraphicsEllipseItem(-5, -5, 10, 10)
            dot.setBrush(color)
            dot.setPen(QtGui.QPen(Qt.GlobalColor.white, 1.5))
            dot.setFlag(QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
            dot.setPos(x + 0.5, y + 0.5)
            dot.setZValue(8)
            self._scene.addItem(dot)
            self._points.append(dot)
        if mask is None:
            self.items["prompt"].set_image(None)
            return
        rgba = np.zeros(mask.shape + (4,), np.uint8)
        rgba[mask] = (60, 200, 255, 120)
        self.items["prompt"].set_image(_rgba_qimage(rgba))

    def set_highlight(self, mask: np.ndarray | None, region: Region | None = None,
                      merge: bool = False, step: int = 1) -> None:
        """Outline the selected objects: one object a click acted on (white, dashed), or the
        objects selected to merge (``merge``: cyan, solid). ``mask`` may be the image's
        pixels sampled every ``step`` rows and columns (a large photo's outline)."""
        if self._highlight is not None:
            self._scene.removeItem(self._highlight)
            self._highlight = None
        if mask is None:
            return
        import cv2

        contours, _ = cv2.findContours(mask.astype(np.uint8, copy=False), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_SIMPLE)
        path = QtGui.QPainterPath()
        for c in contours:
            pts = [QtCore.QPointF((float(p[0][0]) + 0.5) * step, (float(p[0][1]) + 0.5) * step)
                   for p in c]
            if len(pts) >= 2:
                path.addPolygon(QtGui.QPolygonF(pts))
                path.closeSubpath()
        item = QtWidgets.QGraphicsPathItem(path)
        if merge:
            pen = QtGui.QPen(QtGui.QColor(0, 230, 255), 3.0)
        else:
            pen = QtGui.QPen(QtGui.QColor(255, 255, 255), 2.0)
            pen.setStyle(Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        item.setPen(pen)
        item.setZValue(7)
        self._scene.addItem(item)
        self._highlight = item

    def highlighted(self) -> bool:
        """Whether an object outline is drawn (see :meth:`set_highlight`)."""
        return self._highlight is not None

    def set_selection_text(self, text: str) -> None:
        """A note over the bottom-left corner of the view saying what is selected ('' hides
        it)."""
        lab = self._selection_label
        lab.setText(text)
        lab.setVisible(bool(text))
        if text:
            lab.adjustSize()
            self._place_selection_label()

    def selection_text(self) -> str:
        return self._selection_label.text() if self._selection_label.isVisible() else ""

    def _place_selection_label(self) -> None:
        lab = self._selection_label
        lab.setMaximumWidth(max(200, self.viewport().width() - 24))
        lab.adjustSize()
        vp = self.viewport().geometry()
        lab.move(vp.x() + 12, max(0, vp.bottom() - lab.height() - 10))
        lab.raise_()

    # -- view -----------------------------------------------------------------------------
    def current_scale(self) -> float:
        return float(self.transform().m11())

    def fit(self) -> None:
        self._fit_mode = True
        if self._image_size is None:
            return
        self.fitInView(self._scene.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        self.zoom_changed.emit(self.current_scale())

    def actual_size(self) -> None:
        self._fit_mode = False
        center = self.mapToScene(self.viewport().rect().center())
        self.resetTransform()
        self.centerOn(center)
        self.zoom_changed.emit(self.current_scale())

    def zoom_by(self, factor: float, anchor_under_mouse: bool = False) -> None:
        s = self.current_scale()
        factor = min(max(s * factor, self.MIN_SCALE), self.MAX_SCALE) / s
        if abs(factor - 1.0) < 1e-6:
            return
        self._fit_mode = False
        old = self.transformationAnchor()
        if not anchor_under_mouse:
            self.setTransformationAnchor(QtWidgets.QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.scale(factor, factor)
        self.setTransformationAnchor(old)
        self.zoom_changed.emit(self.current_scale())

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self._update_cursor()

    def _update_cursor(self) -> None:
        shape = (Qt.CursorShape.OpenHandCursor if self.mode == "view" or self._space
                 else Qt.CursorShape.CrossCursor)
        self.viewport().setCursor(shape)

    @property
    def space_held(self) -> bool:
        return self._space

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.modifiers():
            if not event.isAutoRepeat() and not self._space:
                self._space = True
                if not self._panning:
                    self._update_cursor()
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QtGui.QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space = False
                if not self._panning:
                    self._update_cursor()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event: QtGui.QFocusEvent) -> None:  # noqa: N802
        if self._space:      # the release will not come here
            self._space = False
            if not self._panning:
                self._update_cursor()
        super().focusOutEvent(event)

    # -- strokes --------------------------------------------------------------------------
    def set_stroke_mode(self, on: bool) -> None:
        """Left/right drags draw strokes (True) or pan (False); see the module docstring."""
        self.stroke_mode = bool(on)
        if not on:
            self._stroking = False
            self.set_stroke_path(None)
            self.set_brush_radius(0)

    def clamp_pos(self, view_pos: QtCore.QPoint | QtCore.QPointF) -> tuple[int, int]:
        """Image pixel under ``view_pos``, clamped to the image (-1, -1 without an image)."""
        if self._image_size is None:
            return -1, -1
        p = self.mapToScene(QtCore.QPoint(int(view_pos.x()), int(view_pos.y())))
        w, h = self._image_size
        return (min(max(int(np.floor(p.x())), 0), w - 1),
                min(max(int(np.floor(p.y())), 0), h - 1))

    def set_stroke_path(self, points: list[tuple[float, float]] | None, closed: bool = False,
                        color: QtGui.QColor | None = None, width: float = 2.0) -> None:
        """Preview a stroke (a polyline, or a closed lasso) in image pixels; None removes it."""
        if self._stroke_item is not None:
            self._scene.removeItem(self._stroke_item)
            self._stroke_item = None
        if not points:
            return
        path = QtGui.QPainterPath(QtCore.QPointF(points[0][0] + 0.5, points[0][1] + 0.5))
        for x, y in points[1:]:
            path.lineTo(x + 0.5, y + 0.5)
        if closed:
            path.closeSubpath()
        pen = QtGui.QPen(color or QtGui.QColor(255, 220, 0), width)
        pen.setCosmetic(True)
        item = QtWidgets.QGraphicsPathItem(path)
        item.setPen(pen)
        if closed:
            fill = QtGui.QColor(pen.color())
            fill.setAlpha(50)
            item.setBrush(fill)
        item.setZValue(9)
        self._scene.addItem(item)
        self._stroke_item = item

    def set_brush_radius(self, radius: int) -> None:
        """Show a brush outline of ``radius`` image pixels under the pointer (0 hides it)."""
        self._brush_radius = max(0, int(radius))
        if self._brush_radius == 0:
            if self._brush_item is not None:
                self._scene.removeItem(self._brush_item)
                self._brush_item = None
            return
        if self._brush_item is None:
            pen = QtGui.QPen(QtGui.QColor(255, 255, 255), 1.5)
            pen.setCosmetic(True)
            self._brush_item = QtWidgets.QGraphicsEllipseItem()
            self._brush_item.setPen(pen)
            self._brush_item.setZValue(10)
            self._brush_item.setVisible(False)
            self._scene.addItem(self._brush_item)
        # drawn at once where the pointer is (not only from its next move)
        vp = self.viewport()
        pos = vp.mapFromGlobal(QtGui.QCursor.pos())
        if vp.rect().contains(pos) and self._image_size is not None:
            self._move_brush(*self.image_pos(pos))
        elif self._brush_item.isVisible():
            r = self._brush_radius
            c = self._brush_item.rect().center()
            self._brush_item.setRect(c.x() - r, c.y() - r, 2 * r, 2 * r)

    def brush_outline(self) -> QtCore.QRectF | None:
        """The brush outline drawn under the pointer (scene rectangle), or None."""
        it = self._brush_item
        return it.rect() if it is not None and it.isVisible() else None

    def _move_brush(self, x: int, y: int) -> None:
        if self._brush_item is None:
            return
        r = self._brush_radius
        self._brush_item.setVisible(x >= 0)
        if x >= 0:
            self._brush_item.setRect(x + 0.5 - r, y + 0.5 - r, 2 * r, 2 * r)

    def image_pos(self, view_pos: QtCore.QPoint | QtCore.QPointF) -> tuple[int, int]:
        p = self.mapToScene(QtCore.QPoint(int(view_pos.x()), int(view_pos.y())))
        x, y = int(np.floor(p.x())), int(np.floor(p.y()))
        if self._image_size is None or not (0 <= x < self._image_size[0] and 0 <= y < self._image_size[1]):
            return -1, -1
        return x, y

    def view_pos_of(self, x: float, y: float) -> QtCore.QPoint:
        """Viewport position of the centre of image pixel (x, y) (for tests and scripts)."""
        return self.mapFromScene(QtCore.QPointF(x + 0.5, y + 0.5))

    # -- events ---------------------------------------------------------------------------
    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self._selection_label.isVisible():
            self._place_selection_label()
        if self._fit_mode:
            self.fit()

    def wheelEvent(self, event: QtGui.QWheelEvent) -> None:  # noqa: N802
        delta = event.angleDelta().y() or event.pixelDelta().y()
        if self.brush_wheel_enabled and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self._wheel_acc += delta      # touchpads send small deltas: whole notches only
            steps = int(self._wheel_acc / 120)
            if steps:
                self._wheel_acc -= steps * 120
                self.brush_wheel.emit(steps)
            event.accept()
            return
        if delta:
            self.zoom_by(1.0015 ** delta, anchor_under_mouse=True)
        event.accept()

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        if self._space and not self._stroking:       # Space+drag: pan, whatever the tool
            self._press = (event.position(), event.button())
            self._last_pan = event.position()
            self._panning = True
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        if (self.stroke_mode and self._image_size is not None and event.button()
                in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton)):
            self._stroking, self._stroke_moved = True, False
            self._press = (event.position(), event.button())
            x, y = self.clamp_pos(event.position())
            self.stroke_started.emit(x, y, event.button(), event.modifiers())
            event.accept()
            return
        self._press = (event.position(), event.button())
        self._last_pan = event.position()
        self._panning = event.button() == Qt.MouseButton.MiddleButton
        if self._panning:
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
        event.accept()

    def _take_keyboard(self) -> None:
        """The pointer is over the image: its keys (Space to pan, the tools') come here, unless
        a text field of the window is being typed in."""
        if self.hasFocus():
            return
        from spam_gui.app.widgets import TEXT_FIELDS

        fw = QtWidgets.QApplication.focusWidget()
        if fw is None or (fw.window() is self.window() and not isinstance(fw, TEXT_FIELDS)
                          and not isinstance(fw.parentWidget(), QtWidgets.QAbstractSpinBox)):
            self.setFocus(Qt.FocusReason.MouseFocusReason)

    def mouseMoveEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        if self._press is None:
            self._take_keyboard()
        if self._stroking and self._press is not None:
            d = event.position() - self._press[0]
            if abs(d.x()) + abs(d.y()) > self.DRAG_THRESHOLD:
                self._stroke_moved = True
            x, y = self.clamp_pos(event.position())
            self.stroke_moved.emit(x, y)
            hx, hy = self.image_pos(event.position())
            self._move_brush(hx, hy)
            self.hovered.emit(hx, hy)
            event.accept()
            return
        if self._press is not None:
            if not self._panning:
                d = event.position() - self._press[0]
                if abs(d.x()) + abs(d.y()) > self.DRAG_THRESHOLD:
                    self._panning = True
                    self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            if self._panning:
                d = event.position() - self._last_pan
                self._last_pan = event.position()
                self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(round(d.x())))
                self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(round(d.y())))
                self._fit_mode = False
        x, y = self.image_pos(event.position())
        self._move_brush(x, y)
        self.hovered.emit(x, y)
        event.accept()

    def mouseReleaseEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        if self._stroking:
            if self._press is not None and event.button() == self._press[1]:
                self._stroking, self._press = False, None
                x, y = self.clamp_pos(event.position())
                self.stroke_finished.emit(x, y, self._stroke_moved)
            event.accept()
            return
        press, panning = self._press, self._panning
        self._press, self._panning = None, False
        self._update_cursor()
        if press is None or panning or event.button() != press[1]:
            event.accept()
            return
        x, y = self.image_pos(event.position())
        if x >= 0:
            self.clicked.emit(x, y, event.button(), event.modifiers())
        event.accept()

    def mouseDoubleClickEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        # A double click is two clicks (two doublings in scale mode), not a special gesture.
        self.mousePressEvent(event)

    def leaveEvent(self, event: QtCore.QEvent) -> None:  # noqa: N802
        self._move_brush(-1, -1)
        self.hovered.emit(-1, -1)
        super().leaveEvent(event)

    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QtGui.QDragMoveEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.files_dropped.emit(paths)
            event.acceptProposedAction()


def _rgba_qimage(rgba: np.ndarray) -> QtGui.QImage:
    from spam_gui.app.qt import qimage2ndarray

    return qimage2ndarray.array2qimage(rgba, normalize=False)
