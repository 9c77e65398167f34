"""The RNN-T joiner: ``logits = out(tanh(enc_proj(enc) + pred_proj(pred)))``.

The projections are applied once per frame and once per predictor row, the sum over the ``[T, U + 1]`` grid
(or a pruned window of it) afterwards: :meth:`Joiner.join` takes already projected, broadcastable inputs.
"""

from __future__ import annotations

import torch
from torch import nn


class Joiner(nn.Module):
    def __init__(self, enc_dim: int, pred_dim: int, joiner_dim: int, vocab_size: int):
        super().__init__()
        self.enc_proj = nn.Linear(enc_dim, joiner_dim)
        self.pred_proj = nn.Linear(pred_dim, joiner_dim)
        self.out = nn.Linear(joiner_dim, vocab_size)

    def join(self, enc: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
        """Projected ``enc [..., J]`` + projected ``pred [..., J]`` (broadcast) -> logits ``[..., V]``."""
        return self.out(torch.tanh(enc + pred))

    def forward(self, enc_out: torch.Tensor, pred_out: torch.Tensor) -> torch.Tensor:
        """Full lattice: ``enc_out [B, T, D]``, ``pred_out [B, U + 1, P]`` -> logits ``[B, T, U + 1, V]``."""
        return self.join(self.enc_proj(enc_out)[:, :, None], self.pred_proj(pred_out)[:, None])
