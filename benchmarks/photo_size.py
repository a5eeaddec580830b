"""Photos of any size (issue 17): time, peak memory and ASA of SPAM on upsampled BSDS500 val
images, side by side with scikit-image SLIC on the same images.

    python benchmarks/photo_size.py                      # 3 images, x1 x2 x4 x8, 2 threads
    python benchmarks/photo_size.py --images 10 --x16    # + x16 (39 MP), 10 images
    python benchmarks/photo_size.py --scales 8 --no-slic
    python benchmarks/photo_size.py --scales 2 --no-slic --images 20 --work-pps 400 800

``--work-pps`` compares working grids of several sizes (pixels per superpixel, see
``spam_gui.core.engine.fullres.working.WORK_PIXELS_PER_SUPERPIXEL``), one SPAM row each.

Every (scale, method) runs in its own subprocess, so that its peak resident memory (the
``ru_maxrss`` of that process: Python, torch, the image, everything) is its own. Images are
upsampled with bicubic interpolation, the ground truths with nearest neighbour. Columns
(medians over the images, ASA a mean):

- cold s: one image from scratch (SPAM: features cache cleared: resize, encoder, clustering,
  full-resolution labels);
- re-K s: the same image again at another K (``--rek``), features cached (SLIC: a full run);
- rescale ms: ``Spam.rescale`` ×2 of the largest object, on a result computed with the
  annotator-0 ground truth as prior;
- peak GB: the process's peak resident memory over cold and re-K (the image and the engine;
  measured before the ground truths and the prior run are loaded); B/px: that peak minus
  the process's memory before the first image (Python, torch, the model, the compiled
  kernels), per pixel of the image;
- ASA: mean over the images of the mean ASA over the annotators, against the equally
  upsampled ground truth; ΔASA: minus the same method's ASA at x1 (native size).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _machine import cpu_name  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

DEFAULT_DATA = str(Path(__file__).resolve().parents[2] / "shared" / "data" / "bsds500" / "val")


def _images(data: Path, limit: int) -> list[Path]:
    files = sorted((data / "images").glob("*.jpg"))[:limit]
    if not files:
        raise SystemExit(f"no .jpg images in {data / 'images'}")
    return files


def _upsampled_image(path: Path, scale: int) -> np.ndarray:
    import cv2

    from spam_gui.core.io.images import read_image

    img = read_image(path)
    return img if scale == 1 else cv2.resize(img, None, fx=scale, fy=scale,
                                             interpolation=cv2.INTER_CUBIC)


def _upsampled_gts(path: Path, data: Path, scale: int) -> list[np.ndarray]:
    import cv2

    from spam_gui.core.io.images import read_label_map

    gts = [read_label_map(g) for g in sorted((data / "gt").glob(f"{path.stem}_*.png"))]
    return gts if scale == 1 else [
        cv2.resize(g, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST) for g in gts]


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def _largest_object(prior: np.ndarray) -> int:
    ids, counts = np.unique(prior[prior > 0], return_counts=True)
    return int(ids[np.argmax(counts)])


def worker(args: argparse.Namespace) -> None:
    """One (scale, method) in this process; prints one JSON line."""
    import torch

    from spam_gui.core.evaluation.metrics import asa

    torch.set_num_threads(args.threads)
    data = Path(args.data)
    rows = []
    if args.method == "spam":
        from spam_gui.core.engine.fullres import working as fullres
        from spam_gui.core.engine.spam import Spam

        if args.work_pps:   # another working-grid size, for a side-by-side comparison
            fullres.WORK_PIXELS_PER_SUPERPIXEL = args.work_pps[0]
            fullres.WORK_MIN_PIXELS = min(fullres.WORK_MIN_PIXELS, args.work_pps[0] * args.k)
        spam = Spam(encoder=args.encoder, device="cpu")
        spam.segment(np.zeros((64, 64, 3), np.uint8), n_segments=8)   # compiled kernels
    else:
        from skimage.segmentation import slic
    base_gb = _rss_gb()
    seg_peak_gb = base_gb
    for path in _images(data, args.images):
        img = _upsampled_image(path, args.scale)
        row: dict[str, float | str] = {"id": path.stem, "mp": img.shape[0] * img.shape[1] / 1e6}
        if args.method == "spam":
            spam.clear_cache()
            t0 = time.perf_counter()
            res = spam.segment(img, n_segments=args.k)
            row["cold"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            spam.segment(img, n_segments=args.rek)
            row["rek"] = time.perf_counter() - t0
            labels = res.labels
            seg_peak_gb = _rss_gb()      # the image and the engine (no ground truth yet)
            gts = _upsampled_gts(path, data, args.scale)
            with_prior = spam.segment(img, n_segments=args.k, prior=gts[0])
            t0 = time.perf_counter()
            spam.rescale(with_prior, _largest_object(gts[0]), 2.0)
            row["rescale_ms"] = (time.perf_counter() - t0) * 1000
            row["working"] = "x".join(map(str, res.params.get("working_size", ["full"])))
            del with_prior, res
        else:
            t0 = time.perf_counter()
            labels = slic(img, n_segments=args.k, start_label=1)
            row["cold"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            slic(img, n_segments=args.rek, start_label=1)
            row["rek"] = time.perf_counter() - t0
            seg_peak_gb = _rss_gb()
            gts = _upsampled_gts(path, data, args.scale)
        row["asa"] = float(np.mean([asa(labels, g) for g in gts]))
        row["n"] = int(np.unique(labels).size)
        rows.append(row)
        del img, gts, labels
    print(json.dumps({"rows": rows, "base_gb": base_gb, "peak_gb": seg_peak_gb,
                      "peak_all_gb": _rss_gb()}))


def _run(args: argparse.Namespace, scale: int, method: str, pps: int | None = None) -> dict:
    cmd = [sys.executable, __file__, "--worker", "--scale", str(scale), "--method", method,
           "--images", str(args.images), "--k", str(args.k), "--rek", str(args.rek),
           "--threads", str(args.threads), "--encoder", args.encoder, "--data", args.data]
    if pps is not None:
        cmd += ["--work-pps", str(pps)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA, help="BSDS500 val folder (images/, gt/)")
    ap.add_argument("--images", type=int, default=3, help="first N val images (default 3)")
    ap.add_argument("--scales", type=int, nargs="+", default=[2, 4, 8],
                    help="upsampling factors besides x1 (default 2 4 8)")
    ap.add_argument("--x16", action="store_true", help="also x16 (39 MP, several GB)")
    ap.add_argument("--k", type=int, default=400, help="K (default 400)")
    ap.add_argument("--rek", type=int, default=300, help="the other K of re-K (default 300)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--encoder", default="default", help="default, none or a weight file")
    ap.add_argument("--no-slic", action="store_true", help="SPAM only")
    ap.add_argument("--work-pps", type=int, nargs="+", default=None,
                    help="working-grid pixels per superpixel to compare (default: the engine's)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--scale", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--method", default="spam", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args)
        return 0

    import torch

    scales = [1] + sorted(set(args.scales) | ({16} if args.x16 else set()) - {1})
    variants: list[tuple[str, int | None]] = (
        [("spam", None)] if not args.work_pps else [("spam", v) for v in args.work_pps])
    methods = variants + ([] if args.no_slic else [("slic", None)])
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; torch {torch.__version__}, "
          f"{args.threads} thread(s); python {platform.python_version()}")
    print(f"BSDS500 val, first {args.images} images, K = {args.k} (re-K: {args.rek}), "
          f"encoder {args.encoder}")
    results: dict[str, dict] = {}
    native: dict[str, float] = {}
    head = (f"{'scale':>5} {'MP':>5} {'method':<8} {'working':>9} {'cold s':>7} {'re-K s':>7} "
            f"{'rescale ms':>10} {'peak GB':>7} {'B/px':>5} {'ASA':>7} {'ΔASA':>7} {'K̂':>5}")
    print(head)
    print("-" * len(head))
    for scale in scales:
        for method, pps in methods:
            if scale == 1 and pps is not None and pps != methods[0][1]:
                continue    # (native size: the exact path, whatever the working grid)
            r = _run(args, scale, method, pps)
            results[f"{method}{'' if pps is None else pps}x{scale}"] = r
            name = method if pps is None else f"{method}/{pps}"
            if "error" in r:
                print(f"{'x%d' % scale:>5} {'':>5} {name:<8} failed: {r['error']}")
                continue
            rows = r["rows"]
            a = float(np.mean([x["asa"] for x in rows]))
            if scale == 1:
                native[method] = a
            med = {key: statistics.median(x[key] for x in rows)
                   for key in ("cold", "rek", "mp", "n") if all(key in x for x in rows)}
            resc = (f"{statistics.median(x['rescale_ms'] for x in rows):10.0f}"
                    if method == "spam" else f"{'':>10}")
            work = rows[0].get("working", "") if method == "spam" else ""
            d = f"{a - native[method]:+7.4f}" if method in native else f"{'':>7}"
            bpp = (r["peak_gb"] - r["base_gb"]) * 1e9 / (max(x["mp"] for x in rows) * 1e6)
            print(f"{'x%d' % scale:>5} {med['mp']:5.1f} {name:<8} {work:>9} {med['cold']:7.2f} "
                  f"{med['rek']:7.2f} {resc} {r['peak_gb']:7.2f} {bpp:5.0f} {a:7.4f} {d} "
                  f"{med['n']:5.0f}",
                  flush=True)
    print("(the machine may be shared: compare SPAM with SLIC within one run, not across runs)")
    if args.json:
        from spam_gui.core.io.images import write_json

        write_json(args.json, {"args": {k: v for k, v in vars(args).items() if k != "json"},
                               "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
