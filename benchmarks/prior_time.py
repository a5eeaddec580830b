"""CPU seconds per photo of the built-in prior beyond the superpixels, for edge-model files
side by side (issue 25: at most 0.3 s per BSDS photo).

    python benchmarks/prior_time.py OLD.npz resources/models/builtin_prior_edges.npz --images 30

For each BSDS500 val image (the first ``--images``): the encoder's features and the fine
superpixels are computed once (not timed); then, for each model in turn (interleaved, so that
the machine's load weighs on each alike), the CPU seconds of this process (``process_time``)
of what :func:`spam_gui.core.prior.builtin.compute.build_hierarchy` does after the
superpixels: the built-in saliency (when the model uses it), the region graph, the merging,
and the cut with its uncertain band at the default coarseness. Mean, median and max over the
images.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import cpu_name  # noqa: E402

from spam_gui.core.engine.spam import Spam  # noqa: E402
from spam_gui.core.evaluation.datasets import load_dataset  # noqa: E402
from spam_gui.core.prior.builtin.compute import fine_segments_for  # noqa: E402
from spam_gui.core.prior.builtin.edge_model import EdgeModel  # noqa: E402
from spam_gui.core.prior.builtin.graph import agglomerate, build_graph  # noqa: E402
from spam_gui.core.prior.builtin.hierarchy import ObjectHierarchy  # noqa: E402
from spam_gui.core.saliency.builtin import builtin_saliency  # noqa: E402


def beyond_superpixels(rgb, fine, lab, deep, model: EdgeModel) -> float:
    """CPU seconds of the saliency (if used), the graph, the merging and the default cut."""
    c0 = time.process_time()
    sal = builtin_saliency(rgb) if model.uses_saliency else None
    g = build_graph(fine, lab, deep, model.textons, saliency=sal)
    h, w = fine.shape
    children, heights, areas, ucm = agglomerate(g, model, float(h * w))
    ObjectHierarchy(fine=fine, children=children, heights=heights, areas=areas, edge_ucm=ucm,
                    edge_pairs=g.pairs).prior()
    return time.process_time() - c0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", type=Path, help="edge-model files (.npz)")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "bsds500" / "val")
    p.add_argument("--images", type=int, default=30)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    models = [EdgeModel.load(m) for m in args.models]
    spam = Spam("default", device="cpu", cache_size=1)
    secs = np.zeros((args.images, len(models)))
    samples = list(load_dataset(args.data, limit=args.images))
    for i, s in enumerate(samples):
        rgb = s.load_image()
        h, w = rgb.shape[:2]
        feats = spam.features(rgb)
        lab = feats.lab.cpu().numpy().reshape(h, w, 3)
        deep = feats.deep.cpu().numpy().reshape(h, w, -1)
        _, fine = np.unique(spam.segment(rgb, n_segments=fine_segments_for((h, w))).labels,
                            return_inverse=True)
        fine = fine.reshape(h, w).astype(np.int32)
        for j, m in enumerate(models):
            secs[i, j] = beyond_superpixels(rgb, fine, lab, deep, m)
        spam.clear_cache()
    secs = secs[: len(samples)]
    print(f"CPU seconds per photo beyond the superpixels, {len(samples)} BSDS500 val images, "
          f"{cpu_name()}, torch threads {torch.get_num_threads()}:")
    print("| model | features | mean | median | max |")
    print("|---|---:|---:|---:|---:|")
    for j, (path, m) in enumerate(zip(args.models, models)):
        col = secs[:, j]
        print(f"| {path.name} ({m.meta.get('name', '?')}) | {len(m.features)} | "
              f"{col.mean():.3f} | {np.median(col):.3f} | {col.max():.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
