"""Time the saliency methods per BSDS image (481 x 321): DINO ViT-S/16 and ViT-S/8 (random
weights: the cost does not depend on the values) and the built-in fallback.

    python benchmarks/saliency.py                     # 2 threads, 5 BSDS val images
    python benchmarks/saliency.py --models vits16 vits8 vitb16 vitb8 --threads 4 --device cuda

Each DINO model is saved to a temporary checkpoint and loaded through the real loader
(:class:`spam_gui.core.saliency.DinoSaliency`). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _machine import cpu_name  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

ARCHS = {  # name: (embed_dim, depth, heads, patch, file name of the official checkpoint)
    "vits16": (384, 12, 6, 16, "dino_deitsmall16_pretrain.pth"),
    "vits8": (384, 12, 6, 8, "dino_deitsmall8_pretrain.pth"),
    "vitb16": (768, 12, 12, 16, "dino_vitbase16_pretrain.pth"),
    "vitb8": (768, 12, 12, 8, "dino_vitbase8_pretrain.pth"),
}
DEFAULT_IMAGES = str(Path(__file__).resolve().parents[2] / "shared" / "data" / "bsds500" / "val" / "images")


def load_images(folder: str, n: int) -> list[np.ndarray]:
    from spam_gui.core.io.images import read_image

    files = sorted(glob.glob(os.path.join(folder, "*.jpg")))[:n]
    if files:
        return [read_image(f) for f in files]
    print(f"(no images in {folder}: random 321 x 481 images instead)")
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (321, 481, 3), dtype=np.uint8) for _ in range(n)]


def time_per_image(fn, images: list[np.ndarray], sync=lambda: None) -> tuple[float, float]:
    fn(images[0])  # warm-up
    sync()
    times = []
    for img in images:
        t0 = time.perf_counter()
        fn(img)
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), max(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["vits16", "vits8"], choices=list(ARCHS))
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    ap.add_argument("--images", default=DEFAULT_IMAGES, help="folder of .jpg images")
    ap.add_argument("-n", type=int, default=5, help="number of images (default 5)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--max-side", type=int, default=480)
    args = ap.parse_args()

    import torch

    from spam_gui.core import saliency as S
    from spam_gui.core.devices import resolve_device

    torch.set_num_threads(args.threads)
    images = load_images(args.images, args.n)
    h, w = images[0].shape[:2]
    dev = resolve_device(args.device)
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)
    cpu = cpu_name()
    where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"{cpu}, {args.threads} threads"
    print(f"device: {where}; torch {torch.__version__}; {len(images)} images of {max(h, w)} x {min(h, w)}"
          " (either orientation)")
    print()
    print("| method | ViT input (tokens) | load s | median s / image | max s / image |")
    print("|---|---|---|---|---|")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            dim, depth, heads, patch, official = ARCHS[name]
            cfg = S.VitConfig(embed_dim=dim, patch_size=patch, depth=depth, num_heads=heads,
                              grid_size=(224 // patch, 224 // patch))
            model = S.build_vit(cfg)
            model.init_weights()
            ckpt = Path(tmp) / official
            torch.save(model.state_dict(), ckpt)
            del model
            t0 = time.perf_counter()
            dino = S.DinoSaliency(ckpt, device=dev, max_side=args.max_side)
            load = time.perf_counter() - t0
            th, tw = dino.input_size(h, w)
            med, worst = time_per_image(dino, images, sync)
            tokens = (th // patch) * (tw // patch)
            rows.append((f"DINO {dino.config.display_name} (`{dino.method_name}`)",
                         f"{max(th, tw)} x {min(th, tw)} ({tokens})", f"{load:.2f}", f"{med:.2f}", f"{worst:.2f}"))
            print("| " + " | ".join(rows[-1]) + " |", flush=True)
            del dino
            ckpt.unlink()
    med, worst = time_per_image(S.builtin_saliency, images)
    rows.append((f"built-in (`{S.BUILTIN_METHOD}`)", "-", "-", f"{med:.3f}", f"{worst:.3f}"))
    print("| " + " | ".join(rows[-1]) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
