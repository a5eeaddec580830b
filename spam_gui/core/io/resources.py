"""The files shipped with SPAM Studio (the encoder, the built-in prior's edge model, the sample
set, the icons): the one place that finds them.

The project's top-level ``resources/`` folder is their source. A build maps it into the package
as ``spam_gui/_resources`` (``setup.py``: ``package_dir``; ``packaging/spam-studio.spec``:
``datas``), so :func:`importlib.resources.files` finds the same names everywhere:

=============================================  =================================================
a wheel / ``pip install .`` / the sdist        ``<site-packages>/spam_gui/_resources/<name>``
a PyInstaller build                            ``<bundle>/_internal/spam_gui/_resources/<name>``
a source tree, ``pip install -e .``            ``<checkout>/resources/<name>``
=============================================  =================================================

A shipped file that is not there is a broken installation, never something to work around:
:func:`resource_path` raises :class:`MissingResourceError` (a
:class:`~spam_gui.core.errors.SpamError`) naming the resource, where it was looked for and how to
repair the installation. The files must be on the file system (torch, numpy and Qt read them by
path): an installation imported from a zip archive is reported the same way.

>>> from spam_gui.core.io.resources import resource_path
>>> resource_path("models/spam_encoder_d20.pt").name
'spam_encoder_d20.pt'

No Qt, no torch here.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from spam_gui.core.errors import SpamError

__all__ = [
    "PACKAGE",
    "PACKAGED_DIR",
    "SHIPPED_RESOURCES",
    "SOURCE_DIR",
    "MissingResourceError",
    "missing_resources",
    "resource_path",
    "resources_dir",
]

PACKAGE = "spam_gui"
PACKAGED_DIR = "_resources"
"""Where an installed package holds the files: ``spam_gui/_resources``."""
SOURCE_DIR = "resources"
"""Where a source tree holds them: ``resources/`` beside the ``spam_gui`` package."""

SHIPPED_RESOURCES: tuple[str, ...] = (
    "models/spam_encoder_d20.pt",
    "models/spam_encoder_d20.md",
    "models/builtin_prior_edges.npz",
    "models/builtin_prior_edges.md",
    "samples/README.md",
    "samples/coffee.jpg",
    "samples/priors/coffee.png",
    "icons/spam-studio.svg",
    "icons/spam-studio-256.png",
)
"""Files every installation has (a wheel, an sdist, a frozen build): checked by the packaging
tests and :func:`missing_resources`."""

REPAIR_HINT = ("reinstall SPAM Studio (`pip install --force-reinstall --no-deps` its wheel or "
               "source folder; in a source checkout, `git checkout -- resources`)")


class MissingResourceError(SpamError):
    """A file SPAM Studio ships is missing: a broken installation. The message names the
    resource and where it was looked for; :attr:`name` is the resource, :attr:`path` the path."""

    def __init__(self, name: str, path: str | Path | None, why: str = "") -> None:
        self.name = name
        self.path = None if path is None else Path(path)
        where = f"{self.path}: " if self.path is not None else ""
        why = f" ({why})" if why else ""
        super().__init__(f"{where}the shipped resource {name!r} is missing from this "
                         f"installation of SPAM Studio{why}; {REPAIR_HINT}")


def _package_root() -> Path | None:
    """The ``spam_gui`` package's folder through :mod:`importlib.resources` (None when it is not
    a folder on the file system, e.g. inside a zip archive)."""
    root = importlib.resources.files(PACKAGE)
    return root if isinstance(root, Path) else None


def resources_dir() -> Path:
    """The folder holding the shipped files: ``spam_gui/_resources`` in an installed package or
    a frozen build, else ``resources/`` beside the package (a source tree, an editable install).

    Raises :class:`MissingResourceError` when neither exists.
    """
    root = _package_root()
    if root is None:
        raise MissingResourceError(
            SOURCE_DIR, None, f"the {PACKAGE} package is not a folder on the file system")
    packaged = root / PACKAGED_DIR
    if packaged.is_dir():
        return packaged
    source = root.parent / SOURCE_DIR
    if source.is_dir():
        return source
    raise MissingResourceError(SOURCE_DIR, packaged, f"neither {packaged} nor {source} exists")


def _parts(name: str | tuple[str, ...]) -> tuple[str, ...]:
    parts = tuple(p for n in ((name,) if isinstance(name, str) else name)
                  for p in n.replace("\\", "/").split("/") if p)
    if not parts or any(p in (".", "..") for p in parts):
        raise ValueError(f"not a resource name: {name!r}")
    return parts


def resource_path(*name: str) -> Path:
    """The path of the shipped file or folder ``name`` (``"models/builtin_prior_edges.npz"``,
    or its parts: ``resource_path("models", "builtin_prior_edges.npz")``).

    Raises :class:`MissingResourceError` naming it when it is not there.
    """
    parts = _parts(name)
    label = "/".join(parts)
    path = resources_dir().joinpath(*parts)
    if not path.exists():
        raise MissingResourceError(label, path)
    return path


def missing_resources(names: tuple[str, ...] = SHIPPED_RESOURCES) -> list[str]:
    """The names among ``names`` (default: every :data:`SHIPPED_RESOURCES`) that this
    installation lacks; empty when it is complete."""
    missing = []
    for n in names:
        try:
            resource_path(n)
        except MissingResourceError:
            missing.append(n)
    return missing
