"""File sets of a batch job (``spam prior``, ``spam saliency``): data files and their JSON
sidecar written as one set (:func:`write_file_set`, the sidecar last, recording every file's
sha256) and read back only when complete and unchanged (:func:`verify_file_set`,
:class:`FileSetError`).

No Qt here; no torch at import time.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any, Mapping

from spam_gui.core.io.cache import hash_file
from spam_gui.core.errors import SpamError


class FileSetError(SpamError):
    """A prior or saliency output set is missing, partial or changed; names the file."""


# ----------------------------------------------------------------------------- file sets

MAX_SIDECAR_BYTES = 64 * 1024**2
"""The largest sidecar a resume check reads."""
MAX_SET_FILE_BYTES = 8 * 1024**3
"""The largest data file of an output set a resume check hashes."""


def output_file_problem(folder: str | os.PathLike[str], name: object,
                        max_bytes: int) -> str | None:
    """Why ``folder / name`` is not a file a resume check may read, or None: ``name`` must be
    a plain file name (no folder part, no ``..``, not absolute), naming a regular file (not a
    link, a device, a pipe or a folder) of at most ``max_bytes`` bytes inside ``folder``. A
    sidecar can then never make a rerun open a file elsewhere, or read ``/dev/zero``
    forever."""
    if not isinstance(name, str) or not name or "\0" in name:
        return "names no file"
    if name in (".", "..") or "/" in name or "\\" in name or os.path.isabs(name):
        return f"names {name!r}, which is not a file of the output folder"
    path = Path(folder) / name
    try:
        st = os.lstat(path)
    except OSError:
        return "missing"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file (a link, a device, a pipe or a folder)"
    if st.st_size > max_bytes:
        return f"{st.st_size} bytes, more than the {max_bytes} a resume check reads"
    return None



def write_file_set(out_dir: str | os.PathLike[str], files: Mapping[str, tuple[str, bytes]],
                   sidecar_name: str, doc: dict[str, Any]) -> dict[str, Path]:
    """Write data files and their sidecar as one set: everything is staged to temporary
    files first (a full disk fails before anything is replaced), the data files are renamed
    into place, the sidecar last, recording each data file's name and sha256 under
    ``"files"`` (read back with :func:`verify_file_set`).

    Parameters
    ----------
    out_dir:
        The output folder.
    files:
        ``{key: (file name, bytes)}``.
    sidecar_name:
        The sidecar's file name (JSON).
    doc:
        The sidecar's content (``"files"`` is added).

    Returns
    -------
    dict
        ``{key: path}``, with ``"sidecar"``.

    Raises
    ------
    spam_gui.core.io.images.FileWriteError
        A file could not be written; names it, ``errno`` says why.
    """
    from spam_gui.core.io.images import StagedFiles

    d = Path(out_dir)
    doc = dict(doc)
    doc["files"] = {key: {"name": name, "sha256": hashlib.sha256(data).hexdigest()}
                    for key, (name, data) in files.items()}
    side = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    with StagedFiles() as staged:
        paths = {key: staged.add(d / name, data) for key, (name, data) in files.items()}
        paths["sidecar"] = staged.add(d / sidecar_name, side)   # the sidecar last
    return paths


def verify_file_set(out_dir: str | os.PathLike[str], sidecar_name: str, *,
                    expect: Mapping[str, str] | None = None, sidecar_format: str | None = None,
                    error: type[SpamError] = FileSetError, redo: str = "") -> dict[str, Any]:
    """The sidecar of a set written by :func:`write_file_set`, after checking that every file
    it lists exists with the recorded sha256: the one output-set verifier (the export's
    :func:`spam_gui.core.formats.export.verify_output_set` is this with its expectations).

    Parameters
    ----------
    out_dir, sidecar_name:
        The folder and the sidecar's file name.
    expect:
        ``{key: file name}`` the sidecar's ``"files"`` must describe (and only those are
        checked); by default every entry it has.
    sidecar_format:
        The sidecar's ``"format"``, when it must have one.
    error:
        The exception raised (a :class:`SpamError`).
    redo:
        Advice added to the messages of an incomplete or mixed set (e.g. ``"export again"``).

    Raises
    ------
    FileSetError (or ``error``)
        No sidecar, an unreadable one, one without ``"files"``, or a file missing or changed
        (an interrupted run, an edited file); the message names the file.
    """
    d = Path(out_dir)
    side = d / sidecar_name
    problem = output_file_problem(d, sidecar_name, MAX_SIDECAR_BYTES)
    if problem == "missing":
        there = [name for name in (expect or {}).values() if (d / name).exists()]
        hint = (f" ({', '.join(there)} without it: an export was interrupted; {redo})"
                if there else "")
        raise error(f"{side}: no sidecar, so no complete output set for "
                    f"{Path(sidecar_name).stem!r}{hint}")
    if problem:
        raise error(f"{side}: not used as a sidecar: {problem}")
    try:
        doc = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise error(f"{side}: not a readable sidecar ({exc})") from None
    if sidecar_format is not None and (not isinstance(doc, dict)
                                       or doc.get("format") != sidecar_format):
        raise error(f"{side}: not a {sidecar_format} sidecar")
    files = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(files, dict) or not (files or expect):
        older = (f" (format version {doc.get('format_version')}, an older version's export)"
                 if sidecar_format is not None else "")
        raise error(f"{side}: records no file hashes{older}; the set cannot be verified"
                    + (f": {redo}" if redo else ""))
    if expect is not None:
        entries = []
        for key, name in expect.items():
            entry = files.get(key)
            if not isinstance(entry, dict) or entry.get("name") != name \
                    or not isinstance(entry.get("sha256"), str):
                raise error(f"{side}: its 'files' entry does not describe {name}")
            entries.append(entry)
    else:
        entries = list(files.values())
    again = f" ({redo})" if redo else ""
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise error(f"{side}: a 'files' entry names no file")
        path = d / entry["name"]
        problem = output_file_problem(d, entry["name"], MAX_SET_FILE_BYTES)
        if problem == "missing":
            raise error(f"{path}: missing; {side.name} belongs to an incomplete set{again}")
        if problem:
            raise error(f"{side}: its 'files' entry {entry['name']!r} is not read: {problem}")
        try:
            digest = hash_file(path)
        except OSError as exc:
            raise error(f"{path}: cannot be read ({exc.strerror or exc})") from None
        if digest != entry.get("sha256"):
            mixed = (": the set is mixed (an export stopped between files, or the file was "
                     f"changed); {redo}") if redo else ""
            raise error(f"{path}: does not match its sidecar {side.name} (sha256 differs){mixed}")
    return doc
