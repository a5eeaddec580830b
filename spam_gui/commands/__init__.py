"""Subcommands of the ``spam`` command line.

Each module exposes ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``;
:mod:`spam_gui.cli` registers the modules listed in ``COMMANDS``. Commands are thin: they
parse, call :mod:`spam_gui.core`, and report.
"""

COMMANDS = ["segment", "prior", "saliency", "eval", "train"]
