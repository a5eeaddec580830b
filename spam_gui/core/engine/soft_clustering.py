"""The differentiable soft clustering (SSN's differentiable SLIC), in PyTorch.

:func:`soft_cluster` runs the soft-assignment / centroid-update iterations and the hard
assignment over the padded rows of a :class:`~spam_gui.core.engine.cluster_groups.ClusterProblem`
(one ``torch.bmm`` per block of rows against each row's 9 candidate centroids), on CPU or CUDA
and differentiable with respect to the appearance features (the training path,
:mod:`spam_gui.core.training`, and the inference path on CUDA or without numba rely on it);
:func:`best_candidate` is its fast argmax over the candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from spam_gui.core.engine.cluster_groups import N_CANDIDATES, ClusterProblem

EPS = 1e-8
# pixel slots per block of rows on the CPU (a few MB: the block stays in the caches)
BLOCK_PIXELS = 49152


def _initial_centroids(fg: torch.Tensor, ca_dim: int,
                       problem: ClusterProblem) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean features of each seed's initial pixels, from the grouped rows ``fg``
    ((R, n, Ca + 3): appearance, position, 1). Every row holds pixels of one initial seed,
    its first candidate. A seed that starts without pixels (two seeds on one pixel) sits at
    its own position with the appearance of its nearest candidate that has pixels."""
    K = problem.n_seeds
    sums = torch.zeros((K, fg.shape[-1]), dtype=fg.dtype, device=fg.device).index_add_(
        0, problem.rows_cand[:, 0], fg.sum(1))
    counts = sums[:, -1]
    mean = sums[:, :-1] / counts.clamp_min(1.0)[:, None]
    c_app, c_pos = mean[:, :ca_dim], mean[:, ca_dim:]
    empty = counts == 0
    if bool(empty.any()):
        idx = torch.nonzero(empty).flatten()
        cand = problem.seed_cand[idx]                                   # (e, 9)
        has = counts[cand] > 0
        first = torch.where(has.any(1), has.to(torch.int8).argmax(1), torch.zeros_like(idx))
        donor = torch.gather(cand, 1, first[:, None])[:, 0]
        total = sums.sum(0)
        fallback = (total[:ca_dim] / total[-1].clamp_min(1.0)).expand(idx.numel(), -1)
        c_app = c_app.clone()
        c_app[idx] = torch.where(has.any(1)[:, None], c_app[donor], fallback)
        c_pos = c_pos.clone()
        c_pos[idx] = problem.seed_pos[idx].to(c_pos.dtype)
    return c_app, c_pos


@dataclass
class SoftClustering:
    """Result of :func:`soft_cluster`."""

    labels: torch.Tensor          # (P,) int64 hard seed index of each pixel
    q: torch.Tensor               # (R, 9, n) soft association of the last iteration (masked)
    centroids_app: torch.Tensor   # (K, Ca) appearance centroids
    centroids_pos: torch.Tensor   # (K, 2) unscaled position centroids


def soft_cluster(
    appearance: torch.Tensor,
    positions: torch.Tensor,
    problem: ClusterProblem,
    n_iter: int = 10,
    hard_from_final: bool = True,
) -> SoftClustering:
    """Run ``n_iter`` soft-assignment / centroid-update iterations and the hard assignment.

    Parameters
    ----------
    appearance:
        (P, Ca) float appearance features ``[E, lambda_c * Lab]`` (may require grad).
    positions:
        (P, 2) float unscaled (y, x).
    problem:
        From :func:`build_problem`, on the same device.
    n_iter:
        T, the number of iterations (10 at inference, 5 in training).
    hard_from_final:
        Compute the hard labels from distances to the final centroids (True), or from the
        soft association of the last iteration (False).

    Notes
    -----
    Rows are laid out as (R, 9, n): candidates first, pixels last, so that the softmax over
    the 9 candidates and every element-wise step run along contiguous pixel vectors. The
    per-pixel term ``|a_p|^2`` is the same for all candidates and cancels in the softmax and
    the argmin, so it is never computed.
    """
    dev, dt = appearance.device, appearance.dtype
    P, K = problem.n_pixels, problem.n_seeds
    ca_dim = appearance.shape[1]
    n_feat = ca_dim + 2
    # [appearance, position, 1] per pixel: the trailing 1 makes one bmm give both the
    # weighted sums and the soft pixel counts; row P is the dummy padding pixel, all zeros,
    # so it adds nothing.
    feat = torch.empty((P + 1, n_feat + 1), dtype=dt, device=dev)
    feat[:P, :ca_dim] = appearance
    feat[:P, ca_dim:n_feat] = positions.to(dt)
    feat[:P, n_feat] = 1.0
    feat[P] = 0.0
    rp = problem.rows_pixels
    fg = feat[rp]                                                       # (R, n, Ca + 3)
    if fg.shape[-1] <= 10:
        # few feature columns: MKL's batched products are about twice as fast with both
        # operands contiguous along the pixels
        fg = fg.transpose(1, 2).contiguous().transpose(1, 2)
    fgt = fg.transpose(1, 2)[:, :n_feat]                                # (R, Ca + 2, n) view
    cand = problem.rows_cand
    cand_flat = cand.reshape(-1)
    s2 = problem.seed_scale2.to(dev, dt)[cand][..., None]               # (R, 9, 1)
    invalid = torch.zeros(cand.shape, dtype=dt, device=dev).masked_fill(
        ~problem.rows_valid, float("inf"))[..., None]                   # (R, 9, 1)
    # |x_p|^2 s_j^2 only matters when a row's candidates have different scales
    s2r = s2[..., 0]  # candidate 0 (the row's own seed) is always valid
    mixed = bool(((s2r != s2r[:, :1]) & problem.rows_valid).any())
    xg2 = (fgt[:, ca_dim:] ** 2).sum(1, keepdim=True) if mixed else None  # (R, 1, n)

    c_app, c_pos = _initial_centroids(fg, ca_dim, problem)

    # On the CPU the rows are processed in blocks whose working set stays in cache: a
    # distance / softmax / product pass over all rows at once streams ~10 MB tensors through
    # memory three times per iteration, which costs more than the arithmetic.
    n_rows = rp.shape[0]
    step = n_rows if dev.type != "cpu" else max(1, BLOCK_PIXELS // max(1, rp.shape[1]))
    blocks = [slice(b, min(b + step, n_rows)) for b in range(0, n_rows, step)]

    def centroid_terms(c_app: torch.Tensor, c_pos: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per row and candidate: the weights ``w`` (R, 9, Ca + 2) and ``-|c|^2`` (R, 9, 1)."""
        ca = c_app[cand]                                                # (R, 9, Ca)
        cx = c_pos[cand]                                                # (R, 9, 2)
        w = torch.cat([ca, s2 * cx], dim=2)
        cc = (ca * ca).sum(-1, keepdim=True) + s2 * (cx * cx).sum(-1, keepdim=True) + invalid
        return w, -cc

    def neg_distances(w: torch.Tensor, ncc: torch.Tensor, rows: slice) -> torch.Tensor:
        """(rows, 9, n) minus the squared distances, up to per-pixel constants."""
        nd = torch.baddbmm(ncc[rows], w[rows], fgt[rows], beta=1.0, alpha=2.0)
        return nd if xg2 is None else torch.addcmul(nd, -s2[rows], xg2[rows])

    q = None
    n_iter = max(0, int(n_iter))
    for it in range(n_iter):
        w, ncc = centroid_terms(c_app, c_pos)
        sums_parts, q_parts = [], []
        for rows in blocks:
            q_rows = torch.softmax(neg_distances(w, ncc, rows), dim=1)  # (rows, 9, n)
            sums_parts.append(torch.bmm(q_rows, fg[rows]))              # (rows, 9, Ca + 3)
            if it == n_iter - 1:
                q_parts.append(q_rows)
        sums = (torch.cat(sums_parts) if len(sums_parts) > 1 else sums_parts[0]
                ).reshape(-1, fg.shape[-1])                             # (R * 9, Ca + 3)
        tot = torch.zeros((K, fg.shape[-1]), dtype=dt, device=dev).index_add(0, cand_flat, sums)
        sd = tot[:, -1:]
        has = sd > EPS
        cen = tot[:, :-1] / (sd + EPS)
        c_app = torch.where(has, cen[:, :ca_dim], c_app)
        c_pos = torch.where(has, cen[:, ca_dim:], c_pos)
        if q_parts:
            q = torch.cat(q_parts) if len(q_parts) > 1 else q_parts[0]
    if q is not None:
        q = q * problem.rows_mask.to(dt)[:, None, :]

    with torch.no_grad():
        if hard_from_final or q is None:
            w, ncc = centroid_terms(c_app.detach(), c_pos.detach())
        best = torch.empty(rp.shape, dtype=torch.int64, device=dev)
        for rows in blocks:
            score = neg_distances(w, ncc, rows) if hard_from_final or q is None else q[rows]
            best[rows] = best_candidate(score)
        seed_of_slot = torch.gather(cand, 1, best)                      # (R, n)
        labels = torch.empty(P + 1, dtype=torch.int64, device=dev)
        labels[rp.reshape(-1)] = seed_of_slot.reshape(-1)
        labels = labels[:P]
    if q is None:
        q = torch.zeros((rp.shape[0], N_CANDIDATES, rp.shape[1]), dtype=dt, device=dev)
    return SoftClustering(labels=labels, q=q, centroids_app=c_app, centroids_pos=c_pos)


def best_candidate(score: torch.Tensor) -> torch.Tensor:
    """The index of each pixel's best candidate seed: ``score.argmax(1)`` as a running maximum
    over the (9) candidates, far faster on CPU than an argmax along a short, strided dimension.

    Parameters
    ----------
    score:
        (R, C, n) the score of each of a row's C candidates for its n pixels (higher is
        nearer).

    Returns
    -------
    torch.Tensor
        (R, n) int64, on the score's device; a tie goes to the first of the candidates.
    """
    best_val = score[:, 0].clone()
    best = torch.zeros(best_val.shape, dtype=torch.int64, device=score.device)
    for j in range(1, score.shape[1]):
        better = score[:, j] > best_val
        best_val = torch.where(better, score[:, j], best_val)
        best.masked_fill_(better, j)
    return best
