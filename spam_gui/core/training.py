"""Training the SPAM encoder on BSDS-style data (docs/algorithm.md §7).

Only the encoder is trained. Each step takes a batch of random crops (one random annotator
each, random scale and horizontal flip), computes deep features, runs the differentiable
masked clustering of :mod:`spam_gui.core.engine.clustering` (T = 5, K = 100 seeds, no prior) and
minimises ``L_seg + lambda * L_compact`` (paper Eq. 1):

- ``L_seg``: the one-hot ground truth is carried to the superpixels through the soft
  association (column-normalised ``Q^T G``), mapped back to pixels through ``Q``, and compared
  with the ground truth by cross-entropy;
- ``L_compact``: squared distance between each pixel's scaled position and the (soft) mean
  position of its hard superpixel.

Checkpoints hold the model, the optimiser, the iteration and every random state, so
``--resume`` continues exactly where training stopped. The best model by exact ASA on a
fixed validation subset is saved with :func:`spam_gui.core.engine.encoder.save_encoder`.

References
----------
Jampani et al., "Superpixel Sampling Networks", ECCV 2018 (losses, training recipe).
Walther, Giraud, Clément, "SPAM: SuperPixel Anything Model", 2025, §3.1, §4.1.
"""

from __future__ import annotations

import io
import logging
import math
import platform
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from spam_gui.core.engine.cluster_groups import CANDIDATE_RADIUS, build_problem
from spam_gui.core.engine.soft_clustering import soft_cluster
from spam_gui.core.evaluation.datasets import Sample, load_dataset
from spam_gui.core.engine.encoder import SSNEncoder, encoder_input, save_encoder
from spam_gui.core.errors import torch_load_tensors
from spam_gui.core.errors import (CheckpointError, checkpoint_message, guess_model_kind,
                                  load_failure_reason, missing_checkpoint_message,
                                  other_kind_reason)
from spam_gui.core.engine.features import pixel_positions, position_scale, rgb_to_lab
from spam_gui.core.io.images import atomic_write_bytes
from spam_gui.core.params import DEFAULTS, TRAIN_DEFAULTS
from spam_gui.core.engine.seeds import kmeans_seeds

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "spam-training-checkpoint"
CHECKPOINT_VERSION = 2
"""Version 2: random states as plain values (version 1 files are read too when they hold
nothing that needs unpickling)."""


class TrainingCheckpointError(CheckpointError):
    """A training checkpoint (``OUT.ckpt``) cannot be resumed; the message names the file."""


def _plain_numpy_state(state: dict[str, Any]) -> dict[str, Any]:
    """A numpy bit generator's state as plain dicts, strings and ints (a deep copy)."""
    def plain(v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, np.ndarray):
            return v.tolist()
        if isinstance(v, np.integer):
            return int(v)
        return v

    return plain(state)


def _plain_python_state(state: tuple[Any, ...]) -> list[Any]:
    """``random.getstate()`` as a list ``[version, [ints...], gauss_next]``."""
    version, internal, gauss = state
    return [int(version), [int(x) for x in internal], gauss]


def _python_state_from_plain(state: Any) -> tuple[Any, ...]:
    """The inverse of :func:`_plain_python_state` (also takes the tuple of old files)."""
    version, internal, gauss = state
    return (int(version), tuple(int(x) for x in internal),
            None if gauss is None else float(gauss))


def read_training_checkpoint(path: str | Path, device: torch.device | str = "cpu"
                             ) -> dict[str, Any]:
    """Read a training checkpoint with ``torch.load(..., weights_only=True)``: only tensors
    and plain values, so a file can never run code. Raises :class:`TrainingCheckpointError`
    naming the file otherwise, in our words (never torch's advice to turn ``weights_only``
    off)."""
    p = Path(path)
    if not p.is_file():
        raise TrainingCheckpointError(missing_checkpoint_message(p, "training"))
    try:
        with open(p, "rb") as fh:
            head = fh.read(16)
        if not head:
            raise TrainingCheckpointError(checkpoint_message(p, "training", "the file is empty"))
        st = torch_load_tensors(p, map_location=device)
    except TrainingCheckpointError:
        raise
    except OSError as exc:
        raise TrainingCheckpointError(checkpoint_message(
            p, "training", f"it cannot be read: {exc.strerror or exc}")) from None
    except Exception as exc:  # noqa: BLE001 - torch.load raises many types on a bad file
        reason = load_failure_reason(exc, head)
        if "Python objects" in reason:
            reason += ("; a checkpoint of an older version that needs unpickling is refused: "
                       "start the training again without --resume")
        raise TrainingCheckpointError(checkpoint_message(p, "training", reason)) from None
    if not isinstance(st, dict) or not {"model", "optimizer", "iteration"} <= set(st):
        found = guess_model_kind(st)
        reason = (other_kind_reason(found) if found not in (None, "training")
                  else "it does not hold a model, an optimiser and an iteration")
        raise TrainingCheckpointError(checkpoint_message(p, "training", reason))
    if int(st.get("version", 1)) > CHECKPOINT_VERSION:
        raise TrainingCheckpointError(checkpoint_message(
            p, "training", f"version {st.get('version')} is newer than this program reads "
            f"({CHECKPOINT_VERSION})"))
    return st


@dataclass
class TrainConfig:
    """Hyper-parameters of a training run (docs/algorithm.md §7 defaults)."""

    iterations: int = TRAIN_DEFAULTS.iterations
    batch_size: int = TRAIN_DEFAULTS.batch_size
    crop: int = TRAIN_DEFAULTS.crop
    lr: float = TRAIN_DEFAULTS.lr
    feature_dim: int = TRAIN_DEFAULTS.feature_dim
    n_seeds: int = TRAIN_DEFAULTS.n_seeds
    n_iter: int = TRAIN_DEFAULTS.n_iter
    lambda_s: float = DEFAULTS.lambda_s
    lambda_c: float = DEFAULTS.lambda_c
    compactness: float = TRAIN_DEFAULTS.compactness
    scale_min: float = TRAIN_DEFAULTS.scale_min
    scale_max: float = TRAIN_DEFAULTS.scale_max
    val_every: int = TRAIN_DEFAULTS.val_every
    val_images: int = TRAIN_DEFAULTS.val_images
    val_k: int = DEFAULTS.n_segments
    checkpoint_every: int = TRAIN_DEFAULTS.checkpoint_every
    seed: int = TRAIN_DEFAULTS.seed
    bf16: bool = False
    contour_weight: float = TRAIN_DEFAULTS.contour_weight
    contour_margin: float = TRAIN_DEFAULTS.contour_margin
    min_gr: float = TRAIN_DEFAULTS.min_gr
    smooth_weight: float = TRAIN_DEFAULTS.smooth_weight


def load_split(root: str | Path, split: str, limit: int | None = None) -> list[Sample]:
    """The samples of ``root/split`` (the BSDS layout, read by
    :func:`spam_gui.core.evaluation.datasets.load_dataset`) with their pixels in memory.

    Raises FileNotFoundError when ``root/split/images`` is missing (a training run then goes
    without validation), :class:`~spam_gui.core.evaluation.datasets.DatasetError` naming the file for a
    folder that does not follow the layout.
    """
    base = Path(root) / split
    if not (base / "images").is_dir():
        raise FileNotFoundError(f"{base / 'images'}: no images folder (expected "
                                f"<data>/{split}/images)")
    return [s.loaded() for s in load_dataset(base, limit=limit or None)]


def random_crop(sample: Sample, rng: np.random.Generator, cfg: TrainConfig
                ) -> tuple[np.ndarray, np.ndarray]:
    """One augmented (image, label) crop: random annotator, scale, crop and flip."""
    gt = sample.gts[int(rng.integers(len(sample.gts)))]
    img = sample.image
    h, w = gt.shape
    scale = float(rng.uniform(cfg.scale_min, cfg.scale_max))
    scale = max(scale, cfg.crop / min(h, w))
    nh, nw = max(cfg.crop, int(round(h * scale))), max(cfg.crop, int(round(w * scale)))
    img_s = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    gt_s = cv2.resize(gt.astype(np.int32).astype(np.float32), (nw, nh),
                      interpolation=cv2.INTER_NEAREST).astype(np.int64)
    y0 = int(rng.integers(0, nh - cfg.crop + 1))
    x0 = int(rng.integers(0, nw - cfg.crop + 1))
    img_c = img_s[y0:y0 + cfg.crop, x0:x0 + cfg.crop]
    gt_c = gt_s[y0:y0 + cfg.crop, x0:x0 + cfg.crop]
    if rng.random() < 0.5:
        img_c, gt_c = img_c[:, ::-1], gt_c[:, ::-1]
    _, gt_c = np.unique(gt_c, return_inverse=True)
    return np.ascontiguousarray(img_c), gt_c.reshape(cfg.crop, cfg.crop)


def clustering_losses(deep: torch.Tensor, lab: torch.Tensor, gt: torch.Tensor,
                      cfg: TrainConfig, rng: np.random.Generator
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``L_seg``, ``L_compact`` (per-pixel means) and ``L_smooth`` of one crop.

    ``L_smooth`` (computed only when ``cfg.smooth_weight > 0``, else 0) is the mean L1
    difference of the soft assignments of 4-adjacent pixels that lie in the same ground-truth
    segment: the (soft) length of superpixel borders inside segments. Borders inside a segment
    are needed (a segment holds many superpixels) but are shortest, and the superpixels most
    regular, when they follow position rather than texture; across segment borders nothing is
    asked. It trains the encoder for accuracy at a given regularity.

    Parameters
    ----------
    deep:
        (d, H, W) deep features (requires grad).
    lab:
        (H, W, 3) Lab colour.
    gt:
        (H, W) int64 labels 0..L-1.
    """
    d, h, w = deep.shape
    P = h * w
    pos_np = pixel_positions(h, w)
    seeds = kmeans_seeds(pos_np, cfg.n_seeds, rng)
    k = seeds.shape[0]
    s = position_scale(h, w, cfg.n_seeds, cfg.lambda_s)
    radius = CANDIDATE_RADIUS * math.sqrt(h * w / cfg.n_seeds)
    problem = build_problem(pos_np, np.ones(P, np.int64), seeds, np.ones(k, np.int64),
                            np.full(k, radius), np.full(k, s)).to(deep.device)
    app = torch.cat([deep.reshape(d, P).t(), lab.reshape(P, 3) * cfg.lambda_c], dim=1)
    pos = torch.from_numpy(pos_np).to(deep.device)
    sc = soft_cluster(app, pos, problem, cfg.n_iter)
    q = sc.q                                                   # (R, 9, n), masked
    rp, cand = problem.rows_pixels, problem.rows_cand
    n_lab = int(gt.max()) + 1
    onehot = F.one_hot(gt.reshape(-1), n_lab).to(q.dtype)
    onehot = torch.cat([onehot, onehot.new_zeros((1, n_lab))], 0)[rp]   # (R, n, L)
    per_row = torch.bmm(q, onehot).reshape(-1, n_lab)                    # (R*9, L)
    sp_lab = torch.zeros((k, n_lab), dtype=q.dtype, device=q.device).index_add(
        0, cand.reshape(-1), per_row)
    sp_lab = sp_lab / (sp_lab.sum(1, keepdim=True) + 1e-8)
    recon = torch.bmm(q.transpose(1, 2), sp_lab[cand])                   # (R, n, L)
    mask = problem.rows_mask
    ce = -(onehot * torch.log(recon.clamp_min(1e-8))).sum(-1)
    l_seg = ce[mask].mean()
    hard = sc.labels                                                      # (P,)
    diff = (pos - sc.centroids_pos[hard]) * s
    l_compact = (diff * diff).sum(1).mean()
    l_smooth = deep.new_zeros(())
    if cfg.smooth_weight > 0:
        # dense (P, K) soft assignment: row P collects the padding slots (q is 0 there)
        flat = (rp[:, None, :] * k + cand[:, :, None]).reshape(-1)
        dense = q.new_zeros((P + 1) * k).index_add(0, flat, q.reshape(-1))
        dense = dense[: P * k].reshape(h, w, k)
        inside = torch.cat([diff.abs().sum(-1)[same]
                            for diff, same in _neighbour_differences(dense, gt)])
        if inside.numel():
            l_smooth = inside.mean()
    return l_seg, l_compact, l_smooth


def _neighbour_differences(values: torch.Tensor, gt: torch.Tensor
                           ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """For vertical then horizontal 4-neighbour pairs of an (H, W, C) map: the differences
    (H', W', C) of their values and whether both pixels lie in one ground-truth segment
    (H', W')."""
    out = []
    for dim in (0, 1):
        n = values.shape[dim] - 1
        diff = values.narrow(dim, 1, n) - values.narrow(dim, 0, n)
        out.append((diff, gt.narrow(dim, 1, n) == gt.narrow(dim, 0, n)))
    return out


def contour_loss(deep: torch.Tensor, gt: torch.Tensor, margin: float) -> torch.Tensor:
    """A contour loss on deep features (in the spirit of the contour-aware SSN variants).

    For every pair of 4-adjacent pixels: inside one ground-truth segment the squared feature
    distance is pulled to 0; across a segment boundary the distance is pushed beyond
    ``margin`` (squared hinge). Both terms are averaged separately, so the rare boundary pairs
    weigh as much as the interior ones. It teaches the encoder directly what the clustering
    needs: features that are flat inside objects and jump at their borders.

    Parameters
    ----------
    deep:
        (d, H, W) features.
    gt:
        (H, W) integer labels.
    margin:
        Feature distance wanted across boundaries.
    """
    terms = []
    for diff, same in _neighbour_differences(deep.permute(1, 2, 0), gt):
        sq = (diff ** 2).sum(-1)
        terms.append((sq[same], F.relu(margin - torch.sqrt(sq[~same] + 1e-6)) ** 2))
    inside = torch.cat([t[0] for t in terms])
    across = torch.cat([t[1] for t in terms])
    loss = inside.mean() if inside.numel() else deep.sum() * 0
    if across.numel():
        loss = loss + across.mean()
    return loss


def scale_deep_features(model: SSNEncoder, alpha: float) -> SSNEncoder:
    """Multiply the encoder's deep features by ``alpha > 0``, exactly.

    The output layer is conv + ReLU, and ``ReLU(alpha * z) = alpha * ReLU(z)``, so scaling the
    last convolution's weights and bias scales the features without changing the architecture.
    A smaller scale moves the clustering towards colour and position (more regular
    superpixels), a larger one towards the learned features.
    """
    if not alpha > 0:
        raise ValueError("alpha must be positive")
    with torch.no_grad():
        model.output[0].weight.mul_(alpha)
        model.output[0].bias.mul_(alpha)
    return model


def evaluate_encoder(model: SSNEncoder | None, samples: list[Sample], cfg: TrainConfig,
                     device: torch.device | str = "cpu") -> tuple[float, float]:
    """Mean exact ASA and GR of SPAM with ``model`` (None: no network) at K = ``cfg.val_k``."""
    from spam_gui.core.engine.encoder import EncoderInfo, InferenceEncoder
    from spam_gui.core.evaluation.metrics import asa
    from spam_gui.core.evaluation.regularity import shape_regularity
    from spam_gui.core.engine.spam import Spam

    dev = torch.device(device)
    spam = Spam(encoder=None, device=dev)
    if model is not None:
        info = EncoderInfo(None, None, model.feature_dim, model.in_channels, cfg.lambda_c)
        spam._encoder = InferenceEncoder(model.eval(), info, dev)
        spam.encoder_info = info
    scores, grs = [], []
    for s in samples:
        res = spam.segment(s.image, n_segments=cfg.val_k, lambda_s=cfg.lambda_s,
                           lambda_c=cfg.lambda_c)
        scores.append(np.mean([asa(res.labels, g) for g in s.gts]))
        grs.append(shape_regularity(res.labels))
    return float(np.mean(scores)), float(np.mean(grs))


def calibrate_feature_scale(model: SSNEncoder, samples: list[Sample], cfg: TrainConfig,
                            alphas: tuple[float, ...] = (1.0, 0.75, 0.5, 0.4, 0.35, 0.3, 0.25),
                            max_gr_drop: float = TRAIN_DEFAULTS.max_gr_drop, device: torch.device | str = "cpu",
                            progress: Callable[[str], None] = print
                            ) -> tuple[float, list[dict[str, float]]]:
    """Pick the feature scale with the best ASA whose GR stays within ``max_gr_drop`` of the
    no-network clustering (D = 5) on ``samples``; returns it and the table of every trial."""
    import copy

    base_asa, base_gr = evaluate_encoder(None, samples, cfg, device)
    progress(f"no network (D=5): ASA {base_asa:.4f}  GR {base_gr:.3f}")
    table = [{"alpha": 0.0, "asa": base_asa, "gr": base_gr}]
    best_alpha, best_asa = None, -1.0
    for a in alphas:
        m = scale_deep_features(copy.deepcopy(model), a)
        a_asa, a_gr = evaluate_encoder(m, samples, cfg, device)
        progress(f"alpha {a:.2f}: ASA {a_asa:.4f}  GR {a_gr:.3f}")
        table.append({"alpha": a, "asa": a_asa, "gr": a_gr})
        if a_gr >= base_gr - max_gr_drop and a_asa > best_asa:
            best_alpha, best_asa = a, a_asa
    if best_alpha is None:
        best_alpha = min(alphas)
    return best_alpha, table


class Trainer:
    """A resumable training run.

    Parameters
    ----------
    data_root:
        Folder with ``train/`` (and ``val/`` for validation) in the BSDS layout.
    out:
        Where the best model goes (``.pt``); the checkpoint is ``out`` + ``.ckpt``.
    cfg:
        Hyper-parameters.
    device:
        torch device.
    """

    def __init__(self, data_root: str | Path, out: str | Path, cfg: TrainConfig,
                 device: torch.device, train: list[Sample] | None = None,
                 val: list[Sample] | None = None) -> None:
        self.cfg = cfg
        self.device = device
        self.out = Path(out)
        self.ckpt_path = Path(str(self.out) + ".ckpt")
        self.train = train if train is not None else load_split(data_root, "train")
        if val is not None:
            self.val = val
        else:
            try:
                self.val = load_split(data_root, "val", limit=cfg.val_images)
            except FileNotFoundError:
                self.val = []
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        self.rng = np.random.default_rng(cfg.seed)
        self.model = SSNEncoder(cfg.feature_dim).to(device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.iteration = 0
        self.best_asa = -1.0
        self.history: list[dict[str, Any]] = []
        self.wall_seconds = 0.0

    # -- one step -----------------------------------------------------------------------
    def step(self) -> dict[str, float]:
        cfg = self.cfg
        self.model.train()
        crops = [random_crop(self.train[int(self.rng.integers(len(self.train)))], self.rng, cfg)
                 for _ in range(cfg.batch_size)]
        labs = [rgb_to_lab(c[0]) for c in crops]
        x = torch.cat([encoder_input(lab, cfg.lambda_c) for lab in labs]).to(self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            deep = self.model(x)
        deep = deep.float()
        l_seg = torch.zeros((), device=self.device)
        l_cmp = torch.zeros((), device=self.device)
        l_ctr = torch.zeros((), device=self.device)
        l_smo = torch.zeros((), device=self.device)
        for b, (_, gt) in enumerate(crops):
            gt_t = torch.from_numpy(gt).to(self.device)
            ls, lc, lsm = clustering_losses(deep[b], torch.from_numpy(labs[b]).to(self.device),
                                            gt_t, cfg, self.rng)
            l_seg = l_seg + ls / cfg.batch_size
            l_cmp = l_cmp + lc / cfg.batch_size
            l_smo = l_smo + lsm / cfg.batch_size
            if cfg.contour_weight:
                l_ctr = l_ctr + contour_loss(deep[b], gt_t, cfg.contour_margin) / cfg.batch_size
        lam = cfg.compactness * cfg.crop * cfg.crop
        loss = l_seg + lam * l_cmp + cfg.contour_weight * l_ctr + cfg.smooth_weight * l_smo
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.iteration += 1
        return {"loss": loss.item(), "seg": l_seg.item(), "compact": l_cmp.item(),
                "contour": l_ctr.item(), "smooth": l_smo.item()}

    # -- validation -----------------------------------------------------------------------
    def validate(self) -> float:
        """Exact ASA at K = ``val_k`` on the validation subset, averaged per annotator then image.

        The mean shape regularity (GR) of the same superpixels is kept in ``self.last_val_gr``.
        """
        from spam_gui.core.engine.encoder import EncoderInfo, InferenceEncoder
        from spam_gui.core.evaluation.metrics import asa
        from spam_gui.core.evaluation.regularity import shape_regularity
        from spam_gui.core.engine.spam import Spam

        self.last_val_gr = float("nan")
        if not self.val:
            return float("nan")
        spam = Spam(encoder=None, device=self.device)
        info = EncoderInfo(None, None, self.cfg.feature_dim, 3, self.cfg.lambda_c)
        spam._encoder = InferenceEncoder(self.model.eval(), info, self.device)
        spam.encoder_info = info
        scores, grs = [], []
        for s in self.val:
            res = spam.segment(s.image, n_segments=self.cfg.val_k, lambda_s=self.cfg.lambda_s,
                               lambda_c=self.cfg.lambda_c)
            scores.append(np.mean([asa(res.labels, g) for g in s.gts]))
            grs.append(shape_regularity(res.labels))
        self.model.train()
        self.last_val_gr = float(np.mean(grs))
        return float(np.mean(scores))

    # -- checkpoints ----------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything ``--resume`` needs, as tensors and plain Python values only (dicts, lists,
        strings, numbers), so that :meth:`load_checkpoint` reads it with
        ``torch.load(..., weights_only=True)`` and a checkpoint can never run code."""
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "config": asdict(self.cfg),
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "iteration": self.iteration,
            "best_asa": self.best_asa,
            "history": self.history,
            "wall_seconds": self.wall_seconds,
            "rng_numpy": _plain_numpy_state(self.rng.bit_generator.state),
            "rng_torch": torch.get_rng_state(),
            "rng_python": _plain_python_state(random.getstate()),
        }

    def save_checkpoint(self) -> None:
        buf = io.BytesIO()
        torch.save(self.state(), buf)
        atomic_write_bytes(self.ckpt_path, buf.getvalue())

    def load_checkpoint(self) -> None:
        """Continue from ``self.ckpt_path``; raises :class:`TrainingCheckpointError` naming the
        file when it is unreadable, not a training checkpoint, or holds anything but tensors
        and plain values (an old checkpoint that needs unpickling is refused, never run)."""
        st = read_training_checkpoint(self.ckpt_path, self.device)
        p = self.ckpt_path
        try:
            self.model.load_state_dict(st["model"])
            self.opt.load_state_dict(st["optimizer"])
            self.iteration = int(st["iteration"])
            self.best_asa = float(st["best_asa"])
            self.history = list(st["history"])
            self.wall_seconds = float(st.get("wall_seconds", 0.0))
            self.rng.bit_generator.state = st["rng_numpy"]
            torch.set_rng_state(st["rng_torch"])
            random.setstate(_python_state_from_plain(st["rng_python"]))
        except KeyError as exc:
            raise TrainingCheckpointError(checkpoint_message(
                p, "training", f"the entry {exc.args[0]!r} is missing")) from None
        except (RuntimeError, ValueError, TypeError, AttributeError) as exc:
            raise TrainingCheckpointError(checkpoint_message(
                p, "training", "its model, optimiser or random states do not fit this run "
                f"({type(exc).__name__})")) from None

    def save_best(self, asa_value: float) -> None:
        meta = {
            "data": "BSDS500 train (200 images, all annotators)",
            "iterations": self.iteration,
            "val_asa_k400_subset": asa_value,
            "val_gr_k400_subset": getattr(self, "last_val_gr", None),
            "val_subset_images": len(self.val),
            "wall_seconds": round(self.wall_seconds, 1),
            "hardware": f"{platform.processor() or platform.machine()}, torch threads "
                        f"{torch.get_num_threads()}, device {self.device}",
            "config": asdict(self.cfg),
        }
        save_encoder(self.out, self.model, lambda_c=self.cfg.lambda_c, meta=meta)

    # -- the loop -------------------------------------------------------------------------
    def run(self, progress: Callable[[str], None] = print) -> None:
        cfg = self.cfg
        t_last = time.perf_counter()
        seen = 0
        last_val = self.history[-1].get("val_asa") if self.history else None
        while self.iteration < cfg.iterations:
            t0 = time.perf_counter()
            stats = self.step()
            dt = time.perf_counter() - t0
            self.wall_seconds += dt
            seen += 1
            rec: dict[str, Any] = {"iteration": self.iteration, **stats, "seconds": dt}
            if cfg.val_every and self.iteration % cfg.val_every == 0:
                t1 = time.perf_counter()
                last_val = self.validate()
                self.wall_seconds += time.perf_counter() - t1
                rec["val_asa"] = last_val
                rec["val_gr"] = self.last_val_gr
                if last_val > self.best_asa and not self.last_val_gr < cfg.min_gr:
                    self.best_asa = last_val
                    self.save_best(last_val)
            self.history.append(rec)
            if self.iteration % cfg.checkpoint_every == 0 or "val_asa" in rec:
                self.save_checkpoint()
            now = time.perf_counter()
            if now - t_last > 10 or "val_asa" in rec or self.iteration == cfg.iterations:
                progress(
                    f"it {self.iteration}/{cfg.iterations}  loss {stats['loss']:.4f}  "
                    f"seg {stats['seg']:.4f}  compact {stats['compact']:.2f}  contour {stats['contour']:.3f}  "
                    f"smooth {stats['smooth']:.3f}  "
                    f"{dt:.2f} s/it  val ASA {last_val if last_val is None else round(last_val, 4)}"
                    f" GR {getattr(self, 'last_val_gr', float('nan')):.3f}  best {self.best_asa:.4f}"
                )
                t_last = now
        self.save_checkpoint()
