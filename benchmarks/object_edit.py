"""Editing objects (issue 14): re-clustering only the superpixels an edit made invalid, beside
segmenting the whole image again with the edited object map.

    python benchmarks/object_edit.py                  # 5 BSDS val photos, K = 400
    python benchmarks/object_edit.py --images 10 --k 800 --encoder none

On each photo (481 x 321): SPAM with the shipped encoder inside the built-in prior's objects
(the first-run objects of the app), then four edits of that object map, as the app's tools make
them (:mod:`spam_gui.core.engine.object_edits`):

- merge: the two largest objects that touch;
- split: the largest object, cut by a horizontal line through its middle;
- draw: a 80 x 60 lasso at the centre of the image becomes a new object;
- erase: a 60 x 40 box at a third of the width becomes uncertain.

Columns (median over the photos): the time of ``resegment_objects`` (what the app runs after an
edit: the superpixels that straddle two objects of the edited map are clustered again, the rest
stay), of ``Spam.segment`` with the edited map (the reference: everything re-clustered), their
ratio, the share of superpixels that kept exactly their pixels, and whether every superpixel
stays inside one object of the edited map (all photos). The features are cached in both
cases (the app has them from the first segmentation). Timings are wall-clock on a machine that
may be shared: read the ratios, measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _machine import cpu_name  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bsds500" / "val"
EDITS = ("merge", "split", "draw", "erase")


def _touching(objects: np.ndarray) -> set[tuple[int, int]]:
    pairs = set()
    for a, b in ((objects[:, :-1], objects[:, 1:]), (objects[:-1, :], objects[1:, :])):
        m = (a != b) & (a > 0) & (b > 0)
        pairs.update((int(x), int(y)) for x, y in np.unique(np.stack([a[m], b[m]], 1), axis=0))
    return pairs


def make_edit(kind: str, objects: np.ndarray):
    from spam_gui.core.engine import object_edits as oe

    h, w = objects.shape
    ids, areas = np.unique(objects[objects > 0], return_counts=True)
    by_area = [int(i) for i in ids[np.argsort(-areas)]]
    if kind == "merge":
        pairs = _touching(objects)
        for i, a in enumerate(by_area):
            for b in by_area[i + 1:]:
                if (a, b) in pairs or (b, a) in pairs:
                    return oe.merge_objects(objects, [a, b])
        raise ValueError("no two touching objects")
    if kind == "split":
        big = by_area[0]
        ys, xs = np.nonzero(objects == big)
        y = int(np.median(ys))
        return oe.split_object(objects, oe.stroke_mask((h, w), [(0, y), (w - 1, y)], radius=1),
                               object_id=big)
    if kind == "draw":
        cx, cy = w // 2, h // 2
        lasso = [(cx - 40, cy - 30), (cx + 40, cy - 30), (cx + 40, cy + 30), (cx - 40, cy + 30)]
        return oe.paint_object(objects, oe.stroke_mask((h, w), lasso, closed=True))
    mask = np.zeros((h, w), bool)
    mask[h // 2 - 20:h // 2 + 20, w // 3 - 30:w // 3 + 30] = True
    return oe.erase_objects(objects, mask)


def kept_share(before, after) -> float:
    """Share of the superpixels of ``before`` whose pixels are exactly one superpixel after."""
    lab_b, lab_a = before.labels.ravel(), after.labels.ravel()
    n = before.n_superpixels
    pairs = np.unique(np.stack([lab_b, lab_a], 1), axis=0)
    one_after = np.bincount(pairs[:, 0], minlength=n + 1) == 1
    sizes_b = np.bincount(lab_b, minlength=n + 1)
    target = np.zeros(n + 1, np.int64)
    target[pairs[:, 0]] = pairs[:, 1]
    sizes_a = np.bincount(lab_a, minlength=after.n_superpixels + 1)
    same = one_after & (sizes_a[target] == sizes_b)
    return float(same[1:].mean())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="BSDS500 val folder")
    ap.add_argument("--images", type=int, default=5)
    ap.add_argument("--k", type=int, default=400)
    ap.add_argument("--encoder", default="default", help="default (shipped), none, or a file")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from spam_gui.core.io.images import read_image
    from spam_gui.core.engine.object_edits import resegment_objects, superpixels_within_objects
    from spam_gui.core.prior.builtin.compute import build_hierarchy
    from spam_gui.core.engine.spam import Spam

    paths = sorted((args.data / "images").glob("*.jpg"))[: args.images]
    if not paths:
        print(f"no images in {args.data / 'images'}", file=sys.stderr)
        return 2
    eng = Spam(encoder=args.encoder, device="cpu")
    rows: dict[str, list[tuple[float, float, float]]] = {k: [] for k in EDITS}
    contained = {k: True for k in EDITS}
    counts: dict[str, list[tuple[int, int]]] = {k: [] for k in EDITS}
    n_obj = []
    for p in paths:
        img = read_image(p)
        prior = build_hierarchy(img, spam=eng).prior()
        n_obj.append(int(len(np.unique(prior[prior > 0]))))
        base = eng.segment(img, n_segments=args.k, prior=prior)
        for kind in EDITS:
            try:
                edit = make_edit(kind, base.objects)
            except Exception as exc:  # noqa: BLE001 - an image where the edit makes no sense
                print(f"{p.name}: {kind} skipped ({exc})", file=sys.stderr)
                continue
            t0 = time.perf_counter()
            out = resegment_objects(eng, base, edit.objects, {})
            t1 = time.perf_counter()
            full = eng.segment(img, n_segments=args.k, prior=edit.objects)
            t2 = time.perf_counter()
            contained[kind] &= superpixels_within_objects(out.labels, edit.objects)
            rows[kind].append((t1 - t0, t2 - t1, kept_share(base, out)))
            counts[kind].append((out.n_superpixels, full.n_superpixels))

    print(f"Object edits: {len(paths)} BSDS val photo(s), K = {args.k}, encoder "
          f"{eng.encoder_name}, built-in prior ({statistics.median(n_obj)} objects, median); "
          f"{cpu_name()}, {args.threads} thread(s), machine possibly shared")
    print()
    print("| edit | re-cluster what the edit touched (ms) | segment again (ms) | ratio | "
          "superpixels kept | N (ours / again) | inside one object |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for kind in EDITS:
        r = rows[kind]
        if not r:
            continue
        ours = statistics.median(t for t, _, _ in r) * 1000
        ref = statistics.median(t for _, t, _ in r) * 1000
        kept = statistics.median(k for _, _, k in r)
        n_ours = statistics.median(a for a, _ in counts[kind])
        n_ref = statistics.median(b for _, b in counts[kind])
        print(f"| {kind} | {ours:.0f} | {ref:.0f} | {ours / ref:.2f} | {kept:.0%} | "
              f"{n_ours:.0f} / {n_ref:.0f} | {'yes' if contained[kind] else 'NO'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
