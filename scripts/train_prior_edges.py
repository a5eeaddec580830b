"""Train the built-in prior's edge model (resources/models/builtin_prior_edges.npz) on BSDS500
train + val.

    python scripts/train_prior_edges.py --data ../shared/data/bsds500 --out resources/models/builtin_prior_edges.npz

The defaults (features v2, 2 merging rounds, 6000 edges per image and round, 16 hidden units,
train + val, no hold-out) train the richer model that ``benchmarks/prior_model_cv.py``
cross-validated against the first one (it did not beat it, so it is not shipped; see
``docs/results/prior_cv.md``). The shipped model (v1) was made with ``--splits train --limit 200
--holdout 40 --features v1 --rounds 2 --per-image 6000``.

What it does (Nunez-Iglesias et al. 2013, "learning to agglomerate"):

1. for every image: the fine SPAM superpixels of :func:`build_hierarchy`, their region
   adjacency graph, and each superpixel's histogram of ground-truth labels, per annotator;
2. round 0: the features of every fine edge, labelled by the fraction of annotators whose
   majority segments of the two sides differ; a weighted logistic regression (IRLS);
3. rounds 1..R: the images are merged with the current model and every edge scored along the
   way is added to the training set (labelled the same way from the merged regions' histograms),
   so the model also sees the large regions it meets late in the merging; refit.
4. with ``--holdout N``: the coarseness with the best mean covering on the last N images is
   printed (the default in ``spam_gui/core/params.py`` is set by hand, from the
   cross-validation).

Only BSDS500 train and val are read (never test). The data are never written into the
repository; per-image graphs are cached under ``--cache``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spam_gui.core.evaluation.datasets import load_dataset  # noqa: E402
from spam_gui.core.evaluation.metrics import segmentation_covering  # noqa: E402
from spam_gui.core.prior.builtin.edge_model import (  # noqa: E402
    EDGE_FEATURES, EDGE_FEATURES_V1, EdgeModel,
)
from spam_gui.core.saliency.builtin import builtin_saliency  # noqa: E402
from spam_gui.core.prior.builtin.hierarchy import ObjectHierarchy  # noqa: E402
from spam_gui.core.prior.builtin.graph import (  # noqa: E402
    agglomerate, build_graph, Graph, edge_features,
)
from spam_gui.core.prior.builtin.compute import fine_segments_for  # noqa: E402
from spam_gui.core.engine.spam import Spam  # noqa: E402


def _graph_arrays(g: Graph) -> dict[str, np.ndarray]:
    return {"regions": g.regions, "pairs": g.pairs, "borders": g.borders,
            "n_deep": np.array(g.n_deep), "n_tex": np.array(g.n_tex)}


def make_textons(samples, spam: Spam, n_textons: int, per_image: int, seed: int = 0
                 ) -> np.ndarray:
    """k-means centres of the encoder's deep features over pixels of the given images."""
    from scipy.cluster.vq import kmeans2

    rng = np.random.default_rng(seed)
    xs = []
    for s in samples:
        img = s.load_image()
        deep = spam.features(img).deep.cpu().numpy()
        xs.append(deep[rng.choice(deep.shape[0], min(per_image, deep.shape[0]), replace=False)])
        spam.clear_cache()
    x = np.concatenate(xs).astype(np.float64)
    centres, _ = kmeans2(x, n_textons, iter=30, minit="++", seed=seed)
    return centres.astype(np.float32)


FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "v1": EDGE_FEATURES_V1,                                          # the first model's 12
    "v2": EDGE_FEATURES,                                             # + saliency, frame, scales
    "v2-nosal": tuple(f for f in EDGE_FEATURES if not f.startswith("sal_")),
}
"""The feature sets a model can be trained on (``--features``)."""


def prepare(samples, spam: Spam, cache: Path, textons: np.ndarray,
            prefix: str = "") -> list[dict]:
    """Per image: fine labels, the graph's sums (with the built-in saliency) and the leaves'
    GT histograms (cached under ``cache`` as ``{prefix}{id}.npz``); ``t_graph``: the CPU
    seconds of the saliency and the graph."""
    out = []
    cache.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(samples):
        f = cache / f"{prefix}{s.id}.npz"
        if f.is_file():
            with np.load(f, allow_pickle=False) as z:
                d = {k: z[k] for k in z.files}
        else:
            img, gts = s.load()
            h, w = img.shape[:2]
            feats = spam.features(img)
            lab = feats.lab.cpu().numpy().reshape(h, w, 3)
            deep = feats.deep.cpu().numpy().reshape(h, w, -1)
            res = spam.segment(img, n_segments=fine_segments_for((h, w)))
            _, fine = np.unique(res.labels, return_inverse=True)
            fine = fine.reshape(h, w)
            c0 = time.process_time()
            sal = builtin_saliency(img)
            g = build_graph(fine, lab, deep, textons, saliency=sal)
            t_graph = time.process_time() - c0
            d = _graph_arrays(g)
            d["t_graph"] = np.array(t_graph)
            d["fine"] = fine.astype(np.int32)
            d["gts"] = np.stack([np.unique(gt, return_inverse=True)[1].reshape(h, w)
                                 for gt in gts]).astype(np.int32)
            np.savez(f, **d)
            spam.clear_cache()
        n = int(d["regions"].shape[0])
        hists = []
        for gt in d["gts"]:
            L = int(gt.max()) + 1
            hists.append(np.bincount(d["fine"].ravel() * L + gt.ravel(),
                                     minlength=n * L).reshape(n, L).astype(np.float64))
        d["hists"] = hists
        d["id"] = s.id
        out.append(d)
        if (i + 1) % 20 == 0:
            print(f"  prepared {i + 1}/{len(samples)}", flush=True)
    return out


def as_graph(d: dict) -> Graph:
    return Graph(n=int(d["regions"].shape[0]), regions=d["regions"], pairs=d["pairs"],
                  borders=d["borders"], n_deep=int(d["n_deep"]), n_tex=int(d["n_tex"]))


def node_hists(d: dict, children: np.ndarray) -> list[np.ndarray]:
    n = int(d["regions"].shape[0])
    out = []
    for hst in d["hists"]:
        full = np.zeros((2 * n - 1, hst.shape[1]))
        full[:n] = hst
        for i, (a, b) in enumerate(children):
            full[n + i] = full[a] + full[b]
        out.append(full)
    return out


def targets(hists: list[np.ndarray], ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """Fraction of annotators for whom the majority segments of a and b differ."""
    diff = [(h[ia].argmax(1) != h[ib].argmax(1)).astype(np.float64) for h in hists]
    return np.mean(diff, axis=0)


def level0(d: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    g = as_graph(d)
    a, b = g.pairs[:, 0], g.pairs[:, 1]
    total = float(g.regions[:, 0].sum())
    x = edge_features(g.regions[a], g.regions[b], g.borders, g.layout, total)
    y = targets(d["hists"], a, b)
    wgt = np.sqrt(np.minimum(g.regions[a, 0], g.regions[b, 0]) / total)
    return x, y, wgt


def run_merge(d: dict, model: EdgeModel, collect: bool):
    g = as_graph(d)
    rec: list | None = [] if collect else None
    children, heights, areas, ucm = agglomerate(g, model, float(g.regions[:, 0].sum()),
                                                 record=rec)
    hier = ObjectHierarchy(fine=d["fine"], children=children, heights=heights, areas=areas,
                           edge_ucm=ucm, edge_pairs=g.pairs)
    if not collect:
        return hier, None
    hists = node_hists(d, children)
    xs, ys, ws = [], [], []
    total = float(g.regions[:, 0].sum())
    for x, ia, ib in rec:
        xs.append(x)
        ys.append(targets(hists, ia, ib))
        ws.append(np.sqrt(np.minimum(areas[ia], areas[ib]) / total))
    return hier, (np.concatenate(xs), np.concatenate(ys), np.concatenate(ws))


def fit_model(x: np.ndarray, y: np.ndarray, w: np.ndarray, textons: np.ndarray | None,
              hidden: int = 16, epochs: int = 200, seed: int = 0,
              features: tuple[str, ...] = EDGE_FEATURES) -> EdgeModel:
    """A one-hidden-layer network fitted by weighted binary cross-entropy with soft targets
    (full-batch L-BFGS; 0 hidden units: a logistic regression); ``x`` has every one of
    :data:`EDGE_FEATURES`, the model weighs ``features``."""
    x = x[:, [EDGE_FEATURES.index(f) for f in features]]
    mean = np.average(x, axis=0, weights=w)
    scale = np.sqrt(np.average((x - mean) ** 2, axis=0, weights=w)) + 1e-6
    torch.manual_seed(seed)
    z = torch.from_numpy(((x - mean) / scale).astype(np.float32))
    t = torch.from_numpy(y.astype(np.float32))
    wt = torch.from_numpy((w / w.mean()).astype(np.float32))
    if hidden:
        net = torch.nn.Sequential(torch.nn.Linear(z.shape[1], hidden), torch.nn.ReLU(),
                                  torch.nn.Linear(hidden, 1))
    else:
        net = torch.nn.Sequential(torch.nn.Linear(z.shape[1], 1))
    opt = torch.optim.LBFGS(net.parameters(), lr=1.0, max_iter=epochs, history_size=20,
                            line_search_fn="strong_wolfe")
    lossf = torch.nn.BCEWithLogitsLoss(reduction="none")

    def closure():
        opt.zero_grad()
        loss = (lossf(net(z)[:, 0], t) * wt).mean() + 1e-5 * sum(
            (p ** 2).sum() for n, p in net.named_parameters() if n.endswith("weight"))
        loss.backward()
        return loss

    opt.step(closure)
    lin = [m for m in net if isinstance(m, torch.nn.Linear)]
    layers = tuple((m.weight.detach().double().numpy().T, m.bias.detach().double().numpy())
                   for m in lin)
    return EdgeModel(layers=layers, mean=mean, scale=scale, textons=textons, features=features)


def _subsample(x, y, w, n: int, rng: np.random.Generator):
    if x.shape[0] <= n:
        return x, y, w
    i = rng.choice(x.shape[0], n, replace=False)
    return x[i], y[i], w[i]


def covering_curve(data: list[dict], model: EdgeModel, grid: np.ndarray) -> np.ndarray:
    cov = np.zeros(grid.size)
    for d in data:
        hier, _ = run_merge(d, model, collect=False)
        for j, c in enumerate(grid):
            part = hier.partition(float(c))
            cov[j] += np.mean([segmentation_covering(part, gt) for gt in d["gts"]])
    return cov / len(data)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "bsds500"))
    ap.add_argument("--out", default=None, help="where to write the model (.npz)")
    ap.add_argument("--cache", default="/tmp/spam_prior_edges_cache_v3")
    ap.add_argument("--splits", default="train,val",
                    help="BSDS500 splits to train on (default train,val: the shipped model)")
    ap.add_argument("--features", default="v2", choices=sorted(FEATURE_SETS),
                    help="feature set (default v2, chosen by benchmarks/prior_model_cv.py)")
    ap.add_argument("--textons", type=int, default=32, help="texton codebook size")
    ap.add_argument("--texton-images", type=int, default=40,
                    help="train images whose pixels make the codebook (when the shipped "
                         "model's codebook of that size is not there to reuse)")
    ap.add_argument("--limit", type=int, default=None, help="images used per split")
    ap.add_argument("--holdout", type=int, default=0,
                    help="last images kept out of fitting, for a coarseness sweep (default 0: "
                         "the coarseness is chosen by benchmarks/prior_model_cv.py)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--hidden", type=int, default=16, help="hidden units (0: logistic)")
    ap.add_argument("--per-image", type=int, default=6000,
                    help="edges kept per image and round (random subsample)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    splits = [x for x in args.splits.split(",") if x]
    sets = {sp: list(load_dataset(Path(args.data) / sp, limit=args.limit)) for sp in splits}
    spam = Spam("default", device="cpu", cache_size=1)
    cache = Path(args.cache)
    tex_file = cache / f"textons_{args.textons}.npy"
    textons = None
    if tex_file.is_file():
        textons = np.load(tex_file, allow_pickle=False)
    else:
        try:  # the shipped model's codebook (k-means of the first 40 train images' pixels)
            from spam_gui.core.prior.builtin.edge_model import default_edge_model
            shipped = default_edge_model().textons
            if shipped is not None and shipped.shape[0] == args.textons:
                textons = shipped
        except Exception:  # noqa: BLE001 - no shipped model: make the codebook
            textons = None
        if textons is None:
            first = sets.get("train") or next(iter(sets.values()))
            textons = make_textons(first[: args.texton_images], spam, args.textons, 4000)
        cache.mkdir(parents=True, exist_ok=True)
        np.save(tex_file, textons)
    print(f"{textons.shape[0]} textons ({time.perf_counter() - t0:.0f} s)", flush=True)
    data = []
    for sp in splits:
        data += prepare(sets[sp], spam, cache, textons, prefix=sp + "_")
    fit, hold = data[: len(data) - args.holdout], data[len(data) - args.holdout:]
    print(f"{len(fit)} fitting, {len(hold)} held-out images; prepared in "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    features = FEATURE_SETS[args.features]
    parts = [level0(d) for d in fit]
    X = np.concatenate([p[0] for p in parts])
    Y = np.concatenate([p[1] for p in parts])
    W = np.concatenate([p[2] for p in parts])
    rng = np.random.default_rng(0)
    model = fit_model(X, Y, W, textons, hidden=args.hidden, features=features)
    for r in range(1, args.rounds + 1):
        xs, ys, ws = [X], [Y], [W]
        for d in fit:
            _, (x, y, w) = run_merge(d, model, collect=True)
            x, y, w = _subsample(x, y, w, args.per_image, rng)
            xs.append(x)
            ys.append(y)
            ws.append(w)
        X, Y, W = np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)
        model = fit_model(X, Y, W, textons, hidden=args.hidden, features=features)
        print(f"round {r}: {X.shape[0]} edges, {time.perf_counter() - t0:.0f} s", flush=True)
    meta = {
        "name": f"builtin_prior_edges {args.features}",
        "trained_on": f"BSDS500 {' + '.join(splits)}, {len(fit)} images (all annotators)",
        "features": args.features, "rounds": args.rounds, "per_image": args.per_image,
        "n_edges": int(X.shape[0]), "hidden": args.hidden,
        "date": _dt.date.today().isoformat(), "encoder": "spam_encoder_d20.pt",
        "chosen_by": "benchmarks/prior_model_cv.py (5-fold cross-validation on train + val)",
    }
    if hold:
        grid = np.round(np.linspace(0.05, 0.95, 19), 3)
        curve = covering_curve(hold, model, grid)
        best = int(np.argmax(curve))
        print("coarseness  " + " ".join(f"{c:5.2f}" for c in grid))
        print("covering    " + " ".join(f"{v:5.3f}" for v in curve))
        print(f"best coarseness {grid[best]:.2f}: covering {curve[best]:.4f} on {len(hold)} "
              "held-out images")
        meta.update(holdout=f"the last {len(hold)} images", best_coarseness=float(grid[best]),
                    holdout_covering=float(curve[best]))
    if args.out:
        EdgeModel(model.layers, model.mean, model.scale, textons, meta,
                  features=features).save(args.out)
        print("wrote", args.out, f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
