"""The engine's compiled kernels (:mod:`spam_gui.core.engine.cluster_kernels`, numba), loaded once
and only when first asked for, and the threads they run on.

Every user of the kernels (clustering, seeds, smoothing, connectivity, the encoder's upsampling,
the full-resolution labelling) asks :func:`kernels`; None means numba is missing and the torch
paths are used. No numba at import time.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor


def kernels():
    """The compiled kernels (:mod:`spam_gui.core.engine.cluster_kernels`), or None when numba is not
    installed (the torch paths are used then)."""
    global _KERNELS
    if _KERNELS is False:
        try:
            from spam_gui.core.engine import cluster_kernels
        except ImportError:  # pragma: no cover  (numba is a dependency; this is a safety net)
            _KERNELS = None
        else:
            _KERNELS = cluster_kernels
    return _KERNELS


_KERNELS: object = False
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def worker_pool() -> ThreadPoolExecutor:
    """The threads the compiled kernels run on (they release the GIL); created once."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="spam-cluster")
        return _POOL
