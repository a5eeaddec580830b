"""Benchmarking superpixel methods on an annotated dataset (the paper's Fig. 6 protocol).

:func:`evaluate` runs each method at each requested K on every image of a dataset folder
(:mod:`spam_gui.core.evaluation.datasets`) and scores the label maps with :mod:`spam_gui.core.evaluation.metrics`.
Averaging follows docs/algorithm.md §8: ASA, BR and BP per (image, annotator), then the mean over the
image's annotators, then the mean over images; GR, EV, ΔK and K̂ per image, then the mean over
images.

Methods (:data:`METHODS`):

- ``spam``: the SPAM engine (:class:`spam_gui.core.Spam`) with the chosen encoder; with
  ``prior="gt"`` each image's prior is its annotator-0 map (a check of "any prior
  segmentation": ASA against annotator 0 is then close to 1). As for any prior, label 0 in
  that map means "uncertain".
- ``slic``: exactly ``skimage.segmentation.slic(image, n_segments=K, compactness=10,
  start_label=1)``.
- ``slic-zero``: the same with ``slic_zero=True`` (adaptive compactness).
- ``watershed``: compact watershed (Neubert & Protzel 2014) of the Sobel gradient with K
  markers, ``compactness=0.01``.
- ``felzenszwalb``: graph-based segmentation (``scale=100, sigma=0.5``); it has no K, so
  ``min_size = H·W / (2K)`` steers the count (K̂ differs from K a lot: compare against K̂).
- ``grid``: a regular grid of n_h × n_w rectangles (the SSN seed grid for K): a reference
  with GR close to 1 and the worst accuracy.

Timing: ``seconds`` is the wall time of one method call on one image (metrics excluded). For
``spam`` it includes the per-image feature pass (encoder + colour), measured once per image and
added to every K, since the engine caches features per image and reuses them across K.

The result is a list with one entry per (method, K), with these keys (a contract, see issue 3)::

    {"method": str, "n_segments": int,
     "mean": {"asa", "br", "bp", "gr", "ev", "delta_k", "n_superpixels", "seconds"},
     "per_image": [{"id", "asa", "br", "bp", "gr", "ev", "n_superpixels"}]}

plus informative extras: ``label`` (display name), ``options`` (method parameters: encoder,
prior...), ``boundary_r``, ``n_images``, ``dataset``; ``mean`` and each ``per_image`` entry
also carry ``asa_annotator0`` (ASA against annotator 0 only) and per image ``delta_k``,
``seconds``.

Annotation effort: :func:`simulate_annotation` (in
:mod:`spam_gui.core.evaluation.annotation_effort`) is a greedy annotator that labels an image by superpixel clicks and object
fills; ``benchmarks/annotation_effort.py`` counts its clicks to
85 / 90 / 95 % of the pixels right on BSDS500 val.
"""

from __future__ import annotations

import io
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from spam_gui.core.evaluation import metrics as M
from spam_gui.core.evaluation.datasets import Sample, SegmentationDataset
from spam_gui.core.evaluation.regularity import shape_regularity
from spam_gui.core.errors import SpamError
from spam_gui.core.io.images import atomic_write_bytes
from spam_gui.core.params import DEFAULTS, EVAL_DEFAULTS

log = logging.getLogger(__name__)

__all__ = [
    "METHODS",
    "EvaluationError",
    "SuperpixelMethod",
    "make_method",
    "evaluate",
    "evaluate_sample",
    "summarize",
    "score_labels",
    "format_table",
    "plot_results",
    "grid_labels",
]

METHODS = ("spam", "slic", "slic-zero", "watershed", "felzenszwalb", "grid")
METRIC_KEYS = ("asa", "br", "bp", "gr", "ev")


class EvaluationError(SpamError, RuntimeError):
    """A method failed on an image; the message names the method and the image file."""


@dataclass
class SuperpixelMethod:
    """A superpixel method as the benchmark sees it.

    ``segment(image, n_segments, prior)`` returns an (H, W) integer label map; ``prepare(image)``
    does per-image work shared by every K (returns nothing; its time is added to each K).
    """

    name: str
    label: str
    segment: Callable[[np.ndarray, int, np.ndarray | None], np.ndarray]
    options: dict[str, Any] = field(default_factory=dict)
    uses_prior: bool = False
    prepare: Callable[[np.ndarray], Any] | None = None


def grid_labels(shape: Sequence[int], n_segments: int) -> np.ndarray:
    """A regular grid of n_h × n_w rectangles, n_w = ⌊√(K·W/H)⌋, n_h = ⌊√(K·H/W)⌋ (≥ 1),
    labels 1..n_h·n_w."""
    h, w = int(shape[0]), int(shape[1])
    nw = max(1, int(math.floor(math.sqrt(n_segments * w / h))))
    nh = max(1, int(math.floor(math.sqrt(n_segments * h / w))))
    ry = (np.arange(h) * nh) // h
    rx = (np.arange(w) * nw) // w
    return (ry[:, None] * nw + rx[None, :] + 1).astype(np.int32)


def _slic(image: np.ndarray, k: int, prior: np.ndarray | None) -> np.ndarray:
    from skimage.segmentation import slic

    return slic(image, n_segments=k, compactness=10, start_label=1)


def _slic_zero(image: np.ndarray, k: int, prior: np.ndarray | None) -> np.ndarray:
    from skimage.segmentation import slic

    return slic(image, n_segments=k, compactness=10, slic_zero=True, start_label=1)


def _watershed(image: np.ndarray, k: int, prior: np.ndarray | None) -> np.ndarray:
    from skimage.color import rgb2gray
    from skimage.filters import sobel
    from skimage.segmentation import watershed

    return watershed(sobel(rgb2gray(image)), markers=k, compactness=0.01)


def _felzenszwalb(image: np.ndarray, k: int, prior: np.ndarray | None) -> np.ndarray:
    from skimage.segmentation import felzenszwalb

    min_size = max(2, int(image.shape[0] * image.shape[1] / (2 * k)))
    return felzenszwalb(image, scale=100, sigma=0.5, min_size=min_size)


def _grid(image: np.ndarray, k: int, prior: np.ndarray | None) -> np.ndarray:
    return grid_labels(image.shape[:2], k)


def make_method(
    name: str,
    *,
    encoder: str | None = "default",
    device: str = "auto",
    lambda_s: float = DEFAULTS.lambda_s,
    prior: str = "none",
    smoothing: int = DEFAULTS.smoothing,
) -> SuperpixelMethod:
    """Build one of :data:`METHODS`.

    Parameters
    ----------
    name : str
        A name from :data:`METHODS`.
    encoder, device, lambda_s, smoothing :
        ``spam`` only: passed to ``Spam(encoder=..., device=...)`` and
        ``segment(lambda_s=..., smoothing=...)``.
    prior : {"none", "gt"}
        ``spam`` only: ``"gt"`` gives each image its annotator-0 map as prior.

    Raises
    ------
    ValueError
        Unknown method or prior; or the engine could not be built (bad encoder file: the
        engine's message, which names the file).
    """
    if prior not in ("none", "gt"):
        raise ValueError(f"unknown prior {prior!r}: use 'none' or 'gt'")
    simple = {
        "slic": (_slic, {"compactness": 10}),
        "slic-zero": (_slic_zero, {"compactness": 10, "slic_zero": True}),
        "watershed": (_watershed, {"compactness": 0.01, "gradient": "sobel"}),
        "felzenszwalb": (_felzenszwalb, {"scale": 100, "sigma": 0.5, "min_size": "H*W/(2K)"}),
        "grid": (_grid, {}),
    }
    if name in simple:
        fn, opts = simple[name]
        return SuperpixelMethod(name, name, fn, dict(opts))
    if name != "spam":
        raise ValueError(f"unknown method {name!r}; available: {', '.join(METHODS)}")

    from spam_gui.core.engine.spam import Spam

    spam = Spam(encoder=encoder, device=device)
    use_prior = prior == "gt"

    def segment(image: np.ndarray, k: int, prior_map: np.ndarray | None) -> np.ndarray:
        res = spam.segment(image, n_segments=k, prior=prior_map if use_prior else None,
                           lambda_s=lambda_s, smoothing=smoothing)
        return res.labels

    prepare = getattr(spam, "features", None)
    label = f"spam [{spam.encoder_name}]" + (" prior=gt" if use_prior else "")
    options = {
        "encoder": spam.encoder_name,
        "encoder_sha256": getattr(spam, "encoder_sha256", None),
        "device": str(getattr(spam, "device", device)),
        "lambda_s": lambda_s,
        "smoothing": smoothing,
        "prior": prior,
    }
    return SuperpixelMethod("spam", label, segment, options, uses_prior=use_prior, prepare=prepare)


def score_labels(
    labels: np.ndarray,
    image: np.ndarray,
    gts: Sequence[np.ndarray],
    r: int = EVAL_DEFAULTS.boundary_r,
    gt_boundaries: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
) -> dict[str, float]:
    """Every metric of one label map on one image: ASA, BR, BP averaged over the annotators,
    ``asa_annotator0``, GR, EV and K̂ (``n_superpixels``).

    Parameters
    ----------
    labels : (H, W) array of int
        Superpixel map.
    image : (H, W, 3) array
        The image (for EV).
    gts : sequence of (H, W) array of int
        One ground truth per annotator (at least one).
    r : int
        Boundary tolerance.
    gt_boundaries : sequence of (boundary, dilated boundary), optional
        Precomputed per annotator (saves work when several maps are scored on one image).
    """
    if not gts:
        raise ValueError("at least one ground truth is needed")
    lab = np.asarray(labels)
    if lab.shape != image.shape[:2]:
        raise ValueError(f"the label map is {lab.shape} but the image is {image.shape[:2]}")
    if gt_boundaries is None:
        gt_boundaries = [_gt_boundary(g, r) for g in gts]
    sb = M.boundary_map(lab)
    sbd = M.dilate(sb, r)
    asas, brs, bps = [], [], []
    for g, (gb, gbd) in zip(gts, gt_boundaries):
        asas.append(M.asa(lab, g))
        brs.append(M.hit_ratio(gb, sbd))
        bps.append(M.hit_ratio(sb, gbd))
    return {
        "asa": float(np.mean(asas)),
        "br": float(np.mean(brs)),
        "bp": float(np.mean(bps)),
        "gr": shape_regularity(lab),
        "ev": M.explained_variation(lab, image),
        "n_superpixels": M.n_superpixels(lab),
        "asa_annotator0": asas[0],
    }


def _gt_boundary(gt: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    b = M.boundary_map(gt)
    return b, M.dilate(b, r)


def _progress(total: int, enabled: bool):
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return None
    return tqdm(total=total, disable=not enabled, file=sys.stderr, unit="run", dynamic_ncols=True)


def evaluate(
    dataset: SegmentationDataset | Sequence[Sample],
    methods: Sequence[SuperpixelMethod],
    n_segments: Sequence[int],
    *,
    r: int = EVAL_DEFAULTS.boundary_r,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Run every method at every K on every image and score the results.

    Parameters
    ----------
    dataset : SegmentationDataset or sequence of Sample
        The images and their ground truths.
    methods : sequence of SuperpixelMethod
        From :func:`make_method`.
    n_segments : sequence of int
        The requested numbers of superpixels K.
    r : int
        Boundary tolerance for BR and BP (default 2).
    progress : bool
        Show a tqdm progress bar on stderr.

    Returns
    -------
    results : list of dict
        One entry per (method, K), in the order given; see the module docstring for the keys.

    Raises
    ------
    DatasetError
        An image or ground truth cannot be read or has the wrong size (names the file).
    EvaluationError
        A method failed on an image (names the method and the file).
    """
    ks = [int(k) for k in n_segments]
    if not ks or any(k < 1 for k in ks):
        raise ValueError(f"numbers of superpixels must be >= 1, got {list(n_segments)}")
    if not methods:
        raise ValueError("no method to evaluate")
    samples = list(dataset)
    if not samples:
        raise ValueError("the dataset has no image")
    r = M.check_radius(r)
    per_image: dict[tuple[int, int], list[dict[str, Any]]] = {
        (mi, k): [] for mi in range(len(methods)) for k in ks
    }
    bar = _progress(len(samples) * len(methods) * len(ks), progress)
    try:
        for sample in samples:
            def step(label: str) -> None:
                if bar is not None:
                    bar.set_postfix_str(label, refresh=False)
                    bar.update(1)

            for key, entry in evaluate_sample(sample, methods, ks, r=r, on_run=step).items():
                per_image[key].append(entry)
    finally:
        if bar is not None:
            bar.close()
    return summarize(per_image, methods, ks, r=r, root=getattr(dataset, "root", None))


def evaluate_sample(
    sample: Sample,
    methods: Sequence[SuperpixelMethod],
    n_segments: Sequence[int],
    *,
    r: int = EVAL_DEFAULTS.boundary_r,
    on_run: Callable[[str], None] | None = None,
) -> dict[tuple[int, int], dict[str, Any]]:
    """Run every method at every K on one image and score the results (the per-image work of
    :func:`evaluate`; a batch run calls it on its workers).

    Parameters
    ----------
    sample : Sample
        The image and its ground truths.
    methods : sequence of SuperpixelMethod
        From :func:`make_method`.
    n_segments : sequence of int
        The requested numbers of superpixels K.
    r : int
        Boundary tolerance for BR and BP.
    on_run : callable, optional
        Called with ``"<id> <method> K=<k>"`` after each (method, K).

    Returns
    -------
    dict
        ``{(method index, K): per-image entry}`` (the ``per_image`` entries of :func:`evaluate`).

    Raises
    ------
    DatasetError
        The image or a ground truth cannot be read or has the wrong size (names the file).
    EvaluationError
        A method failed on the image (names the method and the file).
    """
    ks = [int(k) for k in n_segments]
    image, gts = sample.load()
    gt_b = [_gt_boundary(g, r) for g in gts]
    out: dict[tuple[int, int], dict[str, Any]] = {}
    for mi, method in enumerate(methods):
        prior = gts[0] if method.uses_prior else None
        t_prep = 0.0
        if method.prepare is not None:
            t0 = time.perf_counter()
            try:
                method.prepare(image)
            except Exception as exc:
                raise EvaluationError(f"{method.label} failed on {sample.image_path}: {exc}"
                                      ) from exc
            t_prep = time.perf_counter() - t0
        for k in ks:
            t0 = time.perf_counter()
            try:
                labels = np.asarray(method.segment(image, k, prior))
            except Exception as exc:
                raise EvaluationError(
                    f"{method.label} failed on {sample.image_path} at K={k}: {exc}"
                ) from exc
            seconds = time.perf_counter() - t0 + t_prep
            scores = score_labels(labels, image, gts, r, gt_b)
            entry: dict[str, Any] = {"id": sample.id}
            entry.update({key: scores[key] for key in METRIC_KEYS})
            entry["n_superpixels"] = scores["n_superpixels"]
            entry["asa_annotator0"] = scores["asa_annotator0"]
            entry["delta_k"] = M.delta_k(scores["n_superpixels"], k)
            entry["seconds"] = seconds
            out[(mi, k)] = entry
            if on_run is not None:
                on_run(f"{sample.id} {method.name} K={k}")
    return out


def summarize(
    per_image: dict[tuple[int, int], list[dict[str, Any]]],
    methods: Sequence[SuperpixelMethod],
    n_segments: Sequence[int],
    *,
    r: int = EVAL_DEFAULTS.boundary_r,
    root: str | Path | None = None,
) -> list[dict[str, Any]]:
    """The result list of :func:`evaluate` from its per-image entries: one entry per
    (method, K), means over the images, in the order of ``methods`` and ``n_segments``.

    Parameters
    ----------
    per_image : dict
        ``{(method index, K): [per-image entry, ...]}`` (from :func:`evaluate_sample`), each
        list non-empty and in the dataset's order.
    methods, n_segments :
        As given to :func:`evaluate`.
    r : int
        The boundary tolerance used.
    root : path, optional
        The dataset folder (recorded as ``dataset``).
    """
    results = []
    for mi, method in enumerate(methods):
        for k in [int(k) for k in n_segments]:
            rows = per_image[(mi, k)]
            mean = {key: float(np.mean([row[key] for row in rows])) for key in METRIC_KEYS}
            mean["delta_k"] = float(np.mean([row["delta_k"] for row in rows]))
            mean["n_superpixels"] = float(np.mean([row["n_superpixels"] for row in rows]))
            mean["seconds"] = float(np.mean([row["seconds"] for row in rows]))
            mean["asa_annotator0"] = float(np.mean([row["asa_annotator0"] for row in rows]))
            results.append(
                {
                    "method": method.name,
                    "n_segments": k,
                    "mean": mean,
                    "per_image": rows,
                    "label": method.label,
                    "options": dict(method.options),
                    "boundary_r": r,
                    "n_images": len(rows),
                    "dataset": str(root) if root is not None else None,
                }
            )
    return results


def format_table(results: Sequence[dict[str, Any]], markdown: bool = False) -> str:
    """The mean scores as a text (or Markdown) table: one row per (method, K)."""
    head = ["method", "K", "ASA", "BR", "BP", "GR", "EV", "dK", "mean K^", "s/img"]
    rows = []
    for res in results:
        m = res["mean"]
        rows.append(
            [
                str(res.get("label", res["method"])),
                str(res["n_segments"]),
                f"{m['asa']:.4f}",
                f"{m['br']:.4f}",
                f"{m['bp']:.4f}",
                f"{m['gr']:.4f}",
                f"{m['ev']:.4f}",
                f"{m['delta_k']:.3f}",
                f"{m['n_superpixels']:.1f}",
                f"{m['seconds']:.3f}",
            ]
        )
    if markdown:
        head_md = ["method", "K", "ASA", "BR", "BP", "GR", "EV", "ΔK", "mean K̂", "s / image"]
        lines = ["| " + " | ".join(head_md) + " |", "|" + "|".join(["---"] + ["---:"] * 9) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(head[i]), *(len(row[i]) for row in rows)) for i in range(len(head))]
    fmt = lambda row: "  ".join(  # noqa: E731
        c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)
    )
    lines = [fmt(head), "  ".join("-" * w for w in widths)] + [fmt(row) for row in rows]
    if results:
        r = results[0].get("boundary_r")
        n = results[0].get("n_images")
        lines.append(f"({n} images; BR/BP tolerance r = {r}; s/img = method time per image)")
    return "\n".join(lines)


def plot_results(results: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Draw the paper's Fig. 6 panels (ASA, GR, BR vs BP, EV; each against the mean K̂) with
    matplotlib (Agg backend) and write the figure to ``path`` (format from its suffix, e.g.
    ``.png``, ``.svg``, ``.pdf``), atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # no pyplot, no global backend
    from matplotlib.figure import Figure

    p = Path(path)
    fmt = p.suffix.lstrip(".").lower() or "png"
    groups: dict[str, list[dict[str, Any]]] = {}
    for res in results:
        groups.setdefault(str(res.get("label", res["method"])), []).append(res)

    fig = Figure(figsize=(13, 3.6), dpi=110)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 4)
    panels = [("asa", "ASA"), ("gr", "GR"), (None, "BR vs BP"), ("ev", "EV")]
    spam_colours = iter(["red", "darkred", "orangered", "firebrick", "salmon"] * 10)
    for label, rows in groups.items():
        rows = sorted(rows, key=lambda e: e["n_segments"])
        khat = [e["mean"]["n_superpixels"] for e in rows]
        style: dict[str, Any] = dict(marker="o", markersize=3.5, linewidth=1.6, label=label)
        if rows[0]["method"] == "spam":  # SPAM in red, solid; the others dashed (as in Fig. 6)
            style["color"] = next(spam_colours)
        else:
            style["linestyle"] = "--"
        for ax, (key, _title) in zip(axes, panels):
            if key is None:
                ax.plot([e["mean"]["bp"] for e in rows], [e["mean"]["br"] for e in rows], **style)
            else:
                ax.plot(khat, [e["mean"][key] for e in rows], **style)
    r = results[0].get("boundary_r", EVAL_DEFAULTS.boundary_r) if results else EVAL_DEFAULTS.boundary_r
    for ax, (key, title) in zip(axes, panels):
        ax.grid(True, alpha=0.3)
        if key is None:
            ax.set_title(f"BR vs BP (r = {r})")
            ax.set_xlabel("boundary precision")
            ax.set_ylabel("boundary recall")
        else:
            ax.set_title(title)
            ax.set_xlabel("mean number of superpixels K̂")
    axes[0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt)
    return atomic_write_bytes(p, buf.getvalue())

