"""Object editing: merge the selected objects, split one with a stroke, draw a new one, erase to
uncertain — each one undo step on the image's stack.

The edited object map is the image's ``"objects"`` raster (:meth:`ImageDoc.set_raster`): it is
autosaved with the folder's state, restored when the folder is opened again, used as the
image's prior from then on (instead of the prior source) and exported as ``<stem>_objects.png``.
An edit re-clusters only the objects it touched (:func:`spam_gui.core.engine.object_edits.
resegment_objects`, in the interactive worker); every other superpixel keeps its pixels.

:class:`ObjectEditor` is the window's shared part (the current object map, the undo command,
the incremental job and its result, the selection, the "objects from" label); the tools are
small :class:`~spam_gui.app.tools.base.Tool` subclasses over it:

- :class:`SplitTool` (K): a stroke drawn across an object cuts it into its connected parts;
- :class:`DrawObjectTool` (W): a lasso (Shift: a brush) draws a new object, whose pixels leave
  the objects they were in; the right button erases;
- :class:`EraseObjectTool` (U): a lasso (Shift: a brush) makes pixels uncertain (0).

Merge (Shift+M) acts on the objects Ctrl+clicked on the canvas (in any tool) or picked
together in the Objects list, on this image, since the last tool or image change
(:class:`~spam_gui.app.model.selection.ObjectSelection`); a plain click only focuses one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from spam_gui.app.document import ImageDoc
from spam_gui.app.pipeline import EngineConfig, Outcome, Pipeline, next_request_id
from spam_gui.app.qt import QtGui
from spam_gui.app.tools.base import Qt, Tool, ToolContext
from spam_gui.app.worker import Job, JobThread, TransitionJob
from spam_gui.core.params import format_coarseness
from spam_gui.core.engine.object_edits import (
    ObjectEdit, ObjectEditError, Stroke, carry_ratios, erase_objects, merge_objects,
    paint_object, split_object,
)

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.app.canvas import Canvas
    from spam_gui.app.display import DisplayController
    from spam_gui.app.document import FolderSession
    from spam_gui.app.model.selection import ObjectSelection
    from spam_gui.app.panels.controls import ControlsPanel
    from spam_gui.app.panels.objects import ObjectsPanel
    from spam_gui.app.overlays import OverlayStyle

DEFAULT_BRUSH_RADIUS = 6
SOURCE_TITLES = {"builtin": "built-in prior", "label map": "prior map", "sam": "SAM",
                 "edited": "edited objects", "none": "none", "automatic": "automatic"}


# ----------------------------------------------------------------------------- job, command


@dataclass
class EditOpJob(Job):
    """Make an object edit of a large photo off the GUI thread: its working-grid preview first
    (the edit made on the working cells, drawn at once), then the edit of the full-resolution
    map, which the editor pushes as one undo step (:meth:`ObjectEditor.on_edit_made`); the
    re-clustering follows as an :class:`ObjectEditJob`."""

    base: Outcome | None = None
    objects: np.ndarray | None = None
    make: Callable[[np.ndarray], ObjectEdit] | None = None
    ratios: dict[int, float] = field(default_factory=dict)
    config: EngineConfig = EngineConfig()
    style: "OverlayStyle | None" = None
    doc: ImageDoc | None = None
    undo_index: int = 0

    def run(self, pipeline: Pipeline, emit: JobThread) -> ObjectEdit:
        assert self.base is not None and self.objects is not None and self.make is not None
        shown = pipeline.preview_edit(self.base, self.objects, self.ratios, self.config,
                                      self.style, make=self.make)
        if shown is not None:
            self.show_preview(emit, shown[1])
        self.check()
        return self.make(self.objects)


OUTLINE_PIXELS = 1_000_000
"""A selection outline is traced on the object map sampled to about this many pixels."""


@dataclass
class ObjectEditJob(Job):
    """Re-cluster the objects an edit changed, from the displayed outcome."""

    base: Outcome | None = None
    objects: np.ndarray | None = None
    ratios: dict[int, float] = field(default_factory=dict)
    key: str = ""
    config: EngineConfig = EngineConfig()
    style: "OverlayStyle | None" = None
    preview: bool = True          # False: the edit's preview is on screen already (EditOpJob)

    def run(self, pipeline: Pipeline, emit: JobThread) -> Outcome:
        assert self.base is not None and self.objects is not None
        # a large photo: the edited objects on the working grid first, the full resolution after
        shown = pipeline.preview_edit(self.base, self.objects, self.ratios, self.config,
                                      self.style) if self.preview else None
        if shown is not None:
            self.show_preview(emit, shown[1])
        return pipeline.edit_objects(self.base, self.objects, self.ratios, self.key,
                                     self.config, self.style, check=self.check)


class EditObjectsCommand(QtGui.QUndoCommand):
    """One object edit: the image's object map, its ratios (carried over) and prompts (the
    prompt objects are part of the edited map from then on).

    Between two edited maps the step keeps only the bounding box of the pixels the edit
    changed, before and after (a 12-megapixel int32 map is 48 MB; a lasso's box is a small
    part of it): undo and redo rebuild the map from the one the image holds then (a copy, so
    the arrays outcomes keep are never written). A step from or to the prior source's objects
    (the first edit, a reset) keeps the whole edited map, as there is nothing to patch.
    """

    def __init__(self, doc: ImageDoc, objects: np.ndarray | None, ratios: dict[int, float],
                 text: str) -> None:
        super().__init__(text or "edit objects")
        self.doc = doc
        old = doc.rasters.get("objects")
        self.old_ratios, self.new_ratios = dict(doc.ratios), dict(ratios)
        self.old_prompts = doc.prompts
        self.old: np.ndarray | None = old      # whole maps, when there is nothing to patch
        self.new: np.ndarray | None = objects  # None: back to the prior source's
        self.region: tuple[slice, slice] | None = None
        self.old_patch: np.ndarray | None = None
        self.new_patch: np.ndarray | None = None
        self._first = objects                  # the whole new map, until the first redo
        self._shape: tuple[int, ...] = tuple(objects.shape) if objects is not None else ()
        if old is not None and objects is not None and old.shape == objects.shape \
                and old.dtype == objects.dtype:
            diff = old != objects
            rows = np.flatnonzero(diff.any(axis=1))
            if rows.size:
                cols = np.flatnonzero(diff.any(axis=0))
                self.region = (slice(int(rows[0]), int(rows[-1]) + 1),
                               slice(int(cols[0]), int(cols[-1]) + 1))
                self.old_patch = old[self.region].copy()
                self.new_patch = objects[self.region].copy()
                self.old = self.new = None

    def _patched(self, patch: np.ndarray) -> np.ndarray:
        """The image's current object map with ``patch`` over the edit's box (a new array)."""
        assert self.region is not None
        current = self.doc.rasters.get("objects")
        if current is None or tuple(current.shape) != self._shape:
            raise RuntimeError(f"{self.doc.name}: the object map this step patches is not the "
                               "image's (it changed outside the undo stack)")
        out = np.array(current, copy=True)
        out[self.region] = patch
        return out

    def redo(self) -> None:
        if self._first is not None:
            new, self._first = self._first, None
        elif self.region is not None:
            new = self._patched(self.new_patch)
        else:
            new = self.new
        self.doc.replace_edits(self.new_ratios, ())
        self.doc.set_raster("objects", new)          # one change signal, after the rest

    def undo(self) -> None:
        old = self._patched(self.old_patch) if self.region is not None else self.old
        self.doc.replace_edits(self.old_ratios, self.old_prompts)
        self.doc.set_raster("objects", old)

    def held_bytes(self) -> int:
        """Bytes of object pixels this step keeps for undo and redo."""
        arrays = (self.old, self.new, self.old_patch, self.new_patch)
        return sum(a.nbytes for a in arrays if a is not None)


# ----------------------------------------------------------------------------- the editor


class ObjectEditor:
    """The window's object editing, shared by the tools (see the module docstring)."""

    def __init__(self, view: "DisplayController", canvas: "Canvas",
                 selection: "ObjectSelection", *, session: Callable[[], "FolderSession | None"],
                 row: Callable[[], int], doc: Callable[[], ImageDoc | None],
                 current_key: Callable[[], str | None], config: Callable[[], EngineConfig],
                 style: Callable[[], "OverlayStyle"], object_at: Callable[[int, int], int],
                 clear_instances: Callable[[], Any], set_status: Callable[[str], Any],
                 report_error: Callable[..., Any]) -> None:
        """``session``, ``row``, ``doc``, ``current_key``, ``config`` and ``style`` give the
        window's state when asked; ``object_at(x, y)`` is the object under a pixel of the image
        shown; ``clear_instances`` clears the Instances selection (one selection at a time).
        The panels and the interactive job thread come with :meth:`attach`."""
        self.view = view
        self.canvas = canvas
        self.selection = selection
        self._session = session
        self._row = row
        self._doc = doc
        self._current_key = current_key
        self._config = config
        self._style = style
        self._object_at = object_at
        self._clear_instances = clear_instances
        self._status = set_status
        self._error = report_error
        self.objects_panel: ObjectsPanel | None = None
        self.controls: ControlsPanel | None = None
        self.fg: JobThread | None = None
        self.brush_radius = DEFAULT_BRUSH_RADIUS
        self.request = 0
        self._select_after = 0
        self._op: EditOpJob | None = None            # an edit of a large photo being made
        self._previewed = False                      # its preview is on screen
        self._queued: list[Callable[[np.ndarray], ObjectEdit]] = []   # edits made meanwhile

    def attach(self, displayed_changed: Any, objects_panel: "ObjectsPanel",
               controls: "ControlsPanel", fg: JobThread) -> None:
        """Connect to the window's widgets (once they exist): ``displayed_changed`` is the
        signal of a new outcome on screen, ``fg`` the interactive job thread."""
        self.objects_panel = objects_panel
        self.controls = controls
        self.fg = fg
        displayed_changed.connect(self.on_displayed)
        objects_panel.merge_requested.connect(self.merge_selected)
        objects_panel.selection_edited.connect(self.on_list_selection)

    # -- the map --------------------------------------------------------------------------
    def objects_source(self, row: int) -> Callable[[tuple[int, int]], np.ndarray | None] | None:
        """For jobs: the edited object map of image ``row`` for its shape (loaded from the
        folder's state when it is not in memory yet), or None when it has none."""
        s = self._session()
        if s is None or not (0 <= row < len(s)) or not s.has_doc(row):
            return None
        doc = s.doc(row)
        if not doc.has_raster("objects"):
            return None
        arr = doc.rasters.get("objects")
        if arr is not None:
            return lambda shape, a=arr: a if tuple(a.shape) == tuple(shape) else None
        return lambda shape, s=s, row=row: s.raster(row, "objects", shape)

    def current(self) -> Outcome | None:
        """The displayed outcome if it is the current image's state (edits start from it)."""
        o = self.view.displayed
        doc = self._doc()
        if o is None or doc is None or o.path != doc.path or o.key != self._current_key():
            return None
        return o

    def same_objects(self, o: Outcome, doc: ImageDoc) -> bool:
        """Whether outcome ``o`` was made with the object map ``doc`` has (edited or not)."""
        arr = doc.rasters.get("objects")
        edited = o.prior_info.get("source") == "edited"
        if arr is None:
            return not edited and not doc.has_raster("objects")
        return edited and arr.shape == o.result.objects.shape and np.array_equal(
            arr, o.result.objects)

    def editable_objects(self) -> np.ndarray | None:
        """The object map an edit starts from: the displayed outcome's when it is the image's
        current state; while an edit or a click of this image is still computed, the map the
        image now has (the edited one, or the displayed one when only ratios changed), so
        edits follow one another without waiting for the full resolution. None: the image's
        objects are not known yet (another image, other parameters or prompts)."""
        o = self.current()
        if o is not None:
            return np.asarray(o.result.objects)
        d, doc = self.view.displayed, self._doc()
        if (d is None or doc is None or d.path != doc.path or d.params != doc.params
                or d.prompts != doc.prompts):
            return None
        arr = doc.rasters.get("objects")
        if arr is not None:
            return np.asarray(arr) if arr.shape == d.result.objects.shape else None
        return np.asarray(d.result.objects) if self.same_objects(d, doc) else None

    def apply(self, make: Callable[[np.ndarray], ObjectEdit]) -> bool:
        """Make an edit of the current object map (one undo step); False when refused.

        ``make(map) -> ObjectEdit`` must make the same edit at any resolution (a stroke as a
        :class:`~spam_gui.core.engine.object_edits.Stroke`, a merge by ids). On a large photo
        it runs off the GUI thread (:class:`EditOpJob`): first on the working grid, whose
        preview is drawn at once, then on the full map, which becomes the undo step; edits
        made meanwhile wait their turn, in order."""
        doc = self._doc()
        if doc is None:
            return False
        if self._op is not None:             # an edit of a large photo is being made
            self._queued.append(make)
            return True
        objects = self.editable_objects()
        if objects is None:
            self.not_ready()
            return False
        d = self.view.displayed
        if getattr(d.result, "_work", None) is not None and self.fg is not None:
            self.view.display_request = rid = next_request_id()
            self._op = EditOpJob(rid, priority=0, row=self._row(), base=d, objects=objects,
                                 make=make, ratios=dict(doc.ratios), config=self._config(),
                                 style=self._style(), doc=doc,
                                 undo_index=doc.undo_stack.index())
            # the full resolution of the last click or edit is superseded: stop it now, so
            # this edit starts at once (the next re-clustering takes every change)
            self.fg.cancel(lambda j: isinstance(j, (ObjectEditJob, TransitionJob)))
            self.fg.submit(self._op)
            self.view.update_busy()
            return True
        try:
            edit = make(objects)
        except ObjectEditError as exc:
            self._error(str(exc))
            return False
        return self._push(doc, objects, edit)

    def _push(self, doc: ImageDoc, objects: np.ndarray, edit: ObjectEdit) -> bool:
        """``edit`` of ``objects`` as one undo step of ``doc`` (False: it changed nothing)."""
        if np.array_equal(edit.objects, objects):
            return False
        ratios = carry_ratios(doc.ratios, edit)
        doc.undo_stack.push(EditObjectsCommand(doc, edit.objects, ratios, edit.description))
        if edit.description:   # says what the edit did beyond the obvious (a band, slivers)
            self._status(edit.description[:1].upper() + edit.description[1:])
        return True

    def on_edit_made(self, job: EditOpJob, edit: ObjectEdit) -> None:
        """An :class:`EditOpJob`'s full-resolution edit: one undo step of its image, unless
        that image's objects changed meanwhile (an undo, a reset); then the next edit."""
        if job is not self._op:
            return
        self._op = None
        doc = job.doc
        s = self._session()
        alive = (doc is not None and s is not None and s.has_doc(job.row)
                 and s.doc(job.row) is doc)
        pushed = False
        if alive and doc.undo_stack.index() == job.undo_index:
            assert job.objects is not None
            self._previewed = True            # the re-clustering need not preview it again
            try:
                pushed = self._push(doc, job.objects, edit)
            finally:
                self._previewed = False
        elif alive:
            self._status("The edit was not applied: the image's objects changed while it "
                         "was being made")
        if not pushed and self.canvas.preview is not None:
            self.canvas.set_preview(None)     # nothing will replace the preview
        self._next_edit()

    def on_op_ended(self, job: EditOpJob, message: str = "", details: str = "") -> None:
        """An :class:`EditOpJob` failed (a stroke that cuts nothing: said; the edits made
        meanwhile go on) or was cancelled (Esc: they are dropped too)."""
        if job is not self._op:
            return                           # one already let go (see :meth:`work_cancelled`)
        self._op = None
        if message:
            self._error(message, details)
        else:
            dropped = len(self._queued)
            self._queued.clear()
            self._status("Object edit cancelled" + (f" (and the {dropped} made after it)"
                                                     if dropped else ""))
        self._next_edit()

    def work_cancelled(self) -> None:
        """Esc cancelled the window's jobs: an edit being made is let go at once (a queued job
        that never ran says nothing), with the edits made after it."""
        if self._op is not None and self._op.cancelled:
            self.on_op_ended(self._op)

    def _next_edit(self) -> None:
        if self._queued and self._op is None:
            self.apply(self._queued.pop(0))

    def reset(self) -> None:
        """Drop the image's edited objects: back to its prior source's (one undo step)."""
        doc = self._doc()
        if doc is None:
            return
        if not doc.has_raster("objects"):
            self._status("This image's objects are not edited")
            return
        if "objects" not in doc.rasters:      # saved, not loaded: the command keeps it for undo
            o = self.current()
            if o is not None and o.prior_info.get("source") == "edited":
                doc.share_raster("objects", np.asarray(o.result.objects))
        doc.undo_stack.push(EditObjectsCommand(doc, None, {}, "reset the edited objects"))

    def nudge_brush(self, step: int) -> None:
        """The object brush (Shift+drag in the draw and erase tools) 25 % larger or smaller."""
        new = int(round(self.brush_radius * (1.25 if step > 0 else 0.8)))
        if new == self.brush_radius:
            new += 1 if step > 0 else -1
        self.brush_radius = min(max(new, 1), 200)
        self._status(f"Object brush radius: {self.brush_radius} px (Shift+drag in the "
                          "Draw and Erase tools)")

    def busy_editing(self) -> bool:
        """Whether an edit of a large photo is being made (the next one waits for it)."""
        return self._op is not None

    def not_ready(self) -> None:
        self._error("Wait until this image is shown, then edit its objects")

    # -- merge and selection ----------------------------------------------------------------
    # The selection is the window's :class:`~spam_gui.app.model.selection.ObjectSelection`
    # (one image, one purpose); this shows it on the canvas and in the Objects list.
    def merge_selected(self) -> None:
        ids = self.selection.merge_ids(self._row())
        if len(ids) < 2:
            self._error("Select two or more objects to merge (Ctrl+click them on the "
                                "image or in the Objects list), then Merge (Shift+M)")
            return
        keep: list[int] = []

        def make(objects: np.ndarray) -> ObjectEdit:
            e = merge_objects(objects, ids)
            keep.extend(sorted(e.changed))
            return e

        if self.apply(make) and keep:
            self.selection.clear(self._row())
            self._select_after = keep[0]
            self.show_selection()

    def toggle_select(self, x: int, y: int) -> None:
        """Ctrl+click: add the object under (x, y) to the objects to merge, or take it out."""
        oid = self._object_at(x, y)
        if oid > 0:
            self.selection.toggle_merge(self._row(), oid)
            self.show_selection()

    def focus(self, object_id: int) -> None:
        """A plain click acted on ``object_id``: it alone is selected (not for merging)."""
        self.selection.set_focus(self._row(), object_id)
        self.show_selection()

    def on_list_selection(self, ids: list[int]) -> None:
        """Rows picked in the Objects list by the user."""
        self.selection.set_list(self._row(), ids)
        self.show_selection()

    def clear_selection(self) -> bool:
        """Nothing selected (a tool or image change, Esc); True when something was."""
        had = bool(self.selection.shown(self.selection.row))
        self.selection.clear(self._row())
        self.show_selection()
        return had

    def show_selection(self) -> None:
        """Show the selection in the Objects list and on the canvas (outline and a note)."""
        sel, row = self.selection, self._row()
        o = self.view.displayed
        doc = self._doc()
        current = o is not None and doc is not None and o.path == doc.path
        if current:
            sel.keep_only(o.result.objects_info)
        ids = sel.shown(row)
        if ids:
            self._clear_instances()   # one selection at a time
        if self.objects_panel is not None:
            self.objects_panel.show_selection(ids)
        if not ids or not current:
            self.canvas.set_highlight(None)
            self.canvas.set_selection_text("")
            return
        # one lookup pass (no sort of 12 MP): the result's objects are the ids of its map;
        # a large photo's outline is traced on its pixels sampled to about a megapixel
        objects = o.result.objects
        step = max(1, int((objects.size / OUTLINE_PIXELS) ** 0.5))
        if step > 1:
            objects = np.ascontiguousarray(objects[::step, ::step])
        lut = np.zeros(max(max(ids), max(o.result.objects_info, default=0)) + 1, np.uint8)
        lut[list(ids)] = 1
        try:
            mask = lut[objects]
        except IndexError:                      # a map with ids its result does not list
            mask = np.isin(objects, list(ids))
        self.canvas.set_highlight(mask, merge=bool(sel.merge_ids(row)), step=step)
        self.canvas.set_selection_text(sel.describe())

    # -- display ----------------------------------------------------------------------------
    def refresh(self, doc: ImageDoc, key: str) -> bool:
        """Show ``doc``'s edited objects by re-clustering only what changed from the view
        (an edit, its undo or redo); False when this does not apply (then a full job runs)."""
        d = self.view.displayed
        arr = doc.rasters.get("objects")
        if (arr is None or doc.prompts or d is None or d.path != doc.path or d.layers is None
                or d.params != doc.params or d.key.split(":")[-1] != key.split(":")[-1]
                or tuple(arr.shape) != tuple(d.result.objects.shape)):
            return False
        view = self.view
        view.display_request = rid = next_request_id()
        self.request = rid
        assert self.fg is not None
        self.fg.submit(ObjectEditJob(
            rid, priority=0, group="show", row=self._row(), base=d, objects=arr,
            ratios=dict(doc.ratios), key=key, config=self._config(), style=self._style(),
            preview=not self._previewed))
        view.update_busy()
        return True

    def on_result(self, job: Any, o: Outcome) -> None:
        view = self.view
        view.outcomes.put((str(o.path), o.key), o)
        if job.request_id == view.display_request and job.row == self._row() \
                and o.key == self._current_key():
            view.display(o)
            sel = self._select_after
            if sel:
                self._select_after = 0
                self.focus(sel)
            t = o.result.timings.get("resegment")
            if t is not None:
                self._status(f"{o.path.name}: {o.result.n_superpixels} superpixels, "
                                  f"{len(o.result.objects_info)} objects · {o.prior_note} · "
                                  f"re-clustered the edited objects in {t * 1000:.0f} ms")

    def on_failed(self, job: Any, message: str, details: str) -> None:
        self._error(message, details)
        if job.request_id == self.view.display_request:
            self.view.displayed = None
            self.view.refresh()

    def on_displayed(self) -> None:
        """Say where the objects of the image come from (Objects panel, Controls)."""
        o = self.view.displayed
        if o is None:
            return
        self.show_selection()   # objects gone with the new result leave the selection
        src = str(o.prior_info.get("source", "none"))
        title = SOURCE_TITLES.get(src, src)
        n = len(o.result.objects_info)
        if src == "builtin":
            text = f"Objects: {title}, coarseness {format_coarseness(o.params.coarseness)} · {n} objects"
        elif src == "label map":
            text = f"Objects: {title} {o.prior_info.get('file', '')} · {n} objects"
        elif src == "edited":
            text = f"Objects: edited by hand · {n} objects"
        elif src in ("none", "automatic"):
            text = "Objects: none (the whole image is one object)"
            if o.prior_info.get("missing_map"):
                text = "Objects: no prior map for this image (whole image one object)"
        else:
            variant = o.prior_info.get("checkpoint", {}).get("variant", "")
            text = f"Objects: {' '.join((title, variant)).strip()} · {n} objects"
        assert self.objects_panel is not None and self.controls is not None
        self.objects_panel.set_source(text)
        self.controls.set_coarseness_applies(
            src == "builtin", None if src == "builtin" else
            "The coarseness sets the built-in prior's objects; this image's objects come from "
            f"{title}")


# ----------------------------------------------------------------------------- the tools


class _StrokeTool(Tool):
    """A tool that draws: a plain click selects the object (Ctrl+click: adds it to the
    selection), a drag draws a path (a lasso, or with Shift a brush of the editor's radius)."""

    strokes = True
    brush_capable = True

    def __init__(self, ctx: ToolContext) -> None:
        super().__init__(ctx)
        self.points: list[tuple[int, int]] = []
        self.brush = False
        self.button = Qt.MouseButton.NoButton

    @property
    def editor(self) -> ObjectEditor:
        return self.ctx.objects_edit

    def unavailable(self) -> str | None:
        return None if self.ctx.session() is not None else "Open a folder first"

    def deactivate(self) -> None:
        self._clear()

    def press(self, x: int, y: int, button: Qt.MouseButton, mods: Qt.KeyboardModifier) -> None:
        self.points = [(x, y)]
        self.button = button
        self.mods = mods
        self.brush = self.brush_capable and bool(mods & Qt.KeyboardModifier.ShiftModifier)
        self.ctx.canvas.set_brush_radius(self.editor.brush_radius if self.brush else 0)

    def drag(self, x: int, y: int) -> None:
        if not self.points or self.points[-1] != (x, y):
            self.points.append((x, y))
        self.ctx.canvas.set_stroke_path(self.points, closed=self.closed(),
                                      color=self.color())

    def release(self, x: int, y: int, moved: bool) -> None:
        points, button, mods = self.points, self.button, getattr(self, "mods", None)
        self._clear()
        if not moved:
            if mods is not None and mods & Qt.KeyboardModifier.ControlModifier:
                self.editor.toggle_select(x, y)
            else:
                self.editor.focus(self.ctx.edits.object_at(x, y))
            return
        if (x, y) != points[-1]:
            points.append((x, y))
        objects = self.editor.editable_objects()
        if objects is None and not self.editor.busy_editing():
            self.editor.not_ready()
            return
        shape = objects.shape if objects is not None else self.ctx.canvas.image.shape[:2]
        radius = self.editor.brush_radius if self.brush else self.line_radius()
        self.finish(Stroke((int(shape[0]), int(shape[1])), tuple(points), radius,
                           self.closed()), button)

    def _clear(self) -> None:
        self.points = []
        self.ctx.canvas.set_stroke_path(None)
        self.ctx.canvas.set_brush_radius(0)

    def cancel(self) -> bool:
        if not self.points:
            return False
        self._clear()
        return True

    # -- what a subclass says ---------------------------------------------------------------
    def closed(self) -> bool:
        return not self.brush

    def line_radius(self) -> int:
        return 0

    def color(self) -> QtGui.QColor:
        return QtGui.QColor(255, 220, 0)

    def finish(self, stroke: Stroke, button: Qt.MouseButton) -> None:  # pragma: no cover
        raise NotImplementedError


class SplitTool(_StrokeTool):
    name = "split"
    hint = "Split: draw a line across an object to cut it into its parts; Ctrl+click selects"
    brush_capable = False

    def closed(self) -> bool:
        return False

    def line_radius(self) -> int:
        return 1

    def color(self) -> QtGui.QColor:
        return QtGui.QColor(255, 80, 80)

    def finish(self, stroke: Stroke, button: Qt.MouseButton) -> None:
        self.editor.apply(lambda objects: split_object(objects, stroke.mask(objects.shape)))


class DrawObjectTool(_StrokeTool):
    name = "draw_object"
    hint = ("Draw object: drag a lasso around it (Shift: brush); right button erases to "
            "uncertain; Ctrl+click selects")

    def finish(self, stroke: Stroke, button: Qt.MouseButton) -> None:
        if button == Qt.MouseButton.RightButton:
            self.editor.apply(lambda objects: erase_objects(objects, stroke.mask(objects.shape)))
        else:
            self.editor.apply(lambda objects: paint_object(objects, stroke.mask(objects.shape)))


class EraseObjectTool(_StrokeTool):
    name = "erase_object"
    hint = "Erase objects: drag a lasso (Shift: brush) to make pixels uncertain; Ctrl+click selects"

    def color(self) -> QtGui.QColor:
        return QtGui.QColor(200, 200, 200)

    def finish(self, stroke: Stroke, button: Qt.MouseButton) -> None:
        self.editor.apply(lambda objects: erase_objects(objects, stroke.mask(objects.shape)))


OBJECT_TOOLS: tuple[type[Tool], ...] = (SplitTool, DrawObjectTool, EraseObjectTool)
