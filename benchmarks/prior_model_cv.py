"""The built-in prior's edge model chosen by 5-fold cross-validation on BSDS500 train + val
(issue 25, item 2): which features (the first model's 12, or + saliency, image-frame contact
and a coarse-scale boundary gradient) and which coarseness, picked on folds not reported.

    SPAM_CACHE_DIR=/tmp/h25/cache python benchmarks/prior_model_cv.py --json model_cv.json
    python benchmarks/prior_model_cv.py --limit 30 --configs v1,v2      # quick check
    python benchmarks/prior_model_cv.py --effort                        # + clicks on val

Every image's fine SPAM superpixels and region graph are prepared once
(``scripts/train_prior_edges.py``'s ``prepare``, cached under ``--graphs``). The 300 images
(train 200 + val 100) are shuffled into ``--folds`` folds exactly as ``benchmarks/prior_cv.py``
does (seed 0). For every configuration (``--configs``: feature sets of
``train_prior_edges.FEATURE_SETS``) and every fold, an edge model is trained on the *other*
folds with the training script's procedure (round 0 on the fine edges, then ``--rounds``
rounds of merging and refitting) and every held-out image is merged with it and cut at every
coarseness: out-of-fold covering ``cov[image, config, coarseness]`` (objects before the
uncertain band, minimum object area the default; mean over annotators). The models are kept
under ``--models`` (a rerun loads them).

Choosing: for each fold, the (configuration, coarseness) with the best mean out-of-fold
covering over the images of the *other* folds is picked, and the fold is reported at it. The
numbers of a fold never enter its own choice (the other folds' models were trained with it,
which a fully nested cross-validation would avoid; 5 x 4 more models did not fit the budget).
The per-configuration table does the same with the configuration fixed (coarseness picked).

``--effort``: the simulated annotator (``benchmarks/annotation_effort.py``, K = 400, 90 %) on
the val images, with the shipped model at its defaults (today's objects) and with each val
image's *fold* model (never trained on that image) of each configuration at its fold's
chosen coarseness; the paired ratio of clicks.

Time beyond the superpixels: CPU seconds of this process per photo, the saliency and region
graph (when prepared) + the merging + the cut with its band.
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
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import cpu_name  # noqa: E402
from prior_cv import cv_folds, grid_with, select_images  # noqa: E402
from train_prior_edges import (  # noqa: E402
    FEATURE_SETS, _subsample, fit_model, level0, prepare, run_merge,
)

from spam_gui.core.evaluation.metrics import segmentation_covering  # noqa: E402
from spam_gui.core.params import PRIOR_DEFAULTS  # noqa: E402
from spam_gui.core.prior.builtin.edge_model import EdgeModel, default_edge_model  # noqa: E402


def train_on(data: list[dict], features: tuple[str, ...], textons, rounds: int,
             per_image: int, hidden: int, seed: int = 0) -> tuple[EdgeModel, int]:
    """The training script's procedure on ``data``: round 0 on the fine edges, then
    ``rounds`` rounds of merging with the current model and refitting."""
    parts = [level0(d) for d in data]
    X = np.concatenate([p[0] for p in parts])
    Y = np.concatenate([p[1] for p in parts])
    W = np.concatenate([p[2] for p in parts])
    rng = np.random.default_rng(seed)
    model = fit_model(X, Y, W, textons, hidden=hidden, features=features)
    for _ in range(rounds):
        xs, ys, ws = [X], [Y], [W]
        for d in data:
            _, (x, y, w) = run_merge(d, model, collect=True)
            x, y, w = _subsample(x, y, w, per_image, rng)
            xs.append(x)
            ys.append(y)
            ws.append(w)
        X, Y, W = np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)
        model = fit_model(X, Y, W, textons, hidden=hidden, features=features)
    return model, int(X.shape[0])


def score_image(d: dict, model: EdgeModel, coarse: list[float]):
    """Covering and object count at every coarseness, and the CPU seconds of the merging and
    of the cut with its band (at the default coarseness)."""
    c0 = time.process_time()
    hier, _ = run_merge(d, model, collect=False)
    t_merge = time.process_time() - c0
    c0 = time.process_time()
    hier.prior(PRIOR_DEFAULTS.coarseness)
    t_cut = time.process_time() - c0
    cov = np.zeros(len(coarse))
    nobj = np.zeros(len(coarse))
    for i, c in enumerate(coarse):
        part = hier.partition(c)
        cov[i] = np.mean([segmentation_covering(part, g) for g in d["gts"]])
        nobj[i] = int(part.max())
    return cov, nobj, t_merge, t_cut, hier


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--configs", default="v1,v2")
    p.add_argument("--coarseness", default="0.3:0.7:0.05")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--per-image", type=int, default=6000)
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--graphs", type=Path, default=Path("/tmp/h25/graphs"))
    p.add_argument("--models", type=Path, default=Path("/tmp/h25/models"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--effort", action="store_true", help="clicks of the simulated annotator on val")
    p.add_argument("--effort-k", type=int, default=400)
    p.add_argument("--effort-images", type=int, default=None)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    configs = [c for c in args.configs.split(",") if c]
    c0 = PRIOR_DEFAULTS.coarseness
    coarse = grid_with(args.coarseness, c0)
    shipped = default_edge_model()
    textons = shipped.textons

    images = select_images(args.limit)
    n = len(images)
    data = []
    for split in ("train", "val"):
        ss = [s for sp, s in images if (sp == "val") == (split == "val")]
        data += prepare(ss, None, args.graphs, textons, prefix=split + "_")
    order, folds = cv_folds(np.arange(n), args.folds, args.seed)
    fold_of = np.zeros(n, dtype=np.int64)
    for fi, f in enumerate(folds):
        fold_of[f] = fi

    # ---- out-of-fold scores of every configuration; the shipped model's for reference
    cov = np.zeros((n, len(configs), len(coarse)))
    nobj = np.zeros_like(cov)
    t_merge = np.zeros((n, len(configs)))
    t_cut = np.zeros((n, len(configs)))
    fold_models: dict[tuple[str, int], EdgeModel] = {}
    train_info = {}
    args.models.mkdir(parents=True, exist_ok=True)
    for ci, cfg in enumerate(configs):
        for fi, held in enumerate(folds):
            f = args.models / (f"{cfg}_fold{fi + 1}of{args.folds}_n{n}_r{args.rounds}"
                               f"_p{args.per_image}_h{args.hidden}.npz")
            if f.is_file():
                model = EdgeModel.load(f)
            else:
                t0 = time.perf_counter()
                train = [data[k] for k in np.setdiff1d(order, held)]
                model, n_edges = train_on(train, FEATURE_SETS[cfg], textons, args.rounds,
                                          args.per_image, args.hidden)
                model = EdgeModel(model.layers, model.mean, model.scale, model.textons,
                                  {"name": f"fold model {cfg} {fi + 1}", "n_edges": n_edges,
                                   "train_seconds": time.perf_counter() - t0},
                                  features=model.features)
                model.save(f)
            train_info[(cfg, fi)] = model.meta
            fold_models[(cfg, fi)] = model
            for k in held:
                cov[k, ci], nobj[k, ci], t_merge[k, ci], t_cut[k, ci], _ = score_image(
                    data[k], model, coarse)
            print(f"{cfg} fold {fi + 1}: held-out covering at {c0:g} "
                  f"{cov[held, ci, coarse.index(c0)].mean():.4f} "
                  f"({time.perf_counter() - t_start:.0f} s)", file=sys.stderr, flush=True)
    cov_today = np.zeros((n, len(coarse)))
    nobj_today = np.zeros_like(cov_today)
    for k in range(n):
        cov_today[k], nobj_today[k], *_ = score_image(data[k], shipped, coarse)
    t_graph = np.array([float(d["t_graph"]) for d in data])

    # ---- choose on the other folds, report the fold
    def choose(cfg_idx: list[int]):
        rows = []
        for fi, held in enumerate(folds):
            others = np.setdiff1d(order, held)
            m = cov[others][:, cfg_idx].mean(axis=0)          # (configs, coarse)
            a, b = np.unravel_index(int(np.argmax(m)), m.shape)
            ci = cfg_idx[a]
            rows.append({"fold": fi + 1, "n_held": int(held.size), "config": configs[ci],
                         "coarseness": coarse[b], "others_covering": float(m[a, b]),
                         "held_covering": float(cov[held, ci, b].mean()),
                         "held_objects": float(nobj[held, ci, b].mean()),
                         "held_cpu_beyond": float((t_graph[held] + t_merge[held, ci]
                                                   + t_cut[held, ci]).mean()),
                         "held_covering_today": float(cov_today[held, coarse.index(c0)].mean()),
                         "held_objects_today": float(nobj_today[held, coarse.index(c0)].mean())})
        return rows

    overall = choose(list(range(len(configs))))
    per_config = {cfg: choose([ci]) for ci, cfg in enumerate(configs)}

    def ms(rows, key, fmt):
        v = np.array([r[key] for r in rows], dtype=float)
        return f"{v.mean():{fmt}} ± {v.std(ddof=1) if v.size > 1 else 0.0:{fmt}}"

    lines = [f"{args.folds}-fold cross-validation on BSDS500 train + val ({n} images, the folds "
             f"of benchmarks/prior_cv.py, seed {args.seed}); every fold's edge models trained "
             f"on the other folds ({args.rounds} merging round(s), {args.per_image} edges per "
             f"image and round, {args.hidden} hidden units); coarseness "
             f"{coarse[0]:g} .. {coarse[-1]:g}; minimum object area the default.", "",
             "Configuration and coarseness picked on the other folds:", "",
             "| fold | held-out images | chosen features | chosen coarseness | covering (other "
             "folds) | **held-out covering** | held-out objects / image | CPU s / photo beyond "
             "superpixels | today's shipped model at 0.5 (objects) |",
             "|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in overall:
        lines.append(f"| {r['fold']} | {r['n_held']} | {r['config']} | {r['coarseness']:g} | "
                     f"{r['others_covering']:.4f} | **{r['held_covering']:.4f}** | "
                     f"{r['held_objects']:.1f} | {r['held_cpu_beyond']:.3f} | "
                     f"{r['held_covering_today']:.4f} ({r['held_objects_today']:.1f}) |")
    lines.append(f"| mean ± std | {n} | | | {ms(overall, 'others_covering', '.4f')} | "
                 f"**{ms(overall, 'held_covering', '.4f')}** | "
                 f"{ms(overall, 'held_objects', '.1f')} | {ms(overall, 'held_cpu_beyond', '.3f')} "
                 f"| {ms(overall, 'held_covering_today', '.4f')} |")
    lines += ["", "Each configuration alone (coarseness picked on the other folds):", "",
              "| features | chosen coarseness per fold | **held-out covering** | held-out "
              "objects / image | CPU s / photo beyond superpixels |", "|---|---|---:|---:|---:|"]
    for cfg, rows in per_config.items():
        lines.append(f"| {cfg} ({len(FEATURE_SETS[cfg])}) | "
                     f"{', '.join(format(r['coarseness'], 'g') for r in rows)} | "
                     f"**{ms(rows, 'held_covering', '.4f')}** | {ms(rows, 'held_objects', '.1f')} "
                     f"| {ms(rows, 'held_cpu_beyond', '.3f')} |")
    lines += ["", "Not used for picking: out-of-fold covering (objects / image) against the "
              "coarseness, all images:", "",
              "| features | " + " | ".join(f"{c:g}" for c in coarse) + " |",
              "|---|" + "---:|" * len(coarse)]
    for ci, cfg in enumerate(configs):
        lines.append(f"| {cfg} | " + " | ".join(
            f"{v:.4f} ({o:.1f})" for v, o in zip(cov[:, ci].mean(0), nobj[:, ci].mean(0))) + " |")
    lines.append("| shipped (160 of the images are its training set) | " + " | ".join(
        f"{v:.4f} ({o:.1f})" for v, o in zip(cov_today.mean(0), nobj_today.mean(0))) + " |")
    lines += ["", f"CPU seconds per photo (this process): saliency + region graph "
              f"{t_graph.mean():.3f} (v1 needs no saliency), merging "
              + ", ".join(f"{cfg} {t_merge[:, ci].mean():.3f}" for ci, cfg in enumerate(configs))
              + ", cut with band "
              + ", ".join(f"{cfg} {t_cut[:, ci].mean():.3f}" for ci, cfg in enumerate(configs))
              + "."]

    effort = None
    if args.effort:
        effort = run_effort(args, images, data, folds, fold_of, configs, per_config, overall,
                            fold_models, shipped)
        lines += ["", effort["table"]]
    elapsed = time.perf_counter() - t_start
    lines += ["", f"{n} images, {cpu_name()}, torch threads {torch.get_num_threads()}, "
              f"{elapsed:.0f} s in all."]
    print("\n".join(lines))
    if args.json is not None:
        out = {"images": n, "configs": configs, "coarseness": coarse, "overall": overall,
               "per_config": per_config, "cov": cov.tolist(), "cov_today": cov_today.tolist(),
               "nobj": nobj.tolist(), "t_graph": t_graph.tolist(), "t_merge": t_merge.tolist(),
               "t_cut": t_cut.tolist(), "effort": effort, "seconds": elapsed,
               "ids": [f"{sp}/{s.id}" for sp, s in images], "fold_of": fold_of.tolist(),
               "train_info": {f"{c}/{f + 1}": v for (c, f), v in train_info.items()},
               "table": "\n".join(lines)}
        args.json.write_text(json.dumps(out, indent=1))
    return 0


def run_effort(args, images, data, folds, fold_of, configs, per_config, overall, fold_models,
               shipped) -> dict:
    """Clicks of the simulated annotator to 90 % at K = ``--effort-k`` on the val images:
    today's shipped model at the defaults, and each val image's fold models."""
    from annotation_effort import paired_ratio, run_image, Method
    from spam_gui.core.engine.spam import Spam

    spam = Spam("default", device="cpu", cache_size=1)
    k_eff, level = args.effort_k, 0.9
    val = [k for k, (sp, _) in enumerate(images) if sp == "val"]
    if args.effort_images is not None:
        val = val[: args.effort_images]
    methods = ["today"] + list(configs)
    runs: dict[str, list] = {m: [] for m in methods + ["chosen"]}
    seconds: dict[str, float] = {}
    n_objects: dict[str, list] = {m: [] for m in methods + ["chosen"]}
    for k in val:
        _, s = images[k]
        image, gts = s.load()
        fi = int(fold_of[k])
        for name in methods:
            if name == "today":
                model, c = shipped, PRIOR_DEFAULTS.coarseness
            else:
                model, c = fold_models[(name, fi)], per_config[name][fi]["coarseness"]
            hier, _ = run_merge(data[k], model, collect=False)
            prior = hier.prior(c)
            m = Method(name, lambda im, g, pr=prior: [pr], "spam", True)
            out = run_image(image, gts, [m], [k_eff], [level], 3.0, spam, seconds)
            runs[name].append(out[(name, k_eff)])
            n_objects[name].append(int(prior.max()))
        spam.clear_cache()
        # the configuration picked for this image's fold (its coarseness is that
        # configuration's own pick: the joint argmax lies within it)
        chosen = overall[fi]["config"]
        runs["chosen"].append(runs[chosen][-1])
        n_objects["chosen"].append(n_objects[chosen][-1])
        print(f"effort {len(runs['today'])}/{len(val)}", file=sys.stderr, flush=True)
    lines = [f"Simulated annotator on {len(val)} val images, K = {k_eff}, clicks to 90 % (mean "
             "over annotators, then images; a run that never gets there counts as the cap "
             "3 K, marked ≥). 'today': the shipped model at coarseness 0.5 (its training set "
             "had no val image); the others: each image's fold model (not trained on it) at "
             "its fold's chosen coarseness.", "",
             "| objects | objects / image | clicks to 90 % | never reached | clicks / today's "
             "(paired runs) |", "|---|---:|---:|---:|---:|"]
    summary = {}
    for name in methods + ["chosen"]:
        clicks = []
        never = 0
        for r in runs[name]:
            per = [c[0] if c[0] is not None else 3 * k_eff for c in r["clicks"]]
            never += sum(c[0] is None for c in r["clicks"])
            clicks.append(np.mean(per))
        ratio, npair = paired_ratio(runs[name], runs["today"], 0)
        summary[name] = {"clicks": float(np.mean(clicks)), "never": never,
                         "objects": float(np.mean(n_objects[name])), "ratio": ratio,
                         "pairs": npair}
        total = sum(len(r["clicks"]) for r in runs[name])
        rcell = f"{ratio:.2f} × ({npair})" if ratio is not None else "–"
        lines.append(f"| {name} | {np.mean(n_objects[name]):.1f} | "
                     f"{'≥ ' if never else ''}{np.mean(clicks):.1f} | {never} of {total} | "
                     f"{rcell} |")
    return {"summary": summary, "table": "\n".join(lines)}


if __name__ == "__main__":
    sys.exit(main())
