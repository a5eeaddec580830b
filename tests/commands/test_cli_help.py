"""``spam --version``, ``spam --help``, ``spam <command> --help`` and ``spam-gui --help``."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from spam_gui import __version__
from spam_gui.cli import build_parser, main
from spam_gui.commands import COMMANDS

AVAILABLE = [c for c in COMMANDS if importlib.util.find_spec(f"spam_gui.commands.{c}") is not None]


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"spam {__version__}"


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: spam")
    for name in AVAILABLE:
        assert name in out


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "usage: spam" in capsys.readouterr().out


@pytest.mark.parametrize("name", AVAILABLE)
def test_command_help(name, capsys):
    with pytest.raises(SystemExit) as exc:
        main([name, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: spam {name}")
    assert len(out.splitlines()) > 3


def test_every_command_is_registered():
    assert AVAILABLE, "no command modules"
    names = set(build_parser()._subparsers._group_actions[0].choices)  # noqa: SLF001
    assert names == set(AVAILABLE)


def test_command_modules_follow_the_contract():
    for name in AVAILABLE:
        mod = importlib.import_module(f"spam_gui.commands.{name}")
        assert mod.NAME == name
        assert isinstance(mod.HELP, str) and mod.HELP and len(mod.HELP) < 160
        assert callable(mod.add_arguments) and callable(mod.run)


def test_entry_point_runs_as_module():
    r = subprocess.run([sys.executable, "-m", "spam_gui.cli", "--version"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"spam {__version__}"


def test_spam_gui_help_and_version(capsys):
    pytest.importorskip("spam_gui.app.main")
    from spam_gui.app.main import main as gui_main

    with pytest.raises(SystemExit) as exc:
        gui_main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: spam-gui")
    assert "--sample" in out          # scripts/run.sh starts the app with it
    with pytest.raises(SystemExit) as exc:
        gui_main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"spam-gui {__version__}"

