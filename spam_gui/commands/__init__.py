"""Subcommands of the ``spam`` command line.

Each module exposes ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``;
:mod:`spam_gui.cli` registers the modules listed in ``COMMANDS``. Commands are thin: they
parse, call :mod:`spam_gui.core`, and report.
"""

COMMANDS = ["segment", "prior", "saliency", "eval", "train"]


def missing_inputs(inputs: "list[str] | list[object]") -> list[str]:
    """The input paths that do not exist, for one up-front error (exit code 2) before any
    model is loaded; every command that loads a model checks its inputs with this first."""
    import os

    return [str(i) for i in inputs if not os.path.exists(i)]


def missing_inputs_message(missing: list[str]) -> str:
    """One line naming the missing input paths."""
    if len(missing) == 1:
        return f"{missing[0]}: no such file or folder"
    return "no such files or folders: " + ", ".join(missing)
