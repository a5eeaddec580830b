"""Kept for imports written before :mod:`spam_gui.core.io.resources`, which finds every shipped file
(and raises :class:`~spam_gui.core.io.resources.MissingResourceError` for a missing one)."""

from spam_gui.core.io.resources import MissingResourceError, resource_path, resources_dir

__all__ = ["MissingResourceError", "resource_path", "resources_dir"]
