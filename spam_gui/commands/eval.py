"""``spam eval``: benchmark superpixel methods on an annotated dataset (ASA, BR/BP, GR, EV, ΔK).

    spam eval --data DIR [--n-segments 200,400,600,800] [--method spam|slic|...]
              [--encoder default|none|PATH] [--prior none|gt] [--lambda-s X] [--limit N]
              [--json FILE] [--plot FILE]

DIR follows the BSDS layout (``images/<id>.<ext>``, ``gt/<id>_<k>.png``), e.g.
``../shared/data/bsds500/val``. Several methods can be given, comma-separated.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from spam_gui.core.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from spam_gui.core.devices import DEVICE_CHOICES
from spam_gui.core.params import DEFAULTS, EVAL_DEFAULTS

NAME = "eval"
HELP = (
    "measure superpixels against annotated ground truth (ASA, boundary recall/precision, "
    "GR, EV, delta K) on a folder in the BSDS layout"
)

log = logging.getLogger(__name__)


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 200,400,600, got {text!r}"
        ) from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"numbers of superpixels must be >= 1, got {text!r}")
    return values


def _method_list(text: str) -> list[str]:
    from spam_gui.core.evaluation.evaluate import METHODS

    names = [v.strip() for v in text.split(",") if v.strip()]
    bad = [n for n in names if n not in METHODS]
    if not names or bad:
        raise argparse.ArgumentTypeError(
            f"unknown method {', '.join(bad) or repr(text)}; available: {', '.join(METHODS)}"
        )
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", required=True, metavar="DIR",
        help="dataset folder with images/<id>.<ext> and gt/<id>_<k>.png (e.g. bsds500/val)",
    )
    parser.add_argument(
        "--n-segments", type=_int_list, default=[200, 400, 600, 800], metavar="K[,K...]",
        help="requested numbers of superpixels (default: 200,400,600,800)",
    )
    parser.add_argument(
        "--method", type=_method_list, default=["spam"], metavar="NAME[,NAME...]",
        help="spam, slic (skimage, compactness 10), slic-zero, watershed, felzenszwalb, grid; "
        "comma-separated for several (default: spam)",
    )
    parser.add_argument(
        "--encoder", default="default", metavar="default|none|PATH",
        help="spam's encoder: the shipped weights, none (colour + position, D=5) or a .pt file",
    )
    parser.add_argument(
        "--prior", choices=["none", "gt"], default="none",
        help="spam's prior: none, or gt = each image's annotator-0 ground truth (0 = uncertain)",
    )
    parser.add_argument("--lambda-s", type=float, default=DEFAULTS.lambda_s,
                        help=f"spam's spatial weight (default {DEFAULTS.lambda_s:g})")
    parser.add_argument("--smoothing", type=int, default=DEFAULTS.smoothing,
                        help=f"spam's majority-filter passes before connectivity (default "
                             f"{DEFAULTS.smoothing}; 0 = plain argmax labels of docs/algorithm.md §4)")
    parser.add_argument("--device", default="auto",
                        help=f"spam's torch device: {DEVICE_CHOICES} (default auto)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="spam: torch CPU threads (default: torch's own choice)")
    parser.add_argument(
        "--boundary-r", type=int, default=EVAL_DEFAULTS.boundary_r, metavar="R",
        help="boundary recall/precision tolerance: a (2R+1)^2 window "
             f"(default {EVAL_DEFAULTS.boundary_r})",
    )
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="use only the first N image ids in sorted order")
    parser.add_argument("--json", default=None, metavar="FILE",
                        help="write every score (means and per image) to this JSON file")
    parser.add_argument("--plot", default=None, metavar="FILE",
                        help="draw the Fig. 6 panels (ASA, GR, BR vs BP, EV against mean K) to FILE")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="keep each image's scores in DIR/<id>.json and the run's "
                             "DIR/batch_report.json, so an interrupted run resumes where it "
                             "stopped (images already scored the same way are skipped)")
    from spam_gui.commands import add_batch_arguments

    add_batch_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from spam_gui.core.evaluation.datasets import DatasetError, load_dataset
    from spam_gui.core.evaluation.evaluate import EvaluationError, evaluate, make_method

    if args.boundary_r < 0:
        print("error: --boundary-r must be >= 0", file=sys.stderr)
        return EXIT_USAGE
    if args.limit is not None and args.limit < 1:
        print("error: --limit must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    from spam_gui.commands import batch_argument_problem

    problem = batch_argument_problem(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if args.plot:
        from matplotlib.backend_bases import FigureCanvasBase

        fmt = Path(args.plot).suffix.lstrip(".").lower()
        if fmt not in FigureCanvasBase.get_supported_filetypes():
            print(f"error: {args.plot}: cannot draw a plot as {fmt or 'a file without suffix'!r}; "
                  "use .png, .svg or .pdf", file=sys.stderr)
            return EXIT_USAGE
    try:
        dataset = load_dataset(args.data, limit=args.limit)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    encoder = None if str(args.encoder).lower() == "none" else args.encoder
    if args.workers or args.scheduler or args.out:
        return _evaluate_batch(args, dataset)
    if args.threads is not None and "spam" in args.method:
        import torch

        torch.set_num_threads(max(1, args.threads))
    methods = []
    try:
        for name in args.method:
            methods.append(make_method(name, encoder=encoder, device=args.device,
                                       lambda_s=args.lambda_s, prior=args.prior,
                                       smoothing=args.smoothing))
    except (ValueError, OSError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    log.info("evaluating %s at K = %s on %d images of %s",
             ", ".join(m.label for m in methods), ",".join(map(str, args.n_segments)),
             len(dataset), dataset.root)
    try:
        results = evaluate(dataset, methods, args.n_segments, r=args.boundary_r,
                           progress=not args.no_progress)
    except (DatasetError, EvaluationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return _write_results(args, results)


def _write_results(args: argparse.Namespace, results: list, failed: bool = False) -> int:
    """Print the table, write --json / --plot; the exit code (1 when ``failed``)."""
    from spam_gui.core.evaluation.evaluate import format_table, plot_results
    from spam_gui.core.io.images import FileWriteError, write_json

    print(format_table(results, markdown=args.markdown))
    try:
        if args.json:
            write_json(args.json, results)
            print(f"wrote {args.json}", file=sys.stderr)
        if args.plot:
            plot_results(results, args.plot)
            print(f"wrote {args.plot}", file=sys.stderr)
    except (FileWriteError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_FAILURE if failed else EXIT_OK


def _evaluate_batch(args: argparse.Namespace, dataset: Any) -> int:
    """Score every image as one batch job (:func:`spam_gui.core.batch.runner.run_batch`): in this
    process or on Dask workers, each image's scores kept in ``--out`` when given (resumable);
    the table is made from the images that succeeded, the exit code is 1 if any failed."""
    from types import SimpleNamespace

    from spam_gui.core.batch.job import BatchJob, job_signature
    from spam_gui.core.batch.per_image import encoder_identity, keep_model
    from spam_gui.core.batch.runner import REPORT_NAME, run_batch
    from spam_gui.core.errors import SpamError
    from spam_gui.core.evaluation.evaluate import make_method, summarize

    distributed = bool(args.workers or args.scheduler)
    encoder = "none" if str(args.encoder).lower() == "none" else str(args.encoder)
    if encoder not in ("none", "default"):
        encoder = str(Path(encoder).expanduser().resolve())
    common = {"methods": list(args.method), "n_segments": list(args.n_segments),
              "r": int(args.boundary_r), "encoder": encoder, "device": str(args.device),
              "lambda_s": float(args.lambda_s), "prior": args.prior,
              "smoothing": int(args.smoothing)}
    try:  # a bad encoder is one error before any image
        if "spam" in args.method:
            if distributed:
                if encoder not in ("none", "default"):
                    from spam_gui.core.models.verify import validate_checkpoint

                    validate_checkpoint("encoder", encoder)
            else:
                keep_model("method", ("spam", encoder, encoder_identity(encoder)[1],
                                      common["device"], common["lambda_s"], common["prior"],
                                      common["smoothing"]),
                           lambda: make_method("spam", encoder=encoder, device=args.device,
                                               lambda_s=args.lambda_s, prior=args.prior,
                                               smoothing=args.smoothing))
    except (SpamError, ValueError, OSError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    models = {"encoder": encoder_identity(encoder)[1] if "spam" in args.method else None}
    signature = job_signature("eval", common, models)
    out_dir = ""
    if args.out:
        out_dir = str(Path(args.out))
        try:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            print(f"error: {out_dir}: cannot use the output folder ({exc.strerror or exc})",
                  file=sys.stderr)
            return EXIT_USAGE
    jobs = [BatchJob("eval", str(s.image_path), s.id, out_dir,
                     {**common, "encoder_sha256": models["encoder"],
                      "gt_paths": [str(g) for g in s.gt_paths]}, signature,
                     overwrite=bool(args.overwrite),
                     threads=None if distributed else args.threads)
            for s in dataset]
    payloads: dict[str, Any] = {}
    summary = run_batch(
        jobs, command="spam eval", report_path=Path(out_dir) / REPORT_NAME if out_dir else None,
        workers=args.workers, scheduler=args.scheduler,
        threads_per_worker=args.threads_per_worker, progress=not args.no_progress,
        noun="images", on_outcome=lambda o: payloads.__setitem__(o.stem, o.payload)
        if o.payload is not None else None)
    if summary.interrupted or summary.stopped is not None:
        return summary.exit_code
    per_image: dict[tuple[int, int], list] = {}
    methods = None
    for sample in dataset:        # in the dataset's order, whatever order they completed in
        got = payloads.get(sample.id)
        if got is None:
            continue
        methods = methods or [SimpleNamespace(**m) for m in got["methods"]]
        for mi, k, entry in got["entries"]:
            per_image.setdefault((int(mi), int(k)), []).append(entry)
    if methods is None:
        print("error: no image could be scored", file=sys.stderr)
        return EXIT_FAILURE
    results = summarize(per_image, methods, args.n_segments, r=args.boundary_r,
                        root=getattr(dataset, "root", None))
    return _write_results(args, results, failed=summary.exit_code != EXIT_OK)
