"""What ``statecatcher export`` traces: the encoder with the xlstm package's multi-head group norms in an equal,
traceable form.

The package's ``MultiHeadLayerNorm`` calls ``F.group_norm(x, num_groups=NH)`` with ``NH`` read from the input's
shape; the TorchScript ONNX exporter needs ``num_groups`` as a constant and stops with "Expected node type
'onnx::Constant' for argument 'num_groups' of node 'group_norm', got 'onnx::Gather'".  The same normalisation
written out (mean and biased variance over each head's ``DH`` channels, then the per-channel affine) traces.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from xlstm.components.ln import MultiHeadLayerNorm


class TraceableMultiHeadLayerNorm(MultiHeadLayerNorm):
    """``MultiHeadLayerNorm`` without ``F.group_norm``: ``[B, NH, S, DH] -> [B, NH, S, DH]``."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        B, NH, S, DH = input.shape
        x = input.transpose(1, 2)                                       # [B, S, NH, DH]
        mean = x.mean(dim=-1, keepdim=True)
        variance = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
        y = ((x - mean) / torch.sqrt(variance + self.eps)).reshape(B, S, NH * DH)
        if self.weight_proxy is not None:
            y = y * self.weight_proxy
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(B, S, NH, DH).transpose(1, 2)


def traceable_copy(encoder: nn.Module) -> nn.Module:
    """A deep copy of ``encoder`` (same weights) whose multi-head group norms are traceable; ``encoder`` is
    left as it is."""
    exported = copy.deepcopy(encoder)
    for module in exported.modules():
        if type(module) is MultiHeadLayerNorm:
            module.__class__ = TraceableMultiHeadLayerNorm
    return exported
