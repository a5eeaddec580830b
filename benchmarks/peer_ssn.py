"""Side-by-side: SPAM against a published SSN model (the peer), scikit-image SLIC, on BSDS val.

The peer is an SSN encoder trained on BSDS500 by a third party (MIT licence), stored outside the
project (``../shared/peers/ssn_vvarga90_bsds.pth``); it is loaded here for comparison only and is
never copied into the project. SSN feeds K-scaled positions into its network, so its features
are recomputed for every K, unlike SPAM's.

Peer conventions (from its README): input ``[0.26 Lab, s y, s x]`` with
``s = pos_scale * max(n_h / H, n_w / W)`` (pos_scale 5), clustering features
``[15 CNN channels, 5 input channels]``, output convolution without ReLU. Here it runs through
SPAM's own clustering (squared distances, k-means seeds, connectivity), without a prior.

Usage::

    python benchmarks/peer_ssn.py --data ../shared/data/bsds500/val --limit 100 --n-segments 400
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from spam_gui.core.evaluation.datasets import load_dataset
from spam_gui.core.engine.encoder import SSNEncoder
from spam_gui.core.evaluation.evaluate import SuperpixelMethod, evaluate, format_table, make_method
from spam_gui.core.engine.features import pixel_positions, position_scale, rgb_to_lab
from spam_gui.core.engine.spam import Spam

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PEER = ROOT.parent / "shared" / "peers" / "ssn_vvarga90_bsds.pth"


def load_peer(path: Path) -> SSNEncoder:
    """The peer's weights in an SSN-architecture encoder (5 input channels, no output ReLU)."""
    sd = torch.load(path, map_location="cpu", weights_only=True)
    renamed = {k.replace("feature_extract.", "").replace("output_conv.", "output."): v
               for k, v in sd.items()}
    model = SSNEncoder(feature_dim=20, in_channels=5)
    model.output[1] = torch.nn.Identity()
    model.load_state_dict(renamed, strict=True)
    return model.eval()


def peer_method(model: SSNEncoder, pos_scale: float, lambda_c: float = 0.26) -> SuperpixelMethod:
    spam = Spam(encoder=None, device="cpu")

    @torch.inference_mode()
    def segment(image: np.ndarray, k: int, prior: np.ndarray | None) -> np.ndarray:
        h, w = image.shape[:2]
        lab = rgb_to_lab(image)
        s = position_scale(h, w, k, pos_scale)
        yx = pixel_positions(h, w).reshape(h, w, 2) * s
        x = np.concatenate([lab * lambda_c, yx], axis=2)
        inp = torch.from_numpy(x).permute(2, 0, 1)[None].float()
        deep = model(inp)[0].permute(1, 2, 0).reshape(h * w, -1)
        spam.clear_cache()
        feats = spam.features(image)
        feats.deep = deep  # K-dependent SSN features, for this call only
        res = spam.segment(image, n_segments=k, lambda_s=pos_scale, lambda_c=lambda_c)
        spam.clear_cache()
        return res.labels

    return SuperpixelMethod("ssn-peer", f"SSN peer (pos_scale {pos_scale:g})", segment,
                            {"pos_scale": pos_scale, "weights": "peer (not in the project)"})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "bsds500" / "val")
    p.add_argument("--peer", type=Path, default=DEFAULT_PEER)
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--n-segments", default="400")
    p.add_argument("--pos-scale", type=float, default=5.0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--peer-only", action="store_true",
                   help="only the peer row (the others are in benchmarks/bsds_table.py)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.peer.is_file():
        print(f"error: {args.peer}: peer weights not found", file=sys.stderr)
        return 2
    ks = [int(k) for k in args.n_segments.split(",")]
    data = load_dataset(args.data, limit=args.limit)
    methods = [] if args.peer_only else [
        make_method("slic"), make_method("spam", encoder=None), make_method("spam", encoder="default")]
    methods.append(peer_method(load_peer(args.peer), args.pos_scale))
    results = evaluate(data, methods, ks)
    print(f"{len(data)} images of {args.data}; torch threads {torch.get_num_threads()}")
    print(format_table(results, markdown=args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
