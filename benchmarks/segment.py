"""Side-by-side timing and ΔK of scikit-image SLIC, SPAM without a network and SPAM with its
encoder, on BSDS500 val images at K = 400 (issues 2 and 17).

    python benchmarks/segment.py                        # 10 images, 2 threads
    python benchmarks/segment.py --limit 100 --threads 1
    python benchmarks/segment.py --reference            # + the engine without its kernels
    python benchmarks/segment.py --profile              # + cProfile of one SPAM segment call

Columns (medians over the images unless said otherwise; every time is the best of
``--repeat`` runs, default 2, which keeps a shared machine's noise out of the medians):

- cold s: one image from scratch: features (Lab, and the encoder's forward pass) + clustering;
  SPAM's feature cache is cleared before every image;
- re-K s: the same image again with another K (``--rek``, default 300), features cached;
  for SLIC this is a full run (it has nothing to cache); ``× slic`` is its ratio to SLIC's;
- rescale ms: ``Spam.rescale`` of one object (×2) on a result computed with the annotator-0
  ground truth of the image as prior (its largest object): the median and the largest;
- forward s: the encoder's forward pass alone (fused, inference mode);
- ΔK and K̂: means of ``|K̂ - K| / K`` and of K̂ without a prior.

``--clock cpu --threads 1`` times the process's CPU time instead of the wall clock: on a
machine shared with other jobs it measures the work itself (SLIC is single-threaded too).

With ``--reference`` the SPAM rows run a second time with the compiled kernels switched off
(:func:`spam_gui.core.engine.compiled.kernels` returning None): the PyTorch clustering
(``soft_cluster``), the encoder's plain forward pass, the NumPy majority filter and the k-d
tree seeding, i.e. the engine before issue 17, measured in the same run.

Without ``resources/models/spam_encoder_d20.pt`` the encoder row uses random weights (saved to
a temporary file and loaded through the real loader); the row says so. The forward-pass cost
does not depend on the weights' values.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _machine import cpu_name  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

DEFAULT_DATA = str(Path(__file__).resolve().parents[2] / "shared" / "data" / "bsds500" / "val")


def load_images(data: Path, limit: int) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """(id, image, annotator-0 ground truth or None) for the first ``limit`` val images."""
    from spam_gui.core.io.images import read_image, read_label_map

    files = sorted((data / "images").glob("*.jpg"))[:limit]
    if not files:
        raise SystemExit(f"no .jpg images in {data / 'images'}")
    out = []
    for f in files:
        gt_path = data / "gt" / f"{f.stem}_0.png"
        gt = read_label_map(gt_path) if gt_path.is_file() else None
        out.append((f.stem, read_image(f), gt))
    return out


def machine_line(threads: int) -> str:
    import torch

    return (f"machine: {cpu_name()}, {os.cpu_count()} cores; torch {torch.__version__}, "
            f"{threads} thread(s); python {platform.python_version()}")


REPEAT = 2
CLOCK = time.perf_counter


def timed(fn, *args, **kwargs):
    """``(result, seconds)``: the best of ``REPEAT`` runs, on ``CLOCK``."""
    best = float("inf")
    for _ in range(max(1, REPEAT)):
        t0 = CLOCK()
        out = fn(*args, **kwargs)
        best = min(best, CLOCK() - t0)
    return out, best


def largest_object(prior: np.ndarray) -> int:
    ids, counts = np.unique(prior[prior > 0], return_counts=True)
    return int(ids[np.argmax(counts)])


def bench_slic(images, k: int, rek: int) -> dict:
    from skimage.segmentation import slic

    def run(img, n):
        return slic(img, n_segments=n, compactness=10, start_label=1)

    run(images[0][1], k)  # warm-up
    cold, again, khat = [], [], []
    for _, img, _ in images:
        labels, t = timed(run, img, k)
        cold.append(t)
        khat.append(len(np.unique(labels)))
        again.append(timed(run, img, rek)[1])
    return {"cold": cold, "rek": again, "rescale": None, "forward": None, "khat": khat}


def bench_spam(spam, images, k: int, rek: int, forward=None) -> dict:
    # warm-up (allocations, first-call costs)
    spam.segment(images[0][1], n_segments=k)
    spam.clear_cache()
    cold, again, resc, fwd, khat = [], [], [], [], []

    def segment_cold(img):
        spam.clear_cache()
        return spam.segment(img, n_segments=k)

    for _, img, gt in images:
        res, t = timed(segment_cold, img)
        cold.append(t)
        khat.append(res.n_superpixels)
        again.append(timed(spam.segment, img, n_segments=rek)[1])
        if gt is not None and gt.shape == img.shape[:2]:
            with_prior = spam.segment(img, n_segments=k, prior=gt)
            oid = largest_object(gt)
            resc.append(timed(spam.rescale, with_prior, oid, 2.0)[1])
        if forward is not None:
            fwd.append(forward(img))
    return {"cold": cold, "rek": again, "rescale": resc or None,
            "forward": fwd or None, "khat": khat}


def make_forward(spam_path):
    """A function timing the encoder's forward pass alone on an image (the path the engine
    uses now: with or without the compiled kernels)."""
    import torch

    from spam_gui.core.engine.encoder import InferenceEncoder, load_encoder
    from spam_gui.core.engine.features import rgb_to_lab

    model, info = load_encoder(spam_path)
    enc = InferenceEncoder(model, info, torch.device("cpu"))
    enc(rgb_to_lab(np.zeros((64, 64, 3), np.uint8)))  # warm-up

    def forward(img):
        lab = rgb_to_lab(img)
        return timed(enc, lab)[1]

    return forward


def fmt(values, scale=1.0, digits=3):
    if not values:
        return "-"
    return f"{statistics.median(values) * scale:.{digits}f}"


def profile_segment(spam, img, k: int, top: int) -> None:
    import torch

    spam.segment(img, n_segments=k)
    spam.clear_cache()
    prof = cProfile.Profile()
    prof.enable()
    spam.segment(img, n_segments=k)
    prof.disable()
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(top)
    print(f"\ncProfile of one cold SPAM segment call ({spam.encoder_name}, K={k}, "
          f"{torch.get_num_threads()} thread(s)), top {top} by own time:")
    print("\n".join(line for line in s.getvalue().splitlines() if line.strip())[:6000])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(DEFAULT_DATA),
                    help="BSDS-layout folder with images/ and gt/ (default: BSDS500 val)")
    ap.add_argument("--limit", type=int, default=10, help="number of images (default 10)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    ap.add_argument("-k", "--n-segments", type=int, default=400, help="K (default 400)")
    ap.add_argument("--rek", type=int, default=300, help="the other K of the re-K column (300)")
    ap.add_argument("--encoder", default=None,
                    help="encoder weight file (default: the shipped one, else random weights)")
    ap.add_argument("--profile", action="store_true",
                    help="also print a cProfile of one cold SPAM (with encoder) segment call")
    ap.add_argument("--reference", action="store_true",
                    help="also run the SPAM rows without the compiled kernels (the engine "
                         "before issue 17)")
    ap.add_argument("--repeat", type=int, default=2,
                    help="runs per measurement, the best is kept (default 2)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall time (default) or the process's CPU time: with --threads 1 "
                         "the work done, unaffected by other programs on a shared machine")
    args = ap.parse_args(argv)
    global REPEAT, CLOCK
    REPEAT = args.repeat
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter

    import torch

    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    from spam_gui.core import Spam
    from spam_gui.core.engine.encoder import SSNEncoder, save_encoder
    from spam_gui.core.io.resources import missing_resources
    from spam_gui.core.engine.spam import DEFAULT_ENCODER_FILE, default_encoder_path

    images = load_images(args.data, args.limit)
    h, w = images[0][1].shape[:2]
    k = args.n_segments
    print(machine_line(args.threads))
    print(f"{len(images)} images from {args.data} ({max(h, w)} x {min(h, w)}), K = {k}, "
          f"re-K = {args.rek}, device cpu, {args.clock} clock")

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.encoder:
            enc_path, enc_label = Path(args.encoder), f"SPAM, encoder {Path(args.encoder).name}"
        elif not missing_resources((f"models/{DEFAULT_ENCODER_FILE}",)):
            enc_path, enc_label = default_encoder_path(), "SPAM, shipped encoder (D=20)"
        else:
            torch.manual_seed(0)
            enc_path = save_encoder(Path(tmp) / "random_d20.pt", SSNEncoder(20).eval(),
                                    meta={"note": "random weights (benchmark)"})
            enc_label = "SPAM, encoder with RANDOM weights (D=20)"

        from spam_gui.core.engine import compiled

        results = [("skimage slic (compactness 10)", bench_slic(images, k, args.rek))]
        print(f"  done: {results[-1][0]}", file=sys.stderr, flush=True)
        variants = [("", False)] + ([(" — without kernels (reference)", True)]
                                    if args.reference else [])
        spam_enc = None
        for suffix, reference in variants:
            saved = compiled._KERNELS
            if reference:
                compiled._KERNELS = None          # every kernel user falls back
            try:
                results.append(("SPAM, no network (D=5)" + suffix,
                                bench_spam(Spam(encoder=None, device="cpu"), images, k,
                                           args.rek)))
                print(f"  done: {results[-1][0]}", file=sys.stderr, flush=True)
                spam = Spam(encoder=enc_path, device="cpu")
                results.append((enc_label + suffix, bench_spam(
                    spam, images, k, args.rek, forward=make_forward(enc_path))))
                print(f"  done: {results[-1][0]}", file=sys.stderr, flush=True)
                spam_enc = spam_enc or spam
            finally:
                compiled._KERNELS = saved

        slic_rek = statistics.median(results[0][1]["rek"])
        print()
        print("| method | cold s / image | re-K s (cached features) | re-K × slic "
              "| rescale ms (1 object ×2), median / max | forward s | mean ΔK | mean K̂ |")
        print("|---|---|---|---|---|---|---|---|")
        for name, r in results:
            dk = statistics.fmean(abs(x - k) / k for x in r["khat"])
            resc = (f"{fmt(r['rescale'], 1000, 1)} / {max(r['rescale']) * 1000:.1f}"
                    if r["rescale"] else "-")
            rows.append((name, fmt(r["cold"]), fmt(r["rek"]),
                         f"{statistics.median(r['rek']) / slic_rek:.2f}", resc,
                         fmt(r["forward"]), f"{dk:.3f}", f"{statistics.fmean(r['khat']):.1f}"))
            print("| " + " | ".join(rows[-1]) + " |")
        print()
        print(f"medians over images of the best of {REPEAT} runs; slic's re-K is a full run; "
              "rescale uses the annotator-0 ground truth as prior and doubles its largest "
              "object's density")
        if args.profile and spam_enc is not None:
            profile_segment(spam_enc, images[0][1], k, 25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
