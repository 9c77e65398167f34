"""The diagonal first-order linear recurrence both LucyRNN recurrences reduce to, in chunkwise-parallel form.

Per lane and channel (elementwise over ``H``)::

    x_t = exp(g_t) * x_{t-1} + u_t          g_t <= 0: the log decay of frame t

LucyRNN runs it twice per layer: ``s`` with ``(g, u) = (log a, al * kv)``, then ``h`` with
``(log z, (1 - z) * c)``.  Shapes: ``log_decay, inputs [B, T, H]``, ``initial [B, H]`` -> ``(x [B, T, H],
final [B, H])``.  The arithmetic runs in ``initial``'s dtype (float32, or float64 for exactness tests).

Inside a chunk of ``L`` frames entered with ``x_0``, with the cumulative log decay ``G_t = g_1 + ... + g_t``
counted from the chunk's start::

    x_t = exp(G_t) * x_0 + sum_{j <= t} exp(G_t - G_j) * u_j

Every exponent is ``G_t <= 0`` or a difference ``G_t - G_j = g_{j+1} + ... + g_t <= 0`` (``j <= t``), taken in
log space before ``exp``: no factor exceeds 1 and nothing is ever divided by ``exp(G_j)`` (which overflows
for strong decays).  Each difference is summed over its own span of frames (Mamba-2's "segsum") rather than
subtracted from two long prefix sums, so its rounding scales with the span's decay, not with ``|G_j|``:
float32 keeps its digits even at log decays of -20 per frame.  The ``[L, L]`` weights of a chunk then act
on its inputs as one batched product.  Between chunks only the value at each chunk's last frame moves on
(``T / L`` sequential steps of ``[B, L, H]`` elementwise work).
"""

from __future__ import annotations

import torch


def chunkwise_scan(log_decay: torch.Tensor, inputs: torch.Tensor, initial: torch.Tensor,
                   chunk_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Chunkwise-parallel form: equal to ``T`` steps of the recurrence up to rounding."""
    B, T, H = inputs.shape
    if T == 0:
        return inputs.to(initial.dtype), initial
    n_chunks = -(-T // chunk_len)
    pad = (0, 0, 0, n_chunks * chunk_len - T)  # log decay 0 and input 0: the padding frames keep x as it is
    g = torch.nn.functional.pad(log_decay.to(initial.dtype), pad).view(B, n_chunks, chunk_len, H)
    u = torch.nn.functional.pad(inputs.to(initial.dtype), pad).view(B, n_chunks, chunk_len, H)

    # ---- within each chunk, from a zero entering value: x_t = sum_{j <= t} exp(G_t - G_j) u_j
    after = torch.ones(chunk_len, chunk_len, dtype=torch.bool, device=g.device).tril(-1)[:, :, None]  # [i, j]: i > j
    spans = torch.where(after, g[:, :, :, None, :], g.new_zeros(())).cumsum(dim=2)  # G_t - G_j [B, N, L(t), L(j), H]
    causal = torch.ones(chunk_len, chunk_len, dtype=torch.bool, device=g.device).tril()[:, :, None]    # j <= t
    weights = torch.where(causal, spans, spans.new_tensor(float("-inf"))).exp()
    intra = (weights * u[:, :, None, :, :]).sum(dim=3)                              # [B, N, L, H]

    # ---- across chunks: the entering value, decayed to every frame of the chunk
    from_start = g.cumsum(dim=2).exp()                                               # exp(G_t) [B, N, L, H]
    x, outs = initial, []
    for n in range(n_chunks):
        chunk = intra[:, n] + from_start[:, n] * x[:, None]
        outs.append(chunk)
        x = chunk[:, -1]
    return torch.cat(outs, dim=1)[:, :T], x
