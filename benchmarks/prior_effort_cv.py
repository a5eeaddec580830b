"""The built-in prior's cut chosen for the annotator: coarseness and band margin by k-fold
cross-validation on BSDS500 train + val of the simulated annotator's clicks (issue 25).

    SPAM_CACHE_DIR=/tmp/prior_cv/cache python benchmarks/prior_effort_cv.py --json effort_cv.json
    python benchmarks/prior_effort_cv.py --limit 30                       # quick check
    python benchmarks/prior_effort_cv.py --shard 0/2 & python benchmarks/prior_effort_cv.py --shard 1/2
                                       # fill the per-image cache on two cores, then run plainly

Why a second cross-validation (``benchmarks/prior_cv.py`` picks the cut by segmentation
covering): the built-in prior is there to save an annotator clicks, and the two costs are not
symmetric. Two objects where the annotator sees one cost one more click; one object over two
of the annotator's segments costs every superpixel click that repairs it. Covering weighs them
alike, so its best cut is coarser than the annotator's.

For every image (the 300 of train + val, shuffled into the same folds as ``prior_cv.py``), its
hierarchy (the disk cache of :func:`spam_gui.core.prior.builtin.compute.cached_hierarchy`) is
cut at every ``--coarseness`` x ``--margins`` setting (band margin 0: no uncertain band), SPAM
segments the image inside the cut at K = ``--k`` (the shipped encoder), and the greedy
simulated annotator (:func:`spam_gui.core.evaluation.annotation_effort.simulate_annotation`,
its object clicks filling what the app's Shift+click fills:
``SegmentationResult.fill_map``) counts its clicks to ``--level`` for each of the image's
annotators (a run that never gets there counts as the cap, 3 K). The covering of the cut's
objects (before the band, as in ``prior_cv.py``) and its number of objects are kept too.

Choosing, per fold, on the *other* folds only: among the settings whose mean covering is at
least ``--covering-floor`` (the issue's 0.60), the one with the fewest mean clicks. The fold
is reported at that setting: clicks, covering, objects, and the paired ratio of clicks to
the former defaults (coarseness 0.5, margin 0.3: the reference, ``FORMER``) over the held-out
(image, annotator) runs that both reach the level. The val images, each at the setting its own
fold chose, give the issue's measure (clicks to 90 % at K = 400 on val against the former
defaults). The pick on all the images is what ships as ``PRIOR_DEFAULTS``.

Per-image results are cached (namespace ``prior-effort-cv``), keyed by the hierarchy, the grid
and K. Heavy (about 0.25 s per image and setting on one core; the default grid's 300 x 22 took
14 min on two processes): ``--shard i/n`` fills the cache for every n-th image only, without
tables, so n processes share the work.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import cpu_name  # noqa: E402
from prior_cv import _floats, _grid, add_cv_arguments, cv_folds, select_images  # noqa: E402

from spam_gui.core.engine.spam import Spam  # noqa: E402
from spam_gui.core.evaluation.annotation_effort import simulate_annotation  # noqa: E402
from spam_gui.core.evaluation.metrics import segmentation_covering  # noqa: E402
from spam_gui.core.io.cache import DiskCache, make_key  # noqa: E402
from spam_gui.core.prior.builtin.compute import (  # noqa: E402
    HIERARCHY_CACHE, cached_hierarchy, hierarchy_cache_key,
)

CACHE = "prior-effort-cv"
FORMAT = 1
FORMER = (0.5, 0.3)
"""The defaults before this cross-validation chose the cut (coarseness, band margin): the
reference of every ratio."""


def image_effort(image: np.ndarray, gts, hier, spam: Spam, coarse: list[float],
                 margins: list[float], k: int, level: float) -> dict[str, np.ndarray]:
    """Clicks to ``level`` (annotator x coarseness x margin; -1: never), and the covering and
    object count of each coarseness's cut (before the band)."""
    cap = 3 * k
    clicks = np.full((len(gts), len(coarse), len(margins)), -1, dtype=np.int64)
    cov = np.zeros(len(coarse))
    nobj = np.zeros(len(coarse), dtype=np.int64)
    for i, c in enumerate(coarse):
        part = hier.partition(c)
        cov[i] = float(np.mean([segmentation_covering(part, g) for g in gts]))
        nobj[i] = int(part.max())
        for j, m in enumerate(margins):
            prior = hier.prior(c, band_margin=m)      # margin 0: no band
            res = spam.segment(image, n_segments=k, prior=prior)
            fills = res.fill_map()
            for a, g in enumerate(gts):
                run = simulate_annotation(g, res.labels, fills, max_clicks=cap, target=level)
                got = run.clicks_to(level)
                clicks[a, i, j] = -1 if got is None else got
    return {"clicks": clicks, "cov": cov, "nobj": nobj}


def mean_clicks(clicks: np.ndarray, cap: int) -> np.ndarray:
    """Per image: the mean over annotators (never = the cap); ``clicks`` (annotators, ...)."""
    return np.where(clicks < 0, cap, clicks).mean(axis=0)


def paired(a: list[np.ndarray], b: list[np.ndarray]) -> tuple[float, int]:
    """Sum of a's clicks over b's, over the runs (annotators of each image) both reach."""
    num = den = 0
    n = 0
    for x, y in zip(a, b):
        ok = (x >= 0) & (y >= 0)
        num += int(x[ok].sum())
        den += int(y[ok].sum())
        n += int(ok.sum())
    return (num / den if den else float("nan")), n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_cv_arguments(p, "0.3:0.55:0.025")
    p.add_argument("--margins", default="0,0.3", help="band margins (0: no band)")
    p.add_argument("--k", type=int, default=400, help="superpixels (default 400)")
    p.add_argument("--level", type=float, default=90.0, help="%% of pixels right (default 90)")
    p.add_argument("--covering-floor", type=float, default=0.60,
                   help="settings below this mean covering on the training folds are not "
                        "picked (default 0.60)")
    p.add_argument("--shard", default=None, help="i/n: fill the cache for images i, i+n, ...")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, default=None, help="save every number here")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    coarse, margins = _grid(args.coarseness), _floats(args.margins)
    level, k, cap = args.level / 100.0, args.k, 3 * args.k
    if FORMER[0] not in coarse or FORMER[1] not in margins:
        p.error(f"the grid must hold the former defaults (coarseness {FORMER[0]:g}, "
                f"margin {FORMER[1]:g})")
    shard = None
    if args.shard is not None:
        i, n = (int(x) for x in args.shard.split("/"))
        shard = (i, n)

    t_start = time.perf_counter()
    images = select_images(args.limit)
    n = len(images)
    spam = Spam(encoder="default", device="cpu", cache_size=1)
    hstore, store = DiskCache(HIERARCHY_CACHE), DiskCache(CACHE)
    grid_key = [FORMAT, coarse, margins, k, level]
    per: list[dict[str, np.ndarray]] = []
    for idx, (split, s) in enumerate(images):
        if shard is not None and idx % shard[1] != shard[0]:
            continue
        image, gts = s.load()
        key = make_key(CACHE, hierarchy_cache_key(image, spam), grid_key,
                       [str(x) for x in s.gt_paths])
        arr = store.get_arrays(key, required=("clicks", "cov", "nobj"))
        if arr is None or arr["clicks"].shape[1:] != (len(coarse), len(margins)):
            hier = cached_hierarchy(image, spam, cache=hstore)
            arr = image_effort(image, gts, hier, spam, coarse, margins, k, level)
            store.put_arrays(key, **arr)
        spam.clear_cache()
        per.append(arr)
        if not args.quiet:
            print(f"[{idx + 1}/{n}] {split}/{s.id} {time.perf_counter() - t_start:.0f} s",
                  file=sys.stderr, flush=True)
    if shard is not None:
        return 0

    clicks = np.stack([mean_clicks(a["clicks"], cap) for a in per])      # (n, C, M)
    cov = np.stack([a["cov"] for a in per])                               # (n, C)
    nobj = np.stack([a["nobj"] for a in per])
    i0, j0 = coarse.index(FORMER[0]), margins.index(FORMER[1])
    order, folds = cv_folds(np.arange(n), args.folds, args.seed)

    def pick(train: np.ndarray) -> tuple[int, int]:
        ok = cov[train].mean(axis=0) >= args.covering_floor                 # (C,)
        score = clicks[train].mean(axis=0)                                  # (C, M)
        score = np.where(ok[:, None], score, np.inf)
        if not np.isfinite(score).any():
            return i0, j0
        bi, bj = np.unravel_index(int(np.argmin(score)), score.shape)
        return int(bi), int(bj)

    rows, chosen = [], {}
    for fi, held in enumerate(folds):
        train = np.setdiff1d(order, held)
        bi, bj = pick(train)
        for x in held:
            chosen[int(x)] = (bi, bj)
        ratio, npairs = paired([per[x]["clicks"][:, bi, bj] for x in held],
                               [per[x]["clicks"][:, i0, j0] for x in held])
        rows.append({"fold": fi + 1, "n_held": int(held.size), "coarseness": coarse[bi],
                     "margin": margins[bj], "train_clicks": float(clicks[train, bi, bj].mean()),
                     "train_covering": float(cov[train, bi].mean()),
                     "held_clicks": float(clicks[held, bi, bj].mean()),
                     "held_clicks_former": float(clicks[held, i0, j0].mean()),
                     "held_ratio": ratio, "held_pairs": npairs,
                     "held_covering": float(cov[held, bi].mean()),
                     "held_objects": float(nobj[held, bi].mean())})
    final = pick(np.arange(n))

    def ms(key: str, fmt: str) -> str:
        v = np.array([r[key] for r in rows], dtype=float)
        return f"{v.mean():{fmt}} ± {v.std(ddof=1) if v.size > 1 else 0.0:{fmt}}"

    pct = f"{args.level:g} %"
    lines = [f"{args.folds}-fold cross-validation on BSDS500 train + val ({n} images; folds "
             f"shuffled with seed {args.seed}, as benchmarks/prior_cv.py); grid: coarseness "
             f"{', '.join(f'{c:g}' for c in coarse)} x band margin "
             f"{', '.join(f'{m:g}' for m in margins)} (0: no band). Simulated annotator, "
             f"K = {k}, clicks to {pct} (mean over annotators, then images; never = {cap}). "
             f"Picked: the fewest clicks on the other folds among the settings with a mean "
             f"covering ≥ {args.covering_floor:g} there.", "",
             f"| fold | held-out images | chosen coarseness | chosen margin | clicks (training "
             f"folds) | covering (training folds) | **held-out clicks to {pct}** | held-out, "
             f"former defaults | **held-out / former defaults', paired** (runs) | held-out covering | "
             f"held-out objects / image |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['fold']} | {r['n_held']} | {r['coarseness']:g} | {r['margin']:g} | "
                     f"{r['train_clicks']:.1f} | {r['train_covering']:.4f} | "
                     f"**{r['held_clicks']:.1f}** | {r['held_clicks_former']:.1f} | "
                     f"**{r['held_ratio']:.3f}** ({r['held_pairs']}) | "
                     f"{r['held_covering']:.4f} | {r['held_objects']:.1f} |")
    lines.append(f"| mean ± std | {n} | | | {ms('train_clicks', '.1f')} | "
                 f"{ms('train_covering', '.4f')} | **{ms('held_clicks', '.1f')}** | "
                 f"{ms('held_clicks_former', '.1f')} | **{ms('held_ratio', '.3f')}** | "
                 f"{ms('held_covering', '.4f')} | {ms('held_objects', '.1f')} |")

    is_val = np.array([sp == "val" for sp, _ in images])
    val_idx = np.flatnonzero(is_val)
    val_summary = None
    if val_idx.size:
        ch = [per[x]["clicks"][:, chosen[x][0], chosen[x][1]] for x in val_idx]
        td = [per[x]["clicks"][:, i0, j0] for x in val_idx]
        ratio, npairs = paired(ch, td)
        c_ch = float(np.mean([mean_clicks(c, cap) for c in ch]))
        c_td = float(np.mean([mean_clicks(c, cap) for c in td]))
        never_ch = int(sum((c < 0).sum() for c in ch))
        never_td = int(sum((c < 0).sum() for c in td))
        runs = int(sum(c.size for c in ch))
        val_summary = {"clicks": c_ch, "clicks_former": c_td, "ratio": ratio, "pairs": npairs,
                       "never": never_ch, "never_former": never_td, "runs": runs,
                       "covering": float(np.mean([cov[x, chosen[x][0]] for x in val_idx])),
                       "covering_former": float(cov[val_idx, i0].mean())}
        lines += ["", f"The {val_idx.size} val images, each at its own fold's choice (K = {k}, "
                  f"clicks to {pct}): **{c_ch:.1f}** clicks against **{c_td:.1f}** at the former "
                  f"defaults (never reached: {never_ch} and {never_td} of {runs} runs); paired "
                  f"ratio **{ratio:.3f}** over the {npairs} runs both reach; covering "
                  f"{val_summary['covering']:.4f} against {val_summary['covering_former']:.4f}."]

    lines += ["", "Not used for picking — every image's mean clicks to "
              f"{pct} (K = {k}) by setting, and the covering (objects / image) of each "
              "coarseness:", "",
              "| coarseness | covering (objects) | "
              + " | ".join(f"margin {m:g}" for m in margins) + " |",
              "|---:|---:|" + "---:|" * len(margins)]
    for i, c in enumerate(coarse):
        lines.append(f"| {c:g} | {cov[:, i].mean():.4f} ({nobj[:, i].mean():.1f}) | "
                     + " | ".join(f"{clicks[:, i, j].mean():.1f}" for j in range(len(margins)))
                     + " |")
    lines += ["", f"Chosen on all {n} images (the shipped default): coarseness "
              f"{coarse[final[0]]:g}, band margin {margins[final[1]]:g}.",
              "", f"{n} images, {cpu_name()}, torch threads {torch.get_num_threads()}, "
              f"{time.perf_counter() - t_start:.0f} s in all."]
    print("\n".join(lines))
    if args.json is not None:
        out = {"images": n, "grid": {"coarseness": coarse, "margin": margins}, "k": k,
               "level": level, "covering_floor": args.covering_floor, "folds": rows,
               "val": val_summary,
               "final": {"coarseness": coarse[final[0]], "margin": margins[final[1]]},
               "clicks_by_setting": clicks.mean(axis=0).tolist(),
               "covering_by_coarseness": cov.mean(axis=0).tolist(),
               "per_image": [{"id": s.id, "split": sp, "chosen": chosen[x],
                              "clicks": per[x]["clicks"].tolist(), "covering": per[x]["cov"].tolist(),
                              "objects": per[x]["nobj"].tolist()}
                             for x, (sp, s) in enumerate(images)],
               "cpu": cpu_name(), "table": "\n".join(lines)}
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
