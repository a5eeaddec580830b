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


def input_images(inputs: "list[str] | list[object]") -> "tuple[list, str | None]":
    """The images named by the inputs (files, folders), or the one-line error to report with
    exit code 2: missing paths first, then "no images" — checked before any model loads."""
    from spam_gui.core.image_io import list_images

    missing = missing_inputs(inputs)
    if missing:
        return [], missing_inputs_message(missing)
    images = list_images(inputs)  # type: ignore[arg-type]
    if not images:
        return [], "no images found in " + ", ".join(str(i) for i in inputs)
    return images, None
