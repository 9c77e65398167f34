"""A streaming LSTM encoder: ``CausalSubsampling`` front end -> multi-layer ``nn.LSTM`` -> optional projection.

``feats[B,T,F] -> CausalSubsampling (factor `subsampling`) -> [B,T',H] -> nn.LSTM (num_layers) -> [B,T',H]
-> Linear (only when output_dim != hidden_dim) -> [B,T',D]``

Padded frames never advance ``(h, c)``: the LSTM runs only over each lane's valid output frames (a staircase
of dense ``nn.LSTM`` calls, one per distinct lane length, see ``_run_lstm``), and lanes with no output frame in
a call (a chunk shorter than a frame stack, or a lane that has ended) are left out of every call, keeping
their state exactly.

Long streams (``cell_clip > 0``): a trained LSTM's cell state grows without bound while it streams (units that
learn to count: the RMS of ``c`` rose about 8 per second of audio, 10,000 after 21 minutes), and what it
decodes late in a long stream drifts from what it decodes with a fresh state.  Production LSTMs clip the cell
at every step; ``nn.LSTM`` has no such option, so here ``c`` is clamped to ``[-cell_clip, cell_clip]`` every
``clip_every`` output frames of the *stream* (a per-lane position in the state says where the next clip falls).
The clip points depend only on a lane's position in its stream, never on how the stream is cut into calls, so
one long call and any chunking of it still give the same output and state.  Each clip point splits the
staircase (one more ``nn.LSTM`` call per lane per ``clip_every`` frames).

State (lane axis first)::

    frontend  CausalSubsampling state: stack [B, s-1, F], stack_len [B], conv [B, kernel-1, H]
              (and cmn_mean [B, F] with cmn_frames)
    h, c      [B, num_layers, H]   (nn.LSTM wants [num_layers, B, H]; transposed on the way in and out)
    position  [B] long, output frames streamed modulo ``clip_every`` (only with ``cell_clip > 0``)
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from statecatcher.nn import CausalSubsampling


class LSTMEncoder(nn.Module):
    def __init__(self, input_dim: int = 80, hidden_dim: int = 256, num_layers: int = 2,
                 output_dim: int | None = None, subsampling: int = 4, conv_kernel: int = 3, dropout: float = 0.0,
                 cell_clip: float = 0.0, clip_every: int = 25, freq_channels: int = 0,
                 cmn_frames: float = 0.0):
        super().__init__()
        if num_layers < 1 or hidden_dim < 1:
            raise ValueError(f"lstm: num_layers and hidden_dim must be >= 1, got {num_layers}, {hidden_dim}")
        if cell_clip < 0 or clip_every < 1:
            raise ValueError(f"lstm: cell_clip must be >= 0 and clip_every >= 1, got {cell_clip}, {clip_every}")
        self.cell_clip, self.clip_every = float(cell_clip), int(clip_every)
        self.input_dim, self.hidden_dim, self.num_layers = input_dim, hidden_dim, num_layers
        self.output_dim = output_dim or hidden_dim
        self.subsampling = subsampling
        self.frontend = CausalSubsampling(input_dim, hidden_dim, factor=subsampling, kernel=conv_kernel,
                                          freq_channels=freq_channels,
                                          cmn_frames=cmn_frames)
        self.lstm = nn.LSTM(hidden_dim, hidden_dim, num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.proj = nn.Linear(hidden_dim, self.output_dim) if self.output_dim != hidden_dim else nn.Identity()

    def init_state(self, batch_size: int, device: torch.device | None = None,
                   dtype: torch.dtype | None = None) -> dict:
        weight = self.lstm.weight_hh_l0
        device, dtype = device or weight.device, dtype or weight.dtype
        zeros = torch.zeros(batch_size, self.num_layers, self.hidden_dim, device=device, dtype=dtype)
        state = {"frontend": self.frontend.init_state(batch_size, device=device, dtype=dtype),
                 "h": zeros, "c": zeros.clone()}
        if self.cell_clip:
            state["position"] = torch.zeros(batch_size, dtype=torch.long, device=device)
        return state

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor, state: dict):
        """``feats[B,T,F]``, ``lengths[B]`` (frames) -> ``out[B,T',D]``, ``out_lengths[B]``, new state."""
        x, out_lengths, frontend = self.frontend(feats, lengths, state["frontend"])
        position = state.get("position")
        y, h, c = self._run_lstm(x, out_lengths, state["h"], state["c"], position)
        new_state = {"frontend": frontend, "h": h, "c": c}
        if self.cell_clip:
            new_state["position"] = (position.to(out_lengths.device) + out_lengths) % self.clip_every
        return self.proj(y), out_lengths, new_state

    def for_export(self) -> LSTMEncoder:
        """This encoder for ``statecatcher export`` (one lane whose frames are all valid): one plain ``nn.LSTM``
        call instead of the length-sorted staircase (ONNX has no stable sort); shares the parameters."""
        exported = copy.copy(self)
        exported._run_lstm = exported._run_one_lane
        return exported

    def _run_one_lane(self, x: torch.Tensor, lengths: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
                      position: torch.Tensor | None = None):
        """``_run_lstm`` for a batch whose frames are all valid: ``x[B,T',H]``, ``h, c [B, L, H]``.  With
        ``cell_clip`` the frames run one by one (unrolled in the traced graph) and the cell is clamped where a
        lane's stream position reaches a clip point, as the staircase does."""
        hx, cx = (s.to(x.dtype).transpose(0, 1).contiguous() for s in (h, c))  # [L, B, H]
        if not self.cell_clip or position is None:
            y, (hx, cx) = self.lstm(x, (hx, cx))
            return y, hx.transpose(0, 1), cx.transpose(0, 1)
        outs = []
        for t in range(x.shape[1]):
            out, (hx, cx) = self.lstm(x[:, t:t + 1], (hx, cx))
            hit = ((position + t + 1) % self.clip_every == 0)[None, :, None]
            cx = torch.where(hit, cx.clamp(-self.cell_clip, self.cell_clip), cx)
            outs.append(out)
        return torch.cat(outs, dim=1), hx.transpose(0, 1), cx.transpose(0, 1)

    def _stops(self, sorted_lengths: list[int], sorted_positions: list[int] | None) -> list[int]:
        """Where the staircase ends a call: every distinct lane length, and every clip point of every lane
        (the frames ``t`` with ``(position + t) % clip_every == 0``, ``1 <= t <= length``)."""
        stops = {length for length in sorted_lengths if length > 0}
        if sorted_positions is not None:
            every = self.clip_every
            for length, position in zip(sorted_lengths, sorted_positions, strict=True):
                stops.update(range((-position) % every or every, length + 1, every))
        return sorted(stops)

    def _run_lstm(self, x: torch.Tensor, lengths: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
                  position: torch.Tensor | None = None):
        """LSTM over the valid frames of every lane, as a staircase of plain ``nn.LSTM`` calls.

        ``x[B,T',H]``, ``lengths[B]``, ``h, c [B, L, H]`` -> ``y[B,T',H]`` (zeros past each lane's length),
        ``h, c``.  Lanes sorted by length (longest first); between two consecutive distinct lengths
        ``t0 < t1`` one call runs frames ``[t0, t1)`` of the lanes that still have them, carrying ``(h, c)``.
        At most B calls (plus one per clip point with ``cell_clip``), each a dense batch (packed sequences on
        CPU cost ~4x for lanes of unequal length); a lane never sees a frame past its length, so padding never
        touches its state.  Out-of-place throughout, so autograd sees no in-place write to the incoming state.
        """
        batch, frames = x.shape[:2]
        order = torch.argsort(lengths, descending=True, stable=True)
        sorted_lengths = lengths.index_select(0, order).tolist()
        xs = x.index_select(0, order)
        hx = h.to(x.dtype).index_select(0, order).transpose(0, 1)  # [L, B, H], lanes longest first
        cx = c.to(x.dtype).index_select(0, order).transpose(0, 1)
        positions = (position.index_select(0, order.to(position.device)).tolist()
                     if self.cell_clip and position is not None else None)
        pieces, t0 = [], 0
        for t1 in self._stops(sorted_lengths, positions):
            k = sum(1 for length in sorted_lengths if length >= t1)  # the lanes that reach frame t1 - 1
            out, (h_k, c_k) = self.lstm(xs[:k, t0:t1], (hx[:, :k].contiguous(), cx[:, :k].contiguous()))
            if positions is not None:
                c_k = self._clip_at(c_k, [(p + t1) % self.clip_every == 0 for p in positions[:k]])
            pieces.append(torch.cat([out, out.new_zeros(batch - k, t1 - t0, self.hidden_dim)]) if k < batch else out)
            hx, cx = torch.cat([h_k, hx[:, k:]], dim=1), torch.cat([c_k, cx[:, k:]], dim=1)
            t0 = t1
        pieces.append(x.new_zeros(batch, frames - t0, self.hidden_dim))
        inverse = torch.argsort(order)
        y = torch.cat(pieces, dim=1).index_select(0, inverse)
        return y, hx.transpose(0, 1).index_select(0, inverse), cx.transpose(0, 1).index_select(0, inverse)

    def _clip_at(self, c: torch.Tensor, lanes: list[bool]) -> torch.Tensor:
        """``c[L, k, H]`` with the cells of the flagged lanes clamped to ``[-cell_clip, cell_clip]``."""
        if not any(lanes):
            return c
        clipped = c.clamp(-self.cell_clip, self.cell_clip)
        if all(lanes):
            return clipped
        return torch.where(torch.tensor(lanes, device=c.device)[None, :, None], clipped, c)
