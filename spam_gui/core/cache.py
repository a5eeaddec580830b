"""A content-addressed disk cache for expensive per-image results (SAM proposals, priors,
saliency maps).

Entries live in the user's cache folder (``$XDG_CACHE_HOME/spam-studio`` on Linux; override
with ``SPAM_CACHE_DIR``), one file per entry under a namespace, named by a key that hashes
everything the result depends on (image content, checkpoint, parameters). Writes are atomic;
a size cap evicts the least recently used entries. Failures to read or write the cache never
break the caller: a cache is an optimisation.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import threading
import zipfile
import zlib
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from spam_gui.core.env import ENV_CACHE_DIR
from spam_gui.core.image_io import atomic_write_bytes

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 2 * 1024**3


def default_cache_dir() -> Path:
    """The cache root: ``SPAM_CACHE_DIR`` if set, else the platform's user cache folder."""
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env)
    try:
        from platformdirs import user_cache_dir

        return Path(user_cache_dir("spam-studio", appauthor=False))
    except ImportError:  # pragma: no cover - platformdirs is a dependency
        base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        return Path(base) / "spam-studio"


def hash_array(array: np.ndarray) -> str:
    """sha256 of an array's shape, dtype and bytes (hex)."""
    arr = np.ascontiguousarray(array)
    h = hashlib.sha256()
    h.update(f"{arr.shape}|{arr.dtype.str}|".encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def hash_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes (hex), read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


_file_hash_memo: dict[tuple[str, int, int], str] = {}
_memo_lock = threading.Lock()


def hash_file_cached(path: str | os.PathLike[str]) -> str:
    """:func:`hash_file`, memoised on (path, size, mtime) so large checkpoints hash once."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    with _memo_lock:
        if key in _file_hash_memo:
            return _file_hash_memo[key]
    digest = hash_file(p)
    with _memo_lock:
        _file_hash_memo[key] = digest
    return digest


def make_key(*parts: Any) -> str:
    """A stable hex key from any JSON-serialisable parts (dict keys are sorted)."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:40]


class DiskCache:
    """A bounded, thread-safe key → bytes store on disk.

    Parameters
    ----------
    namespace:
        Sub-folder for one kind of entry (``"sam-proposals"``, ``"saliency"``, …).
    root:
        Cache root; :func:`default_cache_dir` when omitted.
    max_bytes:
        Size cap for the whole namespace; least recently used entries are evicted past it.
    """

    def __init__(self, namespace: str, root: str | os.PathLike[str] | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.dir = self.root / namespace
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()

    def _path(self, key: str) -> Path:
        if not key or any(c not in "0123456789abcdefABCDEF-_" for c in key):
            raise ValueError(f"invalid cache key {key!r}")
        return self.dir / key[:2] / f"{key}.bin"

    def get(self, key: str) -> bytes | None:
        """The bytes stored under ``key``, or None (missing or unreadable)."""
        p = self._path(key)
        try:
            data = p.read_bytes()
        except OSError:
            return None
        try:
            os.utime(p)  # mark as recently used
        except OSError:
            pass
        return data

    def put(self, key: str, data: bytes) -> bool:
        """Store ``data`` under ``key``; returns False (and logs) if the cache is not writable."""
        p = self._path(key)
        try:
            atomic_write_bytes(p, data)
        except OSError as exc:
            log.warning("cache not written (%s)", exc)
            return False
        self._evict()
        return True

    def get_arrays(self, key: str, required: Iterable[str] = ()) -> dict[str, np.ndarray] | None:
        """Arrays stored by :meth:`put_arrays`, or None (a miss).

        A bad entry (truncated, garbage, not an npz, or without every name in ``required``) is
        deleted and treated as a miss, so that the caller recomputes and stores it again.
        Nothing is unpickled (``allow_pickle=False``).
        """
        data = self.get(key)
        if data is None:
            return None
        try:
            loaded = np.load(io.BytesIO(data), allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):  # a bare .npy array
                raise ValueError("not an archive of named arrays")
            with loaded as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, EOFError, KeyError, TypeError, zipfile.BadZipFile,
                zlib.error) as exc:
            # np.load raises all of these for truncated or garbage data
            log.warning("corrupt cache entry %s/%s dropped (%s: %s)", self.dir.name, key,
                        type(exc).__name__, exc)
            self.delete(key)
            return None
        missing = [name for name in required if name not in arrays]
        if missing:
            log.warning("cache entry %s/%s without %s dropped", self.dir.name, key,
                        ", ".join(missing))
            self.delete(key)
            return None
        return arrays

    def put_arrays(self, key: str, **arrays: np.ndarray) -> bool:
        """Store named arrays (compressed npz)."""
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return self.put(key, buf.getvalue())

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except OSError:
            pass

    def entries(self) -> list[Path]:
        return list(self.dir.glob("*/*.bin")) if self.dir.is_dir() else []

    def clear(self) -> None:
        for p in self.entries():
            try:
                p.unlink()
            except OSError:
                pass

    def _evict(self) -> None:
        with self._lock:
            stats = []
            for p in self.entries():
                try:
                    st = p.stat()
                except OSError:
                    continue
                stats.append((st.st_mtime, st.st_size, p))
            total = sum(s for _, s, _ in stats)
            if total <= self.max_bytes:
                return
            for _, size, p in sorted(stats, key=lambda t: t[0]):
                try:
                    p.unlink()
                except OSError:
                    continue
                total -= size
                if total <= self.max_bytes:
                    break
