"""Pieces shared by the chunkwise-parallel forms of RWKV-6 and RWKV-7.

Dimension legend: ``B`` lanes, ``T`` frames, ``H`` heads, ``K`` key size, ``V`` value size, ``N`` chunks,
``L`` frames per chunk.  Sequences are laid out ``[B, T, H, K]`` (as in flash-linear-attention) and the
carried matrix state is ``[B, H, K, V]``.

Keys are laid out *key-major*, ``[B, H, N, K, L]`` (:func:`to_chunks` with ``key_major=True``): every
product that reads keys then multiplies plain row-major matrices.  On CPU a batched product of these small
matrices with a transposed (or strided) operand, and an element-wise product of two operands in different
layouts (what autograd makes of a transposed view), each ran 2-7x slower than the same work laid out
row-major, which cost the chunk forms more than their matrix arithmetic.

Decays are log decays ``log_w <= 0``.  Every decay factor used here is ``exp`` of a sum of log decays over
a span of frames that ends no later than it starts reading (frame ``s`` to frame ``t >= s``), formed in log
space before exponentiating: no factor ever exceeds 1 and nothing overflows, however strong the decay.
"""

from __future__ import annotations

import torch


def to_chunks(x: torch.Tensor, chunk_len: int, *, key_major: bool = False) -> torch.Tensor:
    """``[B, T, H, X] -> [B, H, N, L, X]`` (``key_major``: ``[B, H, N, X, L]``), zero-padding ``T`` up to
    ``N * L``; contiguous in the returned layout.

    Zero padding is neutral for every input: a log decay of 0 keeps the state, zero keys/values add nothing.
    """
    B, T, H, X = x.shape
    n_chunks = -(-T // chunk_len)
    x = torch.nn.functional.pad(x, (0, 0, 0, 0, 0, n_chunks * chunk_len - T))
    order = (0, 3, 1, 4, 2) if key_major else (0, 3, 1, 2, 4)
    return x.reshape(B, n_chunks, chunk_len, H, X).permute(*order).contiguous()


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

    :meth:`scores` gives the decayed intra-chunk products ``A[t, s] = sum_k q_tk k_sk decay(s -> t)_k`` (keys
    key-major, ``[..., K, L]``) as
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

    def entering(self, *, strict: bool) -> torch.Tensor:
        """Decay of the entering state through frame ``t - 1`` (``strict``) or ``t``: ``[..., L, K]``."""
        return (self.before_start if strict else self.since_start).exp()

    def keys_to_end(self, key: torch.Tensor) -> torch.Tensor:
        """Key-major keys ``[..., K, L]`` times their decay after frame ``s`` to the chunk's end: ``[..., K, L]``."""
        return key * self.to_end.exp().transpose(-1, -2)

    def total(self) -> torch.Tensor:
        """Decay across the whole chunk: ``[..., K]``."""
        return self.since_start[..., -1, :].exp()

    def scores(self, query: torch.Tensor, key: torch.Tensor, *, strict: bool) -> torch.Tensor:
        """``query [..., L, K]``, key-major ``key [..., K, L]`` -> ``[..., L, L]``, nonzero for ``s < t``
        (``strict``) or ``s <= t``."""
        n, sub = self._eye.shape[0], self.sub_len
        query, key = query.unflatten(-2, (n, sub)), key.transpose(-1, -2).unflatten(-2, (n, sub))
        query_decay, inside_decay = self._strict_factors(strict)
        decayed_keys = (key[..., None, :, :, :] * self._key_decay).flatten(-3, -2)  # [..., n(i), n*l, K]
        across = ((query * query_decay) @ decayed_keys.transpose(-1, -2)).unflatten(-1, (n, sub))  # [n,l,n,l]
        inside = torch.einsum("...tk,...sk,...tsk->...ts", query, key, inside_decay)  # [..., n, l, l]
        scores = across + inside[..., :, :, None, :] * self._eye[:, None, :, None]
        return scores.flatten(-4, -3).flatten(-2, -1)

    def score_grid(self, queries: list[tuple[torch.Tensor, bool]], keys: list[torch.Tensor]) -> tuple[list, list]:
        """:meth:`scores` of every ``(query, strict)`` with every key-major key, ``rows[i][j] [..., L, L]``, and
        every query times :meth:`entering` (its read of the entering state), ``[..., L, K]``."""
        rows = [[self.scores(query, key, strict=strict) for key in keys] for query, strict in queries]
        return rows, [query * self.entering(strict=strict) for query, strict in queries]

    def _strict_factors(self, strict: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Query-side decays ``[..., n, l, K]`` and in-sub-chunk pair decays ``[..., n, l, l, K]``, made once."""
        if strict not in self._factors:
            self._factors[strict] = (self._query_log[strict].exp(),
                                     causal_pair_log(self._inside, strict=strict).exp())
        return self._factors[strict]


class FactoredDecays:
    """The same factors as :class:`ChunkDecays` (same methods), through ``exp(g_t) * exp(-g_s)``.

    ``g`` is the cumulative log decay from the chunk's start; a pair's decay ``exp(g_t - g_s)`` splits into
    a query factor and a key factor, so :meth:`scores` is one plain matrix product per chunk, with no
    ``[L, L, K]`` pair tensor.  Exact only while ``exp(-g)`` stays far from overflow and the rounding of
    ``g`` (relative ``|g| * eps``) stays small: :func:`chunk_decays` uses it when the strongest decay of a
    chunk is within :data:`FACTORED_LOG_DECAY_LIMIT` and falls back to :class:`ChunkDecays` otherwise.
    """

    def __init__(self, log_w: torch.Tensor):
        since_start = log_w.cumsum(dim=-2)
        self._entering = {False: since_start.exp(), True: (since_start - log_w).exp()}
        self._inverse = (-since_start).transpose(-1, -2).contiguous().exp()          # key-major [..., K, L]

    def entering(self, *, strict: bool) -> torch.Tensor:
        return self._entering[strict]

    def keys_to_end(self, key: torch.Tensor) -> torch.Tensor:
        return key * (self._inverse * self.total()[..., :, None])

    def total(self) -> torch.Tensor:
        return self._entering[False][..., -1, :]

    def scores(self, query: torch.Tensor, key: torch.Tensor, *, strict: bool) -> torch.Tensor:
        """:meth:`ChunkDecays.scores`."""
        return self.score_grid([(query, strict)], [key])[0][0][0]

    def score_grid(self, queries: list[tuple[torch.Tensor, bool]], keys: list[torch.Tensor]) -> tuple[list, list]:
        """:meth:`ChunkDecays.score_grid`, every score one plain matrix product per chunk.

        One product per (query, key) pair: a single product of the stacked queries and keys did the same
        arithmetic but needed the stacking and the per-block copies (and their backward), which cost more
        than the products they saved (WKV-7 at chunk_len 16: 55-59 against 60-68 ms forward + backward).
        """
        L = keys[0].shape[-1]
        decayed_queries = [query * self._entering[strict] for query, strict in queries]
        scaled_keys = [key * self._inverse for key in keys]                                 # [..., K, L]
        rows = []
        for decayed, (_, strict) in zip(decayed_queries, queries, strict=True):
            above = ~_causal_mask(L, strict, keys[0])
            rows.append([(decayed @ key).masked_fill_(above, 0.0) for key in scaled_keys])
        return rows, decayed_queries


def _causal_mask(L: int, strict: bool, like: torch.Tensor) -> torch.Tensor:
    """``[L, L]`` bool: ``s < t`` (``strict``) or ``s <= t``."""
    return torch.ones(L, L, dtype=torch.bool, device=like.device).tril(-1 if strict else 0)


# The largest |cumulative log decay| inside one chunk for which the factored form is used: exp(-g) stays
# below ~5e8 (float32) and the relative rounding of each factor below ~20 * eps.
FACTORED_LOG_DECAY_LIMIT = {torch.float32: 20.0, torch.float64: 200.0}


def chunk_decays(log_w: torch.Tensor) -> FactoredDecays | ChunkDecays:
    """The decay factors of chunks ``log_w [B, H, N, L, K]``: factored when every chunk's total log decay
    is within :data:`FACTORED_LOG_DECAY_LIMIT` (one reduction decides), the split form otherwise."""
    limit = FACTORED_LOG_DECAY_LIMIT.get(log_w.dtype, 0.0)
    if log_w.numel() and float(log_w.detach().sum(dim=-2).min()) >= -limit:
        return FactoredDecays(log_w)
    return ChunkDecays(log_w)


def carry_state(
    queries: torch.Tensor,
    decay: torch.Tensor,
    transitions: torch.Tensor | None,
    inputs: torch.Tensor,
    intra: torch.Tensor,
    state: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The only sequential part: pass the matrix state from chunk to chunk.

    With ``S_n`` the state entering chunk ``n`` (``[B, H, K, V]``)::

        S_{n+1} = (diag(decay_n) + transitions_n) S_n + inputs_n     decay [B,H,N,K], transitions [B,H,N,K,K]
        out_n   = intra_n + queries_n @ S_n                          queries [B,H,N,L,K], intra [B,H,N,L,V]

    ``transitions`` may be ``None`` (a diagonal transition, RWKV-6); ``inputs [B,H,N,K,V]``.  The loop only
    moves the state; every chunk's read-out is then one batched product.
    Returns ``(out [B, H, N, L, V], final state [B, H, K, V])``.
    """
    entering = []
    extra = transitions.unbind(2) if transitions is not None else [None] * decay.shape[2]
    for decay_n, extra_n, inputs_n in zip(decay.unbind(2), extra, inputs.unbind(2), strict=True):
        entering.append(state)
        moved = decay_n[..., None] * state + inputs_n
        state = moved if extra_n is None else moved + extra_n @ state
    if not entering:
        return intra, state
    return intra + queries @ torch.stack(entering, dim=2), state
