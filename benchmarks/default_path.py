"""The default path on photos of every size: ``spam segment --builtin-prior`` (objects from the
built-in prior, then superpixels) beside scikit-image ``slic`` on the same files.

    python benchmarks/default_path.py                        # 3 val images at 0.15 / 3 / 12 MP
    python benchmarks/default_path.py --scales 1 9 18        # + 48 MP (about 2 minutes each)
    python benchmarks/default_path.py --images 10 --scales 1 9 --no-slic

Each BSDS500 val image is upsampled (bicubic; x4.5 is 3 MP, x9 12.5 MP, x18 50 MP) and
written as a JPEG (quality 95), as a phone would. For every file, in its own process:

- ``spam``: the real command, ``python -m spam_gui.cli segment FILE --builtin-prior`` (model
  loading, decoding, the prior, the superpixels, the PNG and sidecar writes), with an empty
  disk cache; ``re-open``: the same command again, the built-in prior's hierarchy now read
  from the disk cache (a later session);
- ``slic``: ``skimage.segmentation.slic(image, n_segments=K, start_label=1)`` after decoding
  the same file (the decoding not timed).

Columns: wall seconds and peak resident memory of the process (``wait4``'s ``ru_maxrss``);
``covering``: the objects (each pixel the object of its superpixel, so the uncertain band counts
as the side the superpixels gave it) against the equally upsampled ground truths, mean over
annotators then images; ``ASA``: of the superpixels; ``Δ``: minus the same method at x1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _machine import cpu_name  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

DEFAULT_DATA = str(Path(__file__).resolve().parents[2] / "shared" / "data" / "bsds500" / "val")

_SLIC = """
import sys, time, numpy as np
from skimage.segmentation import slic
from spam_gui.core.io.images import read_image, write_label_png
img = read_image(sys.argv[1])
t0 = time.perf_counter()
labels = slic(img, n_segments=int(sys.argv[3]), start_label=1)
print(time.perf_counter() - t0)
write_label_png(sys.argv[2], labels.astype(np.int32))
"""


def _peak_of(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, peak GB, stdout) of a command in its own process: the child's own peak
    from ``wait4`` (``RUSAGE_CHILDREN`` would be the maximum over every child so far)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    out = p.stdout.read().decode() if p.stdout else ""
    err = p.stderr.read().decode() if p.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code:
        raise RuntimeError(f"{' '.join(cmd[:5])}: exit {code}: {err.strip()[-400:]}")
    return wall, usage.ru_maxrss * 1024 / 1e9, out


def _objects_by_superpixel(labels: np.ndarray, objects: np.ndarray) -> np.ndarray:
    """Each pixel the object of its superpixel (the majority non-zero object in it)."""
    n = int(labels.max()) + 1
    sp_obj = np.zeros(n, np.int64)
    certain = objects > 0
    pairs = labels[certain].astype(np.int64) * (int(objects.max()) + 1) + objects[certain]
    codes, counts = np.unique(pairs, return_counts=True)
    order = np.lexsort((counts, codes // (int(objects.max()) + 1)))
    best = codes[order]
    sp_obj[best // (int(objects.max()) + 1)] = best % (int(objects.max()) + 1)
    return sp_obj[labels]


def _scores(labels_png: Path, objects_png: Path | None, gts: list[np.ndarray]
            ) -> tuple[float, float | None]:
    from spam_gui.core.io.images import read_label_map
    from spam_gui.core.evaluation.metrics import asa, segmentation_covering

    labels = read_label_map(labels_png)
    a = float(np.mean([asa(labels, g) for g in gts]))
    if objects_png is None:
        return a, None
    objects = _objects_by_superpixel(labels, read_label_map(objects_png))
    return a, float(np.mean([segmentation_covering(objects, g) for g in gts]))


def main(argv: list[str] | None = None) -> int:
    import cv2

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA, help="BSDS500 val folder (images/, gt/)")
    ap.add_argument("--images", type=int, default=3, help="first N val images (default 3)")
    ap.add_argument("--scales", type=float, nargs="+", default=[1, 4.5, 9],
                    help="upsampling factors (default 1 4.5 9: 0.15, 3 and 12.5 MP)")
    ap.add_argument("--k", type=int, default=400, help="K (default 400)")
    ap.add_argument("--no-slic", action="store_true", help="SPAM only")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args(argv)
    from spam_gui.core.io.images import read_image, read_label_map

    data = Path(args.data)
    files = sorted((data / "images").glob("*.jpg"))[: args.images]
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; python {platform.python_version()}")
    print(f"BSDS500 val, first {len(files)} images, K = {args.k}; medians (times, memory), "
          "means (scores)")
    head = (f"{'scale':>5} {'MP':>5} {'method':<7} {'cold s':>7} {'re-open s':>9} "
            f"{'peak GB':>7} {'covering':>8} {'Δcov':>6} {'ASA':>6} {'ΔASA':>7}")
    print(head)
    print("-" * len(head))
    rows: list[dict] = []
    native: dict[str, dict[str, float]] = {}
    methods = ["spam"] + ([] if args.no_slic else ["slic"])
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        for scale in args.scales:
            per: dict[str, list[dict]] = {m: [] for m in methods}
            for f in files:
                img = read_image(f)
                big = img if scale == 1 else cv2.resize(img, None, fx=scale, fy=scale,
                                                        interpolation=cv2.INTER_CUBIC)
                src = t / f"{f.stem}_x{scale:g}.jpg"
                cv2.imwrite(str(src), cv2.cvtColor(big, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, 95])
                mp = big.shape[0] * big.shape[1] / 1e6
                gts = [read_label_map(g) for g in sorted((data / "gt").glob(f"{f.stem}_*.png"))]
                if scale != 1:
                    gts = [cv2.resize(g, (big.shape[1], big.shape[0]),
                                      interpolation=cv2.INTER_NEAREST) for g in gts]
                del img, big
                env = dict(os.environ, SPAM_CACHE_DIR=str(t / f"cache_{f.stem}_{scale:g}"))
                out = t / f"out_{f.stem}_{scale:g}"
                cmd = [sys.executable, "-m", "spam_gui.cli", "segment", str(src), "--out",
                       str(out), "--builtin-prior", "-k", str(args.k), "--no-progress"]
                cold, peak, _ = _peak_of(cmd, env)
                again, peak2, _ = _peak_of(cmd + ["--overwrite"], env)
                a, cov = _scores(out / f"{src.stem}.png", out / f"{src.stem}_objects.png", gts)
                per["spam"].append({"mp": mp, "cold": cold, "reopen": again,
                                    "peak": max(peak, peak2), "asa": a, "cov": cov})
                if "slic" in methods:
                    lab = t / f"slic_{f.stem}.png"
                    wall, peak, out_s = _peak_of([sys.executable, "-c", _SLIC, str(src),
                                                  str(lab), str(args.k)], os.environ.copy())
                    a, _ = _scores(lab, None, gts)
                    per["slic"].append({"mp": mp, "cold": float(out_s.strip().splitlines()[0]),
                                        "reopen": float("nan"), "peak": peak, "asa": a,
                                        "cov": None})
                del gts
            for m in methods:
                r = per[m]
                row = {"scale": scale, "method": m,
                       "mp": float(np.mean([x["mp"] for x in r])),
                       "cold": float(np.median([x["cold"] for x in r])),
                       "reopen": float(np.median([x["reopen"] for x in r])),
                       "peak": float(np.median([x["peak"] for x in r])),
                       "asa": float(np.mean([x["asa"] for x in r])),
                       "cov": None if r[0]["cov"] is None else float(np.mean([x["cov"] for x in r]))}
                if scale == 1:
                    native[m] = row
                base = native.get(m, row)
                dcov = (f"{row['cov'] - base['cov']:+.3f}" if row["cov"] is not None
                        and base.get("cov") is not None else "")
                cov_s = f"{row['cov']:.3f}" if row["cov"] is not None else ""
                reopen = f"{row['reopen']:.1f}" if row["reopen"] == row["reopen"] else ""
                print(f"x{scale:<4g} {row['mp']:5.1f} {m:<7} {row['cold']:7.1f} {reopen:>9} "
                      f"{row['peak']:7.2f} {cov_s:>8} {dcov:>6} {row['asa']:6.4f} "
                      f"{row['asa'] - base['asa']:+7.4f}", flush=True)
                rows.append(row)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
