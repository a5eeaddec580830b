"""The autosave of painted class and instance maps: how long the window stops answering.

    QT_QPA_PLATFORM=offscreen python benchmarks/autosave_stall.py            # 4000x3000, 481x321
    QT_QPA_PLATFORM=offscreen python benchmarks/autosave_stall.py --sizes 4000x3000 --repeats 9

One image's maps in a :class:`spam_gui.app.document.FolderSession` (classes: a BSDS500 val
photo's first ground truth, five classes; instances: its segments; upsampled by nearest
neighbour to each size), saved after each change in two ways, alternately in the same run:

- reference: :meth:`FolderSession.save_now` on the GUI thread, what the autosave did before
  it moved to a thread (and what closing the window still does: it must finish there): the
  GUI thread is blocked for the whole save;
- ours: :meth:`FolderSession.save_in_background`, the autosave now: its cost on the GUI thread
  (the copies of the two maps and the JSON), then the longest gap between the ticks of a 5 ms
  timer on the GUI thread while the thread encodes and writes (the stall a user feels), and the
  time until the state file names the new maps.

Timings are wall-clock on a machine that may be shared: read the ratios, measured in the same
run, rather than the milliseconds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _machine import cpu_name  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bsds500" / "val"


def _maps(data: Path, stem: str, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    from spam_gui.core.io.images import read_label_map

    gt = read_label_map(sorted((data / "gt").glob(f"{stem}_*.png"))[0]).astype(np.int32)
    w, h = size
    if (h, w) != gt.shape:
        gt = cv2.resize(gt, (w, h), interpolation=cv2.INTER_NEAREST)
    return (gt % 5 + 1).astype(np.uint16), gt.astype(np.uint16)


def _measure(app, size: tuple[int, int], data: Path, stem: str, repeats: int
             ) -> list[tuple[str, list[float], str]]:
    from spam_gui.app.document import FolderSession, Params
    from spam_gui.core.io.images import list_folder
    from spam_gui.app.qt import QtCore

    tmp = Path(tempfile.mkdtemp(prefix="spam-autosave-bench-"))
    try:
        folder = tmp / "images"
        folder.mkdir()
        (folder / f"{stem}.png").write_bytes(b"")      # the session lists it; never read
        s = FolderSession(folder, list_folder(folder), folder / "spam_labels", Params(),
                          autosave_ms=10**7)
        doc = s.doc(0)
        cls, inst = _maps(data, stem, size)
        doc.set_raster("classes", cls)
        doc.set_raster("instances", inst)
        assert s.save_now()
        ticks: list[float] = []
        timer = QtCore.QTimer()
        timer.setInterval(5)
        timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
        ref, call, stall, until = [], [], [], []
        rng = np.random.default_rng(0)
        h, w = cls.shape
        for _ in range(repeats):
            # a stroke: a disc of another class, so that every save writes new bytes
            y, x = int(rng.integers(h)), int(rng.integers(w))
            cls[max(0, y - 50):y + 50, max(0, x - 50):x + 50] = int(rng.integers(1, 6))
            doc.raster_changed("classes")
            doc.raster_changed("instances")
            t0 = time.perf_counter()
            assert s.save_now()
            ref.append(time.perf_counter() - t0)
            cls[max(0, y - 50):y + 50, max(0, x - 50):x + 50] = int(rng.integers(1, 6))
            doc.raster_changed("classes")
            doc.raster_changed("instances")
            app.processEvents()
            ticks.clear()
            timer.start()
            t0 = time.perf_counter()
            s.save_in_background()
            call.append(time.perf_counter() - t0)
            ticks.append(time.perf_counter())
            while s.saving:
                app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 5)
                time.sleep(0.001)
            end = time.perf_counter()
            timer.stop()
            until.append(end - t0)
            gaps = np.diff(np.array([t0] + ticks + [end]))
            stall.append(float(gaps.max()))
            named = json.loads(s.primary_state_path.read_text())["images"][f"{stem}.png"]
            assert named["rasters"]["classes"] == doc.raster_hashes["classes"]
        label = f"{w}x{h}"
        return [
            (label, ref, "reference: save_now on the GUI thread (the GUI blocked throughout)"),
            (label, call, "ours: save_in_background, its cost on the GUI thread"),
            (label, stall, "ours: longest GUI stall while the thread saves (5 ms timer)"),
            (label, until, "ours: until the state file names the new maps"),
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="4000x3000,481x321", help="WxH sizes, comma-separated")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="BSDS500 val folder")
    ap.add_argument("--image", default="101085", help="the BSDS val photo (stem)")
    args = ap.parse_args()
    from spam_gui.app.qt import QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    print(f"machine: {cpu_name()} (may be shared); {args.repeats} saves per row, ms")
    print("| image | what | median ms | max ms |")
    print("|---|---|---:|---:|")
    for size in args.sizes.split(","):
        wh = tuple(int(v) for v in size.lower().split("x"))
        for label, vals, what in _measure(app, (wh[0], wh[1]), args.data, args.image,
                                          args.repeats):
            print(f"| {label} | {what} | {1000 * statistics.median(vals):.1f} | "
                  f"{1000 * max(vals):.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
