"""The bundled sample set: a few photos with prior maps, copied to a user-writable folder.

``resources/samples/`` (in the source tree or inside a frozen build) holds the photos, their
prior object maps in ``priors/<stem>.png`` and a README with their sources and licences. The app
writes ``spam_labels/`` beside the images it opens, so the first call of :func:`sample_folder`
copies the set into the user data folder (``platformdirs.user_data_path("spam-studio")/samples``,
e.g. ``~/.local/share/spam-studio/samples`` on Linux; ``$SPAM_DATA_DIR/samples`` when that
variable is set) and later calls reuse that copy. Files the user deleted are copied again; files
already there are never overwritten, so edits and exports survive. No Qt here.

>>> from spam_gui.samples import sample_folder
>>> folder = sample_folder()                     # doctest: +SKIP
>>> sorted(p.name for p in folder.glob("*.jpg"))  # doctest: +SKIP
['astronaut.jpg', 'coffee.jpg', 'immunohistochemistry.jpg', 'rocket.jpg']
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from spam_gui.core.env import user_data_dir
from spam_gui.core.errors import SpamError
from spam_gui.core.io.resources import MissingResourceError, resource_path

PRIORS_SUBDIR = "priors"


class SampleError(OSError, SpamError):
    """The bundled sample set is missing or cannot be copied; the message names the folder.
    A :class:`~spam_gui.core.errors.SpamError`, still an OSError."""


def bundled_samples_dir() -> Path:
    """The read-only sample set shipped with the program (``resources/samples``).

    Raises :class:`~spam_gui.core.io.resources.MissingResourceError` when this installation lacks it.
    """
    return resource_path("samples")


def _sample_files(src: Path) -> list[Path]:
    """Files of the sample set, relative to ``src``: images, README, priors (no subfolders else)."""
    files = [p for p in src.iterdir() if p.is_file()]
    pri = src / PRIORS_SUBDIR
    if pri.is_dir():
        files += [p for p in pri.iterdir() if p.is_file()]
    return sorted(p.relative_to(src) for p in files)


def sample_images(folder: str | os.PathLike[str] | None = None) -> list[Path]:
    """The images of a sample folder (default: the bundled one), sorted by name."""
    from spam_gui.core.io.images import list_images

    return list_images([Path(folder) if folder is not None else bundled_samples_dir()])


def sample_folder(dest: str | os.PathLike[str] | None = None) -> Path:
    """Return a user-writable copy of the bundled sample set, copying it there first if needed.

    ``dest`` is the folder to hold the copy (default ``user_data_dir() / "samples"``). Missing
    files are copied (``priors/<stem>.png`` too); existing ones are left as they are. Raises
    :class:`SampleError` when the bundled set is missing or the copy fails.
    """
    try:
        src = bundled_samples_dir()
    except MissingResourceError as exc:
        raise SampleError(str(exc)) from None
    if not src.is_dir():
        raise SampleError(f"{src}: the bundled sample set is missing from this installation")
    target = Path(dest).expanduser() if dest is not None else user_data_dir() / "samples"
    try:
        for rel in _sample_files(src):
            out = target / rel
            if out.exists():
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(f".{out.name}.part")
            shutil.copyfile(src / rel, tmp)
            os.replace(tmp, out)
    except OSError as exc:
        raise SampleError(f"{target}: cannot copy the sample set there ({exc.strerror or exc})") from exc
    return target


def sample_prior_folder(folder: str | os.PathLike[str] | None = None) -> Path:
    """The prior-map folder of a sample folder (``<folder>/priors``; default: the user copy)."""
    return (Path(folder) if folder is not None else sample_folder()) / PRIORS_SUBDIR


if __name__ == "__main__":  # ``python -m spam_gui.samples`` prints the folder (used by run.sh)
    print(sample_folder())
