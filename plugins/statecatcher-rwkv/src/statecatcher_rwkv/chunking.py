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


def causal_pair_log(pair_log: torch.Tensor, *, strict: bool) -> torch.Tensor:
    """Restrict :func:`pair_log_decays` to the causal part, ``-inf`` elsewhere: ``[..., L, L, K]``.

    ``strict``: the span ``s+1 .. t-1`` for ``s < t`` (what frame ``t`` reads before its own update);
    otherwise ``s+1 .. t`` for ``s <= t``.
    """
    L = pair_log.shape[-3]
    if strict:
        pair_log = torch.cat([torch.zeros_like(pair_log[..., :1, :, :]), pair_log[..., :-1, :, :]], dim=-3)
    causal = torch.ones(L, L, dtype=torch.bool, device=pair_log.device).tril(-1 if strict else 0)
    return torch.where(causal[:, :, None], pair_log, pair_log.new_tensor(float("-inf")))


def exclusive(cumulative: torch.Tensor) -> torch.Tensor:
    """Shift a cumulative sum over frames (axis -2) one frame later, 0 in front: "through ``t - 1``"."""
    return torch.cat([torch.zeros_like(cumulative[..., :1, :]), cumulative[..., :-1, :]], dim=-2)


def span_to_end(log_w: torch.Tensor) -> torch.Tensor:
    """``log_w[s+1] + ... + log_w[-1]`` for every frame ``s`` (axis -2)."""
    through_end = log_w.flip(-2).cumsum(-2).flip(-2)
    return torch.cat([through_end[..., 1:, :], torch.zeros_like(log_w[..., :1, :])], dim=-2)


class ChunkDecays:
    """Every decay factor the chunk forms need, for chunks ``log_w [B, H, N, L, K]``.

    Inter-chunk factors (``[B, H, N, L, K]`` log decays): ``since_start`` (entering state through frame
    ``t``), ``before_start`` (through ``t - 1``) and ``to_end`` (after frame ``s`` to the chunk's end).

    :meth:`scores` gives the decayed intra-chunk products ``A[t, s] = sum_k q_tk k_sk decay(s -> t)_k`` as
    matrix products over sub-chunks of ``sub_len`` frames: a pair in different sub-chunks splits its decay
    at the start of the query's sub-chunk into two factors that are each <= 1; only pairs inside one
    sub-chunk need the per-pair ``[l, l, K]`` decays.
    """

    def __init__(self, log_w: torch.Tensor, sub_len: int = 8):
        L = log_w.shape[-2]
        self.sub_len = sub_len if L % sub_len == 0 else L
        n = L // self.sub_len
        self.since_start = log_w.cumsum(dim=-2)
        self.before_start = exclusive(self.since_start)
        self.to_end = span_to_end(log_w)

        sub = log_w.unflatten(-2, (n, self.sub_len))                                # [..., n, l, K]
        since_sub_start = sub.cumsum(dim=-2)
        self._query_log = {False: since_sub_start, True: exclusive(since_sub_start)}
        self._factors: dict[bool, tuple[torch.Tensor, torch.Tensor]] = {}
        between = causal_pair_log(pair_log_decays(since_sub_start[..., -1, :]), strict=True)  # [.., n, n, K]
        self._key_decay = (span_to_end(sub)[..., None, :, :, :] + between[..., :, :, None, :]).exp()
        self._inside = pair_log_decays(sub)                                          # [..., n, l, l, K]
        self._eye = torch.eye(n, dtype=log_w.dtype, device=log_w.device)

    def scores(self, query: torch.Tensor, key: torch.Tensor, *, strict: bool) -> torch.Tensor:
        """``[..., L, K] x2 -> [..., L, L]``, nonzero for ``s < t`` (``strict``) or ``s <= t``."""
        n, sub = self._eye.shape[0], self.sub_len
        query, key = query.unflatten(-2, (n, sub)), key.unflatten(-2, (n, sub))
        query_decay, inside_decay = self._strict_factors(strict)
        decayed_keys = (key[..., None, :, :, :] * self._key_decay).flatten(-3, -2)  # [..., n(i), n*l, K]
        across = ((query * query_decay) @ decayed_keys.transpose(-1, -2)).unflatten(-1, (n, sub))  # [n,l,n,l]
        inside = torch.einsum("...tk,...sk,...tsk->...ts", query, key, inside_decay)  # [..., n, l, l]
        scores = across + inside[..., :, :, None, :] * self._eye[:, None, :, None]
        return scores.flatten(-4, -3).flatten(-2, -1)

    def _strict_factors(self, strict: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Query-side decays ``[..., n, l, K]`` and in-sub-chunk pair decays ``[..., n, l, l, K]``, made once."""
        if strict not in self._factors:
            self._factors[strict] = (self._query_log[strict].exp(),
                                     causal_pair_log(self._inside, strict=strict).exp())
        return self._factors[strict]


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
