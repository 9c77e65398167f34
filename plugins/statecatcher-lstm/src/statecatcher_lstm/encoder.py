"""A streaming LSTM encoder: ``CausalSubsampling`` front end -> multi-layer ``nn.LSTM`` -> optional projection.

``feats[B,T,F] -> CausalSubsampling (factor `subsampling`) -> [B,T',H] -> nn.LSTM (num_layers) -> [B,T',H]
-> Linear (only when output_dim != hidden_dim) -> [B,T',D]``

Padded frames never advance ``(h, c)``: the LSTM runs only over each lane's valid output frames (a staircase
of dense ``nn.LSTM`` calls, one per distinct lane length, see ``_run_lstm``), and lanes with no output frame in
a call (a chunk shorter than a frame stack, or a lane that has ended) are left out of every call, keeping
their state exactly.

State (lane axis first)::

    frontend  CausalSubsampling state: stack [B, s-1, F], stack_len [B], conv [B, kernel-1, H]
    h, c      [B, num_layers, H]   (nn.LSTM wants [num_layers, B, H]; transposed on the way in and out)
"""

from __future__ import annotations

import copy

import torch
from torch import nn

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

    def for_export(self) -> LSTMEncoder:
        """This encoder for ``statecatcher export`` (one lane whose frames are all valid): one plain ``nn.LSTM``
        call instead of the length-sorted staircase (ONNX has no stable sort); shares the parameters."""
        exported = copy.copy(self)
        exported._run_lstm = exported._run_one_lane
        return exported

    def _run_one_lane(self, x: torch.Tensor, lengths: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        """``_run_lstm`` for a batch whose frames are all valid: ``x[B,T',H]``, ``h, c [B, L, H]``."""
        layers_first = [s.to(x.dtype).transpose(0, 1).contiguous() for s in (h, c)]  # [L, B, H]
        y, (h, c) = self.lstm(x, tuple(layers_first))
        return y, h.transpose(0, 1), c.transpose(0, 1)

    def _run_lstm(self, x: torch.Tensor, lengths: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        """LSTM over the valid frames of every lane, as a staircase of plain ``nn.LSTM`` calls.

        ``x[B,T',H]``, ``lengths[B]``, ``h, c [B, L, H]`` -> ``y[B,T',H]`` (zeros past each lane's length),
        ``h, c``.  Lanes sorted by length (longest first); between two consecutive distinct lengths
        ``t0 < t1`` one call runs frames ``[t0, t1)`` of the lanes that still have them, carrying ``(h, c)``.
        At most B calls, each a dense batch (packed sequences on CPU cost ~4x for lanes of unequal length);
        a lane never sees a frame past its length, so padding never touches its state.  Out-of-place
        throughout, so autograd sees no in-place write to the incoming state.
        """
        batch, frames = x.shape[:2]
        order = torch.argsort(lengths, descending=True, stable=True)
        sorted_lengths = lengths.index_select(0, order).tolist()
        xs = x.index_select(0, order)
        hx = h.to(x.dtype).index_select(0, order).transpose(0, 1)  # [L, B, H], lanes longest first
        cx = c.to(x.dtype).index_select(0, order).transpose(0, 1)
        pieces, t0 = [], 0
        for t1 in sorted(set(length for length in sorted_lengths if length > 0)):
            k = sum(1 for length in sorted_lengths if length >= t1)  # the lanes that reach frame t1 - 1
            out, (h_k, c_k) = self.lstm(xs[:k, t0:t1], (hx[:, :k].contiguous(), cx[:, :k].contiguous()))
            pieces.append(torch.cat([out, out.new_zeros(batch - k, t1 - t0, self.hidden_dim)]) if k < batch else out)
            hx, cx = torch.cat([h_k, hx[:, k:]], dim=1), torch.cat([c_k, cx[:, k:]], dim=1)
            t0 = t1
        pieces.append(x.new_zeros(batch, frames - t0, self.hidden_dim))
        inverse = torch.argsort(order)
        y = torch.cat(pieces, dim=1).index_select(0, inverse)
        return y, hx.transpose(0, 1).index_select(0, inverse), cx.transpose(0, 1).index_select(0, inverse)
