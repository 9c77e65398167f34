"""Stateful forwards over the ``xlstm`` package's own mLSTM and sLSTM blocks.

The parameters and their initialisation are the package's (``mLSTMBlock`` / ``sLSTMBlock``: pre-norm
residual blocks; the mLSTM one with up-projection, causal conv on the q/k path and exponential gates, the
sLSTM one with causal conv, recurrent heads and a gated FFN).  What is written here is only the glue the
package lacks for lane streaming: per-lane conv caches, padding that never touches a state, and state
in/out that is never modified in place (the package's large model mutates the passed-in state, which
breaks backward).

Shapes: ``x[B, N, D]`` at the encoder's output rate, ``lengths[B]`` valid frames per lane.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F_
from torch import nn
from xlstm.blocks.mlstm.block import mLSTMBlock, mLSTMBlockConfig
from xlstm.blocks.mlstm.layer import mLSTMLayerConfig
from xlstm.blocks.slstm.block import sLSTMBlock, sLSTMBlockConfig
from xlstm.blocks.slstm.layer import sLSTMLayerConfig
from xlstm.components.feedforward import FeedForwardConfig

from statecatcher.nn import valid_mask

from .slstm_loop import slstm_sequence

# Gate pre-activations forced on padded frames: log sigmoid(+GATE_PAD) == 0.0 exactly (forget = 1) and
# exp(-GATE_PAD - m) == 0.0 exactly (input = 0), so C, n and the stabiliser m = max(log f + m, log i)
# keep their values bit for bit.
GATE_PAD = 1.0e4


def causal_conv(conv: nn.Conv1d, x: torch.Tensor, lengths: torch.Tensor,
                cache: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Depthwise causal ``conv`` over ``cache[B, K-1, C]`` + ``x[B, N, C]`` -> ``(y[B, N, C], new_cache)``.

    The new cache holds each lane's last ``K-1`` *valid* inputs, so padding never reaches it.
    """
    K = conv.kernel_size[0]
    x = torch.where(valid_mask(lengths, x.shape[1])[..., None], x, x.new_zeros(()))
    with_cache = torch.cat([cache.to(x.dtype), x], dim=1)                      # [B, K-1+N, C]
    y = F_.conv1d(with_cache.transpose(1, 2), conv.weight, conv.bias, groups=conv.groups).transpose(1, 2)
    pos = lengths[:, None] + torch.arange(K - 1, device=x.device)[None, :]
    new_cache = with_cache.gather(1, pos[..., None].expand(-1, -1, x.shape[2]))
    return y, new_cache


def mlstm_cell_state(batch_size: int, num_heads: int, k_dim: int, v_dim: int, device=None,
                     dtype=None) -> dict[str, torch.Tensor]:
    """Zero mLSTM cell state: ``C[B, H, K, V]``, ``n[B, H, K]``, ``m[B, H]`` (K, V per head)."""
    zeros = lambda *shape: torch.zeros(*shape, device=device, dtype=dtype)
    return {"C": zeros(batch_size, num_heads, k_dim, v_dim), "n": zeros(batch_size, num_heads, k_dim),
            "m": zeros(batch_size, num_heads)}


def run_mlstm_cell(kernel, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, i: torch.Tensor, f: torch.Tensor,
                   lengths: torch.Tensor, state: dict[str, torch.Tensor], num_heads: int, chunk_size: int,
                   dtype: torch.dtype) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The mLSTM cell over ``q, k, v [B, N, H*DK|DV]`` and gate pre-activations ``i, f [B, N, H]`` from the
    carried ``state`` (cast to ``dtype``) -> ``(h [B, H, N, DV], {"C", "n", "m"})``.

    Padded frames (past ``lengths``) get identity gates, and so do the frames that pad ``N`` to a multiple of
    ``chunk_size`` for the chunkwise kernel: the state leaves them bit for bit.
    """
    B, N, _ = q.shape
    valid = valid_mask(lengths, N)[..., None]                                      # [B, N, 1]
    i = torch.where(valid, i, -GATE_PAD)
    f = torch.where(valid, f, GATE_PAD)
    pad = -N % chunk_size
    heads = lambda t: F_.pad(t.view(B, N, num_heads, -1).transpose(1, 2), (0, 0, 0, pad))
    gate = lambda t, value: F_.pad(t.transpose(1, 2), (0, pad), value=value)
    h, (C, n, m) = kernel(heads(q), heads(k), heads(v), gate(i, -GATE_PAD), gate(f, GATE_PAD),
                          c_initial=state["C"].to(dtype), n_initial=state["n"].to(dtype),
                          m_initial=state["m"].to(dtype)[..., None], return_last_states=True,
                          chunk_size=chunk_size)
    return h[:, :, :N], {"C": C, "n": n, "m": m[..., 0]}


class MLSTMBlock(nn.Module):
    """``xlstm`` mLSTM block run by an ``mlstm_kernels`` chunkwise kernel with carried ``(C, n, m)``.

    State (lane axis first): ``C[B, H, K, V]``, ``n[B, H, K]``, ``m[B, H]`` and ``conv[B, k-1, I]``
    (I = the block's inner, up-projected width).
    """

    def __init__(self, dim: int, num_heads: int, conv_kernel: int, block_idx: int, num_blocks: int):
        super().__init__()
        layer = mLSTMLayerConfig(embedding_dim=dim, num_heads=num_heads, conv1d_kernel_size=conv_kernel,
                                 context_length=1)  # the package's quadratic mask is never used here
        self.block = mLSTMBlock(mLSTMBlockConfig(mlstm=layer, _block_idx=block_idx, _num_blocks=num_blocks))
        self.inner_dim = layer._inner_embedding_dim
        if self.inner_dim % num_heads:
            raise ValueError(f"xlstm: mLSTM inner width {self.inner_dim} is not divisible by num_heads={num_heads}")
        self.num_heads, self.head_dim, self.conv_kernel = num_heads, self.inner_dim // num_heads, conv_kernel

    def init_state(self, batch_size: int, device=None, dtype=None) -> dict[str, torch.Tensor]:
        conv = torch.zeros(batch_size, self.conv_kernel - 1, self.inner_dim, device=device, dtype=dtype)
        return {**mlstm_cell_state(batch_size, self.num_heads, self.head_dim, self.head_dim, device, dtype),
                "conv": conv}

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, state: dict[str, torch.Tensor],
                kernel, chunk_size: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        layer, cell = self.block.xlstm, self.block.xlstm.mlstm_cell
        B, N, _ = x.shape
        x_mlstm, z = layer.proj_up(self.block.xlstm_norm(x)).split(self.inner_dim, dim=-1)
        x_conv, conv_cache = causal_conv(layer.conv1d.conv, x_mlstm, lengths, state["conv"])
        x_conv = layer.conv_act_fn(x_conv)
        q, k, v = layer.q_proj(x_conv), layer.k_proj(x_conv), layer.v_proj(x_mlstm)
        gates_in = torch.cat([q, k, v], dim=-1)
        h, cell_state = run_mlstm_cell(kernel, q, k, v, cell.igate(gates_in), cell.fgate(gates_in), lengths, state,
                                       self.num_heads, chunk_size, x.dtype)
        h = cell.outnorm(h).transpose(1, 2).reshape(B, N, self.inner_dim)
        h = (h + layer.learnable_skip * x_conv) * layer.ogate_act_fn(z)
        x = x + layer.dropout(layer.proj_down(h))
        return x, {**cell_state, "conv": conv_cache}


def slstm_pointwise_lane_local(Wx, Ry, b, states, constants):
    """The sLSTM step of ``xlstm``'s vanilla backend, with its stabiliser start decided per element.

    The package's vanilla version starts the stabiliser (``m = i``) only when ``n == 0`` for the *whole
    batch* (``torch.all``), which lets lanes influence each other after a lane reset; its CUDA kernel
    decides per element, as done here.  Shapes: ``Wx, Ry [B, 4*D]``, ``b [4*D]``, ``states [4, B, D]``.
    """
    raw = Wx + Ry + b
    y, c, n, m = states.unbind(0)
    iraw, fraw, zraw, oraw = raw.view(raw.shape[0], 4, -1).unbind(1)
    logfplusm = m + F_.logsigmoid(fraw)
    m_new = torch.where(n == 0.0, iraw, torch.maximum(iraw, logfplusm))
    one = torch.ones_like(iraw)
    igate = torch.minimum(torch.exp(iraw - m_new), one)
    fgate = torch.minimum(torch.exp(logfplusm - m_new), one)
    ogate = torch.sigmoid(oraw)
    c_new = fgate * c + igate * torch.tanh(zraw)
    n_new = fgate * n + igate
    y_new = ogate * c_new / n_new
    return torch.stack((y_new, c_new, n_new, m_new)), torch.stack((igate, fgate, zraw, ogate))


class SLSTMBlock(nn.Module):
    """``xlstm`` sLSTM block (cell backend ``vanilla`` or ``cuda``) with carried ``(h, c, n, m)``.

    The cell returns its states after every frame; each lane's new state is the one after its last valid
    frame (a gather), so padded frames never reach the state.  State (lane axis first): ``h, c, n, m``
    ``[B, D]`` and ``conv[B, k-1, D]``.
    """

    def __init__(self, dim: int, num_heads: int, conv_kernel: int, block_idx: int, num_blocks: int,
                 backend: str):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"xlstm: hidden_dim={dim} is not divisible by num_heads={num_heads}")
        layer = sLSTMLayerConfig(embedding_dim=dim, num_heads=num_heads, conv1d_kernel_size=conv_kernel,
                                 backend=backend, dtype="float32")
        config = sLSTMBlockConfig(slstm=layer, feedforward=FeedForwardConfig(proj_factor=1.3, act_fn="gelu"),
                                  _block_idx=block_idx, _num_blocks=num_blocks)
        self.block = sLSTMBlock(config)
        if backend == "vanilla":
            self.block.xlstm.slstm_cell.pointwise = slstm_pointwise_lane_local
        self.dim, self.conv_kernel = dim, conv_kernel

    def init_state(self, batch_size: int, device=None, dtype=None) -> dict[str, torch.Tensor]:
        zeros = lambda *shape: torch.zeros(*shape, device=device, dtype=dtype)
        state = {name: zeros(batch_size, self.dim) for name in ("h", "c", "n", "m")}
        state["conv"] = zeros(batch_size, self.conv_kernel - 1, self.dim)
        return state

    def forward(self, x: torch.Tensor, lengths: torch.Tensor,
                state: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        layer, cell = self.block.xlstm, self.block.xlstm.slstm_cell
        B, N, D = x.shape
        x_norm = self.block.xlstm_norm(x)
        x_conv, conv_cache = causal_conv(layer.conv1d.conv, x_norm, lengths, state["conv"])
        x_conv = layer.conv_act_fn(x_conv)
        gates = torch.cat([layer.igate(x_conv), layer.fgate(x_conv), layer.zgate(x_norm), layer.ogate(x_norm)], -1)
        start = torch.stack([state[name].to(x.dtype) for name in ("h", "c", "n", "m")])    # [4, B, D]
        if getattr(cell, "pointwise", None) is slstm_pointwise_lane_local:  # same step, fewer ops (slstm_loop)
            all_states = slstm_sequence(cell._permute_input(gates), start, cell._recurrent_kernel, cell._bias)
        else:                                                                                # cuda, or swapped
            all_states = cell._impl(self.training, cell._permute_input(gates), start)       # [4, N+1, B, D]
        y = layer.group_norm(cell._permute_output(all_states[0, 1:])).transpose(1, 2).reshape(B, N, D)
        x = x + layer.dropout(y)
        x = x + self.block.ffn(self.block.ffn_norm(x))
        last = all_states.gather(1, lengths.view(1, 1, B, 1).expand(4, 1, B, D))[:, 0]     # [4, B, D]
        h, c, n, m = last.unbind(0)
        return x, {"h": h, "c": c, "n": n, "m": m, "conv": conv_cache}
