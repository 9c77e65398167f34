"""RWKV-7 (Goose) linear attention: the generalized delta rule with a diagonal-plus-rank-one transition.

Per head, with row vectors ``r_t, k_t, a_t, b_t, w_t`` (``K``), ``v_t`` (``V``) and the state ``S``
(``K x V``; the transpose of the paper's ``V x K`` layout)::

    S_t   = (diag(w_t) + b_t^T a_t) S_{t-1} + k_t^T v_t    w_t = exp(log_w_t), log_w_t <= 0
    out_t = r_t S_t                                          (the state *after* frame t)

In RWKV-7, ``a = -kappa_hat`` (the normalised removal key) and ``b = kappa_hat * in-context learning rate``.

:func:`recurrent` is the frame-by-frame reference.  :func:`chunkwise` is exact and parallel inside each
chunk through the WY / UT representation used by flash-linear-attention's ``chunk_dplr`` kernels: write
``u_t = a_t S_{t-1}`` (``V``); then ``S_t = diag(w_t) S_{t-1} + b_t^T u_t + k_t^T v_t`` is a plain diagonal
decay recurrence with two rank-one inputs, and the ``u_t`` of a chunk solve one unit lower-triangular
system ``(I - A_ab) U = A_ak V + (a * decay) S_0``, through the inverse of ``I - A_ab`` (one batched solve
against the identity per call, then matrix products).

Shapes: ``r, k, a, b, log_w [B, T, H, K]``, ``v [B, T, H, V]``, ``state [B, H, K, V]``; both functions return
``(out [B, T, H, V], state [B, H, K, V])``, computing in the state's dtype, ``out`` in ``v``'s dtype.
"""

from __future__ import annotations

import torch

from .chunking import carry_state, chunk_decays, from_chunks, to_chunks


def recurrent(r, k, v, log_w, a, b, state):
    """Step-by-step reference: ``T`` steps of the recurrence above."""
    dtype = state.dtype
    r, k, v, w, a, b = (x.to(dtype) for x in (r, k, v, log_w.exp(), a, b))
    outs = []
    for t in range(r.shape[1]):
        removed = torch.einsum("bhk,bhkv->bhv", a[:, t], state)          # u_t = a_t S_{t-1}
        state = (w[:, t, :, :, None] * state + b[:, t, :, :, None] * removed[:, :, None, :]
                 + k[:, t, :, :, None] * v[:, t, :, None, :])
        outs.append(torch.einsum("bhk,bhkv->bhv", r[:, t], state))
    out = torch.stack(outs, dim=1) if outs else v.new_zeros(v.shape)
    return out.to(v.dtype), state


def unit_lower_inverse(strict_lower: torch.Tensor) -> torch.Tensor:
    """``(I - A)^-1`` for strictly lower-triangular ``A [..., L, L]``, row-major.

    One batched triangular solve against the identity.  The solve is backward stable; the cheaper product
    ``(I + A)(I + A^2)(I + A^4)...`` is not: with every ``A[t, s]`` near -1 (consecutive removal keys alike, a
    full in-context learning rate) its powers hold binomial coefficients of up to ``C(L-1, L/2)`` that cancel
    to an inverse of entries <= 1, losing about four float32 digits at ``L = 16``.
    """
    L = strict_lower.shape[-1]
    eye = torch.eye(L, dtype=strict_lower.dtype, device=strict_lower.device)
    return torch.linalg.solve_triangular(
        eye - strict_lower, eye.expand_as(strict_lower), upper=False, unitriangular=True).contiguous()


def chunkwise(r, k, v, log_w, a, b, state, chunk_len: int = 32):
    """Chunkwise-parallel (WY / UT) form: equal to :func:`recurrent` up to rounding."""
    T, out_dtype, dtype = r.shape[1], v.dtype, state.dtype
    r, v, log_w, a = (to_chunks(x.to(dtype), chunk_len) for x in (r, v, log_w, a))      # [B, H, N, L, *]
    k, b = (to_chunks(x.to(dtype), chunk_len, key_major=True) for x in (k, b))           # [B, H, N, K, L]
    decays = chunk_decays(log_w)

    # ---- every intra-chunk score at once: a_t (strict) and r_t against b_s and k_s
    ((a_b, a_k), (r_b, r_k)), (a_read, r_read) = decays.score_grid([(a, True), (r, False)], [b, k])  # [.., L, L]

    # ---- u_t = a_t S_{t-1} for the whole chunk: U = (I - A_ab)^-1 (A_ak V + a_read S_0), kept as two maps,
    # one applied to the chunk's values and one per entering state.  Products are folded so that the [L, L]
    # maps multiply V and the keys once: fewer and smaller batched products than forming U's parts first.
    inverse = unit_lower_inverse(a_b.to(dtype))  # bf16 autocast makes a_b bf16; LAPACK's solve needs fp32+
    from_inputs, u_per_state = inverse @ a_k, inverse @ a_read       # U = from_inputs @ V + u_per_state @ S_0
    b_to_end, k_to_end = decays.keys_to_end(b), decays.keys_to_end(k)                    # [B, H, N, K, L]

    # ---- outputs: r_t S_t = (r_t * decay) S_0 + sum_{s<=t} (r_t.b_s) u_s + (r_t.k_s) v_s
    intra = (r_b @ from_inputs + r_k) @ v
    queries = r_read + r_b @ u_per_state

    # ---- state entering the next chunk: S' = (diag(decay) + B^T u_per_state) S + inputs
    inputs, transitions = (b_to_end @ from_inputs + k_to_end) @ v, b_to_end @ u_per_state
    out, state = carry_state(queries, decays.total(), transitions, inputs, intra, state)
    return from_chunks(out, T).to(out_dtype), state
