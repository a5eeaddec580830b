"""The built-in object prior on BSDS500 val: segmentation covering beside Felzenszwalb, and
SPAM's accuracy with and without it.

    python benchmarks/prior_covering.py                  # covering, 100 val images
    python benchmarks/prior_covering.py --limit 30
    python benchmarks/prior_covering.py --asa --limit 30 --n-segments 200,400,800

Covering (Arbelaez et al. 2011; :func:`spam_gui.core.evaluation.metrics.segmentation_covering`): each
annotator's map covered by the method's objects, averaged over annotators, then over images,
with one fixed parameter for every image: Felzenszwalb-Huttenlocher
(``skimage.segmentation.felzenszwalb``, scale 800 (``--fh-scale``), σ 0.8, min size 20, the
issue's anchor) and the built-in prior at its default coarseness (``spam_gui.core.params.PRIOR_DEFAULTS``).
The built-in prior is scored on its objects before the uncertain band (the partition that the
band is cut from); the band's share of pixels is printed beside it. Seconds per image are the
merging and cutting time beyond the fine superpixels (and, separately, the superpixels), all
measured in this run on this machine (shared: compare the columns, not runs).

``--asa``: SPAM at each K without a prior and inside the built-in prior's objects (the same
engine and features), ASA / BR / BP / GR per :mod:`spam_gui.core.evaluation.evaluate`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._machine import cpu_name  # noqa: E402
from spam_gui.core.io.cache import hash_array  # noqa: E402
from spam_gui.core.evaluation.datasets import load_dataset  # noqa: E402
from spam_gui.core.evaluation.evaluate import SuperpixelMethod, evaluate, format_table  # noqa: E402
from spam_gui.core.evaluation.metrics import segmentation_covering  # noqa: E402
from spam_gui.core.params import PRIOR_DEFAULTS  # noqa: E402
from spam_gui.core.prior.builtin.compute import build_hierarchy  # noqa: E402
from spam_gui.core.engine.spam import Spam  # noqa: E402


def _felzenszwalb(image: np.ndarray, scale: float) -> np.ndarray:
    from skimage.segmentation import felzenszwalb

    return felzenszwalb(image, scale=scale, sigma=0.8, min_size=20)


def covering_table(data, spam: Spam, coarseness: float, fh_scale: float) -> str:
    rows = {"fh": [], "prior": [], "t_fh": [], "t_sp": [], "t_merge": [], "t_cut": [],
            "n_fh": [], "n_prior": [], "band": []}
    for sample in data:
        image, gts = sample.load()
        t0 = time.perf_counter()
        fh = _felzenszwalb(image, fh_scale)
        rows["t_fh"].append(time.perf_counter() - t0)
        spam.clear_cache()  # the features count as superpixel time, as in the CLI
        hier = build_hierarchy(image, spam=spam)
        t0 = time.perf_counter()
        part = hier.partition(coarseness)
        prior = hier.prior(coarseness)
        rows["t_cut"].append(time.perf_counter() - t0)
        rows["t_sp"].append(hier.seconds["superpixels"])
        rows["t_merge"].append(hier.seconds["graph"] + hier.seconds["merge"])
        rows["fh"].append(np.mean([segmentation_covering(fh, g) for g in gts]))
        rows["prior"].append(np.mean([segmentation_covering(part, g) for g in gts]))
        rows["n_fh"].append(len(np.unique(fh)))
        rows["n_prior"].append(int(part.max()))
        rows["band"].append(float((prior == 0).mean()))
    m = {k: float(np.mean(v)) for k, v in rows.items()}
    lines = [
        "| method | parameter | covering | objects / image | uncertain | s / image |",
        "|---|---|---:|---:|---:|---:|",
        f"| Felzenszwalb-Huttenlocher (skimage) | scale {fh_scale:g}, σ 0.8, min size 20 | {m['fh']:.4f} | "
        f"{m['n_fh']:.1f} | — | {m['t_fh']:.3f} |",
        f"| built-in prior (this project) | coarseness {coarseness:g} | {m['prior']:.4f} | "
        f"{m['n_prior']:.1f} | {100 * m['band']:.1f} % | {m['t_merge'] + m['t_cut']:.3f} "
        f"(+ {m['t_sp']:.3f} superpixels) |",
    ]
    return "\n".join(lines)


def asa_table(data, spam: Spam, ks: list[int], coarseness: float) -> str:
    priors: dict[str, np.ndarray] = {}

    def prior_of(image: np.ndarray) -> np.ndarray:
        key = hash_array(image)
        if key not in priors:
            priors.clear()
            priors[key] = build_hierarchy(image, spam=spam).prior(coarseness)
        return priors[key]

    def plain(image, k, _prior):
        return spam.segment(image, n_segments=k).labels

    def inside(image, k, _prior):
        return spam.segment(image, n_segments=k, prior=prior_of(image)).labels

    methods = [
        SuperpixelMethod("spam", f"SPAM [{spam.encoder_name}], no prior", plain,
                         {"prior": "none"}, prepare=spam.features),
        SuperpixelMethod("spam", f"SPAM [{spam.encoder_name}], built-in prior "
                         f"(coarseness {coarseness:g})", inside, {"prior": "builtin"},
                         prepare=lambda im: (spam.features(im), prior_of(im))),
    ]
    results = evaluate(data, methods, ks, progress=False)
    results.sort(key=lambda r: (r["n_segments"], r["options"]["prior"] != "none"))
    return format_table(results, markdown=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path,
                   default=ROOT.parent / "shared" / "data" / "bsds500" / "val")
    p.add_argument("--limit", type=int, default=None, help="first N images (default all)")
    p.add_argument("--coarseness", type=float, default=PRIOR_DEFAULTS.coarseness)
    p.add_argument("--fh-scale", type=float, default=800.0)
    p.add_argument("--asa", action="store_true",
                   help="the SPAM with / without the built-in prior table instead")
    p.add_argument("--n-segments", default="200,400,800")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = load_dataset(args.data, limit=args.limit)
    spam = Spam(encoder="default", device="cpu", cache_size=1)
    t0 = time.perf_counter()
    if args.asa:
        table = asa_table(data, spam, [int(k) for k in args.n_segments.split(",")],
                          args.coarseness)
    else:
        table = covering_table(data, spam, args.coarseness, args.fh_scale)
    print(table)
    print(f"\n{len(data)} images of {args.data.name}, {cpu_name()}, torch threads "
          f"{torch.get_num_threads()}, {time.perf_counter() - t0:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
