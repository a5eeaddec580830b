"""The working grid of a large photo and maps of another resolution.

:class:`WorkingGrid` (the working grid's size and its correspondence with full-resolution
pixels, row tiles of at most :data:`TILE_PIXELS` pixels) and :func:`map_onto` (a prior or
saliency map of another size resized onto the image). Part of the full-size engine
(:mod:`spam_gui.core.engine.fullres.working`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

TILE_PIXELS = 1 << 20
"""Full-resolution pixels per row tile of the labelling pass (bounds its memory)."""


@dataclass(frozen=True)
class WorkingGrid:
    """The working grid of one photo and its correspondence with full-resolution pixels.

    Working pixel ``(y, x)`` is the area average of the full-resolution pixels mapping to it;
    full-resolution pixel ``(Y, X)`` sits at working coordinates
    ``((Y + 0.5) h / H - 0.5, (X + 0.5) w / W - 0.5)`` (the convention of bilinear resizing)
    and belongs to cell ``(row_cell[Y], col_cell[X])``, the nearest working pixel.

    Attributes
    ----------
    height, width:
        H, W: the full resolution.
    work_height, work_width:
        h, w: the working grid.
    """

    height: int
    width: int
    work_height: int
    work_width: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.work_height, self.work_width

    @property
    def work_pixels(self) -> int:
        return self.work_height * self.work_width

    def work_y(self, rows: np.ndarray) -> np.ndarray:
        """Working y coordinate (float32) of full-resolution rows."""
        return ((np.asarray(rows, np.float64) + 0.5) * (self.work_height / self.height)
                - 0.5).astype(np.float32)

    def work_x(self, cols: np.ndarray) -> np.ndarray:
        """Working x coordinate (float32) of full-resolution columns."""
        return ((np.asarray(cols, np.float64) + 0.5) * (self.work_width / self.width)
                - 0.5).astype(np.float32)

    def row_cell(self, rows: np.ndarray) -> np.ndarray:
        """Working row (cell) of full-resolution rows."""
        return np.minimum(((np.asarray(rows, np.int64) * 2 + 1) * self.work_height)
                          // (2 * self.height), self.work_height - 1)

    def col_cell(self, cols: np.ndarray) -> np.ndarray:
        """Working column (cell) of full-resolution columns."""
        return np.minimum(((np.asarray(cols, np.int64) * 2 + 1) * self.work_width)
                          // (2 * self.width), self.work_width - 1)

    def centre_rows(self) -> np.ndarray:
        """The full-resolution row at the centre of each working row (h,)."""
        return np.minimum(((np.arange(self.work_height) * 2 + 1) * self.height)
                          // (2 * self.work_height), self.height - 1)

    def centre_cols(self) -> np.ndarray:
        """The full-resolution column at the centre of each working column (w,)."""
        return np.minimum(((np.arange(self.work_width) * 2 + 1) * self.width)
                          // (2 * self.work_width), self.width - 1)

    def tiles(self, row_start: int = 0, row_stop: int | None = None,
              width: int | None = None) -> list[tuple[int, int]]:
        """Row ranges ``[y0, y1)`` covering rows ``row_start..row_stop`` in tiles of at most
        :data:`TILE_PIXELS` pixels of ``width`` columns (the image's by default)."""
        stop = self.height if row_stop is None else row_stop
        step = max(1, TILE_PIXELS // max(1, self.width if width is None else width))
        return [(y, min(y + step, stop)) for y in range(row_start, stop, step)]

    def resize(self, rgb: np.ndarray) -> np.ndarray:
        """The working image: ``rgb`` area-averaged to (h, w, 3) uint8."""
        return cv2.resize(rgb, (self.work_width, self.work_height), interpolation=cv2.INTER_AREA)



# -- maps of another resolution -----------------------------------------------------------
ASPECT_TOLERANCE = 0.02
"""A prior or saliency map of another size is resized onto the image when its aspect ratio is
within this fraction of the image's (a map computed on a downscaled copy); else refused."""


def map_onto(values: np.ndarray, height: int, width: int, what: str, nearest: bool) -> np.ndarray:
    """A 2-D map of another resolution, resized onto an H x W image.

    Parameters
    ----------
    values:
        (h', w') map: a prior's object ids (``nearest=True``: each pixel takes the id at its
        centre, no new ids appear) or a saliency map (bilinear, float32).
    height, width:
        The image's size.
    what:
        How a message names the map ("the prior", "the saliency map").
    nearest:
        Nearest-neighbour (ids) or bilinear (values) resampling.

    Returns
    -------
    (H, W) array: ``values`` itself when it already has that size.

    Raises
    ------
    ValueError
        When the map is not 2-D or its aspect ratio differs from the image's by more than
        :data:`ASPECT_TOLERANCE`, with both sizes in the message.
    """
    arr = np.asarray(values)
    if arr.shape == (height, width):
        return arr
    if arr.ndim != 2 or not arr.size:
        raise ValueError(f"{what} has shape {arr.shape}; the image is {width}x{height} (W x H)")
    mh, mw = arr.shape
    if abs((mw / mh) / (width / height) - 1.0) > ASPECT_TOLERANCE:
        raise ValueError(f"{what} has size {mw}x{mh} (W x H), the image {width}x{height}: "
                         "they must match, or have the same aspect ratio")
    if nearest:
        rows = np.minimum(((np.arange(height) * 2 + 1) * mh) // (2 * height), mh - 1)
        cols = np.minimum(((np.arange(width) * 2 + 1) * mw) // (2 * width), mw - 1)
        return arr[rows][:, cols]
    return cv2.resize(arr.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)


# -- object maps computed on the working grid ---------------------------------------------
def objects_onto_image(work_objects: np.ndarray, grid: WorkingGrid
                       ) -> tuple[np.ndarray, np.ndarray]:
    """An object map computed on the working grid, brought to full resolution.

    Each full-resolution pixel takes the object of its working cell, except along the
    objects' borders: a cell with a neighbour (8-connected) of another value is a *border
    cell*, and its pixels are left uncertain (0) so that the full-resolution clustering
    decides, by colour at full resolution, which side each of them joins
    (:func:`fill_from_superpixels` then gives them that side's object). Objects with no cell
    off the border (one or two cells wide) keep all their cells, so no object disappears.
    Uncertain cells (0) stay uncertain.

    Parameters
    ----------
    work_objects:
        (h, w) integer object map on the grid (0 = uncertain).
    grid:
        The working grid of the image.

    Returns
    -------
    objects : (H, W) int32
        The full-resolution map, 0 on the border band and where ``work_objects`` is 0.
    band : (H, W) bool
        The full-resolution pixels of the border band (their objects are to be filled in).
    """
    wo = np.asarray(work_objects).astype(np.int32, copy=False)
    if wo.shape != grid.shape:
        raise ValueError(f"the object map is {wo.shape[1]}x{wo.shape[0]}, the working grid "
                         f"{grid.work_width}x{grid.work_height}")
    pad = np.pad(wo, 1, mode="edge")
    h, w = wo.shape
    border = np.zeros(wo.shape, bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            if dy != 1 or dx != 1:
                border |= pad[dy:dy + h, dx:dx + w] != wo
    border &= wo > 0
    inner = np.unique(wo[~border & (wo > 0)])
    thin = ~np.isin(wo, inner) & (wo > 0)    # objects with no inner cell keep every cell
    border &= ~thin
    rows, cols = grid.row_cell(np.arange(grid.height)), grid.col_cell(np.arange(grid.width))
    cleared = np.where(border, 0, wo)
    objects = np.empty((grid.height, grid.width), np.int32)
    band = np.empty((grid.height, grid.width), bool)
    for y0, y1 in grid.tiles():   # row tiles: no (H, W) int64 index arrays
        objects[y0:y1] = cleared[rows[y0:y1]][:, cols]
        band[y0:y1] = border[rows[y0:y1]][:, cols]
    return objects, band


def fill_from_superpixels(objects: np.ndarray, band: np.ndarray, labels: np.ndarray,
                          superpixel_object: np.ndarray) -> np.ndarray:
    """The full-resolution object map: the band of :func:`objects_onto_image` filled with the
    object of the superpixel each of its pixels joined.

    Every superpixel lies in one object, so the filled map keeps containment: the objects'
    borders are now the superpixels' borders, drawn at full resolution.
    """
    out = np.array(objects, dtype=np.int32, copy=True)
    sp = np.asarray(superpixel_object).astype(np.int32, copy=False)
    step = max(1, TILE_PIXELS // max(1, out.shape[1]))
    for y0 in range(0, out.shape[0], step):
        b = band[y0:y0 + step]
        if b.any():
            tile = out[y0:y0 + step]
            tile[b] = sp[labels[y0:y0 + step][b]]
    return out
