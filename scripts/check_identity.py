"""Are the outputs bit-identical before and after a refactor?

Runs the default per-image path on the bundled samples and the first N BSDS500 val images,
through the command line (``spam segment --builtin-prior`` and ``spam segment --prior``) and
through the app's pipeline (``spam_gui.app.pipeline.Pipeline.segment``, automatic prior
source), and records the sha256 of every label map and object map.

    python scripts/check_identity.py --write before.json          # on the old code
    python scripts/check_identity.py --compare before.json        # on the new code

``--compare`` prints one line per output that differs and exits 1 when any does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"
VAL = ROOT.parent / "shared" / "data" / "bsds500" / "val" / "images"


def _digest(arr: np.ndarray) -> str:
    a = np.ascontiguousarray(arr)
    h = hashlib.sha256(repr((a.shape, a.dtype.str)).encode())
    h.update(a.data)
    return h.hexdigest()[:16]


def _images(n_val: int) -> list[Path]:
    return sorted(SAMPLES.glob("*.jpg")) + sorted(VAL.glob("*.jpg"))[:n_val]


def _cli(images: list[Path], extra: list[str]) -> dict[str, str]:
    from spam_gui.core.io.images import read_label_map

    out: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        src.mkdir()
        for p in images:
            shutil.copy(p, src / p.name)
        dst = Path(tmp) / "out"
        cmd = [sys.executable, "-m", "spam_gui.cli", "segment", str(src), "--out", str(dst),
               "--no-progress", *extra]
        subprocess.run(cmd, check=True, capture_output=True)
        for p in images:
            out[f"{p.stem}.labels"] = _digest(read_label_map(dst / f"{p.stem}.png"))
            out[f"{p.stem}.objects"] = _digest(read_label_map(dst / f"{p.stem}_objects.png"))
    return out


def _app(images: list[Path]) -> dict[str, str]:
    from spam_gui.app.model.doc_data import Params
    from spam_gui.app.pipeline import EngineConfig, Pipeline

    pipe = Pipeline()
    config = EngineConfig()
    out: dict[str, str] = {}
    for p in images:
        o = pipe.segment(p, Params(), {}, (), config, key=p.stem, style=None)
        out[f"{p.stem}.labels"] = _digest(o.result.labels)
        out[f"{p.stem}.objects"] = _digest(o.result.objects)
    return out


def collect(n_val: int) -> dict[str, dict[str, str]]:
    images = _images(n_val)
    samples = [p for p in images if p.parent == SAMPLES]
    return {
        "cli_builtin": _cli(images, ["--builtin-prior"]),
        "cli_prior_maps": _cli(samples, ["--prior", str(SAMPLES / "priors")]),
        "cli_no_prior": _cli(samples, []),
        "app_auto": _app(images),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--write", type=Path, help="record the digests in this JSON file")
    g.add_argument("--compare", type=Path, help="compare with a recorded JSON file")
    ap.add_argument("--val", type=int, default=20, help="BSDS500 val images (default 20)")
    args = ap.parse_args(argv)
    now = collect(args.val)
    if args.write:
        args.write.write_text(json.dumps(now, indent=1, sort_keys=True))
        print(f"{sum(len(v) for v in now.values())} digests -> {args.write}")
        return 0
    before = json.loads(args.compare.read_text())
    bad = [f"{path}/{k}: {before[path].get(k)} -> {v}" for path, d in now.items()
           for k, v in d.items() if before.get(path, {}).get(k) != v]
    for line in bad:
        print("differs:", line)
    n = sum(len(v) for v in now.values())
    print(f"{n - len(bad)} of {n} outputs bit-identical")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
