"""Benchmarking superpixel methods on an annotated dataset (the paper's Fig. 6 protocol).

:func:`evaluate` runs each method at each requested K on every image of a dataset folder
(:mod:`spam_gui.core.datasets`) and scores the label maps with :mod:`spam_gui.core.metrics`.
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

Annotation effort: :func:`simulate_annotation` is a greedy annotator that labels an image by
superpixel clicks and object fills; ``benchmarks/annotation_effort.py`` counts its clicks to
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

from spam_gui.core import metrics as M
from spam_gui.core.datasets import Sample, SegmentationDataset
from spam_gui.core.image_io import atomic_write_bytes
from spam_gui.core.params import DEFAULTS

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
    "AnnotationRun",
    "simulate_annotation",
]

METHODS = ("spam", "slic", "slic-zero", "watershed", "felzenszwalb", "grid")
METRIC_KEYS = ("asa", "br", "bp", "gr", "ev")


class EvaluationError(RuntimeError):
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

    from spam_gui.core.spam import Spam  # the engine (imports torch)

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
    r: int = 2,
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
    sbd = M._dilate(sb, r)
    asas, brs, bps = [], [], []
    for g, (gb, gbd) in zip(gts, gt_boundaries):
        asas.append(M.asa(lab, g))
        brs.append(M._hit_ratio(gb, sbd))
        bps.append(M._hit_ratio(sb, gbd))
    return {
        "asa": float(np.mean(asas)),
        "br": float(np.mean(brs)),
        "bp": float(np.mean(bps)),
        "gr": M.shape_regularity(lab),
        "ev": M.explained_variation(lab, image),
        "n_superpixels": M.n_superpixels(lab),
        "asa_annotator0": asas[0],
    }


def _gt_boundary(gt: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    b = M.boundary_map(gt)
    return b, M._dilate(b, r)


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
    r: int = 2,
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
    r = M._check_r(r)
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
    r: int = 2,
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
    r: int = 2,
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
    r = results[0].get("boundary_r", 2) if results else 2
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


# --------------------------------------------------------------------------- annotation effort


@dataclass(frozen=True)
class AnnotationRun:
    """What a simulated annotator did on one image (see :func:`simulate_annotation`).

    Attributes
    ----------
    n_pixels : int
        Pixels of the image.
    correct : (n_clicks + 1,) array of int64
        Pixels labelled right after 0, 1, 2... clicks (``correct[0] == 0``: nothing is
        labelled at the start); strictly increasing.
    object_click : (n_clicks,) array of bool
        True where the click filled a whole object, False where it labelled a superpixel.
    exhausted : bool
        True when the annotator stopped because no click could add a right pixel (the
        superpixels and objects cannot get further); False when it reached its target or
        its click limit.
    """

    n_pixels: int
    correct: np.ndarray
    object_click: np.ndarray
    exhausted: bool

    @property
    def n_clicks(self) -> int:
        """Clicks made."""
        return int(self.object_click.shape[0])

    @property
    def accuracy(self) -> float:
        """Share of the pixels labelled right at the end."""
        return float(self.correct[-1]) / float(self.n_pixels)

    def clicks_to(self, level: float) -> int | None:
        """Clicks needed until at least ``level`` (a share in [0, 1]) of the pixels are right,
        or None when the run never got there."""
        if not 0.0 <= level <= 1.0:
            raise ValueError(f"a level is a share of the pixels in [0, 1], got {level}")
        need = math.ceil(level * self.n_pixels - 1e-9)
        i = int(np.searchsorted(self.correct, need, side="left"))
        return i if i < self.correct.shape[0] else None


def _majority(region: np.ndarray, cls: np.ndarray, n_regions: int,
              n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per region, the most frequent class and its pixel count (ties: the smallest class)."""
    code = region.astype(np.int64) * n_classes + cls
    if n_regions * n_classes <= 1 << 25:
        table = np.bincount(code, minlength=n_regions * n_classes).reshape(n_regions, n_classes)
        best = table.argmax(axis=1)
        return best, table[np.arange(n_regions), best]
    pairs, counts = np.unique(code, return_counts=True)
    rows, classes = pairs // n_classes, pairs % n_classes
    order = np.lexsort((classes, -counts, rows))  # per row: largest count, then smallest class
    first = order[np.r_[True, rows[order][1:] != rows[order][:-1]]]
    best = np.zeros(n_regions, dtype=np.int64)
    count = np.zeros(n_regions, dtype=np.int64)
    best[rows[first]], count[rows[first]] = classes[first], counts[first]
    return best, count


def simulate_annotation(
    classes: np.ndarray,
    superpixels: np.ndarray,
    objects: np.ndarray | None = None,
    *,
    max_clicks: int | None = None,
    target: float = 1.0,
) -> AnnotationRun:
    """A greedy annotator labelling an image with superpixel clicks and object fills.

    Every pixel starts unlabelled. One click gives one region its majority class in
    ``classes``, overwriting what its pixels had: a *superpixel* click labels one superpixel,
    an *object* click fills one object of ``objects`` (pixels with id 0 belong to no object and
    are reached by superpixel clicks only). Each click is the one that adds the most right
    pixels (right ones it overwrites with another class count against it; ties: the smallest
    superpixel id first, superpixels before objects). The annotator stops when ``target`` of
    the pixels are right, after ``max_clicks`` clicks, or when no click adds a right pixel.

    The gains are kept per region and updated from the pixels each click changes (one
    ``np.bincount`` over the superpixels and one over the objects): a click costs its region's
    pixels plus the number of regions, with no per-pixel Python loop.

    Parameters
    ----------
    classes : (H, W) array of int
        The class of every pixel (e.g. one annotator's segments), any ids.
    superpixels : (H, W) array of int
        Superpixel label map, any ids (0 is a superpixel like the others).
    objects : (H, W) array of int, optional
        Object map, 0 = no object (uncertain); ids need not be contiguous. None: superpixel
        clicks only.
    max_clicks : int, optional
        Stop after this many clicks (None: no limit).
    target : float
        Stop once this share of the pixels is right (default 1: every pixel).

    Returns
    -------
    run : AnnotationRun
        The right pixels after each click; ``run.clicks_to(0.9)`` is the number of clicks
        that reached 90 % (None if never).

    Raises
    ------
    ValueError
        The maps differ in shape, are not 2-D, ``objects`` has negative ids, ``max_clicks``
        is negative or ``target`` is not in [0, 1].
    TypeError
        A map is not an integer array.

    References
    ----------
    .. [1] Walther, Giraud, Clément, "SPAM: SuperPixel Anything Model", 2025 (superpixels
           inside prior objects; the annotation-effort benchmark of this project follows
           from it: ``benchmarks/annotation_effort.py``).
    .. [2] D. Stutz, A. Hermans and B. Leibe, "Superpixels: an evaluation of the
           state-of-the-art", CVIU 166, 2018 (ASA: the accuracy reachable with one label per
           superpixel, the limit of superpixel clicks).
    """
    from spam_gui.core.label_ids import as_label_map, check_same_shape, compact

    g = as_label_map(classes, "classes")
    s = as_label_map(superpixels, "superpixels")
    check_same_shape(s, g, "classes")
    if max_clicks is not None and max_clicks < 0:
        raise ValueError(f"max_clicks must be >= 0, got {max_clicks}")
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"target is a share of the pixels in [0, 1], got {target}")
    gi, n_classes = compact(g)
    gi = gi.ravel()
    si, ns = compact(s)
    si = si.ravel()
    n = gi.size

    obj_of = np.full(n, -1, dtype=np.int64)  # object index of each pixel, -1 = none
    n_obj = 0
    if objects is not None:
        o = as_label_map(objects, "objects")
        check_same_shape(s, o, "objects")
        if o.min() < 0:
            raise ValueError("objects: ids must be >= 0 (0 = no object)")
        inside = np.flatnonzero(o.ravel() > 0)
        if inside.size:
            oi, n_obj = compact(o.ravel()[inside][None, :])
            obj_of[inside] = oi.ravel()

    # regions 0..ns-1 are the superpixels, ns..ns+n_obj-1 the objects; members by region
    in_obj = np.flatnonzero(obj_of >= 0)
    region = np.concatenate([si, ns + obj_of[in_obj]])
    pixel = np.concatenate([np.arange(n, dtype=np.int64), in_obj])
    n_regions = ns + n_obj
    order = np.argsort(region, kind="stable")
    members = pixel[order]
    starts = np.zeros(n_regions + 1, dtype=np.int64)
    np.cumsum(np.bincount(region, minlength=n_regions), out=starts[1:])
    best_class, best_count = _majority(region, gi[pixel], n_regions, n_classes)

    right = np.zeros(n, dtype=bool)          # pixel labelled with its class
    right_in = np.zeros(n_regions, dtype=np.int64)   # right pixels per region
    stop_at = math.ceil(target * n - 1e-9)
    limit = n if max_clicks is None else int(max_clicks)
    correct = [0]
    kinds: list[bool] = []
    total = 0
    exhausted = False
    while total < stop_at and len(kinds) < limit:
        gains = best_count - right_in
        r = int(np.argmax(gains))
        if gains[r] <= 0:
            exhausted = True
            break
        pix = members[starts[r]:starts[r + 1]]
        new = gi[pix] == best_class[r]
        flip = new != right[pix]
        fp = pix[flip]
        delta = np.where(new[flip], 1.0, -1.0)
        right[fp] = new[flip]
        right_in[:ns] += np.rint(np.bincount(si[fp], weights=delta, minlength=ns)).astype(np.int64)
        if n_obj:
            ob = obj_of[fp]
            keep = ob >= 0
            right_in[ns:] += np.rint(np.bincount(ob[keep], weights=delta[keep],
                                                 minlength=n_obj)).astype(np.int64)
        total += int(gains[r])
        correct.append(total)
        kinds.append(r >= ns)
    return AnnotationRun(n_pixels=n, correct=np.asarray(correct, dtype=np.int64),
                         object_click=np.asarray(kinds, dtype=bool), exhausted=exhausted)
