"""Pruned RNN-T (k2's ``rnnt_loss_smoothed`` + ``get_rnnt_prune_ranges`` + ``rnnt_loss_pruned``, in PyTorch).

1. A *simple joiner* adds per-frame and per-row vocabulary logits, ``am [B, T, V]`` + ``lm [B, U + 1, V]``.
   Its lattice is normalised without ever forming ``[B, T, U + 1, V]`` (a matrix product of exponentials),
   smoothed with LM-only and AM-only terms as in k2, and its loss (the *simple loss*) is trained too.
2. The simple lattice's arc posteriors say where the alignment mass lies; for every frame we keep the window
   of ``prune_range`` symbol positions holding the most of it (monotone, no symbol skipped, reaching ``U_b``
   at the last frame).
3. The full joiner runs only inside those windows: ``[B, T, prune_range, V]`` instead of ``[B, T, U + 1, V]``;
   the arcs outside are ``-inf`` and the same anti-diagonal recursion gives the *pruned loss*.

Reference: Kuang et al., "Pruned RNN-T for fast, memory-efficient ASR training" (2022), section 3.2.
"""

from __future__ import annotations

import torch
from torch import nn

from .backends.torch_lattice import (
    NEG_INF,
    at_least_fp32,
    lattice_nll,
    lattice_nll_and_posteriors,
    log_softmax_fp32,
)


class SimpleJoiner(nn.Module):
    """Linear vocabulary logits of the encoder frames (``am``) and of the predictor rows (``lm``)."""

    def __init__(self, enc_dim: int, pred_dim: int, vocab_size: int):
        super().__init__()
        self.am = nn.Linear(enc_dim, vocab_size)
        self.lm = nn.Linear(pred_dim, vocab_size)


def _gather_tokens(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``scores [B, T, V]``, ``targets [B, U]`` -> ``scores[b, t, targets[b, u]]`` as ``[B, T, U]``."""
    return scores.gather(2, targets[:, None, :].expand(-1, scores.shape[1], -1))


def simple_lattice(am: torch.Tensor, lm: torch.Tensor, targets: torch.Tensor, *, blank_id: int, lm_scale: float,
                   am_scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Arc log-probs of the simple joiner: ``(blank [B, T, U + 1], label [B, T, U])``.

    ``log p(v | t, u) = am[t, v] + lm[u, v] - log sum_v' exp(am[t, v'] + lm[u, v'])``, then mixed with
    ``lm_scale`` of ``log_softmax(lm)`` and ``am_scale`` of ``log_softmax(am)`` (k2's smoothing).  Computed in
    at least float32, outside any autocast (the normalising matrix product needs the precision).
    """
    with torch.autocast(am.device.type, enabled=False):
        return _simple_lattice(at_least_fp32(am), at_least_fp32(lm), targets, blank_id=blank_id, lm_scale=lm_scale,
                               am_scale=am_scale)


def _simple_lattice(am, lm, targets, *, blank_id, lm_scale, am_scale):
    am_max = am.detach().amax(dim=2, keepdim=True)
    lm_max = lm.detach().amax(dim=2, keepdim=True)
    mass = torch.matmul((am - am_max).exp(), (lm - lm_max).exp().transpose(1, 2))  # [B, T, U + 1]
    norm = mass.clamp_min(torch.finfo(mass.dtype).tiny).log() + am_max + lm_max.transpose(1, 2)
    lm_tokens = lm[:, :-1].gather(2, targets[..., None])[..., 0]  # [B, U]
    blank = am[..., blank_id, None] + lm[..., blank_id][:, None] - norm
    label = _gather_tokens(am, targets) + lm_tokens[:, None] - norm[:, :, :-1]
    if lm_scale or am_scale:
        am_lp, lm_lp = am.log_softmax(dim=2), lm.log_softmax(dim=2)
        joint = 1.0 - lm_scale - am_scale
        blank = joint * blank + lm_scale * lm_lp[..., blank_id][:, None] + am_scale * am_lp[..., blank_id, None]
        label = (joint * label + lm_scale * lm_lp[:, :-1].gather(2, targets[..., None])[..., 0][:, None]
                 + am_scale * _gather_tokens(am_lp, targets))
    return blank, label


def prune_ranges(blank_post: torch.Tensor, label_post: torch.Tensor, enc_lens: torch.Tensor,
                 target_lens: torch.Tensor, prune_range: int) -> torch.Tensor:
    """Symbol positions kept per frame, ``[B, T, R]`` with ``R = min(prune_range, U + 1)`` (k2's method).

    For frame ``t`` the window ``[s, s + R)`` maximises the blank posterior mass inside it minus the label
    posterior entering it from ``s - 1``; then the starts are made non-decreasing, start at 0, grow by less
    than ``R`` per frame, and end at ``U_b - R + 1`` on the lane's last frame.
    """
    batch, frames, width = blank_post.shape
    window = min(prune_range, width)
    cumulative = torch.cat([blank_post.new_zeros(batch, frames, 1), blank_post.cumsum(dim=2)], dim=2)
    inside = cumulative[:, :, window:] - cumulative[:, :, : width - window + 1]  # [B, T, W - R + 1]
    entering = torch.cat([label_post.new_zeros(batch, frames, 1), label_post], dim=2)[:, :, : width - window + 1]
    start = (inside - entering).argmax(dim=2)
    last = torch.arange(frames, device=start.device)[None, :] >= enc_lens[:, None] - 1
    start = torch.where(last, (target_lens[:, None] - window + 1).clamp(min=0), start)
    start = _adjust_starts(start, window)
    return start[..., None] + torch.arange(window, device=start.device)


def _suffix_min(x: torch.Tensor) -> torch.Tensor:
    return x.flip(-1).cummin(dim=-1).values.flip(-1)


def _adjust_starts(start: torch.Tensor, window: int) -> torch.Tensor:
    """Make ``start [B, T]`` non-decreasing, 0 at frame 0, with steps ``< window`` (k2's lower-bound trick)."""
    slope = (window - 1) * torch.arange(start.shape[1], device=start.device)
    start = _suffix_min(start)
    return slope - _suffix_min(slope - start).clamp(min=0)


def pruned_lattice(joiner: nn.Module, enc_out: torch.Tensor, pred_out: torch.Tensor, targets: torch.Tensor,
                   ranges: torch.Tensor, *, blank_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Full-joiner arc log-probs inside ``ranges [B, T, R]``, ``-inf`` outside: ``(blank [B, T, U + 1], label
    [B, T, U])``.  Only a ``[B, T, R, V]`` logits tensor is formed."""
    batch, frames, window = ranges.shape
    width = pred_out.shape[1]
    pred = joiner.pred_proj(pred_out)  # [B, U + 1, J]
    pred_kept = pred.gather(1, ranges.reshape(batch, frames * window, 1).expand(-1, -1, pred.shape[2]))
    logits = joiner.join(joiner.enc_proj(enc_out)[:, :, None], pred_kept.view(batch, frames, window, -1))
    log_probs = log_softmax_fp32(logits)  # [B, T, R, V]
    next_token = torch.cat([targets, targets.new_full((batch, 1), blank_id)], dim=1)  # no label leaves u = U
    kept_tokens = next_token.gather(1, ranges.reshape(batch, -1)).view(batch, frames, window)
    label_kept = log_probs.gather(3, kept_tokens[..., None])[..., 0].masked_fill(ranges == width - 1, NEG_INF)
    empty = log_probs.new_full((batch, frames, width), NEG_INF)
    blank = empty.scatter(2, ranges, log_probs[..., blank_id])
    label = empty.scatter(2, ranges, label_kept)[:, :, :-1]
    return blank, label


def pruned_rnnt_loss(joiner: nn.Module, simple_joiner: SimpleJoiner, enc_out: torch.Tensor, pred_out: torch.Tensor,
                     targets: torch.Tensor, enc_lens: torch.Tensor, target_lens: torch.Tensor, *, blank_id: int,
                     prune_range: int, lm_scale: float = 0.25, am_scale: float = 0.0, topology: str = "standard"
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(simple_nll [B], pruned_nll [B])`` for ``enc_out [B, T, D]`` and predictor rows ``pred_out [B, U + 1, P]``.

    With ``prune_range >= U + 1`` nothing is pruned and ``pruned_nll`` equals the full RNN-T loss; both
    lattices use ``topology`` (``"standard"`` or ``"modified"``, see :mod:`.backends.torch_lattice`).
    """
    blank, label = simple_lattice(simple_joiner.am(enc_out), simple_joiner.lm(pred_out), targets, blank_id=blank_id,
                                  lm_scale=lm_scale, am_scale=am_scale)
    simple_nll, blank_post, label_post = lattice_nll_and_posteriors(blank, label, enc_lens, target_lens, topology)
    ranges = prune_ranges(blank_post, label_post, enc_lens, target_lens, prune_range)
    blank, label = pruned_lattice(joiner, enc_out, pred_out, targets, ranges, blank_id=blank_id)
    return simple_nll, lattice_nll(blank, label, enc_lens, target_lens, topology)
