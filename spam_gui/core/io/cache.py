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
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from spam_gui.core.env import ENV_CACHE_DIR
from spam_gui.core.io.images import atomic_write_bytes

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 2 * 1024**3
DEFAULT_MAX_INFLATE = 256 * 1024**2
"""The most the arrays of one cache entry may inflate to unless the caller says more
(:meth:`DiskCache.get_arrays` ``max_bytes``)."""


def read_npz_bounded(data: bytes, max_bytes: int) -> dict[str, np.ndarray]:
    """The arrays of an npz archive held in ``data``, refusing (``ValueError``, in our words)
    an archive whose members would inflate past ``max_bytes`` in all, an array whose header
    does not match its data, and object arrays. Sizes are checked from the zip directory and
    each array's header before its data is read."""
    if data[:2] != b"PK":
        raise ValueError("not an archive of named arrays")
    out: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
        total = sum(int(i.file_size) for i in infos)
        if total > max_bytes:
            raise ValueError(f"its arrays would inflate to {total} bytes, more than the "
                             f"{max_bytes} allowed")
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise ValueError(f"member {info.filename!r} is not an array")
            with zf.open(info) as fh:
                head = fh.read(min(int(info.file_size), 65536 + 16))
                f = io.BytesIO(head)
                version = np.lib.format.read_magic(f)
                reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                          else np.lib.format.read_array_header_2_0)
                shape, _fortran, dtype = reader(f)
                if dtype.hasobject:
                    raise ValueError(f"array {info.filename[:-4]!r} holds Python objects")
                n = 1
                for d in shape:
                    n *= int(d)
                if n * dtype.itemsize != int(info.file_size) - f.tell():
                    raise ValueError(f"array {info.filename[:-4]!r}: its header does not "
                                     "match its data")
                raw = head + fh.read()
            out[info.filename[:-4]] = np.lib.format.read_array(io.BytesIO(raw),
                                                               allow_pickle=False)
    return out


def check_map(arrays: dict[str, np.ndarray], name: str, shape: tuple[int, ...],
              kind: str = "int") -> np.ndarray:
    """``arrays[name]`` if it has ``shape`` and is an integer map without negative values
    (``kind="int"``) or a finite real map (``kind="float"``); else ``ValueError`` naming
    the problem (for the ``check`` of :meth:`DiskCache.get_arrays`)."""
    a = arrays[name]
    if tuple(a.shape) != tuple(shape):
        raise ValueError(f"{name} is {tuple(a.shape)}, expected {tuple(shape)}")
    if kind == "int":
        if not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"{name} holds {a.dtype}, not integers")
        if a.size and a.min() < 0:
            raise ValueError(f"{name} holds negative ids")
    else:
        if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
            raise ValueError(f"{name} holds {a.dtype}, not numbers")
        if a.size and not np.isfinite(a).all():
            raise ValueError(f"{name} holds NaN or infinite values")
    return a


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
    h.update(memoryview(arr.reshape(-1)).cast("B"))   # the bytes, without a copy
    return h.hexdigest()


def hash_file(path: str | os.PathLike[str], chunk: int = 1 << 20, *, algorithm: str = "sha256",
              check: Callable[[], None] | None = None,
              progress: Callable[[int, int], None] | None = None) -> str:
    """The hex digest of a file's bytes (``hashlib`` ``algorithm``, sha256 by default), read in
    chunks: the one function that hashes files (:func:`hash_file_cached` memoises it).

    ``check()`` is called before each read (it may raise, e.g. to cancel) and
    ``progress(done, total)`` after each block.
    """
    h = hashlib.new(algorithm)
    total = os.path.getsize(path) if progress is not None else 0
    done = 0
    with open(path, "rb") as fh:
        while True:
            if check is not None:
                check()
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
            done += len(block)
            if progress is not None:
                progress(done, total)
    return h.hexdigest()


_file_hash_memo: dict[tuple[str, int, int], str] = {}
_memo_lock = threading.Lock()


def hash_file_cached(path: str | os.PathLike[str], disk: DiskCache | None = None) -> str:
    """sha256 of a file (:func:`hash_file`), memoised in memory on (path, size, mtime) so
    large checkpoints hash once, and with ``disk`` also on disk (a 2.5 GB SAM checkpoint is
    then read once, not on every run). A damaged disk entry is dropped and the file hashed again.
    """
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    disk_key = make_key("file-sha256", *key) if disk is not None else ""
    if disk is not None:
        got = disk.get(disk_key)
        if got is not None:
            if len(got) == 64 and all(c in b"0123456789abcdef" for c in got):
                return got.decode("ascii")
            # a damaged entry (not 64 hex digits): dropped, the file is hashed again
            log.warning("bad cache entry %s/%s dropped, it will be recomputed (not a sha256)",
                        disk.dir.name, disk_key)
            disk.delete(disk_key)
    with _memo_lock:
        digest = _file_hash_memo.get(key)
    if digest is None:
        digest = hash_file(p)
        with _memo_lock:
            _file_hash_memo[key] = digest
    if disk is not None:
        disk.put(disk_key, digest.encode("ascii"))
    return digest


class ModelCache:
    """The one in-process cache of loaded models (engines, SAM, DINO, the edge model...): at
    most ``size`` kept, the least recently used dropped first, each loaded once per key.

    Parameters
    ----------
    size:
        How many models are kept.
    room_first:
        Drop the oldest before loading a new one (so no more than ``size`` are ever alive,
        for large models), rather than after.
    """

    def __init__(self, size: int = 4, *, room_first: bool = False) -> None:
        self.size = int(size)
        self.room_first = bool(room_first)
        self._items: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.RLock()
        self._loads: dict[str, int] = {}

    def get(self, role: str, key: tuple[Any, ...], load: Callable[[], Any]) -> Any:
        """The model of ``role`` stored under ``key``, loaded with ``load()`` the first time
        (its exceptions, e.g. a bad checkpoint, reach the caller and nothing is kept)."""
        full = (role, *key)
        with self._lock:
            if full in self._items:
                self._items.move_to_end(full)
                return self._items[full]
            if self.room_first:
                while self._items and len(self._items) >= self.size:
                    self._items.popitem(last=False)
            model = load()
            self._items[full] = model
            self._loads[role] = self._loads.get(role, 0) + 1
            while len(self._items) > self.size:
                self._items.popitem(last=False)
            return model

    def loads(self) -> dict[str, int]:
        """How many times a model of each role was loaded."""
        with self._lock:
            return dict(self._loads)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


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

    def get_arrays(self, key: str, required: Iterable[str] = (),
                   check: Callable[[dict[str, np.ndarray]], None] | None = None,
                   max_bytes: int | None = None) -> dict[str, np.ndarray] | None:
        """Arrays stored by :meth:`put_arrays`, or None (a miss).

        A bad entry is deleted and treated as a miss, so that the caller recomputes and stores
        it again: truncated, garbage, not an npz, without every name in ``required``, whose
        arrays would inflate past ``max_bytes`` (:data:`DEFAULT_MAX_INFLATE` when None; the
        sizes are read from the archive's and the arrays' headers before anything is
        decompressed), or refused by ``check`` (the caller's test of what it holds: types,
        shapes, values; it raises ``ValueError`` naming the problem). Nothing is unpickled
        (``allow_pickle=False``, object arrays refused).
        """
        data = self.get(key)
        if data is None:
            return None
        limit = DEFAULT_MAX_INFLATE if max_bytes is None else int(max_bytes)
        try:
            arrays = read_npz_bounded(data, limit)
            missing = [name for name in required if name not in arrays]
            if missing:
                raise ValueError("without " + ", ".join(missing))
            if check is not None:
                check(arrays)
        except (OSError, ValueError, EOFError, KeyError, TypeError, IndexError, zipfile.BadZipFile,
                zlib.error, MemoryError, UnicodeDecodeError) as exc:
            # np.load raises all of these for truncated or garbage data
            log.warning("bad cache entry %s/%s dropped, it will be recomputed (%s)",
                        self.dir.name, key, exc)
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
