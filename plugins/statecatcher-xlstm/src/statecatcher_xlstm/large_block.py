"""A stateful forward over the ``xlstm`` package's xLSTM-7B mLSTM block (``xlstm.xlstm_large``): pattern ``l``.

The xLSTM 7B layout (Beck et al., 2025) drops what makes the original mLSTM block slow on a CPU: no 2x
up-projection, no causal conv, no block-diagonal q/k/v; instead dense q/k (half width), v and output-gate
projections straight from the block input, soft-capped scalar gates per head, a multi-head layer norm and a
SwiGLU feed-forward.  Nearly every FLOP is a dense matmul over all frames, and the chunkwise kernel works on
half-width q/k.  The parameters are the package's ``mLSTMBlock``; the gate biases get the package's mLSTM-cell
initialisation (forget 3..6 over the heads, input ~N(0, 0.1)), the weights its defaults.

State (lane axis first): ``C[B, H, Kqk, Kv]``, ``n[B, H, Kqk]``, ``m[B, H]``: no conv cache.
"""

from __future__ import annotations

import torch
from torch import nn
from xlstm.components.init import bias_linspace_init_
from xlstm.xlstm_large.components import soft_cap
from xlstm.xlstm_large.model import mLSTMBlock, xLSTMLargeConfig

from .blocks import mlstm_cell_state, run_mlstm_cell


class LargeMLSTMBlock(nn.Module):
    """``xlstm.xlstm_large`` mLSTM block + SwiGLU FFN, run by an ``mlstm_kernels`` chunkwise kernel with
    carried ``(C, n, m)`` through :func:`~statecatcher_xlstm.blocks.run_mlstm_cell`, as the ``m`` block is."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        # The package's own backend module is never called (forward runs the kernel it is given), but it is
        # built: name kernels that exist on any device.  Norm reductions in the input's dtype: the package's
        # "force float32" would also cut float64 down to float32 (and break float64 gradient checks); under
        # bf16 autocast torch's mean accumulates in float32 anyway.
        config = xLSTMLargeConfig(embedding_dim=dim, num_heads=num_heads, num_blocks=1, vocab_size=1,
                                  norm_reduction_force_float32=False, chunkwise_kernel="chunkwise--native_autograd",
                                  sequence_kernel="native_sequence__native", step_kernel="native")
        self.qk_dim, self.v_dim = int(dim * config.qk_dim_factor), int(dim * config.v_dim_factor)
        if self.qk_dim % num_heads or self.v_dim % num_heads:
            raise ValueError(f"xlstm: hidden_dim={dim} is not divisible by 2 * num_heads={2 * num_heads} "
                             "(the 'l' block's q/k are half as wide)")
        self.block = mLSTMBlock(config)
        self.num_heads, self.gate_soft_cap = num_heads, config.gate_soft_cap
        layer = self.block.mlstm_layer
        with torch.no_grad():
            bias_linspace_init_(layer.fgate_preact.bias, start=3.0, end=6.0)
            nn.init.normal_(layer.igate_preact.bias, mean=0.0, std=0.1)

    def init_state(self, batch_size: int, device=None, dtype=None) -> dict[str, torch.Tensor]:
        H = self.num_heads
        return mlstm_cell_state(batch_size, H, self.qk_dim // H, self.v_dim // H, device, dtype)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, state: dict[str, torch.Tensor],
                kernel, chunk_size: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        block, layer = self.block, self.block.mlstm_layer
        B, N, _ = x.shape
        x_norm = block.norm_mlstm(x)
        i = soft_cap(layer.igate_preact(x_norm), self.gate_soft_cap)                      # [B, N, H]
        f = soft_cap(layer.fgate_preact(x_norm), self.gate_soft_cap)
        h, cell_state = run_mlstm_cell(kernel, layer.q(x_norm), layer.k(x_norm), layer.v(x_norm), i, f, lengths,
                                       state, self.num_heads, chunk_size, x.dtype)
        h = layer.multihead_norm(h.transpose(1, 2)).reshape(B, N, self.v_dim)             # [B, N, V]
        x = x + layer.out_proj(layer.ogate_act_fn(layer.ogate_preact(x_norm)) * h)
        x = x + block.ffn(block.norm_ffn(x))
        return x, cell_state
