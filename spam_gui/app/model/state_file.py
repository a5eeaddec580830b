"""The folder's autosaved state file: its schema, a validating reader (no Qt).

``<output>/.spam_state.json`` holds, per image name, what the user chose::

    {"format": "spam-studio-state", "version": 1, "folder": "...", "saved_at": 1.7e9,
     "current": "photo.jpg",
     "images": {"photo.jpg": {"params": {...}, "ratios": {"3": 2.0},
                              "prompts": [[[x, y, 1], ...], ...], "params_touched": true,
                              "exported": "<state key>", "exported_at": 1.7e9,
                              "image_sha256": "<hash of the pixels last shown>",
                              "rasters": {"objects": "<sha256 of the PNG>", ...},
                              "raster_keys": {"objects": "<sha256 of the values>", ...}}}}

``rasters`` names the per-image maps kept beside the file (edited objects, classes, instances;
:mod:`spam_gui.app.model.raster_store`) by the hash of their bytes; ``raster_keys`` gives the
hash of their values (:func:`~spam_gui.app.model.raster_store.raster_key`), which keys an edited
object map's segmentation whether the map is in memory or only on disk (a file written before
``raster_keys`` existed is keyed by its ``rasters`` hash until it is loaded).

:func:`read_state_file` never raises on what the file contains: a file that cannot be used at
all (not JSON, another format, nested too deep) is moved aside to
``.spam_state.json.broken-<time>``; a file with some bad entries is copied there first, so
nothing the user had is lost when the valid part is saved again. Every problem is returned in
words for the user.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spam_gui.app.model.doc_data import Params, Prompt, normalise_ratio
from spam_gui.app.model.raster_store import RASTER_KINDS

log = logging.getLogger(__name__)

STATE_FILE_NAME = ".spam_state.json"
STATE_FORMAT = "spam-studio-state"
STATE_VERSION = 1
MAX_STATE_BYTES = 256 * 1024**2
MAX_PROMPTS = 1024


@dataclass(frozen=True)
class ImageEntry:
    """The validated saved state of one image."""

    params: dict[str, Any] = field(default_factory=dict)
    ratios: dict[int, float] = field(default_factory=dict)
    prompts: tuple[Prompt, ...] = ()
    params_touched: bool = False
    exported: str | None = None
    exported_at: float | None = None
    image_sha256: str | None = None
    rasters: dict[str, str] = field(default_factory=dict)   # kind -> sha256 of its PNG
    raster_keys: dict[str, str] = field(default_factory=dict)   # kind -> raster_key (content)

    def params_for(self, base: Params) -> Params:
        return Params.from_dict(self.params, base)

    @property
    def edited(self) -> bool:
        return bool(self.ratios) or bool(self.prompts) or self.params_touched or bool(self.rasters)


@dataclass
class LoadedState:
    """What :func:`read_state_file` could use, and what it could not (``problems``)."""

    images: dict[str, ImageEntry] = field(default_factory=dict)
    current: str | None = None
    problems: list[str] = field(default_factory=list)
    backup: Path | None = None     # where the original file was moved or copied, if anywhere
    usable: bool = False           # the file was a state file (maybe with bad entries dropped)


def validate_entry(name: str, raw: Any) -> tuple[ImageEntry | None, list[str]]:
    """An :class:`ImageEntry` from the JSON of one image; bad fields are dropped and named."""
    if not isinstance(raw, dict):
        return None, [f"{name}: the entry is not an object; ignored"]
    problems: list[str] = []
    params = raw.get("params", {})
    if not isinstance(params, dict):
        problems.append(f"{name}: 'params' is not an object; defaults used")
        params = {}
    else:
        bad = Params().bad_fields(params)
        if bad:
            problems.append(f"{name}: bad value(s) in 'params' ({', '.join(bad)}); defaults used")
        params = {k: v for k, v in params.items() if k not in bad}
    ratios: dict[int, float] = {}
    r = raw.get("ratios", {})
    if isinstance(r, dict):
        for k, v in r.items():
            try:
                oid = int(k)
            except (TypeError, ValueError):
                oid = -1
            if (oid < 0 or isinstance(v, bool) or not isinstance(v, (int, float))
                    or not math.isfinite(v) or v <= 0):
                problems.append(f"{name}: bad entry in 'ratios' ({k!r}: {v!r}); ignored")
                continue
            ratios[oid] = normalise_ratio(v)
    else:
        problems.append(f"{name}: 'ratios' is not a mapping of object id to ratio; ignored")
    prompts: list[Prompt] = []
    q = raw.get("prompts", [])
    if isinstance(q, list) and len(q) <= MAX_PROMPTS:
        for i, p in enumerate(q):
            try:
                prompts.append(Prompt.from_json(p))
            except ValueError as exc:
                problems.append(f"{name}: 'prompts' entry {i + 1} ignored ({exc})")
    else:
        problems.append(f"{name}: 'prompts' is not a list of prompts; ignored")
    touched = raw.get("params_touched", False)
    if not isinstance(touched, bool):
        problems.append(f"{name}: 'params_touched' is not true or false; ignored")
        touched = False
    exported = raw.get("exported")
    exported_at = raw.get("exported_at")
    if exported is not None and not isinstance(exported, str):
        problems.append(f"{name}: 'exported' is not a state key; ignored")
        exported = None
    if exported_at is not None and (isinstance(exported_at, bool)
                                    or not isinstance(exported_at, (int, float))
                                    or not math.isfinite(exported_at)):
        exported_at = None
    sha = raw.get("image_sha256")
    if sha is not None and not (isinstance(sha, str) and len(sha) == 64):
        problems.append(f"{name}: 'image_sha256' is not a sha256; ignored")
        sha = None
    rasters = _digests(raw, "rasters", RASTER_KINDS, name, problems)
    keys = _digests(raw, "raster_keys", rasters, name, problems)   # only of rasters it names
    entry = ImageEntry(params=params, ratios=ratios, prompts=tuple(prompts),
                       params_touched=touched, exported=exported or None,
                       exported_at=float(exported_at) if exported_at is not None else None,
                       image_sha256=sha, rasters=rasters, raster_keys=keys)
    return entry, problems


def read_state_file(path: str | os.PathLike[str]) -> LoadedState:
    """Read and validate a state file; see the module docstring. Never raises on content."""
    p = Path(path)
    out = LoadedState()
    try:
        if p.stat().st_size > MAX_STATE_BYTES:
            raise ValueError(f"larger than {MAX_STATE_BYTES >> 20} MB")
        data = json.loads(p.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        return out
    except OSError as exc:
        out.problems.append(f"{p}: cannot be read ({exc.strerror or exc}); work not restored")
        return out
    except RecursionError:
        return _set_aside(p, out, "it is nested too deeply to be a state file")
    except UnicodeDecodeError:
        return _set_aside(p, out, "it is not text")
    except ValueError as exc:
        return _set_aside(p, out, f"it is not valid JSON ({exc})")
    if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
        return _set_aside(p, out, "it is not a SPAM Studio state file")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version > STATE_VERSION:
        return _set_aside(p, out, f"its version {version!r} is not one this app reads "
                          f"(up to {STATE_VERSION})")
    images = data.get("images", {})
    if not isinstance(images, dict):
        return _set_aside(p, out, "its 'images' entry is not an object")
    out.usable = True
    for name, raw in images.items():
        entry, problems = validate_entry(str(name), raw)
        out.problems.extend(problems)
        if entry is not None:
            out.images[str(name)] = entry
    current = data.get("current")
    out.current = current if isinstance(current, str) else None
    if out.problems:
        out.backup = _backup_path(p)
        try:
            shutil.copy2(p, out.backup)
        except OSError as exc:
            log.warning("%s: no backup of the state file (%s)", p, exc)
            out.backup = None
    return out


def _backup_path(p: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    cand = p.with_name(f"{p.name}.broken-{stamp}")
    n = 1
    while cand.exists():
        n += 1
        cand = p.with_name(f"{p.name}.broken-{stamp}-{n}")
    return cand


def _set_aside(p: Path, out: LoadedState, why: str) -> LoadedState:
    """Move an unusable state file out of the way (kept for the user) and say so."""
    target = _backup_path(p)
    try:
        os.replace(p, target)
        out.backup = target
        out.problems.append(f"{p}: {why}; moved aside to {target.name}, work not restored")
    except OSError as exc:
        out.problems.append(f"{p}: {why}, and it could not be moved aside "
                            f"({exc.strerror or exc}); work not restored")
    return out


def _digests(raw: dict[str, Any], field_name: str, kinds: Any, name: str,
             problems: list[str]) -> dict[str, str]:
    """The ``{kind: sha256}`` mapping ``raw[field_name]`` with only the kinds in ``kinds``;
    every entry left out is said in ``problems``."""
    out: dict[str, str] = {}
    given = raw.get(field_name, {})
    if not isinstance(given, dict):
        problems.append(f"{name}: '{field_name}' is not a mapping of kind to sha256; ignored")
        return out
    for kind, digest in given.items():
        if kind in kinds and isinstance(digest, str) and len(digest) == 64:
            out[kind] = digest
        else:
            problems.append(f"{name}: bad entry in '{field_name}' ({kind!r}); ignored")
    return out


def entry_to_json(entry: ImageEntry) -> dict[str, Any]:
    """The JSON of a validated entry (what :func:`validate_entry` reads back unchanged)."""
    d: dict[str, Any] = {"params": dict(entry.params)}
    if entry.ratios:
        d["ratios"] = {str(k): v for k, v in sorted(entry.ratios.items())}
    if entry.prompts:
        d["prompts"] = [p.to_json() for p in entry.prompts]
    if entry.params_touched:
        d["params_touched"] = True
    if entry.exported:
        d["exported"] = entry.exported
        d["exported_at"] = entry.exported_at
    if entry.image_sha256:
        d["image_sha256"] = entry.image_sha256
    if entry.rasters:
        d["rasters"] = dict(sorted(entry.rasters.items()))
    keys = {k: v for k, v in entry.raster_keys.items() if k in entry.rasters}
    if keys:
        d["raster_keys"] = dict(sorted(keys.items()))
    return d
