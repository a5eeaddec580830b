"""Make docs/screenshot.png: the app on a BSDS500 photo, objects clicked to finer / coarser density.

Run under a real X server (Xvfb is enough):

    Xvfb :99 -screen 0 1600x1000x24 &
    DISPLAY=:99 python scripts/app_screenshot.py --out docs/screenshot.png

The photos are copied into a temporary folder with their first ground-truth segmentation as the
prior maps (never into the repository); settings go to a temporary QSettings file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BSDS = Path(os.environ.get("SPAM_BSDS", Path(__file__).resolve().parents[2] / "shared" / "data" / "bsds500"))
# the horses photo: left click on two horses (x2), one more horse (x2), right click on the ground (x1/2)
CLICKS = [(73, 155, "L"), (289, 154, "L"), (363, 161, "L"), (240, 300, "R")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="docs/screenshot.png")
    ap.add_argument("--images", nargs="+",
                    default=["21077", "103070", "108005", "145086", "189080", "197017", "241004", "296059"])
    ap.add_argument("--show", default="197017", help="the photo on screen")
    ap.add_argument("--export", nargs="*", default=["103070", "108005"], help="photos exported first")
    ap.add_argument("--encoder", default="shipped", help="shipped, none, or a weight file")
    ap.add_argument("--k", type=int, default=400)
    ap.add_argument("--size", default="1600x940")
    args = ap.parse_args()

    from spam_gui.app.settings import use_private_settings
    from spam_gui.app.qt import QtCore, QtGui, QtWidgets
    from PySide6 import QtTest

    tmp = Path(tempfile.mkdtemp(prefix="spam-shot-"))
    folder = tmp / "photos"
    (folder / "priors").mkdir(parents=True)
    for i in args.images:
        shutil.copy(BSDS / "val" / "images" / f"{i}.jpg", folder)
        shutil.copy(BSDS / "val" / "gt" / f"{i}_0.png", folder / "priors" / f"{i}.png")
    use_private_settings(tmp, "spam-screenshot")
    app = QtWidgets.QApplication([])

    from spam_gui.app.document import Params
    from spam_gui.app.main_window import MainWindow
    from spam_gui.app.settings import Settings

    s = Settings()
    s.prior_source = "maps"
    if args.encoder in ("shipped", "none"):
        s.encoder_mode = args.encoder
    else:
        s.encoder_mode, s.encoder_file = "file", str(Path(args.encoder).resolve())
    s.default_params = Params(n_segments=args.k)
    w, h = (int(v) for v in args.size.split("x"))
    win = MainWindow(s)
    win.setGeometry(0, 0, w, h)
    win.show()

    def wait(cond, timeout=300.0) -> None:
        t0 = time.time()
        while not cond():
            app.processEvents()
            time.sleep(0.01)
            if time.time() - t0 > timeout:
                raise TimeoutError("timed out")

    def show(stem: str) -> None:
        row = [p.stem for p in win.session.paths].index(stem)
        win.show_row(row)
        wait(lambda: win.displayed is not None and win.displayed.path.stem == stem
             and win.displayed.key == win.current_key())

    win.open_folder(folder)
    wait(lambda: win.displayed is not None)
    for stem in args.export:
        show(stem)
        win.exports.last_export = None
        win.exports.export_current()
        wait(lambda: win.exports.last_export is not None)
    show(args.show)
    for x, y, b in CLICKS:
        before = win.displayed
        button = QtCore.Qt.MouseButton.LeftButton if b == "L" else QtCore.Qt.MouseButton.RightButton
        QtTest.QTest.mouseClick(win.canvas.viewport(), button, QtCore.Qt.KeyboardModifier.NoModifier,
                                win.canvas.view_pos_of(x, y))
        wait(lambda before=before: win.displayed is not None and win.displayed is not before
             and not win.fg.busy)
    # hover over a horse so the status bar shows what hovering reports
    QtTest.QTest.mouseMove(win.canvas.viewport(), win.canvas.view_pos_of(300, 160))
    for _ in range(50):
        app.processEvents()
        time.sleep(0.01)
    shot = QtGui.QGuiApplication.primaryScreen().grabWindow(0, 0, 0, w, h)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    shot.save(args.out)
    print(f"{args.out}: {shot.width()}x{shot.height()}; {win.models_label.text()}")
    win.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
