"""Pieces shared by the chunkwise-parallel forms of RWKV-6 and RWKV-7.

Dimension legend: ``B`` lanes, ``T`` frames, ``H`` heads, ``K`` key size, ``V`` value size, ``N`` chunks,
``L`` frames per chunk.  Sequences are laid out ``[B, T, H, K]`` (as in flash-linear-attention) and the
carried matrix state is ``[B, H, K, V]``.

Decays are log decays ``log_w <= 0``.  Every decay factor used here is ``exp`` of a sum of log decays over
a span of frames that ends no later than it starts reading (frame ``s`` to frame ``t >= s``), formed in log
space before exponentiating: no factor ever exceeds 1 and nothing overflows, however strong the decay.
"""

from __future__ import annotations

import torch


def to_chunks(x: torch.Tensor, chunk_len: int) -> torch.Tensor:
    """``[B, T, H, X] -> [B, H, N, L, X]``, zero-padding ``T`` up to ``N * L``.

    Zero padding is neutral for every input: a log decay of 0 keeps the state, zero keys/values add nothing.
    """
    B, T, H, X = x.shape
    n_chunks = -(-T // chunk_len)
    x = torch.nn.functional.pad(x, (0, 0, 0, 0, 0, n_chunks * chunk_len - T))
    return x.reshape(B, n_chunks, chunk_len, H, X).permute(0, 3, 1, 2, 4)


def from_chunks(x: torch.Tensor, length: int) -> torch.Tensor:
    """``[B, H, N, L, V] -> [B, T, H, V]`` keeping the first ``length`` frames."""
    B, H, N, L, V = x.shape
    return x.permute(0, 2, 3, 1, 4).reshape(B, N * L, H, V)[:, :length]


def pair_log_decays(log_w: torch.Tensor) -> torch.Tensor:
    """``P[t, s] = log_w[s+1] + ... + log_w[t]`` (``0`` for ``t <= s``): ``[..., L, K] -> [..., L, L, K]``.

    Summed term by term rather than as ``g_t - g_s``: with strong decays the cumulative sums grow large and
    their difference would lose the float32 digits that matter.
    """
    L = log_w.shape[-2]
    after = torch.ones(L, L, dtype=torch.bool, device=log_w.device).tril(-1)   # [j, s]: j > s
    terms = torch.where(after[:, :, None], log_w[..., :, None, :], log_w.new_zeros(()))
    return terms.cumsum(dim=-3)


def pair_decays(pair_log: torch.Tensor, *, strict: bool) -> torch.Tensor:
    """Decay factors ``[..., L, L, K]`` from :func:`pair_log_decays`, 0 outside the causal part.

    ``strict``: from frame ``s`` to frame ``t - 1`` for ``s < t`` (what a frame reads before its own update);
    otherwise from ``s`` to ``t`` for ``s <= t``.  Masking happens in log space (``-inf``).
    """
    L = pair_log.shape[-3]
    if strict:
        pair_log = torch.cat([torch.zeros_like(pair_log[..., :1, :, :]), pair_log[..., :-1, :, :]], dim=-3)
    causal = torch.ones(L, L, dtype=torch.bool, device=pair_log.device).tril(-1 if strict else 0)
    return torch.where(causal[:, :, None], pair_log, pair_log.new_tensor(float("-inf"))).exp()


def pair_scores(query: torch.Tensor, key: torch.Tensor, decays: torch.Tensor) -> torch.Tensor:
    """``A[t, s] = sum_k query[t, k] * key[s, k] * decays[t, s, k]``: ``[..., L, K] x2, [..., L, L, K] -> [..., L, L]``."""
    return torch.einsum("...tk,...sk,...tsk->...ts", query, key, decays)


def carry_state(
    queries: torch.Tensor,
    transitions: torch.Tensor,
    inputs: torch.Tensor,
    intra: torch.Tensor,
    state: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The only sequential part: pass the matrix state from chunk to chunk.

    With ``S_n`` the state entering chunk ``n`` (``[B, H, K, V]``)::

        out_n   = intra_n + queries_n @ S_n            queries [B,H,N,L,K], intra [B,H,N,L,V]
        S_{n+1} = transitions_n @ S_n + inputs_n       transitions [B,H,N,K,K], inputs [B,H,N,K,V]

    Returns ``(out [B, H, N, L, V], final state [B, H, K, V])``.
    """
    outs = []
    for n in range(queries.shape[2]):
        outs.append(intra[:, :, n] + queries[:, :, n] @ state)
        state = transitions[:, :, n] @ state + inputs[:, :, n]
    out = torch.stack(outs, dim=2) if outs else intra
    return out, state


def chunk_decays(log_w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Log decays of ``[B, H, N, L, K]`` chunks: ``(since_start, before_start, pairs, to_end)``.

    ``since_start[t] = log_w[0] + ... + log_w[t]`` (from the chunk's entering state through frame ``t``),
    ``before_start[t]`` the same through ``t - 1``, ``pairs`` from :func:`pair_log_decays`, and
    ``to_end[s] = log_w[s+1] + ... + log_w[L-1]`` (``[B, H, N, L, K]``).  The whole-chunk decay is
    ``since_start[..., -1, :]``.
    """
    since_start = log_w.cumsum(dim=-2)
    before_start = torch.cat([torch.zeros_like(log_w[..., :1, :]), since_start[..., :-1, :]], dim=-2)
    pairs = pair_log_decays(log_w)
    return since_start, before_start, pairs, pairs[..., -1, :, :]
