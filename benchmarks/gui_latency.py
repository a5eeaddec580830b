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
- the longest stall of the GUI thread (gap between 5 ms timer ticks) during all of it;
- paint (``--paint``, or only it with ``--paint-only``): with the paint tool, on the photo
  (481 x 321) and on the same photo upscaled to ``--big`` (4000 x 3000 by default): a click on
  one superpixel until the class layer is drawn, a drag across at least 50 superpixels (redraws
  a second: each pointer move paints and repaints synchronously), an object fill (Shift+click)
  until drawn, and its undo; each beside the time to build the brush's index once per
  segmentation.
- full size (``--size 4000x3000``): the same photos upsampled to that size (bicubic; their
  priors by nearest neighbour) measured beside the native size, each size in a process of its
  own so that its peak RSS is its own: switch → drawn (cold), click → drawn with the share of
  ``Spam.rescale``, hover (one pointer move over the canvas), repaint of the whole view at fit
  and at 1:1, a zoom step and a pan step (until painted), two object edits (erase a disc of
  the largest, then of the second largest object → drawn) and the undo of the second, the
  bytes the overlays and the second edit's undo step hold,
  and the peak RSS of the app process. ``--size`` prints one table for every size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
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
    ap.add_argument("--paint", action="store_true", help="also measure the paint tool")
    ap.add_argument("--paint-only", action="store_true", help="measure only the paint tool")
    ap.add_argument("--big", default="4000x3000", help="size of the large image (WxH; '' skips)")
    ap.add_argument("--size", default="",
                    help="also measure the app on the photos upsampled to WxH (e.g. 4000x3000)")
    ap.add_argument("--one-size", default=None, help=argparse.SUPPRESS)  # a child of --size
    args = ap.parse_args()
    if args.paint_only:
        return paint_main(args)
    if args.size and args.one_size is None:
        return sizes_main(args)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from spam_gui.app.settings import use_private_settings
    from spam_gui.app.qt import QtCore, QtWidgets

    tmp = Path(tempfile.mkdtemp(prefix="spam-gui-bench-"))
    folder = tmp / "images"
    (folder / "priors").mkdir(parents=True)
    size = args.one_size or ""
    for i in args.images:
        if size:
            upsample(i, size, folder)
        else:
            shutil.copy(BSDS / "val" / "images" / f"{i}.jpg", folder / f"{i}.jpg")
            shutil.copy(BSDS / "val" / "gt" / f"{i}_0.png", folder / "priors" / f"{i}.png")
    use_private_settings(tmp, "spam-gui-bench")
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])

    win = bench_window(args)
    s = win.settings
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
        return wait_until(app, cond, timeout)

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
    if args.one_size is not None:
        view = view_rows(app, win, wait)
        record = {"size": f"{o.image.shape[1]}x{o.image.shape[0]}", "cold": cold, "warm": warm,
                  "clicks": [{"frac": frac, "lat": lat, "eng": eng}
                             for _, frac, _, lat, eng in rows],
                  "stall": max(gaps), **view,
                  "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "rss": rss_now()}
        print("RESULT " + json.dumps(record), flush=True)
    if args.paint:
        paint_table(paint_rows(app, win, wait, names[1], f"{o.image.shape[1]}x{o.image.shape[0]}"))
    win.close()
    shutil.rmtree(tmp, ignore_errors=True)
    if args.paint and args.big:
        return paint_main(args, small=False)
    return 0


# ----------------------------------------------------------------------------- full size


def bench_window(args, prior_source: str = "maps"):
    """The app's main window as every benchmark here runs it, shown at 1400 x 900: priors from
    ``priors/`` maps (or ``prior_source``), the engine of ``--encoder`` (none, the shipped one
    or a file) on the CPU, no precomputing of the next image, K = ``--k``."""
    from spam_gui.app.document import Params
    from spam_gui.app.main_window import MainWindow
    from spam_gui.app.settings import Settings

    s = Settings()
    s.prior_source = prior_source
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
    return win


def wait_until(app, cond, timeout: float) -> float:
    """Run the event loop until ``cond()`` holds; the seconds it took (TimeoutError after
    ``timeout``)."""
    from spam_gui.app.qt import QtCore

    t0 = time.perf_counter()
    while not cond():
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 5)
        time.sleep(0.001)
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError("timed out")
    return time.perf_counter() - t0


def upsample(stem: str, size: str, folder: Path) -> None:
    """BSDS val photo ``stem`` and its first ground truth (the prior) resized to ``size``."""
    from PIL import Image

    wh = tuple(int(v) for v in size.lower().split("x"))
    im = Image.open(BSDS / "val" / "images" / f"{stem}.jpg").convert("RGB")
    im.resize(wh, Image.Resampling.BICUBIC).save(folder / f"{stem}.jpg", quality=95)
    prior = Image.open(BSDS / "val" / "gt" / f"{stem}_0.png")
    prior.resize(wh, Image.Resampling.NEAREST).save(folder / "priors" / f"{stem}.png")


def rss_now() -> int:
    """Resident set size of this process now, in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def layer_bytes(win) -> int:
    """Bytes held by the overlays of the outcome on screen and the class layer."""
    total = 0
    layers = win.displayed.layers if win.displayed is not None else None
    if layers is not None:
        total += int(layers.nbytes()) if hasattr(layers, "nbytes") else sum(
            getattr(layers, n).qimage.sizeInBytes() for n in ("objects", "boundaries", "meanfill"))
    cl = win.canvas.class_layer()
    if cl is not None:
        total += cl.sizeInBytes()
    return total


def undo_bytes_of(cmd) -> int:
    """Bytes of the numpy arrays one undo command holds (its own, not shared with the doc's
    current map)."""
    import numpy as np

    arrays = {id(v): v for v in vars(cmd).values() if isinstance(v, np.ndarray)}
    current = cmd.doc.rasters.get("objects") if hasattr(cmd, "doc") else None
    return sum(a.nbytes for k, a in arrays.items() if a is not current)


def view_rows(app, win, wait) -> dict:
    """Hover, repaint at fit and at 1:1, zoom and pan, an object edit and its undo."""
    import numpy as np
    from spam_gui.app.qt import QtCore, QtGui
    from spam_gui.core.engine.object_edits import erase_objects

    Qt = QtCore.Qt
    vp = win.canvas.viewport()
    flags = QtCore.QEventLoop.ProcessEventsFlag.AllEvents
    out: dict = {}

    def timed(fn, n=10) -> list[float]:
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return ts

    win.set_mode("scale")
    win.canvas.fit()
    app.processEvents()
    out["repaint_fit"] = timed(vp.repaint)
    # hover: pointer moves across the view, each handled synchronously (readout and cursor)
    rect = vp.rect()
    xs = np.linspace(rect.width() * 0.1, rect.width() * 0.9, 60)
    ys = np.linspace(rect.height() * 0.2, rect.height() * 0.8, 60)
    hov = []
    for x, y in zip(xs, ys):
        pos = QtCore.QPointF(float(x), float(y))
        ev = QtGui.QMouseEvent(QtCore.QEvent.Type.MouseMove, pos, vp.mapToGlobal(pos),
                               Qt.MouseButton.NoButton, Qt.MouseButton.NoButton,
                               Qt.KeyboardModifier.NoModifier)
        t0 = time.perf_counter()
        QtCore.QCoreApplication.sendEvent(vp, ev)
        app.processEvents(flags)
        hov.append(time.perf_counter() - t0)
    out["hover"] = hov

    factor = [1.25]

    def zoom_step() -> None:
        win.canvas.zoom_by(factor[0])
        factor[0] = 1 / factor[0]
        vp.repaint()

    out["zoom_fit"] = timed(zoom_step)
    win.canvas.fit()
    win.canvas.actual_size()
    app.processEvents()
    out["repaint_1to1"] = timed(vp.repaint)
    bar = win.canvas.horizontalScrollBar()

    step = [40]

    def pan_step() -> None:
        bar.setValue(bar.value() + step[0])
        step[0] = -step[0]
        app.processEvents(flags)

    out["pan_1to1"] = timed(pan_step)
    win.canvas.fit()
    app.processEvents()
    out["layer_bytes"] = layer_bytes(win)
    # object edits: erase a disc in the middle of the largest object (the first edit, from
    # the prior source's objects), then one in the second largest (an edit of edited objects:
    # its undo step is a patch), then undo that one
    res = win.displayed.result
    h, w = res.objects.shape
    r = max(4, min(h, w) // 20)
    yy, xx = np.ogrid[:h, :w]
    edits = []
    for oi in sorted(res.objects_info.values(), key=lambda i: i.area)[::-1][:2]:
        objects = win.displayed.result.objects
        ys_, xs_ = (objects == oi.id).nonzero()
        if not len(ys_):
            continue
        j = len(ys_) // 2
        mask = (yy - int(ys_[j])) ** 2 + (xx - int(xs_[j])) ** 2 <= r * r
        before = win.displayed.key
        t0 = time.perf_counter()
        win.objects_edit.apply(lambda objects, mask=mask: erase_objects(objects, mask))
        wait(lambda before=before: win.displayed is not None and win.displayed.layers is not None
             and win.displayed.key != before and win.displayed.key == win.current_key()
             and not win.fg.busy)
        vp.repaint()
        edits.append(time.perf_counter() - t0)
    out["edit"] = edits
    stack = win.doc.undo_stack
    last = stack.command(stack.count() - 1)
    out["undo_bytes"] = (last.held_bytes() if hasattr(last, "held_bytes")
                         else undo_bytes_of(last))
    edited = win.displayed.key
    t0 = time.perf_counter()
    win.undo_group.undo()
    wait(lambda: win.displayed is not None and win.displayed.layers is not None
         and win.displayed.key != edited and win.displayed.key == win.current_key()
         and not win.fg.busy)
    vp.repaint()
    out["edit_undo"] = [time.perf_counter() - t0]
    return out


def sizes_main(args) -> int:
    """The native size and ``--size``, each in a child process; one table for both."""
    records = []
    for size in ("", args.size):
        cmd = [sys.executable, __file__, "--one-size", size, "--encoder", args.encoder,
               "--k", str(args.k), "--clicks", str(args.clicks), "--threads", str(args.threads),
               "--images", *args.images] + (["--cached"] if args.cached else [])
        print(f"== {size or 'native size'}", flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        for line in proc.stdout.splitlines():
            if line.startswith("RESULT "):
                records.append(json.loads(line[len("RESULT "):]))
            else:
                print("   " + line)
        if proc.returncode:
            print(proc.stderr[-4000:])
            return proc.returncode
    med = statistics.median
    ms = lambda v: f"{1000 * v:.0f}"  # noqa: E731
    rows = [("switch → drawn, cold (median)", lambda r: ms(med(r["cold"]))),
            ("switch → drawn, precomputed", lambda r: ms(r["warm"]))]
    for i in range(len(records[0]["clicks"])):
        rows.append((f"click → drawn, object #{i + 1} by size (median; of which Spam.rescale)",
                     lambda r, i=i: f"{ms(med(r['clicks'][i]['lat']))} "
                                    f"({ms(med(r['clicks'][i]['eng']))}; "
                                    f"{100 * r['clicks'][i]['frac']:.0f}% of the image)"))
    rows += [
        ("click → drawn beyond the rescale, median over all clicks",
         lambda r: ms(med([a - b for c in r["clicks"] for a, b in zip(c["lat"], c["eng"])]))),
        ("hover: one pointer move (median / max)",
         lambda r: f"{1000 * med(r['hover']):.1f} / {1000 * max(r['hover']):.1f}"),
        ("repaint of the view at fit (median)", lambda r: f"{1000 * med(r['repaint_fit']):.1f}"),
        ("zoom step at fit → painted (median)", lambda r: f"{1000 * med(r['zoom_fit']):.1f}"),
        ("repaint of the view at 1:1 (median)", lambda r: f"{1000 * med(r['repaint_1to1']):.1f}"),
        ("pan step at 1:1 → painted (median)", lambda r: f"{1000 * med(r['pan_1to1']):.1f}"),
        ("object edit (erase a disc) → drawn: first, second",
         lambda r: ", ".join(ms(v) for v in r["edit"])),
        ("undo of the second edit → drawn", lambda r: ms(r["edit_undo"][0])),
        ("longest GUI-thread stall", lambda r: ms(r["stall"])),
        ("overlay layers held (MB)", lambda r: f"{r['layer_bytes'] / 1e6:.0f}"),
        ("the second edit's undo step holds (MB)", lambda r: f"{r['undo_bytes'] / 1e6:.2f}"),
        ("peak RSS of the app process (MB)", lambda r: f"{r['peak_rss'] / 1e6:.0f}"),
    ]
    print("| ms unless noted | " + " | ".join(r["size"] for r in records) + " |")
    print("|---" * (len(records) + 1) + "|")
    for title, fmt in rows:
        print(f"| {title} | " + " | ".join(fmt(r) for r in records) + " |")
    return 0


# ----------------------------------------------------------------------------- paint


def paint_rows(app, win, wait, name: str, size: str) -> list[tuple[str, str, list[float], str]]:
    """Measure the paint tool on the image on screen; rows (size, what, seconds, note)."""
    import numpy as np
    from spam_gui.app.qt import QtCore

    Qt = QtCore.Qt
    ctl = win.annotations
    if not len(ctl.classes):
        ctl.add_class("thing")
        ctl.add_class("stuff")
    win.set_mode("paint")
    o = win.displayed
    res = o.result
    vp = win.canvas.viewport()
    win.canvas.fit()
    app.processEvents()

    def send(kind, x, y, button, buttons, mods=Qt.KeyboardModifier.NoModifier):
        from spam_gui.app.qt import QtGui

        pos = QtCore.QPointF(win.canvas.view_pos_of(x, y))
        QtCore.QCoreApplication.sendEvent(vp, QtGui.QMouseEvent(kind, pos, vp.mapToGlobal(pos),
                                                                button, buttons, mods))

    paints = [0]
    item = win.canvas.items["classes"]
    item_paint = item.paint

    def counted_paint(*a):      # the class layer was painted (an override on this item only)
        paints[0] += 1
        return item_paint(*a)

    item.paint = counted_paint
    wanted = [0]            # the paint count once every requested update is drawn
    update_region = win.canvas.update_class_region

    def counted_update(region):
        wanted[0] = paints[0] + 1
        return update_region(region)

    win.canvas.update_class_region = counted_update

    def drawn(timeout: float = 2.0) -> None:
        """Run the event loop until the class layer has been painted again (the updated
        rectangle only, as in use: the canvas repaints what a stroke changed)."""
        t0 = time.perf_counter()
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents)
        while paints[0] < wanted[0] and time.perf_counter() - t0 < timeout:
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents)

    drawn(0.5)             # whatever was pending
    left = Qt.MouseButton.LeftButton
    rows = []
    # reference: a full repaint of the view, nothing changed (image and every layer drawn)
    ref = []
    for _ in range(10):
        t0 = time.perf_counter()
        vp.repaint()
        ref.append(time.perf_counter() - t0)
    rows.append((size, "reference: full repaint of the view", ref, "nothing changed"))
    # the brush's index: built once per segmentation (in a thread, while the result is shown)
    ctl.forget_brush_index()
    t0 = time.perf_counter()
    ctl.brush_index(res)
    rows.append((size, "brush index (once per segmentation, off the GUI thread)",
                 [time.perf_counter() - t0], ""))
    # one superpixel: press + release on its centre, until the class layer is drawn
    rng = np.random.default_rng(0)
    sps = rng.choice(np.arange(1, res.n_superpixels + 1), size=min(25, res.n_superpixels),
                     replace=False)
    idx = ctl.brush_index(res)
    lat = []
    for sp in sps:
        px = idx.pixels(int(sp))
        y, x = divmod(int(px[len(px) // 2]), res.labels.shape[1])
        t0 = time.perf_counter()
        send(QtCore.QEvent.Type.MouseButtonPress, x, y, left, left)
        send(QtCore.QEvent.Type.MouseButtonRelease, x, y, left, Qt.MouseButton.NoButton)
        drawn()
        lat.append(time.perf_counter() - t0)
    rows.append((size, "click one superpixel -> drawn", lat, f"{len(lat)} clicks"))
    # a drag across >= 50 superpixels: a zigzag over the image, 150 pointer moves
    h, w = res.labels.shape
    n_moves = 150
    corners_x = np.array([0.05, 0.95, 0.05, 0.95]) * (w - 1)
    corners_y = np.array([0.1, 0.37, 0.63, 0.9]) * (h - 1)
    t = np.linspace(0, 3, n_moves)
    xs = np.interp(t, np.arange(4), corners_x).astype(int)
    ys = np.interp(t, np.arange(4), corners_y).astype(int)
    ctl.new_instance()
    p0 = paints[0]
    t_start = time.perf_counter()
    send(QtCore.QEvent.Type.MouseButtonPress, xs[0], ys[0], left, left)
    drawn()
    per = []
    for x, y in zip(xs[1:], ys[1:]):
        t0 = time.perf_counter()
        send(QtCore.QEvent.Type.MouseMove, int(x), int(y), Qt.MouseButton.NoButton, left)
        drawn()
        per.append(time.perf_counter() - t0)
    send(QtCore.QEvent.Type.MouseButtonRelease, xs[-1], ys[-1], left, Qt.MouseButton.NoButton)
    drawn()
    total = time.perf_counter() - t_start
    redraws = paints[0] - p0
    from spam_gui.app.model.annotation_view import labels_on_segment

    crossed = set()
    for i in range(1, n_moves):
        crossed.update(labels_on_segment(res.labels, xs[i - 1], ys[i - 1], xs[i], ys[i]).tolist())
    rows.append((size, "drag: each pointer move -> drawn", per,
                 f"{len(crossed)} superpixels crossed by {n_moves} moves, {redraws} redraws in "
                 f"{1000 * total:.0f} ms: {redraws / total:.0f} redraws/s"))
    # object fill: Shift+click on objects from the median size to the largest
    info = sorted(res.objects_info.values(), key=lambda i: i.area)
    picks = [info[len(info) // 2], info[-1]] if len(info) > 1 else info
    ctl.pick_key(2)
    for oi in picks:
        members = res.superpixels_of(oi.id)
        px = idx.pixels(members)
        y, x = divmod(int(px[len(px) // 2]), w)
        fill, undo = [], []
        for _ in range(3):
            t0 = time.perf_counter()
            send(QtCore.QEvent.Type.MouseButtonPress, x, y, left, left,
                 Qt.KeyboardModifier.ShiftModifier)
            send(QtCore.QEvent.Type.MouseButtonRelease, x, y, left, Qt.MouseButton.NoButton,
                 Qt.KeyboardModifier.ShiftModifier)
            drawn()
            fill.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            win.undo_group.undo()
            drawn()
            undo.append(time.perf_counter() - t0)
        pct = f"object {oi.id}, {100 * oi.area / res.labels.size:.0f}% of the image"
        rows.append((size, "object fill (Shift+click) -> drawn", fill, pct))
        rows.append((size, "undo of the fill -> drawn", undo, pct))
    del item.paint
    del win.canvas.update_class_region
    return rows


def paint_table(rows) -> None:
    ms = lambda v: f"{1000 * v:.1f}"  # noqa: E731
    print("| image | what | median ms | max ms | note |")
    print("|---|---|---|---|---|")
    for size, what, vals, note in rows:
        print(f"| {size} | {what} | {ms(statistics.median(vals))} | {ms(max(vals))} | {note} |")
    sys.stdout.flush()


def paint_main(args, small: bool = True) -> int:
    """The paint section alone: the photo, then the same photo upscaled to ``--big``."""
    import torch
    from PIL import Image

    if args.threads:
        torch.set_num_threads(args.threads)
    from spam_gui.app.qt import QtWidgets
    from spam_gui.app.settings import use_private_settings

    tmp = Path(tempfile.mkdtemp(prefix="spam-gui-paint-"))
    use_private_settings(tmp, "spam-gui-paint-bench")
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])

    stem = args.images[0]
    sizes = ([""] if small else []) + ([args.big] if args.big else [])
    all_rows = []
    for size in sizes:
        folder = tmp / (size or "photo")
        (folder / "priors").mkdir(parents=True)
        im = Image.open(BSDS / "val" / "images" / f"{stem}.jpg").convert("RGB")
        prior = Image.open(BSDS / "val" / "gt" / f"{stem}_0.png")
        if size:
            wh = tuple(int(v) for v in size.lower().split("x"))
            im = im.resize(wh, Image.Resampling.BICUBIC)
            prior = prior.resize(wh, Image.Resampling.NEAREST)
        im.save(folder / f"{stem}.png")
        prior.save(folder / "priors" / f"{stem}.png")
        win = bench_window(args)

        def wait(cond, timeout=1800.0, app=app) -> float:
            return wait_until(app, cond, timeout)

        win.open_folder(folder)
        wait(lambda win=win: win.displayed is not None and win.displayed.layers is not None)
        o = win.displayed
        shape = f"{o.image.shape[1]}x{o.image.shape[0]}"
        print(f"{shape}: {o.result.n_superpixels} superpixels, {len(o.result.objects_info)} "
              f"objects, engine {o.encoder_name or args.encoder}", flush=True)
        all_rows += paint_rows(app, win, wait, f"{stem}.png", shape)
        win.close()
        win.shutdown()
    paint_table(all_rows)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
