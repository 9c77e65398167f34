"""RWKV-6 (Finch) linear attention: diagonal data-dependent decay plus a bonus for the current token.

Per head, with row vectors ``r_t, k_t, w_t`` (``K``), ``v_t`` (``V``) and the state ``S`` (``K x V``)::

    out_t = r_t (S_{t-1} + diag(u) k_t^T v_t)
    S_t   = diag(w_t) S_{t-1} + k_t^T v_t              w_t = exp(log_w_t), log_w_t <= 0

Two formulations with the same signature and the same result: :func:`recurrent` (one frame at a time, the
reference and the streaming path) and :func:`chunkwise` (matrix products inside chunks of ``chunk_len``
frames, the carried state between them).  Shapes: ``r, k, log_w [B, T, H, K]``, ``v [B, T, H, V]``,
``u [H, K]``, ``state [B, H, K, V]``; both return ``(out [B, T, H, V], state [B, H, K, V])``.  The arithmetic
runs in the state's dtype (float32, or float64 for exactness tests); ``out`` comes back in ``v``'s dtype.
"""

from __future__ import annotations

import torch

from .chunking import carry_state, chunk_decays, from_chunks, to_chunks


def recurrent(r, k, v, log_w, u, state):
    """Step-by-step reference: ``T`` steps of the recurrence above."""
    dtype = state.dtype
    r, k, v, w = (x.to(dtype) for x in (r, k, v, log_w.exp()))
    u = u.to(dtype)[None, :, :, None]                                   # [1, H, K, 1]
    outs = []
    for t in range(r.shape[1]):
        kv = k[:, t, :, :, None] * v[:, t, :, None, :]                 # [B, H, K, V]
        outs.append(torch.einsum("bhk,bhkv->bhv", r[:, t], state + u * kv))
        state = w[:, t, :, :, None] * state + kv
    out = torch.stack(outs, dim=1) if outs else v.new_zeros(v.shape)
    return out.to(v.dtype), state


def chunkwise(r, k, v, log_w, u, state, chunk_len: int = 32):
    """Chunkwise-parallel form: equal to :func:`recurrent` up to rounding."""
    T, out_dtype, dtype = r.shape[1], v.dtype, state.dtype
    k_major = to_chunks(k.to(dtype), chunk_len, key_major=True)                        # [B, H, N, K, L]
    r, k, v, log_w = (to_chunks(x.to(dtype), chunk_len) for x in (r, k, v, log_w))  # [B, H, N, L, *]
    decays = chunk_decays(log_w)

    # ---- within a chunk: earlier frames through the decayed pairs, the current frame through the bonus
    scores = decays.scores(r, k_major, strict=True)                      # [B, H, N, L, L]
    bonus = (r * u.to(dtype)[None, :, None, None, :] * k).sum(-1, keepdim=True)
    intra = scores @ v + bonus * v

    # ---- across chunks: read the entering state, decay it, add this chunk's keys and values
    queries = r * decays.entering(strict=True)
    inputs = decays.keys_to_end(k_major) @ v                                     # [B, H, N, K, V]
    out, state = carry_state(queries, decays.total(), None, inputs, intra, state)
    return from_chunks(out, T).to(out_dtype), state
