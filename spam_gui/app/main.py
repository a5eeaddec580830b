"""``spam-gui [FOLDER_OR_IMAGE]``: start SPAM Studio."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import Sequence

from spam_gui import __version__

ORG, APP = "spam-studio", "SPAM Studio"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="spam-gui",
        description="SPAM Studio: superpixels constrained by object priors, with per-object "
        "density. Open a folder of images, click objects to make their superpixels finer "
        "(left) or coarser (right), and export 16-bit label PNGs.",
        epilog="Shortcuts: F1 in the app lists them all. Settings persist with QSettings "
        f"(organisation '{ORG}'). Checkpoints: Preferences → Models, or the environment "
        "variables SPAM_SAM_CHECKPOINT / SPAM_DINO_CHECKPOINT.",
    )
    p.add_argument("path", nargs="?", metavar="FOLDER_OR_IMAGE",
                   help="a folder of images, or one image (its folder opens with it selected); "
                   "without it the last folder is reopened")
    p.add_argument("--output", metavar="DIR",
                   help="export folder for this input folder (default <folder>/spam_labels)")
    p.add_argument("--prior-maps", metavar="DIR",
                   help="use the label maps <DIR>/<stem>.png as the prior (0 = uncertain); "
                   "remembered for later sessions")
    p.add_argument("--no-restore", action="store_true",
                   help="do not reopen the last folder when no path is given")
    p.add_argument("--sample", action="store_true", help=_sample_help())
    p.add_argument("--version", action="version", version=f"spam-gui {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s: %(message)s")

    from spam_gui.app.qt import QtCore, QtGui, QtWidgets

    QtCore.QCoreApplication.setOrganizationName(ORG)
    QtCore.QCoreApplication.setApplicationName(APP)
    QtCore.QCoreApplication.setApplicationVersion(__version__)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setWindowIcon(_icon(QtGui))
    signal.signal(signal.SIGINT, signal.SIG_DFL)   # Ctrl+C in the terminal quits

    from spam_gui.app.main_window import MainWindow
    from spam_gui.app.settings import Settings

    settings = Settings()
    if args.prior_maps:
        settings.prior_source = "maps"
        settings.prior_folder = str(Path(args.prior_maps).expanduser().resolve())
    target = _startup_target(args, settings)
    if args.output and target:
        folder = Path(target).expanduser().resolve()
        folder = folder if folder.is_dir() else folder.parent
        settings.set_output_dir_for(folder, Path(args.output).expanduser().resolve())

    win = MainWindow(settings)
    _install_excepthook(win)
    win.show()
    if target:
        if not Path(target).expanduser().exists():
            win.report_error(f"{target}: no such file or folder")
        else:
            QtCore.QTimer.singleShot(0, lambda: win.open_path(target))
    return int(app.exec())


def _install_excepthook(win) -> None:
    """An exception in a Qt slot or model method is shown (status bar + Details…); the app
    goes on (:mod:`spam_gui.app.guard`)."""
    from spam_gui.app import guard

    guard.set_reporter(win.report_error)
    guard.install_excepthook()


def _sample_help() -> str:
    try:
        from spam_gui.app.first_run import SAMPLE_HELP

        return SAMPLE_HELP
    except ImportError:  # pragma: no cover - the sample set is optional
        return "open the bundled sample photos"


def _startup_target(args: argparse.Namespace, settings) -> str | None:
    """The path given; else the last folder; on the very first launch, the sample set."""
    try:
        from spam_gui.app.first_run import startup_target
    except ImportError:  # pragma: no cover
        if args.path or args.no_restore:
            return args.path
        recent = [f for f in settings.recent_folders if Path(f).is_dir()]
        return recent[0] if recent else None
    return startup_target(args.path, settings.recent_folders, sample=args.sample,
                          restore=not args.no_restore)


def _icon(QtGui):  # noqa: N803
    """The window icon. A missing icon file (a broken installation) is reported by name in the
    log and the window goes without its icon: everything else works."""
    from spam_gui.core.io.resources import MissingResourceError, resource_path

    try:
        return QtGui.QIcon(str(resource_path("icons/spam-studio.svg")))
    except MissingResourceError as exc:
        logging.getLogger(__name__).warning("no window icon: %s", exc)
    return QtGui.QIcon()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
