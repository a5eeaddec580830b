"""An edit's preview on the working grid: what a large photo shows while its full-resolution
labels are computed.

A click or an object edit on a 12-megapixel photo re-clusters the object's working cells in
tens of milliseconds; labelling its millions of pixels, smoothing and connectivity take a
second or more. The preview is the first part alone: the edited objects' new superpixels
(and objects) on the working grid, cell by cell. The full-resolution result then starts from
the same clustering (:func:`spam_gui.core.engine.fullres.rescale.rescale_working`'s
``clustered``), so the preview is the final result's working view, not an approximation of
another computation. Nothing but a display uses a preview: exports, sidecars and the undo
stack only ever see full-resolution results.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spam_gui.core.engine.fullres.grid import WorkingGrid
from spam_gui.core.engine.fullres.rescale import CellClustering


@dataclass(frozen=True)
class EditPreview:
    """The working-grid view of an edit.

    Attributes
    ----------
    grid:
        The photo's working grid (cell ``(r, c)`` covers the full-resolution pixels of
        :meth:`WorkingGrid.row_cell` ``r`` and :meth:`WorkingGrid.col_cell` ``c``).
    cells:
        (h, w) bool: the cells whose superpixels (or object) the edit changes.
    labels:
        (h, w) int32: the preview superpixel of each changed cell (1..M), 0 elsewhere.
    objects:
        (h, w) int32: the object of each cell after the edit, or None when the edit leaves the
        objects as they are (a density click).
    clusterings:
        The working clusterings the full-resolution result reuses.
    """

    grid: WorkingGrid
    cells: np.ndarray
    labels: np.ndarray
    objects: np.ndarray | None = None
    clusterings: tuple[CellClustering, ...] = field(default=(), repr=False)

    def cell_box(self) -> tuple[int, int, int, int] | None:
        """(r0, r1, c0, c1): the changed cells' bounding box on the working grid, or None."""
        rows, cols = np.flatnonzero(self.cells.any(1)), np.flatnonzero(self.cells.any(0))
        if not rows.size:
            return None
        return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1

    def clustering_of(self, oid: int) -> CellClustering | None:
        """The working clustering of object ``oid`` in this preview, if there is one."""
        return next((c for c in self.clusterings if c.oid == int(oid)), None)


def cell_edge(i: int, full: int, work: int) -> int:
    """The first full-resolution pixel of working cell ``i`` (``full`` for ``i == work``): the
    inverse of :meth:`WorkingGrid.row_cell` (pixel ``Y`` is in cell ``floor((2Y + 1) work /
    (2 full))``)."""
    if i <= 0:
        return 0
    if i >= work:
        return full
    # smallest Y with (2Y + 1) * work >= 2 * i * full
    return int(-(-(2 * i * full - work) // (2 * work)))


def preview_of(grid: WorkingGrid, clusterings: list[CellClustering] | tuple[CellClustering, ...],
               objects: np.ndarray | None = None, cells: np.ndarray | None = None
               ) -> EditPreview:
    """Assemble a preview from objects' working clusterings.

    Parameters
    ----------
    grid:
        The working grid.
    clusterings:
        One :class:`CellClustering` per re-clustered object (their cells do not overlap).
    objects:
        (h, w) object of each cell after the edit (an object edit), or None.
    cells:
        (h, w) bool cells the edit changes beyond the clustered ones (cells that became
        uncertain), or None.

    Returns
    -------
    EditPreview
        Labels 1..M over the clustered cells, numbered object after object.
    """
    h, w = grid.shape
    labels = np.zeros(h * w, np.int32)
    mask = np.zeros(h * w, bool) if cells is None else np.asarray(cells, bool).ravel().copy()
    offset = 0
    for c in clusterings:
        lab = np.asarray(c.clustering.labels, np.int64)
        labels[c.cells] = offset + 1 + lab
        mask[c.cells] = True
        offset += int(c.seeds.shape[0])
    return EditPreview(grid, mask.reshape(h, w), labels.reshape(h, w), objects,
                       tuple(clusterings))
