"""Latency of the desktop app, measured through the real main window.

    QT_QPA_PLATFORM=offscreen python benchmarks/gui_latency.py [--encoder none|default|FILE]
        [--k 400] [--images ID ID ID] [--clicks 6]

Uses BSDS500 val photos (481 x 321) with their first ground-truth segmentation as the prior
maps (so the prior is a file read: "prior cached"). Prints:

- switch → drawn, cold: stepping to an image whose features and superpixels are not computed
  (precompute off), until the overlays are on screen;
- switch → drawn, precomputed: stepping to the next image after the background precompute;
- click → drawn: alternately a left click (×2) and a right click (×½) on objects of several
  sizes, from the click to the synchronous repaint of the patched canvas; every click re-clusters
  the object (``Spam.rescale``) unless ``--cached`` lets a click back to an earlier ratio reuse
  that result, as undo / redo do;
- the longest stall of the GUI thread (gap between 5 ms timer ticks) during all of it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BSDS = Path(os.environ.get("SPAM_BSDS", Path(__file__).resolve().parents[2] / "shared" / "data" / "bsds500"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoder", default="default", help="none, default (shipped) or a weight file")
    ap.add_argument("--k", type=int, default=400)
    ap.add_argument("--images", nargs="+", default=["101085", "102061", "103070", "105025"])
    ap.add_argument("--clicks", type=int, default=6, help="clicks per object")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--cached", action="store_true",
                    help="let clicks back to an earlier ratio reuse its result (as undo does)")
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from spam_gui.app.settings import use_private_settings
    from spam_gui.app.qt import QtCore, QtWidgets

    tmp = Path(tempfile.mkdtemp(prefix="spam-gui-bench-"))
    folder = tmp / "images"
    (folder / "priors").mkdir(parents=True)
    for i in args.images:
        shutil.copy(BSDS / "val" / "images" / f"{i}.jpg", folder / f"{i}.jpg")
        shutil.copy(BSDS / "val" / "gt" / f"{i}_0.png", folder / "priors" / f"{i}.png")
    use_private_settings(tmp, "spam-gui-bench")
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])

    from spam_gui.app.document import Params
    from spam_gui.app.main_window import MainWindow
    from spam_gui.app.settings import Settings

    s = Settings()
    s.prior_source = "maps"
    if args.encoder in ("none", "default"):
        s.encoder_mode = "none" if args.encoder == "none" else "shipped"
    else:
        s.encoder_mode, s.encoder_file = "file", str(Path(args.encoder).resolve())
    s.device = "cpu"
    s.precompute_next = False
    s.default_params = Params(n_segments=args.k)
    win = MainWindow(s)
    win.resize(1400, 900)
    win.show()
    win.view.measure_paint = True

    # GUI-thread stall watchdog
    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QtCore.QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)

    def wait(cond, timeout=300.0) -> float:
        t0 = time.perf_counter()
        while not cond():
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 5)
            time.sleep(0.001)
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError("timed out")
        return time.perf_counter() - t0

    def shown(name: str):
        def ok() -> bool:
            o = win.displayed
            return o is not None and o.layers is not None and o.path.name == name \
                and o.key == win.current_key()
        return ok

    names = [f"{i}.jpg" for i in args.images]
    win.open_folder(folder)
    wait(shown(names[0]))
    print(f"engine: {win.displayed.encoder_name}; torch threads {torch.get_num_threads()}; "
          f"K={args.k}; image {win.displayed.image.shape[1]}x{win.displayed.image.shape[0]}")
    # make sure everything is imported and warm
    win.step(1)
    wait(shown(names[1]))

    timer.start()
    last[0] = time.perf_counter()
    cold = []
    for name in names[2:]:
        t0 = time.perf_counter()
        win.step(1)
        wait(shown(name))
        win.canvas.viewport().repaint()
        cold.append(time.perf_counter() - t0)
    # precomputed: go back to the first image, enable precompute, let it work, then step
    s.precompute_next = True
    win.show_row(0)
    wait(shown(names[0]))
    wait(lambda: not win.bg.busy)
    t0 = time.perf_counter()
    win.step(1)
    wait(shown(names[1]))
    win.canvas.viewport().repaint()
    warm = time.perf_counter() - t0
    s.precompute_next = False
    wait(lambda: not win.bg.busy)      # no precompute competing with the clicks

    # clicks: objects from small to large, each doubled and halved a few times
    o = win.displayed
    info = o.result.objects_info
    total = o.result.labels.size
    by_area = sorted(info.values(), key=lambda i: i.area)
    picks = [by_area[len(by_area) // 2], by_area[-2], by_area[-1]]
    from spam_gui.app.qt import QtCore as C

    Qt = C.Qt
    rows = []
    for oi in picks:
        ys, xs = (o.result.objects == oi.id).nonzero()
        j = len(ys) // 2
        x, y = int(xs[j]), int(ys[j])
        lat, eng = [], []
        for c in range(args.clicks):
            button = Qt.MouseButton.LeftButton if c % 2 == 0 else Qt.MouseButton.RightButton
            want = 2.0 if c % 2 == 0 else 1.0
            from PySide6 import QtTest

            if not args.cached:
                win.view.outcomes.clear()       # no earlier result to reuse: a real rescale each time
            QtTest.QTest.mouseClick(win.canvas.viewport(), button, Qt.KeyboardModifier.NoModifier,
                                    win.canvas.view_pos_of(x, y))
            wait(lambda oid=oi.id, want=want: win.displayed is not None
                 and win.displayed.layers is not None
                 and win.displayed.result.objects_info[oid].ratio == want and not win.fg.busy)
            lat.append(win.view.timing.get("click_to_drawn", float("nan")))
            eng.append(win.displayed.result.timings.get("rescale", float("nan")))
        rows.append((oi.id, oi.area / total, oi.k, lat, eng))
    timer.stop()

    ms = lambda v: f"{1000 * v:.0f} ms"  # noqa: E731
    print(f"switch -> drawn, cold (features + clustering): "
          f"{', '.join(ms(v) for v in cold)} (median {ms(statistics.median(cold))})")
    print(f"switch -> drawn, precomputed next image: {ms(warm)}")
    for oid, frac, k, lat, eng in rows:
        print(f"click -> drawn, object {oid} ({100 * frac:.1f}% of the image, K_o {k} -> {2 * k}): "
              f"median {ms(statistics.median(lat))}, min {ms(min(lat))}, max {ms(max(lat))} "
              f"[{' '.join(f'{1000 * v:.0f}' for v in lat)}]; of which Spam.rescale median "
              f"{ms(statistics.median(eng))}")
    print(f"longest GUI-thread stall: {ms(max(gaps))} (timer ticks every 5 ms; "
          f"{sum(g > 0.05 for g in gaps)} of {len(gaps)} gaps over 50 ms)")
    win.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
