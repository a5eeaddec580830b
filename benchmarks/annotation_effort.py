"""Annotation effort on BSDS500 val: the clicks a greedy simulated annotator needs to label 85 /
90 / 95 % of the pixels right, with superpixels alone or with superpixels and objects (issue 14).

    python benchmarks/annotation_effort.py                       # every val image, K = 200, 400, 800
    python benchmarks/annotation_effort.py --images 8 --ks 400 --levels 90
    python benchmarks/annotation_effort.py --images 20 --out docs  # + docs/results/annotation_effort.{json,md}

The annotator (:func:`spam_gui.core.evaluation.annotation_effort.simulate_annotation`): each annotator's
ground truth of an image is its class map; one click labels a superpixel, or fills a whole
object, with its majority class (overwriting); each click is the one that adds the most right
pixels; at most ``--cap`` × K clicks (default 3). An object click fills what the app's
Shift+click fill paints: every superpixel of the object (``SegmentationResult.fill_map``), the
prior's uncertain pixels that joined them included. (Before 2026-12-06 it filled the prior's
object pixels only, leaving the uncertain band to superpixel clicks: the tables in
docs/results made before then count those extra clicks.) Methods (rows):

- ``slic``: scikit-image SLIC (compactness 10, as ``spam eval``), superpixel clicks only;
- ``spam``: SPAM with the shipped encoder, no prior (the image is one object), superpixel
  clicks only;
- ``spam+felzenszwalb``: SPAM inside Felzenszwalb–Huttenlocher objects (scikit-image,
  ``scale=800, sigma=0.8, min_size=20``), superpixel and object clicks;
- ``spam+builtin``: SPAM inside the built-in prior (``spam_gui.core.builtin_prior``, its
  default coarseness; uncertain pixels are in no object), superpixel and object clicks;
  left out, with a note, while the core has no built-in prior;
- ``spam+gt``: SPAM inside the annotator's own segments (one segmentation per annotator):
  the upper bound of what objects can save.

Averages: per image, the mean over its annotators, then the mean over images (as ``spam eval``).
A run that never reaches a level (the superpixels cannot get there, or the cap) counts as the
cap in the mean, which is then a lower bound, marked ``≥``; the *never reached* columns count
those runs over all (image, annotator) runs. K̂ and "objects" are the mean numbers of
superpixels and of clickable objects. The ratios compare the built-in prior's mean clicks with
Felzenszwalb's and SLIC's at the same K (issue 14's targets: ≤ 0.8 and ≤ 0.25), paired: the
built-in prior's clicks over the other's, summed over the (image, annotator) runs that both
reach the level (their number in brackets), so that no cap enters a ratio.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import cpu_name  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

from spam_gui.core.evaluation.datasets import load_dataset  # noqa: E402
from spam_gui.core.evaluation.annotation_effort import simulate_annotation  # noqa: E402
from spam_gui.core.io.images import atomic_write_bytes  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "bsds500" / "val"
FELZENSZWALB = {"scale": 800, "sigma": 0.8, "min_size": 20}
ALL_METHODS = ("slic", "spam", "spam+felzenszwalb", "spam+builtin", "spam+gt")
LABELS = {
    "slic": "SLIC",
    "spam": "SPAM, no prior",
    "spam+felzenszwalb": "SPAM + Felzenszwalb objects",
    "spam+builtin": "SPAM + built-in prior",
    "spam+gt": "SPAM + annotators' segments (bound)",
}
SHORT = {"slic": "SLIC", "spam+felzenszwalb": "Felzenszwalb"}


@dataclass
class Method:
    """One row group: how the superpixels are made and which objects the annotator may fill.

    ``priors(image, gts)`` gives the prior maps of one image: one map shared by every annotator,
    or one per annotator (``spam+gt``); None = no prior. ``objects`` says whether the prior's
    objects are clickable.
    """

    key: str
    priors: Callable[[np.ndarray, Sequence[np.ndarray]], list[np.ndarray | None]]
    engine: str  # "slic" or "spam"
    objects: bool


def _no_prior(image: np.ndarray, gts: Sequence[np.ndarray]) -> list[np.ndarray | None]:
    return [None]


def _felzenszwalb_prior(image: np.ndarray, gts: Sequence[np.ndarray]) -> list[np.ndarray | None]:
    from skimage.segmentation import felzenszwalb

    return [(felzenszwalb(image, **FELZENSZWALB) + 1).astype(np.int32)]  # ids 1.., no uncertain


def _gt_priors(image: np.ndarray, gts: Sequence[np.ndarray]) -> list[np.ndarray | None]:
    out: list[np.ndarray | None] = []
    for g in gts:  # GT label 0 is a segment like the others; for the engine 0 means uncertain
        _, inv = np.unique(g, return_inverse=True)
        out.append((inv.reshape(g.shape) + 1).astype(np.int32))
    return out


def builtin_prior_fn(coarseness: float | None,
                     spam: Any) -> Callable[..., list[np.ndarray | None]] | None:
    """The built-in prior as a ``priors`` function, or None when the core has none yet.

    The prior's fine superpixels come from ``spam`` (its feature cache: the encoder runs once
    per image for the prior and the superpixels) when ``builtin_prior`` takes an engine.
    """
    try:
        from spam_gui.core import builtin_prior
    except ImportError:
        return None
    shared = {"spam": spam} if "spam" in inspect.signature(builtin_prior).parameters else {}

    def priors(image: np.ndarray, gts: Sequence[np.ndarray]) -> list[np.ndarray | None]:
        return [np.asarray(builtin_prior(image, coarseness=coarseness, **shared))]

    return priors


def make_methods(keys: Sequence[str], coarseness: float | None,
                 spam: Any) -> tuple[list[Method], list[str]]:
    """The methods asked for (in :data:`ALL_METHODS` order) and notes on those left out."""
    notes: list[str] = []
    table: dict[str, Method] = {
        "slic": Method("slic", _no_prior, "slic", False),
        "spam": Method("spam", _no_prior, "spam", False),
        "spam+felzenszwalb": Method("spam+felzenszwalb", _felzenszwalb_prior, "spam", True),
        "spam+gt": Method("spam+gt", _gt_priors, "spam", True),
    }
    if "spam+builtin" in keys:
        fn = builtin_prior_fn(coarseness, spam)
        if fn is None:
            notes.append("spam+builtin left out: spam_gui.core has no builtin_prior yet")
        else:
            table["spam+builtin"] = Method("spam+builtin", fn, "spam", True)
    return [table[k] for k in ALL_METHODS if k in keys and k in table], notes


def run_image(image: np.ndarray, gts: Sequence[np.ndarray], methods: Sequence[Method],
              ks: Sequence[int], levels: Sequence[float], cap: float, spam: Any,
              seconds: dict[str, float]) -> dict[tuple[str, int], dict[str, Any]]:
    """Every method at every K on one image: clicks per level per annotator (None = never)."""
    from skimage.segmentation import slic

    out: dict[tuple[str, int], dict[str, Any]] = {}
    for m in methods:
        t0 = time.perf_counter()
        priors = m.priors(image, gts)
        seconds[m.key + " prior"] = seconds.get(m.key + " prior", 0.0) + time.perf_counter() - t0
        for k in ks:
            maps = []
            t0 = time.perf_counter()
            for prior in priors:
                if m.engine == "slic":
                    labels = slic(image, n_segments=k, compactness=10, start_label=1)
                    fills = prior
                else:
                    res = spam.segment(image, n_segments=k, prior=prior)
                    labels, fills = res.labels, res.fill_map()
                maps.append((labels, fills if m.objects else None))
            seconds[m.key] = seconds.get(m.key, 0.0) + time.perf_counter() - t0
            t0 = time.perf_counter()
            clicks: list[list[int | None]] = []
            for a, g in enumerate(gts):
                labels, objects = maps[a if len(maps) > 1 else 0]
                run = simulate_annotation(g, labels, objects, max_clicks=int(cap * k),
                                          target=max(levels))
                clicks.append([run.clicks_to(lv) for lv in levels])
            seconds["greedy"] = seconds.get("greedy", 0.0) + time.perf_counter() - t0
            out[(m.key, k)] = {
                "clicks": clicks,  # [annotator][level]
                "k_hat": float(np.mean([len(np.unique(lab)) for lab, _ in maps])),
                "objects": float(np.mean([len(np.unique(o[o > 0])) for _, o in maps
                                          if o is not None])) if m.objects else 0.0,
            }
    return out


def summarise(per_image: list[dict[str, Any]], cap: int, n_levels: int) -> dict[str, Any]:
    """Mean clicks per level (never-reached runs counted as the cap), never-reached counts."""
    means, never = [], []
    for li in range(n_levels):
        img_means = [np.mean([cap if c[li] is None else c[li] for c in e["clicks"]])
                     for e in per_image]
        means.append(float(np.mean(img_means)))
        never.append(int(sum(c[li] is None for e in per_image for c in e["clicks"])))
    return {"mean_clicks": means, "never": never,
            "runs": int(sum(len(e["clicks"]) for e in per_image)),
            "k_hat": float(np.mean([e["k_hat"] for e in per_image])),
            "objects": float(np.mean([e["objects"] for e in per_image]))}


def format_table(summary: dict[tuple[str, int], dict[str, Any]],
                 per: dict[tuple[str, int], list[dict[str, Any]]], methods: Sequence[str],
                 ks: Sequence[int], levels: Sequence[float]) -> str:
    """The markdown table: one row per (K, method), then the built-in prior's paired ratios
    (:func:`paired_ratio`, the number of runs in brackets)."""
    pct = [f"{round(lv * 100):d} %" for lv in levels]
    head = ["K", "method", "K̂", "objects", *(f"clicks to {p}" for p in pct),
            f"never reached ({' / '.join(pct)})"]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(["---:", "---"] + ["---:"] * (len(head) - 2)) + "|"]
    for k in ks:
        for key in methods:
            s = summary[(key, k)]
            cells = [("≥ " if n else "") + f"{v:.1f}" for v, n in zip(s["mean_clicks"], s["never"])]
            objects = f"{s['objects']:.1f}" if s["objects"] else "–"
            lines.append(f"| {k} | {LABELS[key]} | {s['k_hat']:.0f} | {objects} | "
                         + " | ".join(cells) + f" | {' / '.join(map(str, s['never']))} of {s['runs']} |")
        if "spam+builtin" in methods:
            for ref in ("spam+felzenszwalb", "slic"):
                if ref in methods:
                    cells = []
                    for li in range(len(levels)):
                        ratio, n = paired_ratio(per[("spam+builtin", k)], per[(ref, k)], li)
                        cells.append("–" if ratio is None else f"{ratio:.2f} × ({n})")
                    lines.append(f"| {k} | *built-in / {SHORT[ref]}* | | | "
                                 + " | ".join(cells) + " | |")
    return "\n".join(lines)


def paired_ratio(rows_a: list[dict[str, Any]], rows_b: list[dict[str, Any]],
                 level: int) -> tuple[float | None, int]:
    """Clicks of method a over those of method b to one level, summed over the (image,
    annotator) runs that both reach it; and the number of those runs."""
    pairs = [(ca[level], cb[level]) for ea, eb in zip(rows_a, rows_b)
             for ca, cb in zip(ea["clicks"], eb["clicks"])
             if ca[level] is not None and cb[level] is not None]
    den = sum(b for _, b in pairs)
    return (sum(a for a, _ in pairs) / den if den else None), len(pairs)


def machine_line(threads: int) -> str:
    return (f"machine: {cpu_name()}, {os.cpu_count()} cores (shared); torch {torch.__version__}, "
            f"{threads} thread(s); python {platform.python_version()}")


def _floats(text: str, scale: float = 1.0) -> list[float]:
    return [float(x) / scale for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help="a dataset folder in the BSDS layout (default: BSDS500 val)")
    p.add_argument("--images", type=int, default=None, help="the first N images (default: all)")
    p.add_argument("--ks", default="200,400,800", help="numbers of superpixels K (default 200,400,800)")
    p.add_argument("--levels", default="85,90,95", help="shares of right pixels, in %% (default 85,90,95)")
    p.add_argument("--cap", type=float, default=3.0, help="at most CAP × K clicks per run (default 3)")
    p.add_argument("--methods", default=",".join(ALL_METHODS),
                   help=f"comma-separated, from {', '.join(ALL_METHODS)} (default: all)")
    p.add_argument("--coarseness", type=float, default=None,
                   help="the built-in prior's coarseness (default: its own default)")
    p.add_argument("--encoder", default="default", help="SPAM encoder (default: the shipped one)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--out", type=Path, default=None,
                   help="also write OUT/results/annotation_effort.json and .md")
    args = p.parse_args(argv)

    keys = [k.strip() for k in args.methods.split(",") if k.strip()]
    bad = [k for k in keys if k not in ALL_METHODS]
    if bad:
        p.error(f"unknown method {bad[0]!r}; use {', '.join(ALL_METHODS)}")
    ks = [int(k) for k in _floats(args.ks)]
    levels = _floats(args.levels, 100.0)
    if not ks or min(ks) < 1:
        p.error("--ks: numbers of superpixels must be >= 1")
    if not levels or not all(0 < lv <= 1 for lv in levels):
        p.error("--levels: shares in % between 0 and 100")
    if args.cap <= 0:
        p.error("--cap must be > 0")
    torch.set_num_threads(max(1, args.threads))
    from spam_gui.core import Spam

    spam = Spam(encoder=None if args.encoder == "none" else args.encoder)
    methods, notes = make_methods(keys, args.coarseness, spam)
    if not methods:
        p.error("no method to run")
    data = load_dataset(args.data, limit=args.images)
    per: dict[tuple[str, int], list[dict[str, Any]]] = {(m.key, k): [] for m in methods for k in ks}
    seconds: dict[str, float] = {}
    t_start = time.perf_counter()
    for i, sample in enumerate(data):
        image, gts = sample.load()
        t0 = time.perf_counter()
        spam.features(image)
        seconds["spam features"] = seconds.get("spam features", 0.0) + time.perf_counter() - t0
        for key, entry in run_image(image, gts, methods, ks, levels, args.cap, spam, seconds).items():
            entry["id"] = sample.id
            per[key].append(entry)
        spam.clear_cache()
        print(f"[{i + 1}/{len(data)}] {sample.id} ({len(gts)} annotators), "
              f"{time.perf_counter() - t_start:.0f} s", file=sys.stderr, flush=True)

    summary = {key: summarise(rows, int(args.cap * key[1]), len(levels)) for key, rows in per.items()}
    table = format_table(summary, per, [m.key for m in methods], ks, levels)
    runs = summary[(methods[0].key, ks[0])]["runs"]
    footer = [
        f"{len(data)} image(s) of {args.data.name}, {runs} (image, annotator) runs per row; "
        f"cap {args.cap:g} × K clicks; Felzenszwalb scale {FELZENSZWALB['scale']}, "
        f"sigma {FELZENSZWALB['sigma']}, min_size {FELZENSZWALB['min_size']}; "
        f"encoder {spam.encoder_name}",
        machine_line(torch.get_num_threads()),
        "time, s (shared machine): " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(seconds.items()))
        + f"; total {time.perf_counter() - t_start:.0f}",
        *notes,
    ]
    print(table)
    print()
    print("\n".join(footer))
    if args.out is not None:
        res = {"command": " ".join(["python", "benchmarks/annotation_effort.py", *(argv or sys.argv[1:])]),
               "ks": ks, "levels": levels, "cap": args.cap, "felzenszwalb": FELZENSZWALB,
               "encoder": spam.encoder_name, "n_images": len(data), "notes": notes,
               "rows": [{"method": key, "k": k, **summary[(key, k)], "per_image": per[(key, k)]}
                        for key, k in per],
               "ratios": [{"method": "spam+builtin", "reference": ref, "k": k, "level": lv,
                           "ratio": r, "runs": n}
                          for ref in ("spam+felzenszwalb", "slic") for k in ks
                          for li, lv in enumerate(levels)
                          if ("spam+builtin", k) in per and (ref, k) in per
                          for r, n in [paired_ratio(per[("spam+builtin", k)], per[(ref, k)], li)]]}
        atomic_write_bytes(args.out / "results" / "annotation_effort.json",
                           json.dumps(res, separators=(",", ":")).encode())  # per run: compact
        atomic_write_bytes(args.out / "results" / "annotation_effort.md",
                           (table + "\n\n" + "\n".join(footer) + "\n").encode())
    return 0


if __name__ == "__main__":
    from spam_gui.core.errors import SpamError

    try:
        sys.exit(main())
    except SpamError as exc:  # a bad dataset folder, encoder or model file: named, no traceback
        print(f"annotation_effort: {exc}", file=sys.stderr)
        sys.exit(1)
