"""Every test session gets a cache folder of its own (the disk caches of SAM, saliency and
the built-in prior's hierarchies never touch the user's, nor carry over between runs)."""

from __future__ import annotations

import os
import shutil
import tempfile


def pytest_configure(config) -> None:  # noqa: ARG001 - pytest's hook signature
    if "SPAM_CACHE_DIR" not in os.environ:
        folder = tempfile.mkdtemp(prefix="spam-test-cache-")
        os.environ["SPAM_CACHE_DIR"] = folder
        config._spam_cache_dir = folder


def pytest_unconfigure(config) -> None:
    folder = getattr(config, "_spam_cache_dir", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop("SPAM_CACHE_DIR", None)
