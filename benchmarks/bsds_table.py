"""The BSDS500 val table and plot of docs/benchmarks.md: SLIC, SPAM without a network (D = 5)
and SPAM with the shipped encoder (D = 20), at several K, in one run.

    python benchmarks/bsds_table.py                      # 100 val images, K = 200, 400, 600
    python benchmarks/bsds_table.py --limit 20 --n-segments 400

Writes ``docs/results/bsds_val.json`` (the ``spam eval --json`` format), ``docs/results/bsds_val.md``
(the table) and ``docs/bsds_val.png`` (the paper's Fig. 6 panels). Equivalent to two ``spam eval``
runs (``--encoder none`` and ``--encoder default``) merged into one table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from spam_gui.core.evaluation.datasets import load_dataset  # noqa: E402
from spam_gui.core.evaluation.evaluate import (  # noqa: E402
    evaluate, format_table, make_method, plot_results,
)
from spam_gui.core.io.images import atomic_write_bytes  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "bsds500" / "val")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--n-segments", default="200,400,600")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", type=Path, default=ROOT / "docs")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    ks = [int(k) for k in args.n_segments.split(",")]
    data = load_dataset(args.data, limit=args.limit)
    methods = [make_method("slic"), make_method("spam", encoder=None),
               make_method("spam", encoder="default")]
    t0 = time.perf_counter()
    results = evaluate(data, methods, ks)
    table = format_table(results, markdown=True)
    print(table)
    print(f"{len(data)} images, {time.perf_counter() - t0:.0f} s, torch threads {torch.get_num_threads()}")
    res_dir = args.out / "results"
    atomic_write_bytes(res_dir / "bsds_val.json", json.dumps(results, indent=1).encode())
    atomic_write_bytes(res_dir / "bsds_val.md", (table + "\n").encode())
    plot_results(results, args.out / "bsds_val.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
