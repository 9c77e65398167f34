"""Brute-force RNN-T loss: enumerate every alignment of a tiny lattice (T, U, V of a few each).

The reference that every RNN-T loss backend is tested against, written for clarity, not speed: it is
differentiable through plain autograd (``logsumexp`` over the alignments), so it also gives reference
gradients.

Lattice convention (Graves 2012): at node ``(t, u)`` (frame ``t``, ``u`` tokens emitted so far) the joiner's
log-probabilities ``log_probs[t, u, :]`` either emit blank (move to ``(t + 1, u)``) or emit the next token
``targets[u]`` (move to ``(t, u + 1)``).  An alignment starts at ``(0, 0)`` and ends with the blank leaving
``(T - 1, U)``: it has ``T`` blanks and ``U`` tokens, so there are ``C(T + U - 1, U)`` of them.

In the *modified* topology (one symbol per frame, k2's ``rnnt_type="modified"``) a token also moves to the next
frame, ``(t, u) -> (t + 1, u + 1)``: an alignment is the choice of the ``U`` frames that emit, ``C(T, U)`` of them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from itertools import combinations

import torch


def alignments(num_frames: int, num_tokens: int, topology: str = "standard"
               ) -> Iterator[list[tuple[int, int, bool]]]:
    """Every alignment as its list of moves ``(t, u, emits_token)``."""
    if topology == "modified":
        for token_frames in combinations(range(num_frames), num_tokens):
            emitted = [sum(f < t for f in token_frames) for t in range(num_frames)]
            yield [(t, emitted[t], t in token_frames) for t in range(num_frames)]
        return
    if topology != "standard":
        raise ValueError(f"unknown RNN-T topology {topology!r}; choose 'standard' or 'modified'")
    steps = num_frames + num_tokens
    for token_steps in combinations(range(steps - 1), num_tokens):  # the last move is always a blank
        t = u = 0
        moves = []
        for step in range(steps):
            emits = step in token_steps
            moves.append((t, u, emits))
            u, t = (u + 1, t) if emits else (u, t + 1)
        yield moves


def brute_force_rnnt_nll(log_probs: torch.Tensor, targets: torch.Tensor, blank_id: int = 0,
                         topology: str = "standard") -> torch.Tensor:
    """Negative log-likelihood of ``targets`` ``[U]`` under ``log_probs`` ``[T, U + 1, V]`` (normalised).

    ``T == 0`` gives 0 when ``U == 0`` (nothing to explain) and ``+inf`` otherwise (no alignment exists);
    so does ``T < U`` in the modified topology.
    """
    num_frames, num_tokens = log_probs.shape[0], targets.shape[0]
    if num_frames == 0:
        return log_probs.new_tensor(0.0 if num_tokens == 0 else math.inf)
    scores = []
    for moves in alignments(num_frames, num_tokens, topology):
        path = [log_probs[t, u, int(targets[u]) if emits else blank_id] for t, u, emits in moves]
        scores.append(torch.stack(path).sum())
    if not scores:
        return log_probs.new_tensor(math.inf)
    return -torch.logsumexp(torch.stack(scores), dim=0)


def brute_force_rnnt_loss(logits: torch.Tensor, targets: torch.Tensor, enc_lens: torch.Tensor,
                          target_lens: torch.Tensor, blank_id: int = 0, topology: str = "standard") -> torch.Tensor:
    """Per-lane NLL ``[B]`` from unnormalised joiner ``logits`` ``[B, T, U + 1, V]`` and padded ``targets``.

    Only ``logits[b, :enc_lens[b], :target_lens[b] + 1]`` and ``targets[b, :target_lens[b]]`` are read.
    """
    log_probs = logits.log_softmax(dim=-1)
    losses = []
    for b in range(logits.shape[0]):
        frames, tokens = int(enc_lens[b]), int(target_lens[b])
        losses.append(brute_force_rnnt_nll(log_probs[b, :frames, : tokens + 1], targets[b, :tokens], blank_id,
                                           topology))
    return torch.stack(losses)
