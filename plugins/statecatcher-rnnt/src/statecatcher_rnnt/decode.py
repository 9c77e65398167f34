"""Greedy streaming RNN-T decoding: frame by frame, up to ``max_symbols`` tokens per frame.

Everything that crosses a chunk boundary is the predictor's state, so decoding a recording in chunks (with
the state carried) gives the same tokens at the same frames as decoding it in one call.
"""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def greedy_decode(predictor: nn.Module, joiner: nn.Module, enc_out: torch.Tensor, enc_lens: torch.Tensor, state,
                  *, blank_id: int, max_symbols: int) -> tuple[list[list[int]], list[list[int]], object]:
    """Decode ``enc_out [B, T', D]`` -> ``(tokens, token_frames, new_state)``; frames index this chunk.

    Frames ``t >= enc_lens[b]`` emit nothing and leave lane ``b``'s state alone.  At each frame a lane emits
    the argmax token while it is not blank, at most ``max_symbols`` times, feeding each token to the predictor.
    """
    batch, frames, _ = enc_out.shape
    tokens: list[list[int]] = [[] for _ in range(batch)]
    token_frames: list[list[int]] = [[] for _ in range(batch)]
    enc = joiner.enc_proj(enc_out)
    pred = joiner.pred_proj(predictor.step(state))
    for t in range(frames):
        active = t < enc_lens
        for _ in range(max_symbols):
            best = joiner.join(enc[:, t], pred).argmax(dim=-1)
            emit = active & (best != blank_id)
            if not bool(emit.any()):
                break
            state = predictor.advance(state, best, emit)
            pred = torch.where(emit[:, None], joiner.pred_proj(predictor.step(state)), pred)
            for b in emit.nonzero()[:, 0].tolist():
                tokens[b].append(int(best[b]))
                token_frames[b].append(t)
            active = emit
    return tokens, token_frames, state
