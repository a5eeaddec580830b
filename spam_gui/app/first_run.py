"""What ``spam-gui`` opens when it is told nothing: the bundled sample set (no Qt here).

For :mod:`spam_gui.app.main`: a ``--sample`` flag and the first launch (no path given, no recent
folder) open the user copy of the sample set, whose prior maps lie in ``<folder>/priors`` — the
folder the app's "folder of prior maps" source reads by default. Suggested use in ``main()``::

    p.add_argument("--sample", action="store_true", help=SAMPLE_HELP)
    ...
    target = startup_target(args.path, settings.recent_folders, sample=args.sample,
                            restore=not args.no_restore)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

log = logging.getLogger(__name__)

SAMPLE_HELP = ("open the bundled sample photos (copied at first run into the user data folder, "
               "with their prior maps in priors/)")


def sample_target() -> Path:
    """The user-writable sample folder (copied on the first call); its priors are in ``priors/``."""
    from spam_gui.samples import sample_folder

    return sample_folder()


def startup_target(path: str | None, recent_folders: Iterable[str], *, sample: bool = False,
                   restore: bool = True) -> str | None:
    """The folder or image to open at start-up.

    ``--sample`` wins; then an explicit ``path``; then (when ``restore``) the first recent folder
    that still exists; with no recent folder at all (first launch) the sample set. Returns None
    when nothing should be opened, or when the sample set cannot be copied (logged).
    """
    if not sample:
        if path:
            return path
        if not restore:
            return None
        recent = [f for f in recent_folders if f]
        existing = [f for f in recent if Path(f).is_dir()]
        if existing:
            return existing[0]
        if recent:        # the user has used the app before: do not push the samples on them
            return None
    from spam_gui.samples import SampleError

    try:
        return str(sample_target())
    except SampleError as exc:
        log.warning("%s", exc)
        return None
