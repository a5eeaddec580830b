"""Painting classes by superpixel and by object (issue 15): the core's cost per operation on a
481 × 321 photo and on a 4000 × 3000 one, beside the obvious whole-image way of doing the same.

    python benchmarks/annotation_paint.py                 # both sizes, 1 BSDS val image
    python benchmarks/annotation_paint.py --images 3 --repeats 30
    python benchmarks/annotation_paint.py --sizes 481x321

Superpixels: scikit-image SLIC (K = 1000) on a BSDS500 val photo; the prior objects: its first
annotator's ground truth. At 4000 × 3000 both maps are the photo's upsampled by nearest
neighbour (the shapes stay those of a real photo, at 77 times the pixels). Rows (median ms over
``--repeats`` runs; ours = :mod:`spam_gui.core.annotation`, reference = the whole-image way):

- index: ``LabelIndex`` of the superpixels, once per segmentation (reference: none; the row
  shows what the per-click savings cost up front);
- click: one superpixel painted, with its undo patch (reference: ``class_map[labels == id] =
  c``, a copy of both maps for undo);
- drag step: one more superpixel of a 50-superpixel drag (reference: as a click, without the
  copy);
- drag end: the patch of the whole 50-superpixel stroke, its superpixels spread over the
  image (the worst case for a box; reference: the copy of both maps);
- fill: the largest prior object painted, with its patch (reference: ``class_map[objects ==
  id] = c`` and the copies);
- undo: the stroke's patch reverted (reference: both maps copied back);
- counts: class pixel counts after a click (reference: ``np.bincount`` of the class map);
- COCO: the COCO annotations of an image whose every prior object is an instance (8 to 29
  objects on the first 3 photos; ours: RLE from each instance's column band; reference:
  ``pycocotools.mask.encode`` of each full-image mask).

Timings are wall-clock on a machine that may be shared: read the ratios, measured in the same
run, rather than the milliseconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _machine import cpu_name  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bsds500" / "val"


def _median_ms(fn: Callable[[], object], repeats: int, setup: Callable[[], object] | None = None
               ) -> float:
    times = []
    for _ in range(repeats):
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


def _maps(image_path: Path, data: Path, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    import cv2
    from skimage.segmentation import slic

    from spam_gui.core.io.images import read_image, read_label_map

    img = read_image(image_path)
    sp = slic(img, n_segments=1000, compactness=10, start_label=1).astype(np.int32)
    gt = read_label_map(sorted((data / "gt").glob(f"{image_path.stem}_*.png"))[0]).astype(np.int32)
    w, h = size
    if (h, w) != sp.shape:
        sp = cv2.resize(sp, (w, h), interpolation=cv2.INTER_NEAREST)
        gt = cv2.resize(gt, (w, h), interpolation=cv2.INTER_NEAREST)
    return sp, gt


def _rows(sp: np.ndarray, gt: np.ndarray, repeats: int) -> list[tuple[str, float, float]]:
    from pycocotools import mask as mu

    from spam_gui.core import annotation as A
    from spam_gui.core.formats.coco import annotation_entries

    rng = np.random.default_rng(0)
    ids = rng.permutation(np.unique(sp))
    rows: list[tuple[str, float, float]] = []

    index_ms = _median_ms(lambda: A.LabelIndex(sp), max(3, repeats // 5))
    rows.append(("index (once)", index_ms, float("nan")))
    idx = A.LabelIndex(sp)
    obj_idx = A.LabelIndex(gt)
    ann = A.Annotation.empty(sp.shape)
    ref_cls = np.zeros(sp.shape, np.uint16)
    ref_inst = np.zeros(sp.shape, np.uint16)
    it = iter(np.resize(ids, 10 * repeats + 100))

    def click() -> None:
        rec = A.StrokeRecorder(ann)
        A.paint_labels(ann, idx, int(next(it)), 1 + int(rng.integers(3)), recorder=rec)
        rec.finish()

    def ref_click() -> None:
        _ = ref_cls.copy(), ref_inst.copy()
        ref_cls[sp == int(next(it))] = 1 + int(rng.integers(3))

    rows.append(("click", _median_ms(click, repeats), _median_ms(ref_click, repeats)))

    stroke = [int(i) for i in ids[:50]]
    rec_box: list[A.StrokeRecorder] = []

    step = iter(range(10**9))

    def drag_step() -> None:   # each call changes a superpixel (another class each pass)
        k = next(step)
        A.paint_labels(ann, idx, stroke[k % 50], 2 + (k // 50) % 2, recorder=rec_box[0])

    def ref_drag_step() -> None:
        ref_cls[sp == stroke[int(rng.integers(50))]] = 2

    rec_box.append(A.StrokeRecorder(ann))
    step_ms = _median_ms(drag_step, 50)
    rows.append(("drag step (1 of 50)", step_ms, _median_ms(ref_drag_step, min(repeats, 20))))
    patch_holder: list[A.AnnotationPatch | None] = []

    def drag_end() -> None:
        rec = A.StrokeRecorder(ann)
        for i in stroke:
            A.paint_labels(ann, idx, i, 3, recorder=rec)
        t0 = time.perf_counter()
        patch_holder[:] = [rec.finish()]
        drag_end_times.append(time.perf_counter() - t0)

    drag_end_times: list[float] = []
    for _ in range(max(3, repeats // 5)):
        A.paint_labels(ann, idx, stroke, 1)
        drag_end()
    rows.append(("drag end (patch of 50 spread)", 1000 * statistics.median(drag_end_times),
                 _median_ms(lambda: (ref_cls.copy(), ref_inst.copy()), repeats)))

    patch = patch_holder[0]
    assert patch is not None
    undo_ms = _median_ms(lambda: (patch.revert(ann), patch.apply(ann)), repeats) / 2
    saved_cls, saved_inst = ref_cls.copy(), ref_inst.copy()

    def ref_undo() -> None:
        ref_cls[...] = saved_cls
        ref_inst[...] = saved_inst

    rows.append(("undo (50 superpixels)", undo_ms, _median_ms(ref_undo, repeats)))

    objects, counts = np.unique(gt[gt > 0], return_counts=True)
    big = int(objects[np.argmax(counts)])

    def fill() -> None:
        rec = A.StrokeRecorder(ann)
        A.paint_labels(ann, obj_idx, big, 1 + int(rng.integers(3)), A.new_instance_id(ann),
                       recorder=rec)
        rec.finish()

    def ref_fill() -> None:
        _ = ref_cls.copy(), ref_inst.copy()
        m = gt == big
        ref_cls[m] = 1 + int(rng.integers(3))
        ref_inst[m] = 1

    rows.append(("object fill (largest)", _median_ms(fill, max(3, repeats // 3)),
                 _median_ms(ref_fill, max(3, repeats // 3))))

    def counts_after_click() -> None:
        A.paint_labels(ann, idx, int(next(it)), 2)
        A.class_pixel_counts(ann)

    rows.append(("click + class counts", _median_ms(counts_after_click, repeats),
                 _median_ms(lambda: np.bincount(ann.class_map.ravel()), repeats)))

    # a finished image: each prior object one instance of a class
    done = A.Annotation.empty(sp.shape)
    for k, o in enumerate(objects.tolist()):
        A.paint_labels(done, obj_idx, o, 1 + k % 3, k + 1)

    def ref_coco() -> None:
        for i in range(1, len(objects) + 1):
            m = done.instance_map == i
            mu.encode(np.asfortranarray(m.astype(np.uint8)))
            int(m.sum())

    rows.append(("COCO of the image (objects as instances)",
                 _median_ms(lambda: annotation_entries(done, 1, 1), max(3, repeats // 5)),
                 _median_ms(ref_coco, max(3, repeats // 5))))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="BSDS500 val folder")
    ap.add_argument("--images", type=int, default=1, help="photos (default 1)")
    ap.add_argument("--repeats", type=int, default=20, help="runs per row (default 20)")
    ap.add_argument("--sizes", default="481x321,4000x3000", help="W x H list")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    files = sorted((args.data / "images").glob("*.jpg"))[:args.images]
    if not files:
        raise SystemExit(f"no .jpg images in {args.data / 'images'}")
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores (shared); numpy {np.__version__}; "
          f"{len(files)} photo(s), {args.repeats} repeats, median ms")
    for w, h in sizes:
        table: dict[str, list[tuple[float, float]]] = {}
        for f in files:
            sp, gt = _maps(f, args.data, (w, h))
            for name, ours, ref in _rows(sp, gt, args.repeats):
                table.setdefault(name, []).append((ours, ref))
        print(f"\n{w} x {h} ({w * h / 1e6:.1f} MP)")
        print("| operation | ours ms | whole-image ms | ratio |\n|---|---:|---:|---:|")
        for name, vals in table.items():
            ours = statistics.median(v[0] for v in vals)
            ref = statistics.median(v[1] for v in vals)
            r = ref / ours
            ratio = ("" if np.isnan(ref) else f"{r:.0f}x" if r >= 10 else f"{r:.1f}x" if r >= 1
                     else f"{r:.2f}x")
            ref_s = "—" if np.isnan(ref) else f"{ref:.2f}"
            print(f"| {name} | {ours:.2f} | {ref_s} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
