"""Pure-PyTorch RNN-T loss: log-space forward-backward over the lattice, vectorised along anti-diagonals.

The lattice of lane ``b`` has nodes ``(t, u)``, ``0 <= t < T_b``, ``0 <= u <= U_b``.  From each node two arcs
leave: blank ``blank[b, t, u]`` to ``(t + 1, u)`` and label ``label[b, t, u]`` (the log-prob of the next token
``y_u``) to ``(t, u + 1)``; the path ends with the blank leaving ``(T_b - 1, U_b)``.  All nodes with the
same ``d = t + u`` depend only on diagonal ``d - 1``, so one tensor op per diagonal updates every lane and
every ``u`` at once (``T + U`` steps instead of ``T * U``).

The *modified* topology (k2's ``rnnt_type="modified"``) emits at most one symbol per frame: the label arc of
``(t, u)`` goes to ``(t + 1, u + 1)``, and a path is one arc per frame from ``(0, 0)`` to ``(T_b, U_b)``.  Its
nodes of frame ``t + 1`` depend only on frame ``t``, so the recursion runs over frames (``T`` steps).  A model
trained with it cannot put many symbols on one frame, and greedy decoding with one symbol per frame follows
its training lattice exactly (the standard topology leaves a memorising model free to emit a whole segment
anywhere, which greedy decoding does not reproduce).

Work happens in *skewed* coordinates ``[B, d, u]`` (``t = d - u``).  The gradient is not autograd through
the recursion but the arc posteriors (occupation probabilities) from ``alpha`` and ``beta``: ``d nll / d arc
= -P(arc is on the path)``, which the pruned loss also uses to choose its symbol ranges.

Works on any arc scores, so the full joiner (:func:`rnnt_loss_torch`), k2's simple joiner and the pruned
lattice share it.  ``-inf`` arcs are allowed (pruned away).  Every lane needs ``T_b >= 1``.
"""

from __future__ import annotations

import torch

NEG_INF = float("-inf")


def _skew(x: torch.Tensor, diagonals: int) -> torch.Tensor:
    """``x[B, T, W] -> [B, D, W]`` with ``out[b, d, u] = x[b, d - u, u]`` (``-inf`` where ``d - u`` is off the grid)."""
    batch, frames, width = x.shape
    t = torch.arange(diagonals, device=x.device)[:, None] - torch.arange(width, device=x.device)[None, :]
    on_grid = (t >= 0) & (t < frames)
    out = x.gather(1, t.clamp(0, frames - 1)[None].expand(batch, diagonals, width))
    return out.masked_fill(~on_grid, NEG_INF)


def _unskew(x: torch.Tensor, frames: int) -> torch.Tensor:
    """Inverse of :func:`_skew`: ``[B, D, W] -> [B, T, W]``."""
    batch, _, width = x.shape
    d = torch.arange(frames, device=x.device)[:, None] + torch.arange(width, device=x.device)[None, :]
    return x.gather(1, d[None].expand(batch, frames, width))


TOPOLOGIES = ("standard", "modified")


def lattice_posteriors(blank: torch.Tensor, label: torch.Tensor, enc_lens: torch.Tensor, target_lens: torch.Tensor,
                       topology: str = "standard") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Log-likelihood ``[B]`` and arc posteriors of every lane's lattice in ``topology`` (:data:`TOPOLOGIES`).

    Args:
        blank: ``[B, T, U + 1]`` log-prob of blank at each node.
        label: ``[B, T, U]`` log-prob of the next token ``y_u`` at each node.
        enc_lens, target_lens: ``[B]`` lattice sizes (``1 <= T_b <= T``, ``U_b <= U``).

    Returns:
        ``(loglik [B], blank_posterior [B, T, U + 1], label_posterior [B, T, U])``; lanes without any path
        (``loglik == -inf``) get zero posteriors.  Entries outside a lane's lattice are 0.
    """
    if topology == "standard":
        return _standard_posteriors(blank, label, enc_lens, target_lens)
    if topology == "modified":
        return _modified_posteriors(blank, label, enc_lens, target_lens)
    raise ValueError(f"rnnt topology {topology!r} is unknown; choose {' or '.join(TOPOLOGIES)}")


def _posteriors(log_posterior: torch.Tensor, loglik: torch.Tensor) -> torch.Tensor:
    """``exp(log_posterior - loglik)`` per lane; 0 for lanes without a path."""
    feasible = torch.isfinite(loglik)[:, None, None]
    norm = torch.where(feasible, loglik[:, None, None], torch.zeros_like(loglik[:, None, None]))
    return torch.where(feasible, (log_posterior - norm).exp(), torch.zeros_like(log_posterior))


@torch.no_grad()
def _modified_posteriors(blank: torch.Tensor, label: torch.Tensor, enc_lens: torch.Tensor,
                         target_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`lattice_posteriors` of the one-symbol-per-frame topology: recursion over frames."""
    batch, frames, width = blank.shape
    device = blank.device
    t = torch.arange(frames, device=device)[None, :, None]
    u = torch.arange(width, device=device)[None, None, :]
    live = t < enc_lens[:, None, None]  # frames past T_b: a free blank (log 1), no label
    blank = torch.where(live, blank, torch.zeros_like(blank)).masked_fill(u > target_lens[:, None, None], NEG_INF)
    label = torch.where(live[:, :, :1] & (u[:, :, :-1] < target_lens[:, None, None]), label, NEG_INF)

    alpha = blank.new_full((batch, frames + 1, width), NEG_INF)  # alpha[:, t]: before frame t
    alpha[:, 0, 0] = 0.0
    for step in range(frames):
        prev = alpha[:, step]
        cur = prev + blank[:, step]
        cur[:, 1:] = torch.logaddexp(cur[:, 1:], prev[:, :-1] + label[:, step])
        alpha[:, step + 1] = cur
    beta = blank.new_full((batch, frames + 1, width), NEG_INF)  # beta[:, t]: from before frame t to the end
    beta[:, frames] = torch.where(u[0, 0] == target_lens[:, None], 0.0, NEG_INF)
    for step in range(frames - 1, -1, -1):
        nxt = beta[:, step + 1]
        cur = blank[:, step] + nxt
        cur[:, :-1] = torch.logaddexp(cur[:, :-1], label[:, step] + nxt[:, 1:])
        beta[:, step] = cur
    loglik = beta[:, 0, 0]
    blank_post = _posteriors(alpha[:, :-1] + blank + beta[:, 1:], loglik).masked_fill(~live, 0.0)
    label_post = _posteriors(alpha[:, :-1, :-1] + label + beta[:, 1:, 1:], loglik)
    return loglik, blank_post, label_post


@torch.no_grad()
def _standard_posteriors(blank: torch.Tensor, label: torch.Tensor, enc_lens: torch.Tensor,
                         target_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`lattice_posteriors` of the standard (Graves) topology: recursion over anti-diagonals."""
    batch, frames, width = blank.shape
    diagonals = frames + width - 1
    device = blank.device
    label = torch.cat([label, label.new_full((batch, frames, 1), NEG_INF)], dim=2)  # no label leaves u = U
    blank_s, label_s = _skew(blank, diagonals), _skew(label, diagonals)

    d = torch.arange(diagonals, device=device)[None, :, None]
    u = torch.arange(width, device=device)[None, None, :]
    t = d - u
    inside = (t >= 0) & (t < enc_lens[:, None, None]) & (u <= target_lens[:, None, None])  # [B, D, W]
    terminal = (t == enc_lens[:, None, None] - 1) & (u == target_lens[:, None, None])

    alpha = blank.new_full((batch, diagonals, width), NEG_INF)
    alpha[:, 0, 0] = 0.0
    for step in range(1, diagonals):
        prev = alpha[:, step - 1]
        cur = prev + blank_s[:, step - 1]  # (t - 1, u) --blank--> (t, u)
        cur[:, 1:] = torch.logaddexp(cur[:, 1:], prev[:, :-1] + label_s[:, step - 1, :-1])  # (t, u - 1) --y_u-1-->
        alpha[:, step] = cur.masked_fill(~inside[:, step], NEG_INF)

    beta = blank.new_full((batch, diagonals + 1, width), NEG_INF)  # beta[:, D] is the empty diagonal past the end
    for step in range(diagonals - 1, -1, -1):
        nxt = beta[:, step + 1]
        cur = blank_s[:, step] + nxt
        cur[:, :-1] = torch.logaddexp(cur[:, :-1], label_s[:, step, :-1] + nxt[:, 1:])
        cur = torch.where(terminal[:, step], blank_s[:, step], cur)
        beta[:, step] = cur.masked_fill(~inside[:, step], NEG_INF)

    loglik = beta[:, 0, 0]
    after_blank = torch.where(terminal, torch.zeros_like(blank_s), beta[:, 1:])
    after_label = torch.cat([beta[:, 1:, 1:], beta.new_full((batch, diagonals, 1), NEG_INF)], dim=2)
    blank_post = _posteriors(alpha + blank_s + after_blank, loglik)
    label_post = _posteriors(alpha + label_s + after_label, loglik)
    return loglik, _unskew(blank_post, frames), _unskew(label_post, frames)[:, :, :-1]


class _LatticeNLL(torch.autograd.Function):
    """``(nll [B], blank_posterior, label_posterior)``; only ``nll`` is differentiable."""

    @staticmethod
    def forward(ctx, blank, label, enc_lens, target_lens, topology):  # type: ignore[override]
        loglik, blank_post, label_post = lattice_posteriors(blank, label, enc_lens, target_lens, topology)
        ctx.save_for_backward(blank_post, label_post)
        ctx.mark_non_differentiable(blank_post, label_post)
        return -loglik, blank_post, label_post

    @staticmethod
    def backward(ctx, grad, _blank_grad, _label_grad):  # type: ignore[override]
        blank_post, label_post = ctx.saved_tensors
        scale = grad[:, None, None]
        return -blank_post * scale, -label_post * scale, None, None, None


def lattice_nll_and_posteriors(blank: torch.Tensor, label: torch.Tensor, enc_lens: torch.Tensor,
                               target_lens: torch.Tensor, topology: str = "standard"
                               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-lane NLL ``[B]`` (``+inf`` where no path exists, differentiable in both arcs) and the arc posteriors
    (``[B, T, U + 1]`` blank, ``[B, T, U]`` label; constants)."""
    return _LatticeNLL.apply(blank, label, enc_lens, target_lens, topology)


def lattice_nll(blank: torch.Tensor, label: torch.Tensor, enc_lens: torch.Tensor, target_lens: torch.Tensor,
                topology: str = "standard") -> torch.Tensor:
    """Per-lane NLL ``[B]`` of the lattice (see :func:`lattice_posteriors` for the shapes)."""
    return lattice_nll_and_posteriors(blank, label, enc_lens, target_lens, topology)[0]


def at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """``x`` as float32 when it is bf16/fp16 (the lattice sums hundreds of log-probs: they need the precision)."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def log_softmax_fp32(logits: torch.Tensor) -> torch.Tensor:
    """``log_softmax`` over the last axis in at least float32."""
    return at_least_fp32(logits).log_softmax(dim=-1)


def node_log_probs(logits: torch.Tensor, targets: torch.Tensor, blank_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Full joiner ``logits [B, T, U + 1, V]`` -> ``(blank [B, T, U + 1], label [B, T, U])`` log-probs."""
    log_probs = log_softmax_fp32(logits)
    batch, frames, width, _ = log_probs.shape
    index = targets[:, None, :, None].expand(batch, frames, width - 1, 1)
    return log_probs[..., blank_id], log_probs[:, :, :-1].gather(3, index)[..., 0]


def rnnt_loss_torch(logits: torch.Tensor, targets: torch.Tensor, enc_lens: torch.Tensor, target_lens: torch.Tensor,
                    blank_id: int, topology: str = "standard") -> torch.Tensor:
    """RNN-T NLL ``[B]`` from joiner ``logits [B, T, U + 1, V]`` (any device, any float dtype)."""
    blank, label = node_log_probs(logits, targets, blank_id)
    return lattice_nll(blank, label, enc_lens, target_lens, topology)
