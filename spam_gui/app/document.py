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
import time
from dataclasses import asdict, dataclass, fields, replace
from enum import Enum
from pathlib import Path
from typing import Any

from spam_gui.app.qt import QtCore, QtGui
from spam_gui.core.image_io import IMAGE_EXTENSIONS, atomic_write_bytes

log = logging.getLogger(__name__)

STATE_FILE_NAME = ".spam_state.json"
STATE_FORMAT = "spam-studio-state"
STATE_VERSION = 1
OUTPUT_DIR_NAME = "spam_labels"


# ----------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class Params:
    """Segmentation parameters of one image (SPEC §2-§4, VA §3)."""

    n_segments: int = 400
    lambda_s: float = 7.5
    lambda_c: float = 0.26
    n_iter: int = 10
    smoothing: int = 1
    va: bool = False
    attention_ratio: float = 2.5
    ratio_mode: str = "local"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, base: "Params | None" = None) -> "Params":
        """Parameters from JSON; unknown keys are ignored, bad values fall back to ``base``."""
        base = base or cls()
        if not isinstance(data, dict):
            return base
        kw: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            v = data[f.name]
            default = getattr(base, f.name)
            try:
                if isinstance(default, bool):
                    kw[f.name] = bool(v)
                elif isinstance(default, int):
                    kw[f.name] = int(v)
                elif isinstance(default, float):
                    kw[f.name] = float(v)
                else:
                    kw[f.name] = str(v)
            except (TypeError, ValueError):
                continue
        p = replace(base, **kw)
        return p.clamped()

    def clamped(self) -> "Params":
        return replace(
            self,
            n_segments=min(max(self.n_segments, 1), 65535),
            lambda_s=min(max(self.lambda_s, 0.0), 1000.0),
            lambda_c=min(max(self.lambda_c, 0.0), 1000.0),
            n_iter=min(max(self.n_iter, 0), 100),
            smoothing=min(max(self.smoothing, 0), 5),
            attention_ratio=min(max(self.attention_ratio, 0.01), 100.0),
            ratio_mode=self.ratio_mode if self.ratio_mode in ("local", "keep-total") else "local",
        )


@dataclass(frozen=True)
class Prompt:
    """One SAM prompt object: positive / negative clicks (x, y, 1 or 0) that make one mask."""

    points: tuple[tuple[int, int, int], ...]

    def to_json(self) -> list[list[int]]:
        return [list(p) for p in self.points]

    @classmethod
    def from_json(cls, data: Any) -> "Prompt":
        return cls(tuple((int(x), int(y), 1 if int(lab) else 0) for x, y, lab in data))


def normalise_ratio(r: float) -> float:
    return float(min(max(float(r), 1.0 / 64.0), 64.0))


# ----------------------------------------------------------------------------- state


class DocState(str, Enum):
    NOT_COMPUTED = "not computed"
    PRIOR_READY = "prior ready"
    SUPERPIXELS_READY = "superpixels ready"
    EDITED = "edited"
    EXPORTED = "exported"
    ERROR = "error"


def state_key(params: Params, ratios: dict[int, float], prompts: tuple[Prompt, ...]) -> str:
    """A short hash of everything per-image that a segmentation depends on."""
    text = json.dumps(
        {
            "p": params.to_dict(),
            "r": sorted((int(k), round(float(v), 6)) for k, v in ratios.items()
                        if abs(float(v) - 1.0) > 1e-9),
            "q": [pr.to_json() for pr in prompts],
        },
        sort_keys=True,
    )
    return hashlib.sha1(text.encode()).hexdigest()[:16]


class ImageDoc(QtCore.QObject):
    """One image's editable state. ``changed(kind, detail)`` fires after every change.

    ``kind`` is ``"ratio"`` (detail: the object id), ``"ratios"``, ``"params"`` or ``"prompts"``.
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
        self.undo_stack = QtGui.QUndoStack(self)
        self.row = -1

    def _on_stack_index(self, _index: int) -> None:
        self.stack_moved.emit()

    # -- identity / state ------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.path.name

    def key(self) -> str:
        return state_key(self.params, self.ratios, self.prompts)

    @property
    def edited(self) -> bool:
        return bool(self.ratios) or bool(self.prompts) or self.params_touched

    def ratio(self, object_id: int) -> float:
        return self.ratios.get(int(object_id), 1.0)

    # -- mutations (called by undo commands only) -------------------------------------------
    def _set_ratio(self, object_id: int, ratio: float) -> None:
        oid = int(object_id)
        if abs(ratio - 1.0) < 1e-9:
            self.ratios.pop(oid, None)
        else:
            self.ratios[oid] = float(ratio)
        self.changed.emit("ratio", oid)

    def _set_ratios(self, ratios: dict[int, float]) -> None:
        self.ratios = {int(k): float(v) for k, v in ratios.items() if abs(v - 1.0) > 1e-9}
        self.changed.emit("ratios", None)

    def _set_params(self, params: Params, touched: bool) -> None:
        self.params = params
        self.params_touched = touched
        self.changed.emit("params", None)

    def _set_prompts(self, prompts: tuple[Prompt, ...], ratios: dict[int, float]) -> None:
        self.prompts = tuple(prompts)
        self.ratios = dict(ratios)
        self.changed.emit("prompts", None)

    # -- persistence ----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"params": self.params.to_dict()}
        if self.ratios:
            d["ratios"] = {str(k): v for k, v in sorted(self.ratios.items())}
        if self.prompts:
            d["prompts"] = [p.to_json() for p in self.prompts]
        if self.params_touched:
            d["params_touched"] = True
        if self.exported_key:
            d["exported"] = self.exported_key
            d["exported_at"] = self.exported_at
        return d

    def load_json(self, data: dict[str, Any]) -> None:
        self.params = Params.from_dict(data.get("params"), self.params)
        ratios = {}
        for k, v in (data.get("ratios") or {}).items():
            try:
                ratios[int(k)] = normalise_ratio(float(v))
            except (TypeError, ValueError):
                continue
        self.ratios = ratios
        try:
            self.prompts = tuple(Prompt.from_json(p) for p in data.get("prompts") or [])
        except (TypeError, ValueError):
            self.prompts = ()
        self.params_touched = bool(data.get("params_touched", False))
        self.exported_key = data.get("exported") or None
        self.exported_at = data.get("exported_at")

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
        self.doc._set_ratio(self.oid, self.new)

    def undo(self) -> None:
        self.doc._set_ratio(self.oid, self.old)


class ResetRatiosCommand(QtGui.QUndoCommand):
    def __init__(self, doc: ImageDoc) -> None:
        super().__init__("reset all ratios")
        self.doc, self.old = doc, dict(doc.ratios)

    def redo(self) -> None:
        self.doc._set_ratios({})

    def undo(self) -> None:
        self.doc._set_ratios(self.old)


class SetParamsCommand(QtGui.QUndoCommand):
    def __init__(self, doc: ImageDoc, params: Params) -> None:
        self.doc = doc
        self.old, self.new = doc.params, params
        self.old_touched = doc.params_touched
        changed = [f.name for f in fields(Params) if getattr(self.old, f.name) != getattr(params, f.name)]
        super().__init__("parameters: " + ", ".join(changed))

    def redo(self) -> None:
        self.doc._set_params(self.new, True)

    def undo(self) -> None:
        self.doc._set_params(self.old, self.old_touched)


class SetPromptsCommand(QtGui.QUndoCommand):
    """Add or remove SAM prompt objects. Ratios are reset with the prior (object ids change)."""

    def __init__(self, doc: ImageDoc, prompts: tuple[Prompt, ...], text: str) -> None:
        super().__init__(text)
        self.doc = doc
        self.old, self.new = doc.prompts, tuple(prompts)
        self.old_ratios = dict(doc.ratios)

    def redo(self) -> None:
        # Prompt objects get new ids, other objects keep theirs (prior.merge_mask): keep ratios.
        self.doc._set_prompts(self.new, self.old_ratios)

    def undo(self) -> None:
        self.doc._set_prompts(self.old, self.old_ratios)


# ----------------------------------------------------------------------------- folder


def list_images(folder: Path) -> list[Path]:
    """Image files of a folder, in natural name order (names only: no pixel is read, and no
    file is opened, so a folder of thousands of images lists in milliseconds)."""
    names = []
    try:
        with os.scandir(folder) as it:
            for e in it:
                if e.name.startswith(".") or os.path.splitext(e.name)[1].lower() not in IMAGE_EXTENSIONS:
                    continue
                try:
                    if not e.is_symlink() and not e.is_file():   # d_type: no stat needed
                        continue
                except OSError:
                    continue
                names.append(e.name)
    except OSError as exc:
        raise OSError(f"{folder}: cannot list the folder ({exc.strerror or exc})") from exc
    names.sort(key=_natural_key)
    base = Path(folder)
    return [base / n for n in names]


_DIGITS = __import__("re").compile(r"(\d+)")


def _natural_key(name: str) -> list[Any]:
    return [int(t) if t.isdigit() else t.lower() for t in _DIGITS.split(name)]


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

    def __init__(self, folder: Path, paths: list[Path], output_dir: Path, default_params: Params,
                 parent: QtCore.QObject | None = None, autosave_ms: int = 300) -> None:
        super().__init__(parent)
        self.folder = Path(folder)
        self.paths = list(paths)
        self.output_dir = Path(output_dir)
        self.default_params = default_params
        self._rows = {p: i for i, p in enumerate(self.paths)}
        self._docs: dict[int, ImageDoc] = {}
        self._saved: dict[str, Any] = {}          # raw entries for images not yet opened
        self.current_name: str | None = None
        self.state_path: Path | None = None
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(autosave_ms)
        self._timer.timeout.connect(self.save_now)
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
        try:
            data = json.loads(best[1].read_text(encoding="utf-8"))
            if data.get("format") != STATE_FORMAT:
                raise ValueError("not a SPAM Studio state file")
            images = data.get("images") or {}
            if not isinstance(images, dict):
                raise ValueError("bad 'images' entry")
            self._saved = images
            self.current_name = data.get("current")
            self.state_path = best[1]
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("%s: state not restored (%s)", best[1], exc)

    def schedule_save(self) -> None:
        self._timer.start()

    def save_now(self) -> bool:
        """Write the state file now (atomically). Returns False and signals when it fails."""
        self._timer.stop()
        images = dict(self._saved)
        for doc in self._docs.values():
            if doc.worth_saving:
                images[doc.name] = doc.to_json()
            else:
                images.pop(doc.name, None)
        if not images and self.state_path is None:
            return True  # nothing to save, and nothing saved before: do not create folders
        data = {
            "format": STATE_FORMAT, "version": STATE_VERSION, "folder": str(self.folder),
            "saved_at": time.time(), "current": self.current_name, "images": images,
        }
        payload = json.dumps(data, indent=1, sort_keys=True).encode()
        errors = []
        for target in (self.primary_state_path, fallback_state_path(self.folder)):
            try:
                atomic_write_bytes(target, payload)
                self.state_path = target
                return True
            except OSError as exc:
                errors.append(str(exc))
        msg = "state not saved: " + "; ".join(errors)
        log.warning(msg)
        self.save_failed.emit(msg)
        return False

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
            if isinstance(saved, dict):
                try:
                    d.load_json(saved)
                except Exception as exc:  # noqa: BLE001 - a bad entry must not stop the app
                    log.warning("%s: saved state ignored (%s)", d.name, exc)
            d.row = row
            d.changed.connect(self._on_doc_signal)
            d.undo_stack.indexChanged.connect(d._on_stack_index)
            d.stack_moved.connect(self._on_doc_stack_moved)
            self._docs[row] = d
        return d

    def saved_entry(self, row: int) -> dict[str, Any] | None:
        """The saved state of an image not opened yet (for the file list), else None."""
        e = self._saved.get(self.paths[row].name)
        return e if isinstance(e, dict) else None

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

    def mark_exported(self, row: int, key: str) -> None:
        d = self.doc(row)
        d.exported_key = key
        d.exported_at = time.time()
        self.schedule_save()
        self.doc_changed.emit(row)
