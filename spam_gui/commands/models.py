"""``spam models``: the models SPAM Studio can download on request.

    spam models list [--dir DIR]
    spam models download NAME [--url URL] [--dir DIR] [--no-progress]
    spam models verify [NAME ...] [--dir DIR]

``list`` works offline: it names each model, what it is, its size, licence, whether it is
installed and where. ``download`` fetches one from its official URL (or ``--url``, a mirror)
into the user data folder (or ``--dir``), resuming an interrupted download, and keeps it only if
it matches the published checksum. ``verify`` checks installed files against the registry.
Nothing is downloaded unless asked. Exit codes: 0 done, 2 an unknown model name or unusable
folder, 1 a download or check that failed (offline, refused file), 130 interrupted (the partial
download is kept and resumed next time).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from spam_gui.core.errors import EXIT_OK

NAME = "models"
HELP = "list, download (on request) and verify the SAM and DINO models"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="models_action", metavar="ACTION")
    ls = sub.add_parser("list", help="the models: what each is, size, licence, installed or not "
                                     "and where (offline)")
    _add_dir(ls)
    dl = sub.add_parser("download", help="download a model (resumes an interrupted download; "
                                         "kept only if it matches the published checksum)")
    dl.add_argument("name", metavar="NAME", help="the model (see `spam models list`)")
    dl.add_argument("--url", default=None,
                    help="fetch from this URL (a mirror, a local copy as file://...) instead of "
                         "the official one; the file is checked against the registry all the "
                         "same")
    _add_dir(dl)
    dl.add_argument("--no-progress", action="store_true", help="no progress bar")
    vf = sub.add_parser("verify", help="check installed models against their published "
                                       "checksums")
    vf.add_argument("names", nargs="*", metavar="NAME",
                    help="the models to check (default: every installed one)")
    _add_dir(vf)


def _add_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", type=Path, default=None, metavar="DIR",
                   help="the models folder (default: the user data folder's models/)")


def _err(msg: object) -> None:
    print(f"error: {msg}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from spam_gui.core.errors import EXIT_USAGE

    action = getattr(args, "models_action", None)
    if action == "list":
        return _list(args)
    if action == "download":
        return _download(args)
    if action == "verify":
        return _verify(args)
    _err("give an action: spam models list | download NAME | verify")
    return EXIT_USAGE


def _folder(args: argparse.Namespace) -> Path:
    from spam_gui.core.models import models_dir

    return Path(args.dir).expanduser() if args.dir is not None else models_dir()


def _status(spec, folder: Path) -> str:  # noqa: ANN001 - a ModelSpec
    from spam_gui.core.models import installed_path, partial_path

    if installed_path(spec, folder).is_file():
        return "installed"
    part = partial_path(spec, folder)
    if part.is_file():
        have = part.stat().st_size
        pct = f"{100 * have / spec.shown_size:.0f}%, " if spec.shown_size else ""
        return f"partly downloaded ({pct}resumes on the next download)"
    return "not installed"


def _list(args: argparse.Namespace) -> int:
    from spam_gui.core.models import all_models, format_size, installed_path

    folder = _folder(args)
    print(f"Models folder: {folder}")
    for spec in all_models():
        size = format_size(spec.shown_size) if spec.size is not None else \
            f"about {format_size(spec.approx_size)}"
        print(f"\n{spec.name:<12} {spec.title} · {size} · {spec.licence} · "
              f"{_status(spec, folder)}")
        print(f"    {spec.description}")
        print(f"    file: {installed_path(spec, folder)}")
        print(f"    from: {spec.url}")
        print(f"    checked: {spec.verification()}")
    print("\nDownload one with `spam models download NAME` (nothing is downloaded otherwise); "
          "the app's Preferences → Models does the same.")
    return EXIT_OK


class _Bar:
    """A tqdm byte bar per phase (download, verify) on stderr."""

    def __init__(self, disable: bool, title: str) -> None:
        self.disable = disable
        self.title = title
        self.bar = None
        self.phase = None

    def __call__(self, done: int, total: int | None, phase: str) -> None:
        if self.disable:
            return
        if self.bar is None or phase != self.phase:
            self.close()
            from tqdm import tqdm

            self.phase = phase
            desc = f"{'downloading' if phase == 'download' else 'verifying'} {self.title}"
            self.bar = tqdm(total=total, initial=done, unit="B", unit_scale=True,
                            unit_divisor=1024, desc=desc, file=sys.stderr)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _download(args: argparse.Namespace) -> int:
    from spam_gui.core.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE
    from spam_gui.core.models import (ChecksumError, DownloadBusyError, DownloadCancelled,
                                      DownloadError, NetworkError, UnknownModelError,
                                      download_model, find_model)

    try:
        spec = find_model(args.name)
    except UnknownModelError as exc:
        _err(exc)
        return EXIT_USAGE
    folder = _folder(args)
    bar = _Bar(args.no_progress, spec.title)
    try:
        result = download_model(spec, folder, args.url, progress=bar)
    except KeyboardInterrupt:
        bar.close()
        print(f"interrupted: the partial download is kept in {folder}; run the same command "
              "again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except DownloadCancelled as exc:  # pragma: no cover - the CLI has no cancel button
        bar.close()
        _err(exc)
        return EXIT_INTERRUPTED
    except (NetworkError, ChecksumError, DownloadBusyError) as exc:
        bar.close()
        _err(exc)
        return EXIT_FAILURE
    except DownloadError as exc:   # the folder cannot be used
        bar.close()
        _err(exc)
        return EXIT_USAGE
    bar.close()
    what = "already installed and verified" if result.already_installed else (
        "resumed, verified" if result.resumed_from else "downloaded, verified")
    option = "--sam-checkpoint" if spec.kind == "sam" else "--dino-checkpoint"
    print(f"{spec.title}: {what} ({spec.verification()})\n  {result.path}\n"
          f"Use it with `spam segment {option} {result.path}` or choose it in the app's "
          "Preferences → Models.")
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    from spam_gui.core.errors import EXIT_FAILURE, EXIT_USAGE
    from spam_gui.core.models import (UnknownModelError, all_models, find_model,
                                      installed_path, verify_file)

    folder = _folder(args)
    try:
        specs = [find_model(n) for n in args.names] if args.names else list(all_models())
    except UnknownModelError as exc:
        _err(exc)
        return EXIT_USAGE
    failed = checked = 0
    for spec in specs:
        path = installed_path(spec, folder)
        if not path.is_file():
            if args.names:
                print(f"{spec.name}: not installed ({path})")
                failed += 1
            continue
        checked += 1
        res = verify_file(spec, path)
        if res.ok:
            print(f"{spec.name}: OK ({spec.verification()})\n  {path}")
        else:
            failed += 1
            print(f"{spec.name}: FAILED, {res.reason}\n  {path}: do not use it; delete it and "
                  f"run `spam models download {spec.name}`")
    if not checked and not args.names:
        print(f"no models installed in {folder} (see `spam models list`)")
    return EXIT_FAILURE if failed else EXIT_OK
