"""SAM's automatic masks on a CPU: what the points grid costs (the "fast" preset of Preferences).

    python benchmarks/sam_points.py                       # ViT-B shapes, grids 8 / 16 / 32
    python benchmarks/sam_points.py --grids 16 32 --threads 2
    python benchmarks/sam_points.py --checkpoint sam_vit_b_01ec64.pth   # a real checkpoint

Without ``--checkpoint`` the model is SAM ViT-B built by segment-anything with *random weights*
(no checkpoint can be downloaded here): the arithmetic of the image encoder and of the mask
decoder is the same as with the real weights, so the encoder's time and the decoder's time per
point are what a user's CPU spends; but random weights predict masks that SAM's quality filters
reject, so the post-processing of the masks that pass (NMS, small-region removal, the prior's
aggregation) is missing, and the absolute seconds per image with a real checkpoint are higher.
The grid's *relative* cost, and the encoder's fixed part, are the honest figures. With
``--checkpoint`` the same table is the real one.

The image is a BSDS500 val photo (481 x 321). Columns: the points grid, the image embedding
(once per image; the app keeps it in the disk cache), the automatic masks from that embedding,
the masks kept, and the masks' time relative to the 32 x 32 grid (SAM's default). Timings are
wall-clock on a machine that may be shared: read the ratios, measured in the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _machine import cpu_name  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

DEFAULT_IMAGE = (Path(__file__).resolve().parents[2] / "shared" / "data" / "bsds500" / "val"
                 / "images" / "21077.jpg")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    ap.add_argument("--checkpoint", type=Path, default=None,
                    help="a real SAM checkpoint (default: ViT-B shapes with random weights)")
    ap.add_argument("--grids", type=int, nargs="+", default=[8, 16, 32])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from spam_gui.core.io.images import read_image
    from spam_gui.core.prior.sam import AmgParams, SamSession, load_sam
    from spam_gui.core.prior.sam.generator import generate_proposals

    image = read_image(args.image)
    tmp = None
    ckpt = args.checkpoint
    if ckpt is None:
        from segment_anything import sam_model_registry

        torch.manual_seed(0)
        model = sam_model_registry["vit_b"](checkpoint=None)
        tmp = tempfile.TemporaryDirectory()
        ckpt = Path(tmp.name) / "sam_vit_b_random.pth"
        torch.save(model.state_dict(), ckpt)
        del model
    sam = load_sam(ckpt, args.device, memo=False)
    t0 = time.perf_counter()
    session = SamSession(sam, image, cache=None)
    _ = session.predictor.features   # the embedding
    t_embed = time.perf_counter() - t0
    rows = []
    for g in sorted(args.grids):
        t0 = time.perf_counter()
        props = generate_proposals(session, AmgParams(points_per_side=g))
        rows.append((g, time.perf_counter() - t0, int(props.masks.shape[0])))
    ref = next((t for g, t, _ in rows if g == 32), rows[-1][1])
    what = ("a real checkpoint, " + ckpt.name) if args.checkpoint else \
        "SAM ViT-B shapes with random weights (not a real checkpoint)"
    print(f"SAM automatic masks on {args.image.name} ({image.shape[1]} x {image.shape[0]}): "
          f"{what}; {cpu_name()}, {args.threads} thread(s), {args.device}, machine possibly "
          "shared")
    print()
    print("| points grid | decoder runs | image embedding (s) | automatic masks (s) | "
          "masks kept | masks' time vs 32 x 32 |")
    print("|---|---:|---:|---:|---:|---:|")
    for g, t, n in rows:
        print(f"| {g} x {g} | {g * g} | {t_embed:.1f} | {t:.1f} | {n} | {t / ref:.2f} |")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
