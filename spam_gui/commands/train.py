"""``spam train``: train the SPAM encoder on BSDS-style data (docs/algorithm.md §7)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from spam_gui.core.errors import EXIT_OK
from spam_gui.core.devices import DEVICE_CHOICES
from spam_gui.core.params import TRAIN_DEFAULTS

NAME = "train"
HELP = "train the SPAM encoder on BSDS500-style data (resumable)"

log = logging.getLogger(__name__)


def _sci(x: float) -> str:
    """1e-4, not 0.0001 nor 1e-04."""
    return f"{x:.0e}".replace("e-0", "e-")


def add_arguments(p: argparse.ArgumentParser) -> None:
    T = TRAIN_DEFAULTS
    p.add_argument("--data", required=True, type=Path,
                   help="dataset root with train/ and val/ (BSDS layout: images/, gt/<id>_<k>.png)")
    p.add_argument("--out", required=True, type=Path,
                   help="where the best model is written (.pt); the checkpoint is OUT.ckpt")
    p.add_argument("--iterations", type=int, default=T.iterations,
                   help=f"total iterations (default {T.iterations})")
    p.add_argument("--batch-size", type=int, default=T.batch_size,
                   help=f"crops per iteration (default {T.batch_size})")
    p.add_argument("--crop", type=int, default=T.crop,
                   help=f"crop size in pixels (default {T.crop})")
    p.add_argument("--lr", type=float, default=None,
                   help=f"Adam learning rate (default {_sci(T.lr)}; with --resume, given: the new rate "
                        "from now on, omitted: the checkpoint's)")
    p.add_argument("--n-seeds", type=int, default=T.n_seeds,
                   help=f"superpixels per crop during training (default {T.n_seeds})")
    p.add_argument("--feature-dim", type=int, default=T.feature_dim,
                   help=f"D, total feature dimension (default {T.feature_dim})")
    p.add_argument("--compactness", type=float, default=T.compactness,
                   help="compactness weight, paper's summation convention "
                        f"(default {_sci(T.compactness)})")
    p.add_argument("--contour-weight", type=float, default=T.contour_weight,
                   help="weight of the optional contour loss on deep features (default 0: "
                        "docs/algorithm.md §7 losses only)")
    p.add_argument("--smooth-weight", type=float, default=T.smooth_weight,
                   help="weight of the optional assignment-smoothness loss: soft border length "
                        "inside ground-truth segments (default 0: off)")
    p.add_argument("--contour-margin", type=float, default=T.contour_margin,
                   help="feature distance the contour loss asks for across boundaries "
                        f"(default {T.contour_margin:g})")
    p.add_argument("--min-gr", type=float, default=T.min_gr,
                   help="keep a model as best only if its val shape regularity reaches this")
    p.add_argument("--device", default="auto", help=f"torch device: {DEVICE_CHOICES} (default auto)")
    p.add_argument("--resume", action="store_true", help="continue from OUT.ckpt")
    p.add_argument("--val-every", type=int, default=T.val_every,
                   help="validate every N iterations (0: never)")
    p.add_argument("--val-images", type=int, default=T.val_images,
                   help="size of the fixed val subset")
    p.add_argument("--checkpoint-every", type=int, default=T.checkpoint_every,
                   help=f"write OUT.ckpt every N iterations (default {T.checkpoint_every})")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for PyTorch (0: default)")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast for the encoder")
    p.add_argument("--seed", type=int, default=T.seed,
                   help=f"random seed of the run (default {T.seed})")
    p.add_argument("--calibrate", action="store_true",
                   help="after training (or alone, on an existing OUT): try feature scales on the "
                        "val subset and bake into OUT the one with the best ASA whose shape "
                        "regularity stays within --max-gr-drop of the no-network clustering")
    p.add_argument("--max-gr-drop", type=float, default=T.max_gr_drop,
                   help=f"GR loss allowed by --calibrate against D=5 (default {T.max_gr_drop:g})")


def run(args: argparse.Namespace) -> int:
    import torch

    from spam_gui.core.devices import resolve_device
    from spam_gui.core.errors import EXIT_USAGE, CheckpointError
    from spam_gui.core.training import Trainer, TrainConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = TrainConfig(
        iterations=args.iterations, batch_size=args.batch_size, crop=args.crop,
        lr=args.lr if args.lr is not None else 1e-4,
        feature_dim=args.feature_dim, n_seeds=args.n_seeds, compactness=args.compactness,
        contour_weight=args.contour_weight, contour_margin=args.contour_margin,
        smooth_weight=args.smooth_weight,
        min_gr=args.min_gr, val_every=args.val_every, val_images=args.val_images, checkpoint_every=args.checkpoint_every, seed=args.seed,
        bf16=args.bf16,
    )
    try:
        device = resolve_device(args.device)
        trainer = Trainer(args.data, args.out, cfg, device)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.resume:
        if not trainer.ckpt_path.is_file():
            print(f"error: {trainer.ckpt_path}: no checkpoint to resume from", file=sys.stderr)
            return EXIT_USAGE
        try:  # tensors and plain values only: a checkpoint never runs code
            trainer.load_checkpoint()
        except CheckpointError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        # flags given now win over the stored configuration for the schedule
        trainer.cfg.iterations = args.iterations
        if args.lr is not None:
            trainer.cfg.lr = args.lr
            for group in trainer.opt.param_groups:
                group["lr"] = args.lr
        print(f"resumed at iteration {trainer.iteration} (best val ASA {trainer.best_asa:.4f})",
              flush=True)
    print(f"training D={cfg.feature_dim} on {len(trainer.train)} images, "
          f"{len(trainer.val)} val images, device {device}", flush=True)
    if trainer.iteration < cfg.iterations:
        trainer.run(progress=lambda line: print(line, flush=True))
        print(f"done: best val ASA {trainer.best_asa:.4f}; model {args.out}", flush=True)
    if args.calibrate:
        return _calibrate(args, trainer)
    return EXIT_OK


def _calibrate(args: argparse.Namespace, trainer) -> int:
    from spam_gui.core.engine.encoder import EncoderLoadError, load_encoder, save_encoder
    from spam_gui.core.errors import EXIT_USAGE
    from spam_gui.core.training import calibrate_feature_scale, scale_deep_features

    try:
        model, info = load_encoder(args.out)
    except EncoderLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not trainer.val:
        print("error: --calibrate needs the val split", file=sys.stderr)
        return EXIT_USAGE
    alpha, table = calibrate_feature_scale(model, trainer.val, trainer.cfg,
                                           max_gr_drop=args.max_gr_drop, device=trainer.device,
                                           progress=lambda line: print(line, flush=True))
    scale_deep_features(model, alpha)
    meta = dict(info.meta)
    meta["feature_scale"] = alpha * float(meta.get("feature_scale", 1.0))
    meta["calibration"] = {"max_gr_drop": args.max_gr_drop, "val_images": len(trainer.val),
                           "trials": table}
    save_encoder(args.out, model, lambda_c=info.lambda_c, meta=meta)
    print(f"calibrated: deep features x{alpha:g} baked into {args.out}", flush=True)
    return EXIT_OK
