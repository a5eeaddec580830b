"""Batch throughput and memory of ``spam segment`` (issue 16): in this process, on 1 and on
2 local Dask workers, side by side in one run; and the peak memory of every process over a
long run against its value after the first 20 images.

    python benchmarks/batch.py                               # throughput, 12 BSDS val images
    python benchmarks/batch.py --limit 30 --encoder none
    python benchmarks/batch.py --memory 500                  # memory mode, 500 images
    python benchmarks/batch.py --memory 500 --runners in-process,2

Every run is the real command (``python -m spam_gui.cli segment ...``) in a fresh process,
into a fresh output folder, so the times include what a user waits for: start-up, the local
cluster, loading the models on each worker.

Throughput columns:

- wall s: the whole command, start to exit;
- img/s: images / wall s;
- steady img/s: images finished per second between the first and the last one (the report's
  ``at`` times): the rate a long run approaches, start-up excluded;
- s/img: median seconds one image takes where it runs (the report's ``seconds``);
- first s: seconds from the start until the first image is finished (start-up, cluster,
  models).

Memory mode: every ``--sample`` seconds, the resident memory (RSS) of the command's process
and of every process below it (the Dask workers). ``@20`` is each process's peak once 20
images are written, ``peak`` its peak over the whole run, ``growth`` the difference in per
cent of ``@20``. The images are copies (hard links) of the BSDS val images, cycled, so the
run has BSDS-sized images throughout.

The results are the same files whichever runner made them (``tests/commands/test_batch.py``
checks this); this script measures time and memory only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._machine import cpu_name  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bsds500" / "val"
RUNNERS = {"in-process": [], "1 worker": ["--workers", "1"], "2 workers": ["--workers", "2"]}


def _images(data: Path) -> list[Path]:
    folder = data / "images" if (data / "images").is_dir() else data
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".png"))


def _link_images(sources: list[Path], n: int, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        src = sources[i % len(sources)]
        target = dest / f"img{i:05d}{src.suffix}"
        try:
            os.link(src, target)
        except OSError:
            shutil.copyfile(src, target)
    return dest


def _command(inputs: Path, out: Path, args: argparse.Namespace, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "spam_gui.cli", "segment", str(inputs), "--out", str(out),
            "--encoder", args.encoder, "-k", str(args.k), "--device", args.device,
            "--no-progress", *extra]


def _env() -> dict[str, str]:
    # the in-process run keeps torch's own thread count; workers get 1 thread each (the
    # command's default), which is the point of comparing them
    return dict(os.environ)


def throughput(args: argparse.Namespace, sources: list[Path], work: Path) -> None:
    inputs = _link_images(sources, min(args.limit, len(sources)), work / "in")
    n = len(list(inputs.iterdir()))
    rows = []
    for name, extra in RUNNERS.items():
        out = work / f"out_{name.replace(' ', '_')}"
        t0 = time.perf_counter()
        proc = subprocess.run(_command(inputs, out, args, extra), capture_output=True, text=True,
                              env=_env())
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            print(f"{name}: failed ({proc.returncode})\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        rep = json.loads((out / "batch_report.json").read_text())
        done = [e for e in rep["images"] if e["status"] == "done"]
        ats = sorted(e["at"] for e in done)
        steady = (len(ats) - 1) / (ats[-1] - ats[0]) if len(ats) > 1 and ats[-1] > ats[0] else 0
        rows.append((name, wall, n / wall, steady,
                     statistics.median(e["seconds"] for e in done), ats[0] if ats else 0.0))
    print(f"\nspam segment, {n} BSDS val images ({args.data}), K = {args.k}, encoder "
          f"{args.encoder}, device {args.device}; {cpu_name()}, {os.cpu_count()} cores "
          f"(shared with other jobs: compare the rows, not the absolute times); "
          f"Python {platform.python_version()}\n")
    head = f"{'runner':<12} {'wall s':>8} {'img/s':>7} {'steady img/s':>13} {'s/img':>7} " \
           f"{'first s':>8}"
    print(head)
    print("-" * len(head))
    for name, wall, rate, steady, per, first in rows:
        print(f"{name:<12} {wall:8.1f} {rate:7.3f} {steady:13.3f} {per:7.2f} {first:8.1f}")
    if rows:
        ref = rows[0][3] or rows[0][2]
        print("\nsteady rate / in-process: " + ", ".join(
            f"{name} {(steady or rate) / ref:.2f}x" for name, _, rate, steady, _, _ in rows))


def _tree_rss(root: int) -> dict[int, tuple[str, int]]:
    import psutil

    found: dict[int, tuple[str, int]] = {}
    try:
        top = psutil.Process(root)
        procs = [top] + top.children(recursive=True)
    except psutil.Error:
        return found
    for p in procs:
        try:
            cmd = " ".join(p.cmdline())
            role = ("command" if p.pid == root else "helper" if "resource_tracker" in cmd
                    else "dask worker")
            found[p.pid] = (role, p.memory_info().rss)
        except psutil.Error:
            continue
    return found


def memory(args: argparse.Namespace, sources: list[Path], work: Path) -> None:
    inputs = _link_images(sources, args.memory, work / "in_memory")
    runners = [r.strip() for r in args.runners.split(",") if r.strip()]
    print(f"\nmemory: spam segment over {args.memory} BSDS-sized images (copies of "
          f"{len(sources)} BSDS val images), K = {args.k}, encoder {args.encoder}; RSS sampled "
          f"every {args.sample:g} s; {cpu_name()}, {os.cpu_count()} cores (shared)\n")
    head = f"{'runner':<12} {'process':<12} {'pid':>8} {'@20 MiB':>9} {'peak MiB':>9} " \
           f"{'growth':>7}"
    print(head)
    print("-" * len(head))
    for runner in runners:
        extra = [] if runner == "in-process" else ["--workers", runner]
        out = work / f"out_memory_{runner}"
        proc = subprocess.Popen(_command(inputs, out, args, extra), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, env=_env())
        peak: dict[int, tuple[str, int]] = {}
        at20: dict[int, int] = {}
        t0 = time.perf_counter()
        while proc.poll() is None:
            for pid, (role, rss) in _tree_rss(proc.pid).items():
                old = peak.get(pid, (role, 0))[1]
                peak[pid] = (role, max(old, rss))
            if not at20 and sum(1 for _ in out.glob("img*.json")) >= 20:
                at20 = {pid: rss for pid, (_, rss) in peak.items()}
            time.sleep(args.sample)
        err = proc.stderr.read() if proc.stderr else ""
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            print(f"{runner}: failed ({proc.returncode})\n{err[-2000:]}", file=sys.stderr)
            continue
        label = "in-process" if runner == "in-process" else f"{runner} workers"
        for pid, (role, rss) in sorted(peak.items()):
            if pid not in at20 or rss < 50 * 2**20:    # helpers (resource tracker): tiny
                continue
            growth = 100.0 * (rss - at20[pid]) / at20[pid]
            print(f"{label:<12} {role:<12} {pid:>8} {at20[pid] / 2**20:9.0f} "
                  f"{rss / 2**20:9.0f} {growth:6.1f}%")
        print(f"{label:<12} ({args.memory} images in {wall:.0f} s: "
              f"{args.memory / wall:.2f} img/s)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="BSDS val folder")
    ap.add_argument("--limit", type=int, default=12, help="images for the throughput table")
    ap.add_argument("--encoder", default="default", help="default, none or a weight file")
    ap.add_argument("-k", type=int, default=400, help="superpixels per image (default 400)")
    ap.add_argument("--device", default="cpu", help="torch device (default cpu)")
    ap.add_argument("--memory", type=int, default=0, metavar="N",
                    help="memory mode: a run over N images instead of the throughput table")
    ap.add_argument("--runners", default="2", help="memory mode: in-process and/or a number "
                    "of workers, comma-separated (default 2)")
    ap.add_argument("--sample", type=float, default=0.2, help="memory mode: seconds between "
                    "RSS samples")
    args = ap.parse_args(argv)
    sources = _images(args.data)
    if not sources:
        print(f"error: no images in {args.data}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="spam-batch-bench-") as tmp:
        if args.memory:
            memory(args, sources, Path(tmp))
        else:
            throughput(args, sources, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
