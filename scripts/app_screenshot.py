"""Make docs/screenshot.png: the app on a BSDS500 photo, objects clicked to finer / coarser density.

Run under a real X server (Xvfb is enough):

    Xvfb :99 -screen 0 1600x1000x24 &
    DISPLAY=:99 python scripts/app_screenshot.py --out docs/screenshot.png

The photos are copied into a temporary folder with their first ground-truth segmentation as the
prior maps (never into the repository); settings go to a temporary QSettings file.

``--annotate`` makes docs/screenshot_annotation.png instead: classes painted on the horses photo
with the paint tool (object fills, a superpixel drag, an erased superpixel), the Classes dock
showing their pixel counts:

    DISPLAY=:99 python scripts/app_screenshot.py --annotate --out docs/screenshot_annotation.png
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
# --annotate: (class, colour, what, points) on the horses photo: "fill" is a Shift+click (the
# whole object, each horse its own instance), "drag" paints the superpixels it crosses and
# "erase" is a right drag
PAINT = [
    ("sky", "#6fb7e8", "fill", [(240, 40)]),
    ("horse", "#e6194b", "fill", [(86, 162)]),
    ("horse", "#e6194b", "fill", [(284, 173)]),
    ("horse", "#e6194b", "fill", [(369, 169)]),
    ("trees", "#2e7d32", "fill", [(205, 150), (415, 132), (471, 115)]),
    ("grass", "#c5e063", "fill", [(249, 280)]),
]


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
    ap.add_argument("--annotate", action="store_true",
                    help="paint classes on the photo (the annotation screenshot)")
    args = ap.parse_args()

    from spam_gui.app.settings import use_private_settings
    from spam_gui.app.qt import QtCore, QtWidgets
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
    for stem in ([] if args.annotate else args.export):
        show(stem)
        win.exports.last_export = None
        win.exports.export_current()
        wait(lambda: win.exports.last_export is not None)
    show(args.show)
    if args.annotate:
        paint(win, app)
        shoot(app, args.out, w, h, win)
        shutil.rmtree(tmp, ignore_errors=True)
        return 0
    for x, y, b in CLICKS:
        before = win.displayed
        button = QtCore.Qt.MouseButton.LeftButton if b == "L" else QtCore.Qt.MouseButton.RightButton
        QtTest.QTest.mouseClick(win.canvas.viewport(), button, QtCore.Qt.KeyboardModifier.NoModifier,
                                win.canvas.view_pos_of(x, y))
        wait(lambda before=before: win.displayed is not None and win.displayed is not before
             and not win.fg.busy)
    shoot(app, args.out, w, h, win)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def shoot(app, out: str, w: int, h: int, win) -> None:
    """Hover over a horse (the status bar shows what hovering reports), grab the screen."""
    from spam_gui.app.qt import QtGui
    from PySide6 import QtTest

    QtTest.QTest.mouseMove(win.canvas.viewport(), win.canvas.view_pos_of(300, 160))
    for _ in range(50):
        app.processEvents()
        time.sleep(0.01)
    shot = QtGui.QGuiApplication.primaryScreen().grabWindow(0, 0, 0, w, h)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    shot.save(out)
    print(f"{out}: {shot.width()}x{shot.height()}; {win.models_label.text()}")
    win.close()


def paint(win, app) -> None:
    """Paint :data:`PAINT` with the paint tool, through the canvas's mouse events."""
    from spam_gui.app.qt import QtCore, QtGui

    Qt = QtCore.Qt
    ctl = win.annotations
    for name, color, _, _ in PAINT:
        if ctl.classes.by_name(name) is None:
            ctl.add_class(name, color)
    win.set_mode("paint")
    vp = win.canvas.viewport()

    def send(kind, x, y, buttons, mods):
        pos = QtCore.QPointF(win.canvas.view_pos_of(x, y))
        button = Qt.MouseButton.NoButton if kind == QtCore.QEvent.Type.MouseMove else \
            buttons if kind == QtCore.QEvent.Type.MouseButtonPress else held[0]
        QtCore.QCoreApplication.sendEvent(vp, QtGui.QMouseEvent(kind, pos, vp.mapToGlobal(pos),
                                                                button, buttons, mods))

    held = [Qt.MouseButton.LeftButton]   # the button a release lets go
    for name, _, what, points in PAINT:
        left = held[0] = (Qt.MouseButton.RightButton if what == "erase"
                          else Qt.MouseButton.LeftButton)
        ctl.set_current_class(ctl.classes.by_name(name).id)
        if what == "fill":
            for x, y in points:
                mods = Qt.KeyboardModifier.ShiftModifier
                send(QtCore.QEvent.Type.MouseButtonPress, x, y, left, mods)
                send(QtCore.QEvent.Type.MouseButtonRelease, x, y, Qt.MouseButton.NoButton, mods)
        else:
            mods = Qt.KeyboardModifier.NoModifier
            send(QtCore.QEvent.Type.MouseButtonPress, *points[0], left, mods)
            for (x0, y0), (x1, y1) in zip(points, points[1:]):
                for t in range(1, 11):
                    send(QtCore.QEvent.Type.MouseMove, x0 + (x1 - x0) * t // 10,
                         y0 + (y1 - y0) * t // 10, left, mods)
            send(QtCore.QEvent.Type.MouseButtonRelease, *points[-1], Qt.MouseButton.NoButton, mods)
        app.processEvents()
    ctl.set_current_class(ctl.classes.by_name("horse").id)
    win.set_layer_visible("objects", False)   # the classes alone over the photo
    win.objects_dock.hide()      # room for the Classes dock
    win.classes_dock.show()
    win.classes_dock.raise_()


if __name__ == "__main__":
    sys.exit(main())
