"""The app on a phone photo, default path (no prior maps, no checkpoint: the built-in prior,
then superpixels), through the real main window.

    QT_QPA_PLATFORM=offscreen python benchmarks/app_photo.py                # 12.5 MP
    QT_QPA_PLATFORM=offscreen python benchmarks/app_photo.py --scale 4.5    # 3 MP

A BSDS500 val photo upsampled (bicubic, ``--scale``, x9 = 12.5 MP) is saved as a JPEG in a
folder beside a native-size photo. Each session is a process of its own (its peak memory is
its own), with one disk cache folder for both:

- ``open, cold``: the window opens the folder on the photo, empty cache: until the objects and
  superpixels are drawn;
- ``open, new session``: a second process opens the same folder (the cache now holds the
  built-in prior's hierarchy);
- ``click on the largest object``: a scale click (x2) on the largest object until its
  working-grid preview is drawn, then until the full resolution is, and the share of
  ``Spam.rescale`` (``--image 236037``: a photo whose largest object is 84 % of it);
- ``merge two objects``: Ctrl+click two objects, Merge, until drawn;
- ``split`` / ``draw``: a stroke across the largest object, then a lasso inside it (real mouse
  events), until drawn;
- ``switch while computing``: the small photo chosen while the large one computes, until the
  small one is drawn, beside the small photo's own compute time;
- ``three photos``: three 12 MP photos opened in turn and back to the first (``--only three``;
  one open, two computed and held);
- the peak resident memory of each session.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gui_latency import bench_window, wait_until  # noqa: E402  (benchmarks/ is on sys.path)

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bsds500" / "val"


def _wait(app, cond, timeout: float = 600.0) -> float:
    return wait_until(app, cond, timeout)


def session(args: argparse.Namespace) -> None:
    """One app session in this process; prints one JSON line."""
    from spam_gui.app.qt import QtCore, QtWidgets

    cfg = Path(args.tmp) / "qsettings"
    QtCore.QCoreApplication.setOrganizationName("spam-studio-bench")
    QtCore.QCoreApplication.setApplicationName("spam-gui-bench")
    QtCore.QSettings.setDefaultFormat(QtCore.QSettings.Format.IniFormat)
    for scope in (QtCore.QSettings.Scope.UserScope, QtCore.QSettings.Scope.SystemScope):
        QtCore.QSettings.setPath(QtCore.QSettings.Format.IniFormat, scope, str(cfg))
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    from PySide6 import QtTest

    win = bench_window(argparse.Namespace(encoder="default", k=args.k), prior_source="auto")
    Qt = QtCore.Qt
    folder = Path(args.folder)

    def shown(name: str, before=None):
        def ok() -> bool:
            o = win.displayed
            return (o is not None and o.layers is not None and o.path.name == name
                    and o is not before and not win.fg.busy)
        return ok

    # the engine loaded first (the app does it at start, before a folder is chosen)
    _wait(app, lambda: not win.fg.busy)
    out: dict[str, float | str] = {}
    big, small = "a_photo.jpg", "b_small.jpg"
    if args.step == "three":
        # three phone photos: each opened in turn (the next one precomputed meanwhile), then
        # back to the first: one open and two computed, held by the session
        names = ["a_photo.jpg", "c_photo.jpg", "d_photo.jpg"]
        win.open_folder(folder)
        t0 = time.perf_counter()
        for name in names + names[:1]:
            win.show_row(sorted(p.name for p in folder.iterdir()
                                if p.suffix == ".jpg").index(name))
            _wait(app, shown(name))
            win.canvas.viewport().repaint()
        _wait(app, lambda: not win.bg.busy and not win.fg.busy)
        out["three"] = time.perf_counter() - t0
        out["peak_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
        out["held"] = len(win.view.outcomes.keys())
        print("RESULT " + json.dumps(out), flush=True)
        win.close()
        win.shutdown()
        return
    if args.step == "switch":
        win.open_folder(folder)
        win.show_row(0)
        _wait(app, lambda: "a_photo.jpg:" in win.canvas.message
              and "superpixels" in win.canvas.message, 600)
        t0 = time.perf_counter()
        win.show_row(1)
        _wait(app, shown(small))
        out["switch"] = time.perf_counter() - t0
        out["small_alone"] = win.displayed.seconds      # the small photo's own pipeline time
    else:
        t0 = time.perf_counter()
        win.open_folder(folder)
        win.show_row(0)
        _wait(app, shown(big))
        out["open"] = time.perf_counter() - t0
        win.canvas.viewport().repaint()    # drawn once, as on a screen (offscreen paints lazily)
        o = win.displayed
        out["size"] = f"{o.image.shape[1]}x{o.image.shape[0]}"
        out["objects"] = len(o.result.objects_info)
        if args.step == "edit":
            # when the canvas first shows an edit's working-grid preview (after the GUI
            # thread drew it: a repaint is forced)
            seen: dict[str, float] = {}
            real_set_preview = win.canvas.set_preview

            def set_preview(pr):
                real_set_preview(pr)
                if pr is not None and "t" not in seen:
                    win.canvas.viewport().repaint()
                    seen["t"] = time.perf_counter()
            win.canvas.set_preview = set_preview
            info = sorted(o.result.objects_info.values(), key=lambda i: i.area)
            largest = info[-1]
            out["largest_frac"] = largest.area / o.result.labels.size
            ys, xs = (o.result.objects == largest.id).nonzero()
            x, y = int(xs[len(xs) // 2]), int(ys[len(ys) // 2])
            # the app at rest: the features a reopened photo computes in the background
            # (FeaturesJob) and the next image's precompute are done before the first click
            _wait(app, lambda: not win.bg.busy and not win.fg.busy)
            win.set_mode("scale")
            seen.clear()
            t0 = time.perf_counter()
            QtTest.QTest.mouseClick(win.canvas.viewport(), Qt.MouseButton.LeftButton,
                                    Qt.KeyboardModifier.NoModifier, win.canvas.view_pos_of(x, y))
            _wait(app, lambda: win.displayed is not None and win.displayed.layers is not None
                  and win.displayed.result.objects_info[largest.id].ratio == 2.0
                  and not win.fg.busy)
            out["click"] = time.perf_counter() - t0
            out["click_preview"] = seen.get("t", float("nan")) - t0
            out["click_rescale"] = win.displayed.result.timings.get("rescale", float("nan"))
            # merge the two largest objects but one (Ctrl+click each, then Merge)
            o = win.displayed
            pick = [i.id for i in sorted(o.result.objects_info.values(),
                                         key=lambda i: i.area)[-3:-1]]
            win.set_mode("scale")
            for oid in pick:
                ys, xs = (o.result.objects == oid).nonzero()
                x, y = int(xs[len(xs) // 2]), int(ys[len(ys) // 2])
                QtTest.QTest.mouseClick(win.canvas.viewport(), Qt.MouseButton.LeftButton,
                                        Qt.KeyboardModifier.ControlModifier,
                                        win.canvas.view_pos_of(x, y))
            seen.clear()
            t0 = time.perf_counter()
            win.actions_["merge_objects"].trigger()
            _wait(app, lambda: win.displayed is not None and win.displayed is not o
                  and win.displayed.layers is not None and not win.fg.busy)
            out["merge"] = time.perf_counter() - t0
            out["merge_preview"] = seen.get("t", float("nan")) - t0
            out["merge_resegment"] = win.displayed.result.timings.get("resegment", float("nan"))
            out["merge_job"] = win.displayed.seconds
            # split the largest object with a vertical stroke through its middle, then draw a
            # new object (a lasso) inside it: real mouse events on the canvas
            for step, make in (("split", _vertical_stroke), ("draw", _box_lasso)):
                o = win.displayed
                largest = max(o.result.objects_info.values(), key=lambda i: i.area)
                win.set_mode("split" if step == "split" else "draw_object")
                points = make(o.result.objects == largest.id)
                seen.clear()
                t0 = time.perf_counter()
                _drag(win.canvas, points)
                _wait(app, lambda before=o: win.displayed is not None
                      and win.displayed is not before and win.displayed.layers is not None
                      and not win.fg.busy)
                out[step] = time.perf_counter() - t0
                out[step + "_preview"] = seen.get("t", float("nan")) - t0
                out[step + "_resegment"] = win.displayed.result.timings.get("resegment",
                                                                           float("nan"))
    out["peak_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    print("RESULT " + json.dumps(out), flush=True)
    win.close()
    win.shutdown()


def _vertical_stroke(mask):
    """Image points of a vertical line through the middle of ``mask``, from above it to below."""
    import numpy as np

    ys, xs = np.nonzero(mask)
    x = int(np.median(xs))
    col = np.flatnonzero(mask[:, x])
    y0, y1 = max(int(col[0]) - 20, 0), min(int(col[-1]) + 20, mask.shape[0] - 1)
    return [(x, int(y)) for y in np.linspace(y0, y1, 40)]


def _box_lasso(mask):
    """A closed lasso (image points) around a box inside ``mask``, a tenth of its size."""
    import numpy as np

    ys, xs = np.nonzero(mask)
    cy, cx = int(np.median(ys)), int(np.median(xs))
    r = max(10, int(0.05 * min(mask.shape)))
    corners = [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r),
               (cx - r, cy - r)]
    pts = []
    for (xa, ya), (xb, yb) in zip(corners, corners[1:]):
        pts += [(int(xa + (xb - xa) * t), int(ya + (yb - ya) * t)) for t in np.linspace(0, 1, 10)]
    return pts


def _drag(canvas, points):
    """Press, move through and release at image points, as the mouse does on the canvas."""
    from spam_gui.app.qt import QtCore, QtGui

    Qt, T = QtCore.Qt, QtCore.QEvent.Type
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    for kind, p, button, buttons in (
            [(T.MouseButtonPress, points[0], left, left)]
            + [(T.MouseMove, q, none, left) for q in points[1:]]
            + [(T.MouseButtonRelease, points[-1], left, none)]):
        pos = canvas.view_pos_of(*p)
        ev = QtGui.QMouseEvent(kind, QtCore.QPointF(pos),
                               canvas.viewport().mapToGlobal(pos).toPointF(), button, buttons,
                               Qt.KeyboardModifier.NoModifier)
        QtCore.QCoreApplication.sendEvent(canvas.viewport(), ev)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="BSDS500 val folder")
    ap.add_argument("--image", default="101085", help="the val photo (default 101085)")
    ap.add_argument("--scale", type=float, default=9.0, help="upsampling (default 9: 12.5 MP)")
    ap.add_argument("--k", type=int, default=400)
    ap.add_argument("--only", default="cold,reopen,edit,switch,three",
                    help="the sessions to run, comma-separated (default: all five)")
    ap.add_argument("--step", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--folder", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--tmp", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.step:
        session(args)
        return 0
    import cv2

    from spam_gui.core.io.images import read_image

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        img = read_image(Path(args.data) / "images" / f"{args.image}.jpg")
        big = cv2.resize(img, None, fx=args.scale, fy=args.scale, interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(folder / "a_photo.jpg"), cv2.cvtColor(big, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 95])
        other = read_image(sorted((Path(args.data) / "images").glob("*.jpg"))[1])
        cv2.imwrite(str(folder / "b_small.jpg"), cv2.cvtColor(other, cv2.COLOR_RGB2BGR))
        if "three" in args.only.split(","):
            for name, stem in (("c_photo.jpg", "236037"), ("d_photo.jpg", "106024")):
                im = read_image(Path(args.data) / "images" / f"{stem}.jpg")
                im = cv2.resize(im, None, fx=args.scale, fy=args.scale,
                                interpolation=cv2.INTER_CUBIC)
                cv2.imwrite(str(folder / name), cv2.cvtColor(im, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, 95])
        env = dict(os.environ, SPAM_CACHE_DIR=str(Path(tmp) / "cache"),
                   XDG_DATA_HOME=str(Path(tmp) / "data"), QT_QPA_PLATFORM="offscreen")
        rows: dict[str, dict] = {}
        for step, tmpdir in (("cold", "s1"), ("reopen", "s2"), ("edit", "s3"),
                             ("switch", "s4"), ("three", "s5")):
            if step not in args.only.split(","):
                continue
            (Path(tmp) / tmpdir).mkdir()
            cmd = [sys.executable, __file__, "--step", step, "--folder", str(folder),
                   "--tmp", str(Path(tmp) / tmpdir), "--k", str(args.k)]
            p = subprocess.run(cmd, capture_output=True, text=True, env=env)
            line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
            if p.returncode or not line:
                print(f"{step}: failed: {(p.stderr.strip().splitlines() or ['?'])[-1]}")
                continue
            rows[step] = json.loads(line[0][7:])
        c, r, e, w, t = (rows.get(k, {})
                         for k in ("cold", "reopen", "edit", "switch", "three"))
        print(f"photo {c.get('size', '?')} ({args.image} x{args.scale:g}), K = {args.k}, "
              f"{c.get('objects', '?')} objects; 2-core CPU")
        ms = lambda v: f"{1000 * v:.0f} ms" if isinstance(v, float) else "?"  # noqa: E731
        print("| step | time | peak memory of the session |")
        print("|---|---|---|")
        print(f"| open, cold (built-in objects + superpixels) | {c.get('open', 0):.1f} s "
              f"| {c.get('peak_gb', 0):.2f} GB |")
        print(f"| open, new session (cache) | {r.get('open', 0):.1f} s | "
              f"{r.get('peak_gb', 0):.2f} GB |")
        print(f"| click x2 on the largest object ({100 * e.get('largest_frac', 0):.0f} %): "
              f"preview drawn | {ms(e.get('click_preview'))} | |")
        print(f"| the same click: full resolution drawn | {ms(e.get('click'))} (Spam.rescale "
              f"{ms(e.get('click_rescale'))}) | {e.get('peak_gb', 0):.2f} GB |")
        print(f"| merge two objects: preview drawn | {ms(e.get('merge_preview'))} | |")
        print(f"| the same merge: full resolution drawn | {ms(e.get('merge'))} (the job "
              f"{ms(e.get('merge_job'))}, of which re-clustering "
              f"{ms(e.get('merge_resegment'))}) | |")
        for step, what in (("split", "split the largest object (a stroke across it)"),
                           ("draw", "draw an object inside the largest (a lasso)")):
            if step in e:
                print(f"| {what}: preview drawn | {ms(e.get(step + '_preview'))} | |")
                print(f"| the same {step}: full resolution drawn | {ms(e.get(step))} "
                      f"(re-clustering {ms(e.get(step + '_resegment'))}) | |")
        print(f"| small photo chosen while the large one computes | {ms(w.get('switch'))} "
              f"(its own compute {ms(w.get('small_alone'))}) | {w.get('peak_gb', 0):.2f} GB |")
        if t:
            print(f"| three 12 MP photos opened in turn, back to the first ({t.get('held')} "
                  f"results held) | {t.get('three', 0):.1f} s | {t.get('peak_gb', 0):.2f} GB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
