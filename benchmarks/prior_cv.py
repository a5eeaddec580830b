"""The built-in object prior's cut parameters chosen by k-fold cross-validation on BSDS500
train + val (issue 25, items 1 and 4).

    SPAM_CACHE_DIR=/tmp/prior_cv/cache python benchmarks/prior_cv.py             # 300 images
    SPAM_CACHE_DIR=/tmp/prior_cv/cache python benchmarks/prior_cv.py --limit 30  # quick check
    python benchmarks/prior_cv.py --json prior_cv.json

Every image's hierarchy is built once (:func:`spam_gui.core.prior.builtin.compute.cached_hierarchy`,
through the disk cache under ``SPAM_CACHE_DIR``, so a rerun only re-cuts), then cut at every
setting of the grid: ``coarseness`` (default 0.20 .. 0.80 step 0.05) x ``a_min`` (the minimum
object area, as a factor of the default ``sqrt(H * W) / 4``; default 0.5, 1, 2). Each cut is
scored as in ``benchmarks/prior_covering.py``: segmentation covering
(:func:`spam_gui.core.evaluation.metrics.segmentation_covering`) of the objects *before* the uncertain band
(:meth:`ObjectHierarchy.partition`), mean over annotators, then over images.

The 300 images (train 200 + val 100) are shuffled (``--seed``) into ``--folds`` folds. For each
fold the setting with the best mean covering on the *other* folds is picked (ties: the first in
grid order), and the held-out fold is reported at that setting: covering, objects per image and
seconds per photo beyond the superpixels (the region graph and the merging, as measured when
the hierarchy was built, plus the cut with its band, measured in this run). The held-out
numbers are never used for picking. For comparison, each fold's held-out covering at today's
defaults is printed beside it, and, separately, val alone at today's defaults (the issue quotes
0.599 for it; the default coarseness was picked on train).

``band_margin`` only decides which borders of the cut get the uncertain band, so it does not
change the covering of the objects before the band: covering cannot pick it. For each margin
(``--margins``) the script reports, at each fold's chosen setting on its held-out images, the
band's share of pixels, and the share of the cut's *false* object borders (border pixels more
than ``band_width`` px from the annotator's boundary) and of its *true* ones (within) that the
band covers (mean over annotators, then images): a band that covers false borders and spares
true ones is what the margin is for; the trade-off is shown, not picked.

Per-image scores are cached too (namespace ``prior-cv-scores``), keyed by the hierarchy and the
grid. Heavy: run under ``nice``; torch uses ``--threads`` (default 1) threads.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._machine import cpu_name  # noqa: E402
from spam_gui.core.io.cache import DiskCache, default_cache_dir, make_key  # noqa: E402
from spam_gui.core.evaluation.datasets import load_dataset  # noqa: E402
from spam_gui.core.evaluation.metrics import segmentation_covering  # noqa: E402
from spam_gui.core.params import PRIOR_DEFAULTS  # noqa: E402
from spam_gui.core.prior.builtin.compute import (  # noqa: E402
    HIERARCHY_CACHE, cached_hierarchy, hierarchy_cache_key,
)
from spam_gui.core.prior.builtin.hierarchy import band_disk  # noqa: E402
from spam_gui.core.engine.spam import Spam  # noqa: E402

EDGE_MODEL_FIT = 160
"""The shipped edge model was fitted on the first 160 BSDS500 train images (sorted ids; its
model card and ``meta["trained_on"]``): the held-out folds are also scored without them."""
SCORES_CACHE = "prior-cv-scores"
CPU_CACHE = "prior-cv-cpu"
SCORES_FORMAT = 1
DATA = ROOT.parent / "shared" / "data" / "bsds500"


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _grid(text: str) -> list[float]:
    """``"0.2:0.8:0.05"`` (start:stop:step, stop included) or ``"0.3,0.5"``."""
    if ":" in text:
        a, b, s = (float(x) for x in text.split(":"))
        n = int(round((b - a) / s))
        return [round(a + i * s, 6) for i in range(n + 1)]
    return _floats(text)


def add_cv_arguments(p: argparse.ArgumentParser, coarseness: str) -> None:
    """The options every cross-validation of the prior shares: the images, the folds and the
    coarseness grid (default ``coarseness``)."""
    p.add_argument("--limit", type=int, default=None,
                   help="N images in all (2/3 from train, 1/3 from val; default all 300)")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0, help="the fold shuffle's seed")
    p.add_argument("--coarseness", default=coarseness, help="start:stop:step or a,b,c")


def cv_folds(pool: np.ndarray, folds: int, seed: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """The images of ``pool`` shuffled with ``seed`` and split into ``folds`` folds: the same
    folds in every cross-validation of the prior. Returns (order, folds)."""
    order = pool[np.random.default_rng(seed).permutation(pool.size)]
    return order, np.array_split(order, folds)


def grid_with(text: str, value: float) -> list[float]:
    """:func:`_grid` of ``text`` with ``value`` (today's default, the reference) added in
    order when the grid lacks it."""
    g = _grid(text)
    return g if value in g else sorted(g + [value])


def _boundary(labels: np.ndarray) -> np.ndarray:
    """Pixels whose right or lower neighbour has another label (and those neighbours)."""
    b = np.zeros(labels.shape, dtype=bool)
    dx = labels[:, 1:] != labels[:, :-1]
    dy = labels[1:, :] != labels[:-1, :]
    b[:, 1:] |= dx
    b[:, :-1] |= dx
    b[1:, :] |= dy
    b[:-1, :] |= dy
    return b


def select_images(limit: int | None) -> list[tuple[str, object]]:
    """(split, sample) for train + val; ``limit`` N: the first round(2N/3) of train and the rest
    from val (the split's share of the 300), so a quick check has both splits. A train image
    among the edge model's fitting images has the split ``"train-fit"``."""
    train = list(load_dataset(DATA / "train"))
    val = list(load_dataset(DATA / "val"))
    if limit is not None:
        n_train = int(round(limit * len(train) / (len(train) + len(val))))
        train, val = train[:n_train], val[: max(limit - n_train, 0)]
    return ([("train-fit" if i < EDGE_MODEL_FIT else "train", s) for i, s in enumerate(train)]
            + [("val", s) for s in val])


def image_scores(hier, gts, coarse: list[float], amin_f: list[float]) -> dict[str, np.ndarray]:
    """Covering (mean over annotators) and object count for every (coarseness, a_min) cut."""
    h, w = hier.shape
    a0 = math.sqrt(h * w) / 4.0
    cov = np.zeros((len(coarse), len(amin_f)))
    nobj = np.zeros((len(coarse), len(amin_f)), dtype=np.int64)
    for i, c in enumerate(coarse):
        done: list[tuple[np.ndarray, float]] = []
        for j, f in enumerate(amin_f):
            part = hier.partition(c, a_min=f * a0)
            same = next((v for p, v in done if np.array_equal(p, part)), None)
            v = same if same is not None else float(np.mean([segmentation_covering(part, g)
                                                              for g in gts]))
            done.append((part, v))
            cov[i, j] = v
            nobj[i, j] = int(part.max())
    return {"cov": cov, "nobj": nobj,
            "t_graph_merge": np.array(hier.seconds["graph"] + hier.seconds["merge"]),
            "t_superpixels": np.array(hier.seconds["superpixels"])}


def band_stats(hier, gts, c: float, a_min: float, margins: list[float]) -> dict[str, list[float]]:
    """For each margin: the band's share of pixels, and the share of the cut's false borders
    (object-border pixels more than ``band_width`` px from the annotator's boundary) and of its
    true borders (within) that the band covers, mean over annotators; and the seconds of the
    cut with the default band (partition + band, as the app computes it)."""
    bw = PRIOR_DEFAULTS.band_width
    t0, c0 = time.perf_counter(), time.process_time()
    hier.prior(c, a_min=a_min)          # default band margin: the app's cut, timed
    t_cut, c_cut = time.perf_counter() - t0, time.process_time() - c0
    border = _boundary(hier.partition(c, a_min=a_min))
    gt_near = [ndimage.binary_dilation(_boundary(g), structure=band_disk(bw)) for g in gts]
    out: dict[str, list[float]] = {"share": [], "false": [], "true": []}

    def frac(band: np.ndarray, where: np.ndarray) -> float:
        return float((band & where).sum() / where.sum()) if where.any() else np.nan

    for m in margins:
        band = hier.prior(c, a_min=a_min, band_margin=m) == 0
        out["share"].append(float(band.mean()))
        fal = [frac(band, border & ~near) for near in gt_near]
        tru = [frac(band, border & near) for near in gt_near]
        out["false"].append(np.nan if np.all(np.isnan(fal)) else float(np.nanmean(fal)))
        out["true"].append(np.nan if np.all(np.isnan(tru)) else float(np.nanmean(tru)))
    out["t_cut"] = [t_cut]
    out["cpu_cut"] = [c_cut]
    return out


def cpu_graph_merge(image: np.ndarray, hier, spam: Spam) -> tuple[float, bool]:
    """CPU seconds (``time.process_time``: less sensitive than the wall clock to other jobs on
    a shared machine) of the region graph and the merging, rebuilt from the cached hierarchy's
    fine superpixels with the encoder's features already computed; and whether the rebuilt
    merge tree is the cached one."""
    from spam_gui.core.prior.builtin.compute import build_hierarchy

    spam.features(image)                    # the superpixels' share: not timed
    c0 = time.process_time()
    again = build_hierarchy(image, spam=spam, fine_labels=hier.fine)
    cpu = time.process_time() - c0
    same = (np.array_equal(again.children, hier.children)
            and np.allclose(again.heights, hier.heights, rtol=0, atol=1e-9))
    return cpu, bool(same)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_cv_arguments(p, "0.2:0.8:0.05")
    p.add_argument("--a-min", default="0.5,1,2",
                   help="minimum object areas as factors of sqrt(H*W)/4 (1: the default)")
    p.add_argument("--margins", default="0.1,0.2,0.3,0.4",
                   help="band margins for the band table (not picked: see the docstring)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cpu-time-every", type=int, default=3,
                   help="re-time the graph and merging in CPU seconds on every N-th image "
                        "(an encoder pass each; cached per image; 0: none)")
    p.add_argument("--json", type=Path, default=None, help="save every number here")
    p.add_argument("--quiet", action="store_true", help="no per-image progress on stderr")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    c0, f0 = PRIOR_DEFAULTS.coarseness, 1.0
    coarse, amin_f, margins = grid_with(args.coarseness, c0), _floats(args.a_min), _floats(args.margins)
    if f0 not in amin_f:
        p.error("the a_min factors must hold today's default, 1")
    i0, j0 = coarse.index(c0), amin_f.index(f0)

    t_start = time.perf_counter()
    images = select_images(args.limit)
    n = len(images)
    if n < args.folds:
        p.error(f"{n} images for {args.folds} folds")
    spam = Spam(encoder="default", device="cpu", cache_size=1)
    hstore, sstore = DiskCache(HIERARCHY_CACHE), DiskCache(SCORES_CACHE)
    grid_key = [SCORES_FORMAT, coarse, amin_f]

    # ---- pass 1: every image's covering at every setting (cached)
    cov = np.zeros((n, len(coarse), len(amin_f)))
    nobj = np.zeros_like(cov)
    t_gm, t_sp = np.zeros(n), np.zeros(n)
    for k, (split, s) in enumerate(images):
        image, gts = s.load()
        hkey = hierarchy_cache_key(image, spam)
        skey = make_key(SCORES_CACHE, hkey, grid_key, [str(x) for x in s.gt_paths])
        arr = sstore.get_arrays(skey, required=("cov", "nobj", "t_graph_merge", "t_superpixels"))
        if arr is None or arr["cov"].shape != cov.shape[1:]:
            hier = cached_hierarchy(image, spam, cache=hstore)
            arr = image_scores(hier, gts, coarse, amin_f)
            sstore.put_arrays(skey, **arr)
        cov[k], nobj[k] = arr["cov"], arr["nobj"]
        t_gm[k], t_sp[k] = float(arr["t_graph_merge"]), float(arr["t_superpixels"])
        if not args.quiet:
            print(f"[{k + 1}/{n}] {split}/{s.id} {time.perf_counter() - t_start:.0f} s",
                  file=sys.stderr, flush=True)

    # ---- folds: pick on the training folds, report the held-out one
    unseen = np.array([sp != "train-fit" for sp, _ in images])

    def cross_validate(pool: np.ndarray):
        order, folds = cv_folds(pool, args.folds, args.seed)
        chosen: dict[int, tuple[int, int]] = {}
        rows = []
        for fi, held in enumerate(folds):
            train = np.setdiff1d(order, held)
            mean_train = cov[train].mean(axis=0)
            bi, bj = np.unravel_index(int(np.argmax(mean_train)), mean_train.shape)
            for k in held:
                chosen[int(k)] = (int(bi), int(bj))
            hu = held[unseen[held]]
            rows.append({"fold": fi + 1, "n_train": int(train.size), "n_held": int(held.size),
                         "coarseness": coarse[bi], "a_min_factor": amin_f[bj],
                         "train_covering": float(mean_train[bi, bj]),
                         "held_covering": float(cov[held, bi, bj].mean()),
                         "held_objects": float(nobj[held, bi, bj].mean()),
                         "held_covering_default": float(cov[held, i0, j0].mean()),
                         "held_objects_default": float(nobj[held, i0, j0].mean()),
                         "n_held_unseen": int(hu.size),
                         "held_covering_unseen": (float(cov[hu, bi, bj].mean()) if hu.size
                                                  else float("nan")),
                         "held": [images[k][1].id for k in held]})
        return folds, rows, chosen

    folds, fold_rows, chosen = cross_validate(np.arange(n))
    unseen_pool = np.flatnonzero(unseen)
    unseen_rows = (cross_validate(unseen_pool)[1] if unseen_pool.size >= args.folds else [])

    # ---- pass 2: band statistics and the cut's time, at each image's fold's chosen setting
    bands = {"share": np.zeros((n, len(margins))), "false": np.zeros((n, len(margins))),
             "true": np.zeros((n, len(margins))), "t_cut": np.zeros((n, 1)),
             "cpu_cut": np.zeros((n, 1))}
    cpu_gm = np.full(n, np.nan)
    same_tree = np.ones(n, dtype=bool)
    cstore = DiskCache(CPU_CACHE)
    for k, (_split, s) in enumerate(images):
        image, gts = s.load()
        hier = cached_hierarchy(image, spam, cache=hstore)
        bi, bj = chosen[k]
        a_min = amin_f[bj] * math.sqrt(image.shape[0] * image.shape[1]) / 4.0
        st = band_stats(hier, gts, coarse[bi], a_min, margins)
        for key in bands:
            bands[key][k] = st[key]
        if args.cpu_time_every > 0 and k % args.cpu_time_every == 0:
            ckey = make_key(CPU_CACHE, hierarchy_cache_key(image, spam))
            arr = cstore.get_arrays(ckey, required=("cpu", "same"))
            if arr is None:
                cpu, same = cpu_graph_merge(image, hier, spam)
                arr = {"cpu": np.array(cpu), "same": np.array(same)}
                cstore.put_arrays(ckey, **arr)
            cpu_gm[k], same_tree[k] = float(arr["cpu"]), bool(arr["same"])
        if not args.quiet:
            print(f"[pass 2: {k + 1}/{n}] {time.perf_counter() - t_start:.0f} s",
                  file=sys.stderr, flush=True)
    t_beyond = t_gm + bands["t_cut"][:, 0]
    cpu_beyond = cpu_gm + bands["cpu_cut"][:, 0]
    for row, held in zip(fold_rows, folds):
        row["held_seconds_beyond_superpixels"] = float(t_beyond[held].mean())
        row["held_cpu_seconds_beyond_superpixels"] = (
            float(np.nanmean(cpu_beyond[held])) if np.isfinite(cpu_beyond[held]).any()
            else float("nan"))
        row["held_seconds_superpixels"] = float(t_sp[held].mean())

    # ---- tables
    def ms(key: str, fmt: str, rows: list | None = None) -> str:
        v = np.array([r[key] for r in (fold_rows if rows is None else rows)], dtype=float)
        v = v[np.isfinite(v)]
        if v.size == 0:
            return "–"
        return f"{v.mean():{fmt}} ± {v.std(ddof=1) if v.size > 1 else 0.0:{fmt}}"

    lines = [f"{args.folds}-fold cross-validation on BSDS500 train + val ({n} images; folds "
             f"shuffled with seed {args.seed}); grid: coarseness {coarse[0]:g} .. {coarse[-1]:g} "
             f"({len(coarse)} values) x a_min factor {', '.join(f'{f:g}' for f in amin_f)} "
             f"(of sqrt(H·W)/4). Covering of the objects before the uncertain band.", "",
             "| fold | held-out images | chosen coarseness | chosen a_min | covering (training "
             "folds) | **held-out covering** | held-out objects / image | held-out covering at "
             f"the defaults ({c0:g}, ×1) | held-out covering, edge model's unseen images only (n) | "
             "s / photo beyond superpixels: wall (CPU) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in fold_rows:
        lines.append(f"| {r['fold']} | {r['n_held']} | {r['coarseness']:g} | "
                     f"×{r['a_min_factor']:g} | {r['train_covering']:.4f} | "
                     f"**{r['held_covering']:.4f}** | {r['held_objects']:.1f} | "
                     f"{r['held_covering_default']:.4f} | "
                     f"{r['held_covering_unseen']:.4f} ({r['n_held_unseen']}) | "
                     f"{r['held_seconds_beyond_superpixels']:.3f} "
                     f"({r['held_cpu_seconds_beyond_superpixels']:.3f}) |")
    lines.append(f"| mean ± std | {n} | | | {ms('train_covering', '.4f')} | "
                 f"**{ms('held_covering', '.4f')}** | {ms('held_objects', '.1f')} | "
                 f"{ms('held_covering_default', '.4f')} | "
                 f"{ms('held_covering_unseen', '.4f')} ({int(unseen.sum())}) | "
                 f"{ms('held_seconds_beyond_superpixels', '.3f')} "
                 f"({ms('held_cpu_seconds_beyond_superpixels', '.3f')}) |")
    lines += ["", "std: over the folds (ddof 1). Seconds beyond the superpixels: the region "
              "graph and merging (wall clock when the hierarchy was built) + the cut with its "
              "band (timed here); in brackets the same in CPU seconds of this process "
              "(graph and merging rebuilt from the cached superpixels, on "
              f"{int(np.isfinite(cpu_gm).sum())} of the images; less sensitive to other "
              "jobs on a shared machine; "
              + ("every rebuilt merge tree equals the cached one" if same_tree.all() else
                 f"{int((~same_tree).sum())} rebuilt merge trees differ from the cached ones")
              + f"); the superpixels themselves: {t_sp.mean():.3f} s / photo (wall). The edge "
              f"model was fitted on the first {EDGE_MODEL_FIT} train images: the held-out "
              "covering of the folds includes them; the 'unseen' column leaves them out."]

    if unseen_rows:
        lines += ["", f"The same {args.folds}-fold cross-validation on the {unseen_pool.size} "
                  "images the edge model never saw (picked and scored on them only):", "",
                  "| fold | held-out images | chosen coarseness | chosen a_min | **held-out "
                  "covering** | held-out objects / image | held-out covering at the defaults |",
                  "|---:|---:|---:|---:|---:|---:|---:|"]
        for r in unseen_rows:
            lines.append(f"| {r['fold']} | {r['n_held']} | {r['coarseness']:g} | "
                         f"×{r['a_min_factor']:g} | **{r['held_covering']:.4f}** | "
                         f"{r['held_objects']:.1f} | {r['held_covering_default']:.4f} |")
        lines.append(f"| mean ± std | {unseen_pool.size} | | | "
                     f"**{ms('held_covering', '.4f', unseen_rows)}** | "
                     f"{ms('held_objects', '.1f', unseen_rows)} | "
                     f"{ms('held_covering_default', '.4f', unseen_rows)} |")

    is_val = np.array([sp == "val" for sp, _ in images])
    is_train = ~is_val
    ref = ["", f"Not used for picking — today's defaults (coarseness {c0:g}, a_min ×1) on each "
           "split alone:", "",
           "| split | images | covering | objects / image |", "|---|---:|---:|---:|"]
    for name, mask in (("val", is_val), ("train", is_train),
                       (f"train, the edge model's {EDGE_MODEL_FIT} fitting images",
                        ~unseen),
                       (f"train, the last {200 - EDGE_MODEL_FIT} (not fitted)",
                        is_train & unseen)):
        if mask.any():
            ref.append(f"| {name} | {int(mask.sum())} | {cov[mask, i0, j0].mean():.4f} | "
                       f"{nobj[mask, i0, j0].mean():.1f} |")
    lines += ref

    curve = cov[:, :, j0].mean(axis=0)
    lines += ["", "Not used for picking — mean covering (objects / image) over all the images "
              "against coarseness and a_min:", "",
              "| a_min | " + " | ".join(f"{c:g}" for c in coarse) + " |",
              "|---|" + "---:|" * len(coarse)]
    for j, f in enumerate(amin_f):
        lines.append(f"| ×{f:g} | " + " | ".join(
            f"{v:.4f} ({o:.1f})" for v, o in zip(cov[:, :, j].mean(axis=0),
                                                 nobj[:, :, j].mean(axis=0))) + " |")

    lines += ["", "The uncertain band (width "
              f"{PRIOR_DEFAULTS.band_width} px) against band_margin, at each fold's chosen setting "
              "on its held-out images (band_margin does not change the covering above):", "",
              "| band_margin | band share of pixels | false object borders in the band | "
              "true object borders in the band |", "|---:|---:|---:|---:|"]
    for mi, m in enumerate(margins):
        default = " (default)" if m == PRIOR_DEFAULTS.band_margin else ""
        lines.append(f"| {m:g}{default} | {100 * bands['share'][:, mi].mean():.1f} % | "
                     f"{100 * np.nanmean(bands['false'][:, mi]):.1f} % | "
                     f"{100 * np.nanmean(bands['true'][:, mi]):.1f} % |")
    elapsed = time.perf_counter() - t_start
    lines += ["", f"{n} images, {cpu_name()}, torch threads {torch.get_num_threads()}, "
              f"{elapsed:.0f} s in all (cache {default_cache_dir()})."]
    print("\n".join(lines))

    if args.json is not None:
        out = {"images": n, "folds": fold_rows, "folds_unseen_only": unseen_rows, "grid": {"coarseness": coarse,
               "a_min_factor": amin_f, "band_margin": margins}, "seed": args.seed,
               "val_default_covering": float(cov[is_val, i0, j0].mean()) if is_val.any() else None,
               "train_default_covering": (float(cov[is_train, i0, j0].mean())
                                          if is_train.any() else None),
               "covering_by_coarseness": curve.tolist(),
               "per_image": [{"id": s.id, "split": sp, "fold": next(
                   fi + 1 for fi, f in enumerate(folds) if k in f),
                   "covering_chosen": float(cov[k][chosen[k]]),
                   "covering_default": float(cov[k, i0, j0]),
                   "objects_chosen": int(nobj[k][chosen[k]]),
                   "seconds_beyond_superpixels": float(t_beyond[k]),
                   "cpu_seconds_beyond_superpixels": (float(cpu_beyond[k])
                                                      if np.isfinite(cpu_beyond[k]) else None)}
                   for k, (sp, s) in enumerate(images)],
               "band": {"share": bands["share"].mean(axis=0).tolist(),
                        "false_borders_in_band": np.nanmean(bands["false"], axis=0).tolist(),
                        "true_borders_in_band": np.nanmean(bands["true"], axis=0).tolist()},
               "seconds_superpixels": float(t_sp.mean()), "seconds_total": elapsed,
               "cpu": cpu_name(), "table": "\n".join(lines)}
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
