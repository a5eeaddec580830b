"""Per-image editable state, its undo stack, and the folder's autosaved state file.

An :class:`ImageDoc` holds what the user chose for one image: the segmentation parameters, the
per-object density ratios and the SAM prompt objects. Every change goes through a
:class:`QUndoCommand` on the image's own :class:`QUndoStack` (undo never crosses images, and
nothing is ever copied from one image to another). :class:`FolderSession` owns the docs of one
folder (created lazily, so a folder of thousands of files costs nothing until visited) and writes
their state as JSON, atomically, a moment after each change: ``<output>/.spam_state.json``, or
a per-folder file in the user's data folder when the output folder is not writable. Reopening
the folder restores it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from spam_gui.app.model.doc_data import DocState, Params, Prompt, normalise_ratio, state_key
from spam_gui.app.model.state_file import (STATE_FILE_NAME, STATE_FORMAT, STATE_VERSION,
                                           ImageEntry, entry_to_json, read_state_file,
                                           validate_entry)
from spam_gui.app.model.raster_store import (RASTER_KINDS, RasterStore, RasterStoreError,
                                             keep_aside, raster_folder, raster_key)
from spam_gui.app.qt import QtCore, QtGui
from spam_gui.core.io.images import atomic_write_bytes

log = logging.getLogger(__name__)

OUTPUT_DIR_NAME = "spam_labels"

__all__ = ["DocState", "FolderSession", "ImageDoc", "OUTPUT_DIR_NAME", "Params", "Prompt",
           "STATE_FILE_NAME", "STATE_FORMAT", "STATE_VERSION", "normalise_ratio",
           "state_key"]


# ----------------------------------------------------------------------------- the doc


class ImageDoc(QtCore.QObject):
    """One image's editable state. ``changed(kind, detail)`` fires after every change.

    ``kind`` is ``"ratio"`` (detail: the object id), ``"ratios"``, ``"params"``, ``"prompts"``
    or ``"raster"`` (detail: the raster kind, see :data:`RASTER_KINDS`).

    Rasters (an edited object map, class and instance maps) are full-size arrays the tools
    change in place or replace; :meth:`set_raster` / :meth:`raster_changed` mark them for the
    next autosave (:class:`FolderSession` writes them through a
    :class:`~spam_gui.app.model.raster_store.RasterStore`). A raster saved earlier and not
    used yet in this run is loaded on demand by :meth:`FolderSession.raster`.
    """

    changed = QtCore.Signal(str, object)
    stack_moved = QtCore.Signal()

    def __init__(self, path: Path, params: Params, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.path = Path(path)
        self.params = params
        self.ratios: dict[int, float] = {}
        self.prompts: tuple[Prompt, ...] = ()
        self.params_touched = False
        self.exported_key: str | None = None
        self.exported_at: float | None = None
        self.error: str | None = None
        self.prior_ready = False
        self.image_sha256: str | None = None   # hash of the pixels last segmented / exported
        self.rasters: dict[str, np.ndarray] = {}      # in memory (edited or loaded)
        self.raster_hashes: dict[str, str] = {}       # what the state file names, kind -> sha256
        self.raster_keys: dict[str, str] = {}         # kind -> raster_key of the saved values
        self.raster_versions: dict[str, int] = {}     # bumped on each change (cache keys)
        self.dirty_rasters: set[str] = set()          # changed since the last save
        self._objects_key: tuple[int, Any, str] = (-1, None, "")
        self.undo_stack = QtGui.QUndoStack(self)
        self.undo_stack.indexChanged.connect(self._on_stack_index)
        self.row = -1

    def _on_stack_index(self, _index: int) -> None:
        self.stack_moved.emit()

    # -- identity / state ------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.path.name

    def key(self) -> str:
        return state_key(self.params, self.ratios, self.prompts, objects=self.objects_key())

    def objects_key(self) -> str:
        """What identifies the edited object map ("" without one): the hash of its values
        (:func:`~spam_gui.app.model.raster_store.raster_key`, computed once per change), the
        same whether it is in memory or only on disk (the state file keeps it)."""
        arr = self.rasters.get("objects")
        if arr is None:
            return self.raster_keys.get("objects") or self.raster_hashes.get("objects", "")
        v = self.raster_version("objects")
        if self._objects_key[0] != v or self._objects_key[1] is not arr:
            self._objects_key = (v, arr, raster_key(arr))
        return self._objects_key[2]

    @property
    def edited(self) -> bool:
        return (bool(self.ratios) or bool(self.prompts) or self.params_touched
                or bool(self.rasters) or bool(self.raster_hashes))

    def has_raster(self, kind: str) -> bool:
        """Whether this image has raster ``kind`` (in memory or saved)."""
        return kind in self.rasters or kind in self.raster_hashes

    def raster_version(self, kind: str) -> int:
        """A number that changes whenever raster ``kind`` changes (for cache keys)."""
        return self.raster_versions.get(kind, 0)

    def ratio(self, object_id: int) -> float:
        return self.ratios.get(int(object_id), 1.0)

    # -- mutations (called by undo commands, and by checks that drop stale edits) -------------
    def apply_ratio(self, object_id: int, ratio: float) -> None:
        oid = int(object_id)
        if abs(ratio - 1.0) < 1e-9:
            self.ratios.pop(oid, None)
        else:
            self.ratios[oid] = float(ratio)
        self.changed.emit("ratio", oid)

    def apply_ratios(self, ratios: dict[int, float]) -> None:
        self.ratios = {int(k): float(v) for k, v in ratios.items() if abs(v - 1.0) > 1e-9}
        self.changed.emit("ratios", None)

    def apply_params(self, params: Params, touched: bool) -> None:
        self.params = params
        self.params_touched = touched
        self.changed.emit("params", None)

    def apply_prompts(self, prompts: tuple[Prompt, ...], ratios: dict[int, float]) -> None:
        self.prompts = tuple(prompts)
        self.ratios = dict(ratios)
        self.changed.emit("prompts", None)

    def replace_edits(self, ratios: dict[int, float], prompts: tuple[Prompt, ...]) -> None:
        """Take ``ratios`` and ``prompts`` without a signal (an object edit's undo step, which
        then sets the object map: one change signal, after the rest)."""
        self.ratios = dict(ratios)
        self.prompts = tuple(prompts)

    def set_raster(self, kind: str, array: np.ndarray | None) -> None:
        """Replace raster ``kind`` (None removes it); for undo commands and loaders."""
        if kind not in RASTER_KINDS:
            raise ValueError(f"unknown raster kind {kind!r}")
        if array is None:
            self.rasters.pop(kind, None)
            self.raster_hashes.pop(kind, None)
            self.raster_keys.pop(kind, None)
        else:
            self.rasters[kind] = array
        self.raster_changed(kind)

    def raster_changed(self, kind: str) -> None:
        """Raster ``kind`` was changed in place (a paint stroke, its undo)."""
        self.raster_edited(kind)
        self.changed.emit("raster", kind)

    def raster_edited(self, kind: str) -> None:
        """Raster ``kind`` was changed in place, said later (:meth:`raster_changed`): it is
        saved with the next save and its version moves on, without a change signal yet."""
        self.dirty_rasters.add(kind)
        self.raster_versions[kind] = self.raster_versions.get(kind, 0) + 1

    def share_raster(self, kind: str, array: np.ndarray) -> None:
        """Hold ``array`` as raster ``kind`` as it is, not as a change (nothing to save, no
        signal): read from the saved state, or the same array another object edits in place
        (an annotation's maps)."""
        if kind not in RASTER_KINDS:
            raise ValueError(f"unknown raster kind {kind!r}")
        self.rasters[kind] = array

    def mark_unsaved(self, kind: str) -> None:
        """Raster ``kind`` is written again by the next save (a save that failed)."""
        self.dirty_rasters.add(kind)

    def take_unsaved(self) -> set[str]:
        """The rasters changed since the last save (the list starts again empty)."""
        kinds, self.dirty_rasters = self.dirty_rasters, set()
        return kinds

    def forget_saved(self, kind: str) -> None:
        """The saved raster ``kind`` cannot be read: the state file no longer names it."""
        self.raster_hashes.pop(kind, None)
        self.raster_keys.pop(kind, None)

    def set_exported(self, key: str, when: float) -> None:
        """The image was exported at ``when`` (epoch seconds) with state ``key``."""
        self.exported_key = key
        self.exported_at = when

    def saved_as(self, kind: str, digest: str, key: str | None = None) -> None:
        """The state file now names raster ``kind`` by ``digest`` (its file) and ``key`` (its
        values, :func:`~spam_gui.app.model.raster_store.raster_key`)."""
        self.raster_hashes[kind] = digest
        if key is None:
            self.raster_keys.pop(kind, None)
        else:
            self.raster_keys[kind] = key

    # -- persistence ----------------------------------------------------------------------
    def to_entry(self) -> ImageEntry:
        return ImageEntry(params=self.params.to_dict(), ratios=dict(self.ratios),
                          prompts=self.prompts, params_touched=self.params_touched,
                          exported=self.exported_key, exported_at=self.exported_at,
                          image_sha256=self.image_sha256, rasters=dict(self.raster_hashes),
                          raster_keys=dict(self.raster_keys))

    def to_json(self) -> dict[str, Any]:
        return entry_to_json(self.to_entry())

    def load_json(self, data: Any) -> list[str]:
        """Take a saved state as JSON; returns the problems of the entries not taken."""
        entry, problems = validate_entry(self.name, data)
        if entry is not None:
            self.load_entry(entry)
        return problems

    def load_entry(self, entry: ImageEntry) -> None:
        """Take a validated saved state (:func:`spam_gui.app.model.validate_entry`)."""
        self.params = entry.params_for(self.params)
        self.ratios = dict(entry.ratios)
        self.prompts = entry.prompts
        self.params_touched = entry.params_touched
        self.exported_key = entry.exported
        self.exported_at = entry.exported_at
        self.image_sha256 = entry.image_sha256
        self.raster_hashes = dict(entry.rasters)
        self.raster_keys = dict(entry.raster_keys)
        self.rasters = {}
        self.dirty_rasters = set()

    @property
    def worth_saving(self) -> bool:
        return self.edited or bool(self.exported_key)


# ----------------------------------------------------------------------------- undo commands


class SetRatioCommand(QtGui.QUndoCommand):
    def __init__(self, doc: ImageDoc, object_id: int, ratio: float) -> None:
        self.doc, self.oid = doc, int(object_id)
        self.old, self.new = doc.ratio(object_id), normalise_ratio(ratio)
        super().__init__(f"object {self.oid}: ratio {self.old:g} → {self.new:g}")

    def redo(self) -> None:
        self.doc.apply_ratio(self.oid, self.new)

    def undo(self) -> None:
        self.doc.apply_ratio(self.oid, self.old)


class ResetRatiosCommand(QtGui.QUndoCommand):
    def __init__(self, doc: ImageDoc) -> None:
        super().__init__("reset all ratios")
        self.doc, self.old = doc, dict(doc.ratios)

    def redo(self) -> None:
        self.doc.apply_ratios({})

    def undo(self) -> None:
        self.doc.apply_ratios(self.old)


class SetParamsCommand(QtGui.QUndoCommand):
    def __init__(self, doc: ImageDoc, params: Params) -> None:
        self.doc = doc
        self.old, self.new = doc.params, params
        self.old_touched = doc.params_touched
        changed = [f.name for f in fields(Params) if getattr(self.old, f.name) != getattr(params, f.name)]
        super().__init__("parameters: " + ", ".join(changed))

    def redo(self) -> None:
        self.doc.apply_params(self.new, True)

    def undo(self) -> None:
        self.doc.apply_params(self.old, self.old_touched)


class SetPromptsCommand(QtGui.QUndoCommand):
    """Add or remove SAM prompt objects. Ratios are reset with the prior (object ids change)."""

    def __init__(self, doc: ImageDoc, prompts: tuple[Prompt, ...], text: str) -> None:
        super().__init__(text)
        self.doc = doc
        self.old, self.new = doc.prompts, tuple(prompts)
        self.old_ratios = dict(doc.ratios)

    def redo(self) -> None:
        # Prompt objects get new ids, other objects keep theirs (prior.merge_mask): keep ratios.
        self.doc.apply_prompts(self.new, self.old_ratios)

    def undo(self) -> None:
        self.doc.apply_prompts(self.old, self.old_ratios)


# ----------------------------------------------------------------------------- folder


def _copy_raster(old: RasterStore, new: RasterStore, name: str, kind: str, sha256: str) -> None:
    try:
        _, data = old.read_bytes(name, kind, sha256)
    except RasterStoreError:
        return  # named when it is loaded
    new.write_bytes(name, kind, data)


@dataclass(eq=False)
class _SavePlan:
    """What one save writes, taken on the GUI thread (:meth:`FolderSession._plan`): copies of
    the changed rasters and the JSON without their hashes, so that encoding and writing can
    run in a thread while the arrays go on changing."""

    targets: tuple[Path, ...]                  # the state files to try, in order
    old_root: Path | None                      # the raster folder of the state file in use
    writes: list[tuple[ImageDoc, str, np.ndarray]]
    deletes: list[tuple[ImageDoc, str]]
    carried: list[tuple[str, str, str]]        # (image, kind, sha256) saved files, for a move
    data: dict[str, Any]
    # filled by :func:`_run_save`
    target: Path | None = None
    digests: dict[tuple[str, str], str] = field(default_factory=dict)
    keys: dict[tuple[str, str], str] = field(default_factory=dict)
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


def _run_save(plan: _SavePlan) -> None:
    """Carry out a save (in the autosave thread, or in the caller's for :meth:`save_now`):
    for the first target that works, the rasters (each version a file of its own), then the
    JSON naming them, then the removal of the versions it no longer names."""
    errors = []
    for target in plan.targets:
        try:
            store = RasterStore(raster_folder(target))
            digests = {(doc.name, kind): store.save(doc.name, kind, arr)
                       for doc, kind, arr in plan.writes}
            keys = {(doc.name, kind): raster_key(arr) for doc, kind, arr in plan.writes}
            if plan.old_root is not None and store.root != plan.old_root:
                old = RasterStore(plan.old_root)
                for name, kind, sha in plan.carried:
                    _copy_raster(old, store, name, kind, sha)
            images = plan.data["images"]
            for (name, kind), digest in digests.items():
                entry = images.get(name)
                if entry is not None:
                    entry["rasters"] = dict(sorted({**entry.get("rasters", {}),
                                                    kind: digest}.items()))
                    entry["raster_keys"] = dict(sorted({**entry.get("raster_keys", {}),
                                                        kind: keys[(name, kind)]}.items()))
            payload = json.dumps({**plan.data, "saved_at": time.time()}, indent=1,
                                 sort_keys=True).encode()
            atomic_write_bytes(target, payload)
            # the JSON on disk names the new versions: the older ones can go
            for (name, kind), digest in digests.items():
                store.prune(name, kind, digest)
            for doc, kind in plan.deletes:
                store.delete(doc.name, kind)
            plan.target, plan.digests, plan.keys = target, digests, keys
            return
        except (OSError, ValueError) as exc:
            errors.append(str(exc))
    plan.error = "state not saved: " + "; ".join(errors)


def fallback_state_path(folder: Path) -> Path:
    base = QtCore.QStandardPaths.writableLocation(
        QtCore.QStandardPaths.StandardLocation.AppDataLocation
    ) or os.path.expanduser("~/.local/share/spam-studio")
    digest = hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:16]
    return Path(base) / "folders" / f"{digest}.json"


class FolderSession(QtCore.QObject):
    """The documents of one folder and their autosaved state.

    ``doc_changed(row)`` fires when a doc's displayed state may have changed.
    """

    doc_changed = QtCore.Signal(int)
    save_failed = QtCore.Signal(str)
    raster_problem = QtCore.Signal(str)     # a saved raster not used: what and where it is kept
    _save_done = QtCore.Signal(object)      # from the autosave thread: its _SavePlan

    def __init__(self, folder: Path, paths: list[Path], output_dir: Path, default_params: Params,
                 parent: QtCore.QObject | None = None, autosave_ms: int = 300) -> None:
        super().__init__(parent)
        self.folder = Path(folder)
        self.paths = list(paths)
        self.output_dir = Path(output_dir)
        self.default_params = default_params
        self._rows = {p: i for i, p in enumerate(self.paths)}
        self._docs: dict[int, ImageDoc] = {}
        self._saved: dict[str, ImageEntry] = {}   # validated entries of images not opened yet
        self.load_problems: list[str] = []        # what the state file had that was not used
        self.load_backup: Path | None = None      # where the original state file was kept
        self.current_name: str | None = None
        self.state_path: Path | None = None
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(autosave_ms)
        self._timer.timeout.connect(self.save_in_background)
        self._inflight: tuple[_SavePlan, threading.Thread] | None = None
        self._again = False          # a save was asked for while one was running
        self._save_done.connect(self._on_save_done, QtCore.Qt.ConnectionType.QueuedConnection)
        self._load()

    # -- state file -----------------------------------------------------------------------
    @property
    def primary_state_path(self) -> Path:
        return self.output_dir / STATE_FILE_NAME

    def _load(self) -> None:
        candidates = [self.primary_state_path, fallback_state_path(self.folder)]
        best: tuple[float, Path] | None = None
        for c in candidates:
            try:
                m = c.stat().st_mtime
            except OSError:
                continue
            if best is None or m > best[0]:
                best = (m, c)
        if best is None:
            return
        loaded = read_state_file(best[1])
        self.load_problems = loaded.problems
        self.load_backup = loaded.backup
        for p in loaded.problems:
            log.warning("%s", p)
        if loaded.usable:
            self._saved = loaded.images
            self.current_name = loaded.current
            self.state_path = best[1]

    def schedule_save(self) -> None:
        self._timer.start()

    @property
    def saving(self) -> bool:
        """Whether a save runs in the autosave thread now."""
        return self._inflight is not None

    def save_in_background(self) -> None:
        """The autosave: take what is to be saved now (copies of the changed rasters, the
        JSON) and write it in a thread; the window goes on meanwhile. A save asked for while
        one runs starts when it ends."""
        self._timer.stop()
        if self._inflight is not None:
            self._again = True
            return
        plan = self._plan()
        if plan is None:
            return
        thread = threading.Thread(target=self._work, args=(plan,), name="spam-autosave")
        self._inflight = (plan, thread)
        thread.start()

    def _work(self, plan: _SavePlan) -> None:
        try:
            _run_save(plan)
        except Exception as exc:  # noqa: BLE001 - reported on the GUI thread, never lost
            log.exception("autosave failed")
            plan.error = f"state not saved: {exc}"
        finally:
            plan.done.set()
        try:
            self._save_done.emit(plan)
        except RuntimeError:      # the session is gone (its last save_now waited for this)
            pass

    @QtCore.Slot(object)
    def _on_save_done(self, plan: _SavePlan) -> None:
        if self._inflight is None or self._inflight[0] is not plan:
            return                # taken by save_now already
        self._inflight = None
        self._finish(plan)
        if self._again:
            self._again = False
            self.schedule_save()

    def _wait(self) -> None:
        """Wait for the save running in the thread, if any, and take its outcome."""
        if self._inflight is None:
            return
        plan, thread = self._inflight
        thread.join()
        self._inflight = None
        self._finish(plan)

    def save_now(self) -> bool:
        """Write the state file now (atomically), waiting for a save already running in the
        thread first: everything is on disk when it returns (closing the window or the folder
        calls it). Returns False and signals when it fails."""
        self._timer.stop()
        self._again = False
        self._wait()
        plan = self._plan()
        if plan is None:
            return True  # nothing to save, and nothing saved before: do not create folders
        _run_save(plan)
        return self._finish(plan)

    def _plan(self) -> _SavePlan | None:
        """What a save writes now, or None when there is nothing to save. Takes the rasters
        changed since the last save off the docs' dirty lists (they go back on them when the
        save fails)."""
        if (not any(d.worth_saving for d in self._docs.values()) and not self._saved
                and self.state_path is None):
            return None
        old_root = raster_folder(self.state_path) if self.state_path is not None else None
        writes: list[tuple[ImageDoc, str, np.ndarray]] = []
        deletes: list[tuple[ImageDoc, str]] = []
        carried: list[tuple[str, str, str]] = []
        for doc in self._docs.values():
            dirty = doc.take_unsaved()
            for kind in RASTER_KINDS:
                arr = doc.rasters.get(kind)
                digest = doc.raster_hashes.get(kind)
                if arr is not None and (kind in dirty or digest is None):
                    writes.append((doc, kind, np.array(arr, copy=True)))
                elif arr is None and kind in dirty:
                    deletes.append((doc, kind))
                elif digest is not None:
                    carried.append((doc.name, kind, digest))
        for name, entry in self._saved.items():
            carried += [(name, kind, digest) for kind, digest in entry.rasters.items()]
        images = {name: entry_to_json(e) for name, e in self._saved.items()}
        for doc in self._docs.values():
            if doc.worth_saving:
                images[doc.name] = doc.to_json()
            else:
                images.pop(doc.name, None)
        data = {"format": STATE_FORMAT, "version": STATE_VERSION, "folder": str(self.folder),
                "current": self.current_name, "images": images}
        return _SavePlan((self.primary_state_path, fallback_state_path(self.folder)), old_root,
                         writes, deletes, carried, data)

    def _finish(self, plan: _SavePlan) -> bool:
        """Take a save's outcome on the GUI thread: the hashes the state file now names, or
        (failed) the rasters marked for the next save again and the failure signalled."""
        if plan.error is None and plan.target is not None:
            self.state_path = plan.target
            for doc, kind, _ in plan.writes:
                digest = plan.digests.get((doc.name, kind))
                if digest is not None and kind in doc.rasters:
                    doc.saved_as(kind, digest, plan.keys.get((doc.name, kind)))
            return True
        for doc, kind, _ in plan.writes:
            doc.mark_unsaved(kind)
        for doc, kind in plan.deletes:
            doc.mark_unsaved(kind)
        msg = plan.error or "state not saved"
        log.warning(msg)
        self.save_failed.emit(msg)
        return False

    def raster(self, row: int, kind: str, shape: tuple[int, int]) -> np.ndarray | None:
        """Raster ``kind`` of image ``row``: in memory, else the saved one (loaded once), else
        None. A saved raster that cannot be used (changed, wrong size) is named in the log and
        in :attr:`load_problems`, and dropped."""
        doc = self.doc(row)
        arr = doc.rasters.get(kind)
        if arr is not None:
            if tuple(arr.shape) == tuple(shape):
                return arr
            return None
        digest = doc.raster_hashes.get(kind)
        if digest is None or self.state_path is None:
            return None
        try:
            arr = RasterStore(raster_folder(self.state_path)).load(doc.name, kind, shape, digest)
        except RasterStoreError as exc:
            message = str(exc)
            if exc.path is not None:             # damaged or not fitting: kept aside, named
                kept = keep_aside(exc.path)
                if kept is not None:
                    message += f"; the file was kept as {kept.name}"
            log.warning("%s", message)
            self.load_problems.append(message)
            doc.forget_saved(kind)
            self.raster_problem.emit(message)
            return None
        doc.share_raster(kind, arr)
        return arr

    # -- docs -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.paths)

    def row_of(self, path: Path) -> int:
        return self._rows.get(Path(path), -1)

    def has_doc(self, row: int) -> bool:
        return row in self._docs

    def doc(self, row: int) -> ImageDoc:
        d = self._docs.get(row)
        if d is None:
            d = ImageDoc(self.paths[row], self.default_params, self)
            saved = self._saved.pop(self.paths[row].name, None)
            if saved is not None:
                d.load_entry(saved)
            d.row = row
            d.changed.connect(self._on_doc_signal)
            d.stack_moved.connect(self._on_doc_stack_moved)
            self._docs[row] = d
        return d

    def saved_entry(self, row: int) -> ImageEntry | None:
        """The saved state of an image not opened yet (for the file list), else None."""
        return self._saved.get(self.paths[row].name)

    @QtCore.Slot()
    def _on_doc_signal(self, *_args: Any) -> None:
        doc = self.sender()
        if isinstance(doc, ImageDoc):
            self.schedule_save()
            self.doc_changed.emit(doc.row)

    @QtCore.Slot()
    def _on_doc_stack_moved(self) -> None:
        doc = self.sender()
        if isinstance(doc, ImageDoc):
            self.doc_changed.emit(doc.row)

    def set_current(self, row: int) -> None:
        self.current_name = self.paths[row].name if 0 <= row < len(self.paths) else None
        if self.state_path is not None:
            self.schedule_save()

    def set_output_dir(self, folder: Path) -> None:
        """Exports go to ``folder`` from now on (saved with the state)."""
        self.output_dir = folder
        self.schedule_save()

    def mark_exported(self, row: int, key: str) -> None:
        self.doc(row).set_exported(key, time.time())
        self.schedule_save()
        self.doc_changed.emit(row)
