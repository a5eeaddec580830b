"""A lock file that keeps two writers out of one output folder.

``spam segment`` (and, later, the app's export) takes :class:`FolderLock` on its output folder
before writing anything: ``<folder>/.spam_segment.lock`` is created with ``O_CREAT | O_EXCL``
and holds the owner's pid, host name and program as JSON. A second writer is refused with a
:class:`FolderLockedError` that names the folder and the other process. A lock left by a
process that is gone (same host, pid no longer running) is taken over. The lock is removed
when the ``with`` block ends, whatever the reason (error, ``KeyboardInterrupt``). No Qt here.
"""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from spam_gui.core.errors import SpamError
from spam_gui.core.io.images import FileWriteError

LOCK_NAME = ".spam_segment.lock"

# A lock file that cannot be parsed may be one being written this instant by its owner; one that
# is still unparseable after this many seconds is a leftover and is taken over.
_UNREADABLE_GRACE_S = 10.0


class FolderLockedError(SpamError, RuntimeError):
    """Another process holds the folder's lock; the message names the folder and the process."""

    def __init__(self, message: str, folder: Path, owner: dict[str, Any] | None) -> None:
        super().__init__(message)
        self.folder = folder
        self.owner = owner


def _host() -> str:
    return socket.gethostname()


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this host (``os.kill(pid, 0)``)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # it exists, it is someone else's
        return True
    except OSError:
        return False
    return True


def _describe(owner: dict[str, Any] | None) -> str:
    if not owner:
        return "another process (its lock file is unreadable)"
    prog = owner.get("program") or "another process"
    when = f", since {owner['started']}" if owner.get("started") else ""
    return f"{prog} (pid {owner.get('pid')} on {owner.get('host')}{when})"


class FolderLock:
    """An exclusive lock on an output folder, as a context manager.

    Parameters
    ----------
    folder:
        The output folder; it must exist (create it first).
    program:
        Who takes the lock, recorded in the file and shown to a refused second writer.
    name:
        The lock file's name inside ``folder``.

    Raises
    ------
    FolderLockedError
        From :meth:`acquire` (or ``with``): a live process holds the lock.
    OSError
        The lock file cannot be created (read-only folder...).
    """

    def __init__(self, folder: str | os.PathLike[str], program: str = "spam segment",
                 name: str = LOCK_NAME) -> None:
        self.folder = Path(folder)
        self.path = self.folder / name
        self.program = program
        self._token: str | None = None
        self.took_over: dict[str, Any] | None = None   # the stale owner, when taken over

    @property
    def held(self) -> bool:
        return self._token is not None

    def _read_owner(self) -> tuple[str | None, dict[str, Any] | None]:
        """(raw text, parsed owner) of the lock file; (None, None) when it is gone."""
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None, None
        except (OSError, UnicodeDecodeError):
            return "", None
        try:
            owner = json.loads(raw)
        except ValueError:
            return raw, None
        return raw, owner if isinstance(owner, dict) else None

    def _is_stale(self, owner: dict[str, Any] | None) -> bool:
        if owner is None:
            try:
                age = time.time() - self.path.stat().st_mtime
            except OSError:
                return True
            return age > _UNREADABLE_GRACE_S
        try:
            pid = int(owner.get("pid"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return True
        return owner.get("host") == _host() and not pid_alive(pid)

    def acquire(self) -> "FolderLock":
        """Take the lock, or raise :class:`FolderLockedError` naming the holder."""
        if self.held:
            return self
        info = {"pid": os.getpid(), "host": _host(), "program": self.program,
                "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        token = json.dumps(info)
        for _ in range(5):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                fd = -1
            except OSError as exc:
                raise self._write_error(exc) from None
            if fd < 0:
                raw, owner = self._read_owner()
                if raw is None:
                    continue            # released meanwhile: try again
                if not self._is_stale(owner):
                    raise FolderLockedError(
                        f"{self.folder}: {_describe(owner)} is writing into this folder; wait "
                        f"for it to finish (or, if it is not running, remove {self.path})",
                        self.folder, owner) from None
                # stale: remove it only if it is still the file we judged (not a new owner's)
                if self._read_owner()[0] == raw:
                    try:
                        self.path.unlink()
                    except FileNotFoundError:
                        pass
                    self.took_over = owner or {}
                continue
            try:
                os.write(fd, token.encode("utf-8"))
            except OSError as exc:
                os.close(fd)
                self.path.unlink(missing_ok=True)
                raise self._write_error(exc) from None
            os.close(fd)
            self._token = token
            return self
        raise FolderLockedError(f"{self.folder}: cannot take the lock {self.path} (it keeps "
                                "changing hands)", self.folder, None)

    def _write_error(self, exc: OSError) -> FileWriteError:
        """The lock file could not be written: our words, the folder named, errno kept."""
        err = FileWriteError(f"{self.folder}: cannot write into the output folder "
                             f"({exc.strerror or exc})")
        err.errno = exc.errno
        return err

    def release(self) -> None:
        """Remove the lock file if it is still this lock's."""
        if self._token is None:
            return
        try:
            raw, _ = self._read_owner()
            if raw == self._token:
                self.path.unlink()
        except OSError:
            pass
        finally:
            self._token = None

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
