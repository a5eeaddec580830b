"""SAM's automatic mask generator, fast: a grid of single-point prompts -> mask proposals.

:func:`generate_proposals` gives the same results as
``segment_anything.SamAutomaticMaskGenerator`` (a ``points_per_side`` grid of single-point
prompts, predicted-IoU and stability filtering, box NMS) but several times cheaper on a CPU: the
decoder's work on the 64 x 64 image tokens is done once per image plus low-rank per-prompt
corrections (exact algebra, see :class:`_FastDecoder`), prompts whose three masks all fail the
predicted-IoU threshold skip the mask upscaling, and the surviving masks go from 256 x 256
logits to the image size in one separable resampling instead of through a 1024 x 1024
intermediate and a run-length round trip. :class:`AmgParams` are its parameters,
:class:`Proposals` its result.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from spam_gui.core.params import SAM_DEFAULTS
from spam_gui.core.prior import pack_masks, unpack_masks

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.core.sam.session import SamSession

__all__ = ["AmgParams", "ProgressFn", "Proposals", "empty_proposals", "generate_proposals"]

@dataclass(frozen=True)
class AmgParams:
    """Parameters of the automatic mask generator (SAM's defaults, :data:`SAM_DEFAULTS`)."""

    points_per_side: int = SAM_DEFAULTS.points_per_side
    pred_iou_thresh: float = SAM_DEFAULTS.pred_iou_thresh
    stability_score_thresh: float = SAM_DEFAULTS.stability_score_thresh
    stability_score_offset: float = SAM_DEFAULTS.stability_score_offset
    box_nms_thresh: float = SAM_DEFAULTS.box_nms_thresh
    min_mask_region_area: int = SAM_DEFAULTS.min_mask_region_area
    points_per_batch: int = SAM_DEFAULTS.points_per_batch   # speed and memory only

    def __post_init__(self) -> None:
        if self.points_per_side < 1:
            raise ValueError(f"points_per_side must be >= 1, got {self.points_per_side}")
        if self.points_per_batch < 1:
            raise ValueError(f"points_per_batch must be >= 1, got {self.points_per_batch}")

    def result_params(self) -> dict[str, Any]:
        """The parameters the result depends on (for cache keys and sidecars)."""
        d = asdict(self)
        d.pop("points_per_batch")
        return d


@dataclass
class Proposals:
    """SAM's mask proposals for one image."""

    masks: np.ndarray          # (n, H, W) bool
    scores: np.ndarray         # (n,) float32, predicted IoU
    stability: np.ndarray      # (n,) float32, stability score
    points: np.ndarray         # (n, 2) float32, the prompt point (x, y) in image pixels
    boxes: np.ndarray          # (n, 4) int32, x0, y0, x1, y1 (inclusive), as SAM gives them
    timings: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    def to_arrays(self) -> dict[str, np.ndarray]:
        packed = pack_masks(self.masks)
        return {"bits": packed["bits"], "shape": packed["shape"],
                "scores": self.scores.astype(np.float32),
                "stability": self.stability.astype(np.float32),
                "points": self.points.astype(np.float32), "boxes": self.boxes.astype(np.int32)}

    @classmethod
    def from_arrays(cls, a: Mapping[str, np.ndarray]) -> "Proposals":
        return cls(masks=unpack_masks(a["bits"], a["shape"]), scores=a["scores"],
                   stability=a["stability"], points=a["points"], boxes=a["boxes"])


def _resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of PyTorch's 1-D bilinear resize (align_corners=False, no antialias)."""
    m = np.zeros((n_out, n_in), dtype=np.float64)
    scale = n_in / n_out
    for d in range(n_out):
        src = max(scale * (d + 0.5) - 0.5, 0.0)
        i0 = min(int(math.floor(src)), n_in - 1)
        i1 = i0 + 1 if i0 < n_in - 1 else i0
        lam = src - i0
        m[d, i0] += 1.0 - lam
        m[d, i1] += lam
    return m


class _Resampler:
    """``Sam.postprocess_masks`` (low-res -> img_size square -> crop -> original size) as one
    separable linear map with at most a few taps per output pixel."""

    def __init__(self, low: tuple[int, int], img_size: int, input_size: tuple[int, int],
                 original_size: tuple[int, int], device: torch.device) -> None:
        self.taps = []
        for axis in (0, 1):
            a = _resize_matrix(input_size[axis], original_size[axis]) @ \
                _resize_matrix(low[axis], img_size)[: input_size[axis]]
            nz = a != 0
            k = max(int(nz.sum(axis=1).max()), 1)
            idx = np.zeros((a.shape[0], k), dtype=np.int64)
            wts = np.zeros((a.shape[0], k), dtype=np.float32)
            for r in range(a.shape[0]):
                cols = np.flatnonzero(nz[r])
                idx[r, : cols.size] = cols
                wts[r, : cols.size] = a[r, cols]
            self.taps.append((torch.as_tensor(idx, device=device),
                              torch.as_tensor(wts, device=device)))

    def __call__(self, low: torch.Tensor) -> torch.Tensor:
        """(n, h, w) low-res logits -> (n, H, W) logits at the original size."""
        idx_y, w_y = self.taps[0]
        idx_x, w_x = self.taps[1]
        x = None
        for k in range(idx_x.shape[1]):
            t = low.index_select(2, idx_x[:, k]) * w_x[:, k]
            x = t if x is None else x.add_(t)
        out = None
        for k in range(idx_y.shape[1]):
            t = x.index_select(1, idx_y[:, k]) * w_y[:, k, None]
            out = t if out is None else out.add_(t)
        return out


def _heads(x: torch.Tensor, n: int) -> torch.Tensor:
    b, t, c = x.shape
    return x.reshape(b, t, n, c // n).transpose(1, 2)


class _FastDecoder:
    """SAM's mask decoder for a batch of single-point prompts on one image, computing the same
    quantities as ``MaskDecoder.forward(..., multimask_output=True)`` with far less work.

    Every linear map SAM applies to the 64 x 64 image tokens is affine in the image embedding
    (which is the same for all prompts) plus the image-to-token attention updates, which have
    rank at most heads x tokens (8 x 7); the LayerNorms in between contribute one mean and one
    scale per token. So each projection is computed as a once-per-image product with the
    embedding plus low-rank per-prompt corrections, instead of a full per-prompt matrix product
    over 4096 tokens:

        W keys[l+1] = (W g keys[l] + A[l] (U[l] (W g)^T) + (W g) b[l] - mu[l] (W g) 1) * rstd[l]
                      + W beta[l],        g = diag(gamma[l]),

    where keys[l+1] = LayerNorm(keys[l] + A[l] U[l] + b[l]), A[l] are the attention weights
    (tokens per image pixel), U[l] the tokens' values through the output projection, and
    mu / rstd the per-pixel LayerNorm statistics (mean, 1 / standard deviation). The two stride-2 transposed convolutions of
    the upscaler do not overlap, so they are matrix products in channels-last layout; they run
    only for prompts with a mask worth keeping (the predicted IoU is known before them).
    """

    def __init__(self, sam, features: torch.Tensor) -> None:
        dec = sam.mask_decoder
        tr = dec.transformer
        self.dec, self.tr = dec, tr
        pe = sam.prompt_encoder.get_dense_pe()
        dense = sam.prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
        src = features + dense
        _, c, h, w = src.shape
        self.c, self.h, self.w = c, h, w
        keys0 = src.flatten(2)[0].t().contiguous()          # (N, C)
        key_pe = pe.flatten(2)[0].t().contiguous()          # (N, C)
        self.keys0 = keys0.unsqueeze(0)
        self.layers = list(tr.layers)
        self.norms = [(ly.norm4.weight, ly.norm4.bias, ly.norm4.eps) for ly in self.layers]
        self.i2t_bias = [ly.cross_attn_image_to_token.out_proj.bias for ly in self.layers]
        self.keys0_b = self.keys0 + self.i2t_bias[0]
        n = keys0.shape[0]

        def pe_proj(lin) -> torch.Tensor:
            return key_pe @ lin.weight.t() + lin.bias

        self.plans = []
        for lvl, ly in enumerate(self.layers):
            a, b = ly.cross_attn_token_to_image, ly.cross_attn_image_to_token
            wts = torch.cat([a.k_proj.weight, a.v_proj.weight, b.q_proj.weight])
            const = torch.cat([pe_proj(a.k_proj), a.v_proj.bias.expand(n, -1), pe_proj(b.q_proj)],
                              dim=1)
            self.plans.append(self._plan(wts, lvl, keys0, const))
        fa = tr.final_attn_token_to_image
        self.final_plan = self._plan(torch.cat([fa.k_proj.weight, fa.v_proj.weight]),
                                     len(self.layers), keys0,
                                     torch.cat([pe_proj(fa.k_proj), fa.v_proj.bias.expand(n, -1)],
                                               dim=1))
        self.out_tokens = torch.cat([dec.iou_token.weight, dec.mask_tokens.weight], dim=0)
        up = dec.output_upscaling
        ct1, ln, _, ct2, _ = up
        w1 = ct1.weight.permute(0, 2, 3, 1).reshape(ct1.weight.shape[0], -1)   # (C, 4 * c1)
        self.up_plan = self._plan(w1.t(), len(self.layers), keys0, ct1.bias.repeat(4))
        self.c1 = ct1.weight.shape[1]
        self.ln_w, self.ln_b, self.ln_eps = ln.weight, ln.bias, ln.eps
        self.w2 = ct2.weight.permute(0, 2, 3, 1).reshape(ct2.weight.shape[0], -1).t()
        self.b2 = ct2.bias.repeat(4)
        self.c2 = ct2.weight.shape[1]
        self.act1, self.act2 = up[2], up[4]

    def _plan(self, wts: torch.Tensor, level: int, keys0: torch.Tensor, const: torch.Tensor):
        """Precompute what ``wts @ keys[level] + const`` needs (see the class docstring)."""
        steps = []
        cur = wts
        for lv in reversed(range(level)):
            gamma, beta, _ = self.norms[lv]
            g = cur * gamma                                   # W diag(gamma)
            steps.append((g.t().contiguous(), g @ self.i2t_bias[lv], g.sum(dim=1), cur @ beta))
            cur = g
        steps.reverse()
        base = keys0 @ cur.t()                                # once per image
        if level == 0:
            return (base + const).unsqueeze(0), [], None
        return (base + steps[0][1]).unsqueeze(0), steps, const

    @staticmethod
    def _apply(plan, state) -> torch.Tensor:
        """``W @ keys[level] + const`` for a batch: (B, N, out) (or (1, N, out) at level 0)."""
        base, steps, const = plan
        if not steps:
            return base
        r = base
        for i, ((gt, cb, gs, d), (att, u, mu, rstd)) in enumerate(zip(steps, state)):
            if i == 0:
                r = torch.baddbmm(base, att.transpose(1, 2), u @ gt)   # base has + G b already
            else:
                r = r.add_(cb).baddbmm_(att.transpose(1, 2), u @ gt)
            r = r.addcmul_(mu, gs, value=-1.0).mul_(rstd).add_(d)
        return r.add_(const)

    @staticmethod
    def _block_diag(x: torch.Tensor) -> torch.Tensor:
        """(B, H, T, ch) per-head token vectors -> (B, H*T, H*ch) with head h in column block h,
        so that one product with the (N, H*ch) image features gives every head's scores."""
        bsz, nh, t, ch = x.shape
        eye = torch.eye(nh, dtype=x.dtype, device=x.device)
        return torch.einsum("bhtc,hg->bhtgc", x, eye).reshape(bsz, nh * t, nh * ch)

    @classmethod
    def _token_to_image(cls, mod, tok_q: torch.Tensor, k_img: torch.Tensor, v_img: torch.Tensor
                        ) -> torch.Tensor:
        """Attention(q=tokens, k=image, v=image) from the projected image keys and values
        (B or 1, N, Ci); (B, T, C) like ``Attention.forward``."""
        nh = mod.num_heads
        q = _heads(mod.q_proj(tok_q), nh)                       # (B, H, T, ch)
        bsz, _, t, ch = q.shape
        qbd = cls._block_diag(q / math.sqrt(ch))                # (B, H*T, Ci)
        attn = torch.matmul(qbd, k_img.transpose(-1, -2))       # (B, H*T, N)
        attn = torch.softmax(attn, dim=-1)
        out = torch.matmul(attn, v_img)                         # (B, H*T, Ci): keep the diagonal
        out = torch.diagonal(out.reshape(bsz, nh, t, nh, ch), dim1=1, dim2=3)  # (B, T, ch, H)
        out = out.permute(0, 1, 3, 2).reshape(bsz, t, nh * ch)
        return mod.out_proj(out)

    @classmethod
    def _image_to_token(cls, mod, q_img: torch.Tensor, tok_q: torch.Tensor, tok_v: torch.Tensor
                        ) -> tuple[torch.Tensor, torch.Tensor]:
        """The image-to-token attention update as A^T U (+ out_proj bias), from the projected
        image queries (B or 1, N, Ci): A (B, H*T, N) the attention weights of each image pixel
        over each head's tokens, U (B, H*T, C) each head's token values through out_proj."""
        nh = mod.num_heads
        k = _heads(mod.k_proj(tok_q), nh)                       # (B, H, T, ch)
        v = _heads(mod.v_proj(tok_v), nh)                       # (B, H, T, ch)
        bsz, _, t, ch = k.shape
        kbd = cls._block_diag(k / math.sqrt(ch))                # (B, H*T, Ci)
        attn = torch.matmul(kbd, q_img.transpose(-1, -2))       # (B, H*T, N)
        attn = torch.softmax(attn.reshape(bsz, nh, t, -1), dim=2).reshape(bsz, nh * t, -1)
        wo = mod.out_proj.weight                                # (C, H * ch)
        c = wo.shape[0]
        u = torch.matmul(v, wo.reshape(c, nh, -1).permute(1, 2, 0).unsqueeze(0))  # (B,H,T,C)
        return attn, u.reshape(bsz, nh * t, c)

    def transformer(self, sparse: torch.Tensor) -> tuple[torch.Tensor, list]:
        """Token outputs (B, T, C) and the per-layer state the image projections need."""
        bsz = sparse.shape[0]
        tokens = torch.cat([self.out_tokens.unsqueeze(0).expand(bsz, -1, -1), sparse], dim=1)
        query_pe = tokens
        queries = tokens
        keys = None
        state: list = []
        n_layers = len(self.layers)
        for lv, ly in enumerate(self.layers):
            if ly.skip_first_layer_pe:
                queries = ly.self_attn(q=queries, k=queries, v=queries)
            else:
                q = queries + query_pe
                queries = queries + ly.self_attn(q=q, k=q, v=queries)
            queries = ly.norm1(queries)

            a, b = ly.cross_attn_token_to_image, ly.cross_attn_image_to_token
            proj = self._apply(self.plans[lv], state)          # (B or 1, N, 3 * Ci)
            k_img, v_img, q_img = proj.split(a.internal_dim, dim=-1)
            attn_out = self._token_to_image(a, queries + query_pe, k_img, v_img)
            queries = ly.norm2(queries + attn_out)
            queries = ly.norm3(queries + ly.mlp(queries))

            att, u = self._image_to_token(b, q_img, queries + query_pe, queries)
            if keys is None:   # first layer: the keys are the image embedding
                x = torch.baddbmm(self.keys0_b, att.transpose(1, 2), u)
            else:
                x = keys.add_(self.i2t_bias[lv]).baddbmm_(att.transpose(1, 2), u)
            gamma, beta, eps = self.norms[lv]
            out, mu, rstd = torch.native_layer_norm(x, [self.c], gamma, beta, eps)
            state.append((att, u, mu, rstd))
            keys = out if lv + 1 < n_layers else None

        fa = self.tr.final_attn_token_to_image
        proj = self._apply(self.final_plan, state)
        k_img, v_img = proj.split(fa.internal_dim, dim=-1)
        attn_out = self._token_to_image(fa, queries + query_pe, k_img, v_img)
        queries = self.tr.norm_final_attn(queries + attn_out)
        return queries, state

    def iou(self, hs: torch.Tensor) -> torch.Tensor:
        return self.dec.iou_prediction_head(hs[:, 0, :])

    def masks(self, hs: torch.Tensor, state: list, tokens: list[int]) -> torch.Tensor:
        """Low-res mask logits (B, len(tokens), 4h, 4w) for the given mask-token indices; ``hs``
        and ``state`` restricted to the wanted prompts."""
        bsz = hs.shape[0]
        h, w = self.h, self.w
        y = self._apply(self.up_plan, state)                     # (B, N, 4 * c1)
        y = y.reshape(bsz, h * w, 4, self.c1)
        y = F.layer_norm(y, (self.c1,), self.ln_w, self.ln_b, self.ln_eps)
        y = self.act1(y)
        z = F.linear(y, self.w2, self.b2)                         # (B, N, 4, 4 * c2)
        z = self.act2(z.reshape(bsz, h * w, 4, 4, self.c2))
        hyper = torch.stack(
            [self.dec.output_hypernetworks_mlps[t](hs[:, 1 + t, :]) for t in tokens], dim=1
        )                                                           # (B, M, c2)
        m = torch.einsum("bnpqc,bmc->bmnpq", z, hyper)              # (B, M, N, 4, 4)
        # n = (yy, xx); p = (dy, dx) of the first upscaling; q = (ey, ex) of the second
        m = m.reshape(bsz, len(tokens), h, w, 2, 2, 2, 2)
        return m.permute(0, 1, 2, 4, 6, 3, 5, 7).reshape(bsz, len(tokens), 4 * h, 4 * w)


def _index_state(state: list, rows: torch.Tensor) -> list:
    return [tuple(t[rows] for t in st) for st in state]


ProgressFn = Callable[[float, str], None]


def generate_proposals(session: SamSession, params: AmgParams | None = None, *,
                       method: str = "fast", progress: ProgressFn | None = None) -> Proposals:
    """SAM's automatic mask generation on the session's image.

    ``method="fast"`` (default) is this module's implementation; ``method="reference"`` runs
    ``segment_anything.SamAutomaticMaskGenerator`` itself (slower; same results). ``progress``
    is called with (fraction done, message); raising from it stops the generation.
    """
    params = params or AmgParams()
    if method == "reference":
        from spam_gui.core.sam.reference import reference_proposals

        return reference_proposals(session, params)
    if method != "fast":
        raise ValueError(f"unknown method {method!r} (fast or reference)")
    return _fast_amg(session, params, progress)


@torch.inference_mode()
def _fast_amg(session: SamSession, params: AmgParams, progress: ProgressFn | None) -> Proposals:
    from segment_anything.utils.amg import batched_mask_to_box, build_point_grid
    from torchvision.ops.boxes import batched_nms

    t0 = time.perf_counter()
    sam = session.sam.model
    dev = session.sam.device
    pred = session.predictor
    hh, ww = session.original_size
    points = build_point_grid(params.points_per_side) * np.array([[ww, hh]])
    coords = pred.transform.apply_coords(points, (hh, ww))
    dec = _FastDecoder(sam, pred.features)
    low = (4 * dec.h, 4 * dec.w)
    resample = _Resampler(low, sam.image_encoder.img_size, session.input_size, (hh, ww), dev)
    thr = sam.mask_threshold
    n_out = sam.mask_decoder.num_multimask_outputs
    token_ids = list(range(1, 1 + n_out))

    bits, ious, stabs, pts, boxes = [], [], [], [], []
    t_dec = t_up = 0.0
    n = len(points)
    for start in range(0, n, params.points_per_batch):
        if progress is not None:
            progress(start / n, f"SAM prompts {start}/{n}")
        sl = slice(start, start + params.points_per_batch)
        in_pts = torch.as_tensor(coords[sl], device=dev)[:, None, :]
        in_lab = torch.ones(in_pts.shape[0], 1, dtype=torch.int, device=dev)
        ta = time.perf_counter()
        sparse, _ = sam.prompt_encoder(points=(in_pts, in_lab), boxes=None, masks=None)
        hs, state = dec.transformer(sparse)
        iou = dec.iou(hs)[:, token_ids]                                     # (B, 3)
        keep = iou > params.pred_iou_thresh if params.pred_iou_thresh > 0 else torch.ones_like(
            iou, dtype=torch.bool)
        rows = keep.any(dim=1).nonzero().flatten()
        if rows.numel() == 0:
            t_dec += time.perf_counter() - ta
            continue
        lowres = dec.masks(hs[rows], _index_state(state, rows), token_ids)  # (b, 3, 4h, 4w)
        sel = keep[rows]
        lowres = lowres[sel]                                                # (k, 4h, 4w)
        iou_k = iou[rows][sel]
        pidx = start + rows[:, None].expand(-1, n_out)[sel]   # prompt index in the grid
        tb = time.perf_counter()
        t_dec += tb - ta
        logits = resample(lowres)                                           # (k, H, W)
        inter = (logits > thr + params.stability_score_offset).sum((-1, -2), dtype=torch.int32)
        union = (logits > thr - params.stability_score_offset).sum((-1, -2), dtype=torch.int32)
        stab = inter / union
        if params.stability_score_thresh > 0:
            ok = stab >= params.stability_score_thresh
            logits, iou_k, pidx, stab = logits[ok], iou_k[ok], pidx[ok], stab[ok]
        masks = logits > thr
        del logits
        if masks.shape[0]:
            boxes.append(batched_mask_to_box(masks).cpu())
            m = masks.cpu().numpy()
            bits.append(np.packbits(m.reshape(m.shape[0], -1), axis=1))
            ious.append(iou_k.float().cpu())
            stabs.append(stab.float().cpu())
            pts.append(torch.as_tensor(points[pidx.cpu().numpy()], dtype=torch.float32))
        t_up += time.perf_counter() - tb

    tn = time.perf_counter()
    if bits:
        all_bits = np.concatenate(bits)
        all_iou = torch.cat(ious)
        all_stab = torch.cat(stabs)
        all_pts = torch.cat(pts)
        all_boxes = torch.cat(boxes)
        keep_idx = batched_nms(all_boxes.float(), all_iou, torch.zeros(len(all_boxes)),
                               iou_threshold=params.box_nms_thresh).numpy()
        masks_np = np.unpackbits(all_bits[keep_idx], axis=1, count=hh * ww).reshape(
            -1, hh, ww).astype(bool)
        props = Proposals(masks=masks_np, scores=all_iou[keep_idx].numpy(),
                          stability=all_stab[keep_idx].numpy(), points=all_pts[keep_idx].numpy(),
                          boxes=all_boxes[keep_idx].numpy().astype(np.int32))
    else:
        props = empty_proposals(hh, ww)
    if params.min_mask_region_area > 0 and len(props):
        props = _remove_small_regions(props, params)
    props.timings = {"decoder_s": t_dec, "masks_s": t_up, "nms_s": time.perf_counter() - tn,
                     "total_s": time.perf_counter() - t0}
    if progress is not None:
        progress(1.0, f"SAM: {len(props)} masks")
    return props


def empty_proposals(h: int, w: int) -> Proposals:
    """No proposals for an h x w image."""
    return Proposals(masks=np.zeros((0, h, w), dtype=bool), scores=np.zeros(0, np.float32),
                     stability=np.zeros(0, np.float32), points=np.zeros((0, 2), np.float32),
                     boxes=np.zeros((0, 4), np.int32))


def _remove_small_regions(props: Proposals, params: AmgParams) -> Proposals:
    """SAM's optional post-processing (holes and islands below min_mask_region_area)."""
    from segment_anything import SamAutomaticMaskGenerator
    from segment_anything.utils.amg import MaskData, mask_to_rle_pytorch, rle_to_mask

    data = MaskData(
        rles=mask_to_rle_pytorch(torch.as_tensor(props.masks)),
        boxes=torch.as_tensor(props.boxes, dtype=torch.float32),
        iou_preds=torch.as_tensor(props.scores), stability_score=torch.as_tensor(props.stability),
        points=torch.as_tensor(props.points),
    )
    data = SamAutomaticMaskGenerator.postprocess_small_regions(
        data, params.min_mask_region_area, params.box_nms_thresh)
    masks = np.stack([rle_to_mask(r) for r in data["rles"]]) if len(data["rles"]) else \
        np.zeros((0,) + props.masks.shape[1:], dtype=bool)
    return Proposals(masks=masks, scores=np.asarray(data["iou_preds"], np.float32),
                     stability=np.asarray(data["stability_score"], np.float32),
                     points=np.asarray(data["points"], np.float32),
                     boxes=np.asarray(data["boxes"]).astype(np.int32))
