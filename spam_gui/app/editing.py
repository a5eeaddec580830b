"""Editing the current image: density ratios, parameters, visual attention, recompute.

Every change is an undo command on the image's own stack (:mod:`spam_gui.app.document`); the
display follows the document when the command runs, is undone or redone.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from spam_gui.app.document import (Params, ResetRatiosCommand, SetParamsCommand,
                                   SetRatioCommand)

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.app.main_window import MainWindow

class Editing:
    """The window's edits of the current image, each one undo step."""

    def __init__(self, window: "MainWindow") -> None:
        self.w = window
        self._said: dict[str, str] = {}   # a note whose change recomputes the image, by path

    def object_at(self, x: int, y: int) -> int:
        """The object under image pixel (x, y) in the displayed result (0 if none)."""
        o = self.w.view.displayed
        if o is None or self.w.doc is None or o.path != self.w.doc.path:
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
        o = self.w.view.displayed
        doc = self.w.doc
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
                self.w.report_error(held)
            return
        ids = {int(k): float(v) for k, v in dropped.items()}
        if ids:
            notes.append("the ratios not used were removed from this image")
        message = f"{doc.name}: " + "; ".join(notes)
        self.w.report_error(message)
        if stale:
            self._said[str(doc.path)] = message
        if stale:
            doc.apply_prompts(tuple(p for p in doc.prompts if p not in stale),
                             {k: v for k, v in doc.ratios.items() if k not in ids})
        elif any(oid in doc.ratios for oid in ids):
            doc.apply_ratios({k: v for k, v in doc.ratios.items() if k not in ids})

    def set_ratio(self, object_id: int, ratio: float) -> None:
        doc = self.w.doc
        if doc is None or self.w.view.displayed is None:
            return
        if not (ratio > 0 and math.isfinite(ratio)):
            return
        if math.isclose(doc.ratio(object_id), ratio):
            return
        self.w.view.t_click = time.perf_counter()
        doc.undo_stack.push(SetRatioCommand(doc, object_id, ratio))

    def reset_hovered(self) -> None:
        x, y = self.w.hover_pos
        oid = self.object_at(x, y) if x >= 0 else self.w.objects_panel.selected_object()
        if oid > 0:
            self.set_ratio(oid, 1.0)

    def reset_all_ratios(self) -> None:
        doc = self.w.doc
        if doc is not None and doc.ratios:
            doc.undo_stack.push(ResetRatiosCommand(doc))

    def on_params_edited(self, params: Params) -> None:
        doc = self.w.doc
        if doc is None:
            self.w.settings.default_params = params
            return
        if params == doc.params:
            return
        doc.undo_stack.push(SetParamsCommand(doc, params))

    def use_as_default(self) -> None:
        """Make the current image's parameters the default of every image not edited yet."""
        self.w.controls.flush()
        doc = self.w.doc
        params = doc.params if doc is not None else self.w.controls.params()
        self.w.settings.default_params = params
        if self.w.session is not None:
            self.w.session.default_params = params
            self.w.file_panel.model.refresh_all()
            self.w.view.schedule_precompute()
        self.w.set_status(f"Default parameters: K = {params.n_segments}, λs = {params.lambda_s:g}, "
                        f"λc = {params.lambda_c:g}, VA {'on' if params.va else 'off'} "
                        "(for every image not edited yet)")

    def toggle_va(self, on: bool) -> None:
        doc = self.w.doc
        if doc is None:
            return
        if bool(on) != doc.params.va:
            doc.undo_stack.push(SetParamsCommand(doc, replace(doc.params, va=bool(on))))

    def on_doc_changed(self, row: int) -> None:
        self.w.refresh_row(row)
        if row != self.w.row or self.w.session is None:
            return
        doc = self.w.session.doc(row)
        # A change of the current doc (command, undo, redo): follow it.
        if doc.params != self.w.controls.params():
            self.w.controls.set_params(doc.params)
        self.w.actions_["va"].blockSignals(True)
        self.w.actions_["va"].setChecked(doc.params.va)
        self.w.actions_["va"].blockSignals(False)
        key = self.w.current_key()
        if self.w.view.displayed is None or self.w.view.displayed.key != key:
            self.w.view.refresh()

    def recompute(self) -> None:
        if self.w.doc is None:
            return
        self.w.view.errors.pop(self.w.row, None)
        self.w.pipeline.forget_images()
        self.w.pipeline.forget_priors()
        self.w.view.displayed = None
        self.w.view.refresh(force=True)

    # -- SAM prompts ------------------------------------------------------------------------
