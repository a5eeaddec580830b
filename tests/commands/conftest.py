"""Shared fixtures of the command tests (``spam segment | prior | saliency | eval | train``)."""

from tests.core.conftest import _one_thread  # noqa: F401  (one PyTorch thread, as the core tests)
