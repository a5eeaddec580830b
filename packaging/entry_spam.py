"""Frozen entry point of the ``spam`` command line (PyInstaller builds it from this file)."""

import sys

from spam_gui.cli import main

if __name__ == "__main__":
    sys.exit(main())
