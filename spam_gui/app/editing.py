"""Editing the current image: density ratios, parameters, visual attention, recompute.

Every change is an undo command on the image's own stack (:mod:`spam_gui.app.document`); the
display follows the document when the command runs, is undone or redone.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable

from spam_gui.app.document import (Params, ResetRatiosCommand, SetParamsCommand,
                                   SetRatioCommand)

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.app.display import DisplayController
    from spam_gui.app.document import FolderSession, ImageDoc
    from spam_gui.app.panels.controls import ControlsPanel
    from spam_gui.app.panels.files import FilePanel
    from spam_gui.app.panels.objects import ObjectsPanel
    from spam_gui.app.pipeline import Pipeline
    from spam_gui.app.qt import QtGui
    from spam_gui.app.settings import Settings

class Editing:
    """The window's edits of the current image, each one undo step."""

    def __init__(self, view: "DisplayController", settings: "Settings", pipeline: "Pipeline", *,
                 session: Callable[[], "FolderSession | None"], row: Callable[[], int],
                 doc: Callable[[], "ImageDoc | None"], current_key: Callable[[], str | None],
                 hover_pos: Callable[[], tuple[int, int]], refresh_row: Callable[[int], Any],
                 set_status: Callable[[str], Any], report_error: Callable[[str], Any]) -> None:
        """``session``, ``row``, ``doc``, ``current_key`` (the outcome key of the image shown)
        and ``hover_pos`` give the window's state when asked; ``refresh_row(row)`` shows that
        image's state again in the file list. The panels come with :meth:`attach`."""
        self.view = view
        self.settings = settings
        self.pipeline = pipeline
        self._session = session
        self._row = row
        self._doc = doc
        self._current_key = current_key
        self._hover_pos = hover_pos
        self._refresh_row = refresh_row
        self._status = set_status
        self._error = report_error
        self.controls: ControlsPanel | None = None
        self.file_panel: FilePanel | None = None
        self.objects_panel: ObjectsPanel | None = None
        self.va_action: QtGui.QAction | None = None
        self._said: dict[str, str] = {}   # a note whose change recomputes the image, by path

    def attach(self, controls: "ControlsPanel", file_panel: "FilePanel",
               objects_panel: "ObjectsPanel", va_action: "QtGui.QAction") -> None:
        """The panels the edits read and follow, and the visual-attention action (called once
        they exist)."""
        self.controls = controls
        self.file_panel = file_panel
        self.objects_panel = objects_panel
        self.va_action = va_action

    def object_at(self, x: int, y: int) -> int:
        """The object under image pixel (x, y) in the displayed result (0 if none)."""
        o = self.view.displayed
        doc = self._doc()
        if o is None or doc is None or o.path != doc.path:
            return 0
        res = o.result
        h, w = res.labels.shape
        if not (0 <= x < w and 0 <= y < h):
            return 0
        oid = int(res.objects[y, x])
        if oid == 0:
            oid = int(res.superpixel_object[res.labels[y, x]])
        return oid if oid in res.objects_info else 0

    def drop_stale_ratios(self) -> None:
        """After a display: say on screen what the engine noted about the result
        (``params["notes"]``: K more than the pixels, far fewer superpixels than K, ratios
        not used), as the CLI prints them; ratios the engine did not use because the prior
        has no such object any more (the prior map changed since they were saved,
        ``params["dropped_ratios"]``) leave the document."""
        o = self.view.displayed
        doc = self._doc()
        if o is None or doc is None or o.path != doc.path:
            return
        notes = list(o.result.params.get("notes") or [])
        dropped = o.result.params.get("dropped_ratios") or {}
        h, w = o.image.shape[:2]
        # a prompt with a click outside the image (the image changed since it was saved)
        # made an object from nowhere: it no longer applies
        stale = [p for p in doc.prompts
                 if any(not (0 <= x < w and 0 <= y < h) for x, y, _ in p.points)]
        if stale:
            notes.append(f"{len(stale)} prompt object(s) with clicks outside the {w}x{h} image "
                         "removed (the image changed since they were made)")
        if not notes and not dropped:
            held = self._said.pop(str(doc.path), None)
            if held is not None:       # said before the recompute it caused: say it again
                self._error(held)
            return
        ids = {int(k): float(v) for k, v in dropped.items()}
        if ids:
            notes.append("the ratios not used were removed from this image")
        message = f"{doc.name}: " + "; ".join(notes)
        self._error(message)
        if stale:
            self._said[str(doc.path)] = message
        if stale:
            doc.apply_prompts(tuple(p for p in doc.prompts if p not in stale),
                             {k: v for k, v in doc.ratios.items() if k not in ids})
        elif any(oid in doc.ratios for oid in ids):
            doc.apply_ratios({k: v for k, v in doc.ratios.items() if k not in ids})

    def set_ratio(self, object_id: int, ratio: float) -> None:
        doc = self._doc()
        if doc is None or self.view.displayed is None:
            return
        if not (ratio > 0 and math.isfinite(ratio)):
            return
        if math.isclose(doc.ratio(object_id), ratio):
            return
        self.view.t_click = time.perf_counter()
        doc.undo_stack.push(SetRatioCommand(doc, object_id, ratio))

    def reset_hovered(self) -> None:
        x, y = self._hover_pos()
        if x >= 0:
            oid = self.object_at(x, y)
        else:
            oid = self.objects_panel.selected_object() if self.objects_panel is not None else 0
        if oid > 0:
            self.set_ratio(oid, 1.0)

    def reset_all_ratios(self) -> None:
        doc = self._doc()
        if doc is not None and doc.ratios:
            doc.undo_stack.push(ResetRatiosCommand(doc))

    def on_params_edited(self, params: Params) -> None:
        doc = self._doc()
        if doc is None:
            self.settings.default_params = params
            return
        if params == doc.params:
            return
        doc.undo_stack.push(SetParamsCommand(doc, params))

    def use_as_default(self) -> None:
        """Make the current image's parameters the default of every image not edited yet."""
        assert self.controls is not None and self.file_panel is not None
        self.controls.flush()
        doc = self._doc()
        params = doc.params if doc is not None else self.controls.params()
        self.settings.default_params = params
        s = self._session()
        if s is not None:
            s.default_params = params
            self.file_panel.model.refresh_all()
            self.view.schedule_precompute()
        self._status(f"Default parameters: K = {params.n_segments}, λs = {params.lambda_s:g}, "
                        f"λc = {params.lambda_c:g}, VA {'on' if params.va else 'off'} "
                        "(for every image not edited yet)")

    def toggle_va(self, on: bool) -> None:
        doc = self._doc()
        if doc is None:
            return
        if bool(on) != doc.params.va:
            doc.undo_stack.push(SetParamsCommand(doc, replace(doc.params, va=bool(on))))

    def on_doc_changed(self, row: int) -> None:
        self._refresh_row(row)
        s = self._session()
        if row != self._row() or s is None:
            return
        doc = s.doc(row)
        # A change of the current doc (command, undo, redo): follow it.
        assert self.controls is not None and self.va_action is not None
        if doc.params != self.controls.params():
            self.controls.set_params(doc.params)
        self.va_action.blockSignals(True)
        self.va_action.setChecked(doc.params.va)
        self.va_action.blockSignals(False)
        key = self._current_key()
        if self.view.displayed is None or self.view.displayed.key != key:
            self.view.refresh()

    def recompute(self) -> None:
        if self._doc() is None:
            return
        self.view.errors.pop(self._row(), None)
        self.pipeline.forget_images()
        self.pipeline.forget_priors()
        self.view.displayed = None
        self.view.refresh(force=True)

    # -- SAM prompts ------------------------------------------------------------------------
