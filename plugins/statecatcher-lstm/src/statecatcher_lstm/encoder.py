"""A streaming LSTM encoder: ``CausalSubsampling`` front end -> multi-layer ``nn.LSTM`` -> optional projection.

``feats[B,T,F] -> CausalSubsampling (factor `subsampling`) -> [B,T',H] -> nn.LSTM (num_layers) -> [B,T',H]
-> Linear (only when output_dim != hidden_dim) -> [B,T',D]``

Padded frames never advance ``(h, c)``: the LSTM runs on packed sequences of each lane's valid output frames,
and lanes with no output frame in a call (a chunk shorter than a frame stack, or a lane that has ended) are
left out of the LSTM call altogether, keeping their state exactly.

State (lane axis first)::

    frontend  CausalSubsampling state: stack [B, s-1, F], stack_len [B], conv [B, kernel-1, H]
    h, c      [B, num_layers, H]   (nn.LSTM wants [num_layers, B, H]; transposed on the way in and out)
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from statecatcher.nn import CausalSubsampling


class LSTMEncoder(nn.Module):
    def __init__(self, input_dim: int = 80, hidden_dim: int = 256, num_layers: int = 2,
                 output_dim: int | None = None, subsampling: int = 4, conv_kernel: int = 3, dropout: float = 0.0):
        super().__init__()
        if num_layers < 1 or hidden_dim < 1:
            raise ValueError(f"lstm: num_layers and hidden_dim must be >= 1, got {num_layers}, {hidden_dim}")
        self.input_dim, self.hidden_dim, self.num_layers = input_dim, hidden_dim, num_layers
        self.output_dim = output_dim or hidden_dim
        self.subsampling = subsampling
        self.frontend = CausalSubsampling(input_dim, hidden_dim, factor=subsampling, kernel=conv_kernel)
        self.lstm = nn.LSTM(hidden_dim, hidden_dim, num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.proj = nn.Linear(hidden_dim, self.output_dim) if self.output_dim != hidden_dim else nn.Identity()

    def init_state(self, batch_size: int, device: torch.device | None = None,
                   dtype: torch.dtype | None = None) -> dict:
        weight = self.lstm.weight_hh_l0
        device, dtype = device or weight.device, dtype or weight.dtype
        zeros = torch.zeros(batch_size, self.num_layers, self.hidden_dim, device=device, dtype=dtype)
        return {"frontend": self.frontend.init_state(batch_size, device=device, dtype=dtype),
                "h": zeros, "c": zeros.clone()}

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor, state: dict):
        """``feats[B,T,F]``, ``lengths[B]`` (frames) -> ``out[B,T',D]``, ``out_lengths[B]``, new state."""
        x, out_lengths, frontend = self.frontend(feats, lengths, state["frontend"])
        y, h, c = self._run_lstm(x, out_lengths, state["h"], state["c"])
        return self.proj(y), out_lengths, {"frontend": frontend, "h": h, "c": c}

    def _run_lstm(self, x: torch.Tensor, lengths: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        """LSTM over the valid frames of the lanes that have any; the others keep ``(h, c)`` untouched.

        ``x[B,T',H]``, ``lengths[B]``, ``h, c [B, L, H]`` -> ``y[B,T',H]`` (zeros past each lane's length),
        ``h, c``.  Out-of-place ``index_copy`` scatters the active lanes back, so autograd sees no in-place
        write to the incoming state.
        """
        h, c = h.to(x.dtype), c.to(x.dtype)
        active = (lengths > 0).nonzero().squeeze(1)
        if active.numel() == 0:
            return x.new_zeros(*x.shape[:2], self.hidden_dim), h, c
        packed = pack_padded_sequence(x.index_select(0, active), lengths.index_select(0, active).cpu(),
                                      batch_first=True, enforce_sorted=False)
        hx = (h.index_select(0, active).transpose(0, 1).contiguous(),
              c.index_select(0, active).transpose(0, 1).contiguous())
        packed_y, (h_n, c_n) = self.lstm(packed, hx)
        y_active, _ = pad_packed_sequence(packed_y, batch_first=True, total_length=x.shape[1])
        y = x.new_zeros(*x.shape[:2], self.hidden_dim).index_copy(0, active, y_active)
        return y, h.index_copy(0, active, h_n.transpose(0, 1)), c.index_copy(0, active, c_n.transpose(0, 1))
