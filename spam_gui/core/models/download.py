"""Download a registry model when the user asks: resumable, verified, never half-installed.

:func:`download_model` fetches ``spec.url`` (or a mirror given by the user) with the standard
library's :mod:`urllib` into ``<folder>/<file name>.part``:

* an interrupted download is resumed with an HTTP ``Range`` request from the bytes already in
  the ``.part`` file (a server that ignores the range sends the whole file again, and the part
  is restarted); a connection that drops mid-way is resumed at once, ``retries`` times;
* the finished file is checked against the registry (size where it is known, then the
  published checksum) *before* it takes its final name, by an atomic rename;
* a file that fails the check is deleted: nothing is ever left where the app would load it,
  and a damaged file already at the final name is removed before a new download;
* ``progress(done, total, phase)`` reports bytes (``phase`` is ``"download"`` or ``"verify"``;
  ``total`` may be None), ``cancelled()`` is polled between blocks: a cancelled download keeps
  its ``.part`` for the next try and raises :class:`DownloadCancelled`;
* an unreachable server (offline, refused, HTTP error) raises :class:`NetworkError` whose
  message names the URL to fetch by hand and where to put the file.

Nothing here runs unless called, and nothing calls it without the user asking. No Qt.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from spam_gui.core.errors import SpamError
from spam_gui.core.models.registry import ModelSpec, format_size, installed_path, partial_path

__all__ = ["ChecksumError", "DownloadBusyError", "DownloadCancelled", "DownloadError",
           "DownloadResult", "NetworkError", "VerifyResult", "download_model", "file_digest",
           "manual_hint", "verify_file"]

ProgressFn = Callable[[int, "int | None", str], None]
CancelFn = Callable[[], bool]

CHUNK = 1 << 20
LOCK_SUFFIX = ".lock"


class DownloadError(SpamError):
    """A model could not be downloaded; the message says why and what to do."""


class NetworkError(DownloadError):
    """The server could not be reached or refused the file (offline, DNS, refused connection,
    an HTTP error, a connection that kept dropping); the message names the URL to fetch by
    hand and where to put the file."""


class ChecksumError(DownloadError):
    """The downloaded file is not the published one (wrong size or checksum); it was deleted."""


class DownloadBusyError(DownloadError):
    """Another download of the same model (another window, another ``spam``) is running."""


class DownloadCancelled(Exception):
    """The user cancelled; the ``.part`` file is kept, so the next download resumes."""


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    downloaded: int          # bytes fetched by this call
    resumed_from: int        # bytes already there when it started (0: a fresh download)
    already_installed: bool  # the verified file was there already, nothing fetched


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    path: Path
    reason: str              # "" when ok, else why it is refused, in words
    digest: str | None = None


def manual_hint(spec: ModelSpec, url: str, final: Path) -> str:
    """How to install ``spec`` by hand."""
    return (f"To install it by hand, download {url} and save it as {final} (or anywhere, then "
            f"choose it as the {spec.kind.upper()} checkpoint in Preferences → Models or give "
            "its path on the command line)")


# ---------------------------------------------------------------------------------------------
# Verification
# ---------------------------------------------------------------------------------------------


def file_digest(path: str | os.PathLike[str], algorithm: str = "sha256",
                progress: ProgressFn | None = None, cancelled: CancelFn | None = None,
                chunk: int = CHUNK) -> str:
    """Hex digest of a file (``hashlib`` algorithm), with progress and cancel checks
    (:func:`spam_gui.core.io.cache.hash_file` does the hashing)."""
    from spam_gui.core.io.cache import hash_file

    def check() -> None:
        if cancelled is not None and cancelled():
            raise DownloadCancelled(f"{path}: verification cancelled")

    report = None if progress is None else (lambda done, total: progress(done, total, "verify"))
    return hash_file(path, chunk, algorithm=algorithm, check=check, progress=report)


def verify_file(spec: ModelSpec, path: str | os.PathLike[str],
                progress: ProgressFn | None = None,
                cancelled: CancelFn | None = None) -> VerifyResult:
    """Check a file against the registry entry: its size where known, then the published
    checksum (or, for an entry without one, the size alone)."""
    p = Path(path)
    if not p.is_file():
        return VerifyResult(False, p, "no such file")
    size = p.stat().st_size
    if spec.size is not None and size != spec.size:
        return VerifyResult(False, p, f"{size} bytes where the published file has {spec.size}")
    if size == 0:
        return VerifyResult(False, p, "the file is empty")
    if spec.checksum is None:
        return VerifyResult(True, p, "")
    digest = file_digest(p, spec.checksum.algorithm, progress, cancelled)
    if not spec.checksum.matches(digest):
        return VerifyResult(False, p, f"its {spec.checksum.algorithm} is {digest}, the published "
                                      f"one {'starts ' if spec.checksum.prefix else 'is '}"
                                      f"{spec.checksum.value} ({spec.checksum.source})", digest)
    return VerifyResult(True, p, "", digest)


# ---------------------------------------------------------------------------------------------
# A lock per file: one download of a model at a time
# ---------------------------------------------------------------------------------------------


class _FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.held = False

    def acquire(self) -> "_FileLock":
        from spam_gui.core.io.locking import pid_alive

        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    pid = int(json.loads(self.path.read_text(encoding="utf-8"))["pid"])
                except (OSError, ValueError, KeyError, TypeError):
                    pid = -1
                if pid > 0 and pid_alive(pid):
                    raise DownloadBusyError(
                        f"{self.path.with_suffix('')}: another download of this model is "
                        f"running (process {pid}); wait for it or cancel it") from None
                try:
                    self.path.unlink()   # left by a process that is gone
                except FileNotFoundError:
                    pass
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"pid": os.getpid()}, fh)
            self.held = True
            return self
        raise DownloadBusyError(f"{self.path}: cannot take the download lock")

    def release(self) -> None:
        if self.held:
            self.held = False
            try:
                self.path.unlink()
            except OSError:
                pass


# ---------------------------------------------------------------------------------------------
# Download
# ---------------------------------------------------------------------------------------------

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.I)


class _Dropped(Exception):
    """The connection ended before the whole file came."""


def _user_agent() -> str:
    try:
        from spam_gui import __version__
    except ImportError:  # pragma: no cover
        __version__ = "?"
    return f"spam-studio/{__version__} (python-urllib)"


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc or url


def _reason(exc: BaseException) -> str:
    r = getattr(exc, "reason", None) or exc
    if isinstance(r, OSError) and r.strerror:
        return r.strerror
    return str(r) or type(r).__name__


def download_model(spec: ModelSpec, folder: str | os.PathLike[str] | None = None,
                   url: str | None = None, *, progress: ProgressFn | None = None,
                   cancelled: CancelFn | None = None, timeout: float = 30.0, retries: int = 3,
                   chunk: int = CHUNK) -> DownloadResult:
    """Download ``spec`` into ``folder`` (default :func:`models_dir`) and verify it.

    Parameters
    ----------
    spec:
        The registry entry (:func:`spam_gui.core.models.registry.find_model`).
    folder:
        Where the file goes (created if needed); the app looks in :func:`models_dir`.
    url:
        A mirror to fetch from instead of ``spec.url``; the file is checked against the
        registry all the same.
    progress:
        ``progress(done, total, phase)``: bytes so far (counting a resumed part), the total
        (None when unknown), ``"download"`` or ``"verify"``.
    cancelled:
        Polled between blocks; True stops the download (:class:`DownloadCancelled`, the
        ``.part`` file kept for the next try).
    timeout:
        Seconds to wait for the server (to connect, and for each block).
    retries:
        How many times a dropped connection is resumed at once before giving up.

    Returns
    -------
    DownloadResult
        The verified file's path and what was fetched.

    Raises
    ------
    NetworkError
        Offline, unreachable, an HTTP error, a connection that kept dropping (the part is
        kept); the message names the URL to fetch by hand and where to put the file.
    ChecksumError
        The file came whole but is not the published one; it was deleted.
    DownloadBusyError
        Another download of the same model is running.
    DownloadCancelled
        ``cancelled()`` said so.
    DownloadError
        The folder cannot be written (the message names it).
    """
    src = url or spec.url
    final = installed_path(spec, folder)
    part = partial_path(spec, final.parent)
    hint = manual_hint(spec, src, final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"{final.parent}: cannot create the models folder "
                            f"({exc.strerror or exc})") from None
    lock = _FileLock(final.with_name(final.name + LOCK_SUFFIX))
    try:
        lock.acquire()
    except OSError as exc:
        raise DownloadError(f"{final.parent}: cannot write in the models folder "
                            f"({exc.strerror or exc})") from None
    try:
        if final.exists():
            check = verify_file(spec, final, progress, cancelled)
            if check.ok:
                return DownloadResult(final, 0, 0, True)
            final.unlink()   # a damaged file never stays where the app would load it
        start = part.stat().st_size if part.exists() else 0
        if spec.size is not None and start > spec.size:
            part.unlink()
            start = 0
        _check_space(spec, final.parent, start)
        fetched = _fetch(src, part, spec, hint, progress, cancelled, timeout, retries, chunk)
        check = verify_file(spec, part, progress, cancelled)
        if not check.ok:
            part.unlink()
            raise ChecksumError(f"{src}: the downloaded file is not {spec.title} ({check.reason}); "
                                "it was deleted. " + (
                                    "The mirror may hold another file. " if url else "") +
                                "Try again later, or " + hint[0].lower() + hint[1:] + ".")
        os.replace(part, final)
        return DownloadResult(final, fetched, start, False)
    finally:
        lock.release()


def _check_space(spec: ModelSpec, folder: Path, have: int) -> None:
    need = spec.shown_size - have
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if need > free:
        raise DownloadError(f"{folder}: not enough free space for {spec.title} "
                            f"({format_size(need)} needed, {format_size(free)} free)")


def _open(url: str, offset: int, timeout: float):  # noqa: ANN202 - an http.client response
    req = urllib.request.Request(url, headers={"User-Agent": _user_agent(),
                                               "Accept-Encoding": "identity"})
    if offset:
        req.add_header("Range", f"bytes={offset}-")
    return urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 - the user's URL


def _fetch(url: str, part: Path, spec: ModelSpec, hint: str, progress: ProgressFn | None,
           cancelled: CancelFn | None, timeout: float, retries: int, chunk: int) -> int:
    """Fill ``part`` with the whole file; the bytes fetched by this call."""
    fetched = 0
    drops = 0
    restarted = False
    while True:
        offset = part.stat().st_size if part.exists() else 0
        try:
            resp = _open(url, offset, timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:
                # the range starts at or past the end: the part is complete, or stale
                m = re.search(r"/(\d+)", exc.headers.get("Content-Range", "") or "")
                if m and int(m.group(1)) == offset:
                    return fetched
                if not restarted:
                    restarted = True
                    part.unlink()
                    continue
            raise NetworkError(f"{url}: the server answered HTTP {exc.code} "
                               f"({exc.reason}). {hint}.") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise NetworkError(f"cannot download {spec.title}: {_host(url)} cannot be reached "
                               f"({_reason(exc)}); are you offline? {hint}.") from None
        try:
            total, start = _response_span(resp, offset)
            if start != offset and start == 0:
                offset = 0   # the whole file again (no range support): restart the part
            elif start != offset:                  # another range than asked: start over
                if restarted:
                    raise NetworkError(f"{url}: the server does not answer range requests "
                                       f"consistently. {hint}.")
                restarted = True
                part.unlink(missing_ok=True)
                continue
            if (spec.size is not None and total is not None and total != spec.size):
                part.unlink(missing_ok=True)
                raise ChecksumError(f"{url}: the server offers {total} bytes where "
                                    f"{spec.title} has {spec.size}; nothing was kept. {hint}.")
            try:
                fetched += _stream(resp, part, offset, total, progress, cancelled, chunk)
                return fetched
            except _Dropped as exc:
                fetched += exc.args[0]
                drops += 1
                if drops > retries:
                    have = part.stat().st_size if part.exists() else 0
                    raise NetworkError(
                        f"{url}: the connection dropped {drops} times (last after "
                        f"{format_size(have)}{' of ' + format_size(total) if total else ''}); "
                        f"what came is kept in {part} and the next download resumes from "
                        f"there. {hint}.") from None
        finally:
            resp.close()


def _response_span(resp, offset: int) -> tuple[int | None, int]:  # noqa: ANN001
    """(the whole file's size or None, the first byte this response carries)."""
    status = getattr(resp, "status", None)
    length = resp.headers.get("Content-Length")
    length_n = int(length) if length and length.isdigit() else None
    if status == 206:
        m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", "") or "")
        if m:
            total = int(m.group(3)) if m.group(3).isdigit() else None
            return total, int(m.group(1))
        return None, offset if offset else 0
    return length_n, 0


def _stream(resp, part: Path, offset: int, total: int | None,  # noqa: ANN001
            progress: ProgressFn | None, cancelled: CancelFn | None, chunk: int) -> int:
    """Append the response to ``part`` from ``offset`` (truncating it there); bytes written.
    Raises :class:`_Dropped` (with the bytes written) when the connection ends early."""
    got = 0
    done = offset
    read = getattr(resp, "read1", None) or resp.read   # what has come, not a full block
    with open(part, "r+b" if offset and part.exists() else "wb") as fh:
        fh.seek(offset)
        fh.truncate()
        if progress is not None:
            progress(done, total, "download")
        while True:
            if cancelled is not None and cancelled():
                fh.flush()
                raise DownloadCancelled(f"{part}: download cancelled; "
                                        "the next download resumes from here")
            try:
                block = read(chunk)
            except (http.client.IncompleteRead, ConnectionError, TimeoutError,
                    socket.timeout, OSError, http.client.HTTPException) as exc:
                if isinstance(exc, http.client.IncompleteRead) and exc.partial:
                    fh.write(exc.partial)
                    got += len(exc.partial)
                fh.flush()
                raise _Dropped(got) from None
            if not block:
                break
            fh.write(block)
            got += len(block)
            done += len(block)
            if progress is not None:
                progress(done, total, "download")
        fh.flush()
        os.fsync(fh.fileno())
    if total is not None and done < total:
        raise _Dropped(got)
    return got
