"""The ``spam`` command line: ``spam segment | prior | saliency | eval | train``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from spam_gui import __version__
from spam_gui.commands import COMMANDS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spam",
        description="SPAM: SuperPixel Anything Model. Accurate, regular superpixels that stay "
        "inside the objects of a prior segmentation.",
    )
    parser.add_argument("--version", action="version", version=f"spam {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"spam_gui.commands.{name}")
        except ModuleNotFoundError as exc:  # a command not written yet
            if exc.name == f"spam_gui.commands.{name}":
                continue
            raise
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``spam`` subcommand; the exit code is 0 (success), 1 (a processing failure: an
    image or the run failed while being computed), 2 (bad input, caught before any work: wrong
    arguments, a missing input path, an unusable output folder, a bad encoder or checkpoint
    file) or 130 (interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s: %(message)s",
    )
    from spam_gui.core.errors import EXIT_INTERRUPTED, EXIT_USAGE, SpamError

    if not getattr(args, "_run", None):
        parser.print_help()
        return EXIT_USAGE

    try:
        return int(args._run(args) or 0)
    except SpamError as exc:  # a bad input or checkpoint a command did not report itself
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
