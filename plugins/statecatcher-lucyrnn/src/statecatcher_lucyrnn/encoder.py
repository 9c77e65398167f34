"""The LucyRNN stateful encoder: causal subsampling front end, then tracks of LucyRNN layers.

``feats [B, T, F] -> CausalSubsampling (x subsampling) -> [B, T', H] -> num_tracks x (num_layers LucyRNN layers,
LayerNorm between them, not after the last) -> concatenate [B, T', num_tracks * H] -> Linear (only when
num_tracks > 1) -> out [B, T', H]``.  Every track reads the same front-end output and has its own weights and
state (the original statecatcher's multi-track variant).  Everything is causal.

State (lane axis first on every leaf)::

    frontend               the subsampling front end's frame stack and conv cache (and running mean)
    tracks[i][j].h         [B, H]   layer j of track i: its output at the last valid frame
    tracks[i][j].s         [B, H]   its decayed key-value memory

``h`` and ``s`` are float32 (float64 when the module is float64), whatever the module's dtype.  Outputs at
padding frames (``t >= out_lengths[b]``) are zero.
"""

from __future__ import annotations

import torch
from torch import nn

from statecatcher.nn import CausalSubsampling, valid_mask

from .cell import LucyRNNLayer

MODES = ("chunkwise", "recurrent")


class Track(nn.Module):
    """``num_layers`` LucyRNN layers with a LayerNorm between consecutive layers; state: one dict per layer."""

    def __init__(self, hidden_dim: int, num_layers: int, kv_norm: str):
        super().__init__()
        self.layers = nn.ModuleList(LucyRNNLayer(hidden_dim, hidden_dim, kv_norm) for _ in range(num_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden_dim) for _ in range(num_layers - 1))

    def forward(self, x: torch.Tensor, valid: torch.Tensor, state: list[dict], mode: str, chunk_len: int):
        """``x [B, T', H]``, ``valid [B, T']`` -> ``(y [B, T', H], new track state)``."""
        new_state = []
        for index, (layer, layer_state) in enumerate(zip(self.layers, state, strict=True)):
            if index:
                x = self.norms[index - 1](x)
            x, layer_state = layer(x, valid, layer_state, mode, chunk_len)
            new_state.append(layer_state)
        return x, new_state


class LucyRNNEncoder(nn.Module):
    """A :class:`statecatcher.protocols.StatefulEncoder` built from LucyRNN layers (see the module docstring).

    ``mode`` ``"chunkwise"`` (parallel scans inside chunks of ``chunk_len`` output frames; training) or
    ``"recurrent"`` (frame by frame; streaming); both give the same outputs and states up to rounding.
    ``kv_norm`` ``"rms"`` (one RMS over the 2H key and value channels of a frame) or ``"none"``.
    """

    def __init__(self, input_dim: int = 80, hidden_dim: int = 256, num_layers: int = 4, num_tracks: int = 1,
                 kv_norm: str = "rms", mode: str = "chunkwise", chunk_len: int = 8, subsampling: int = 4,
                 conv_kernel: int = 3, freq_channels: int = 0,
                 cmn_frames: float = 0.0):
        super().__init__()
        for option, value in (("hidden_dim", hidden_dim), ("num_layers", num_layers), ("num_tracks", num_tracks),
                              ("chunk_len", chunk_len)):
            if value < 1:
                raise ValueError(f"lucyrnn encoder option {option}={value}: must be >= 1")
        if mode not in MODES:
            raise ValueError(f"lucyrnn encoder option mode={mode!r}: choose one of {', '.join(MODES)}")
        self.input_dim, self.output_dim, self.subsampling = input_dim, hidden_dim, subsampling
        self.mode, self.chunk_len = mode, chunk_len
        self.frontend = CausalSubsampling(input_dim, hidden_dim, factor=subsampling, kernel=conv_kernel,
                                          freq_channels=freq_channels,
                                          cmn_frames=cmn_frames)
        self.tracks = nn.ModuleList(Track(hidden_dim, num_layers, kv_norm) for _ in range(num_tracks))
        self.merge = nn.Linear(num_tracks * hidden_dim, hidden_dim) if num_tracks > 1 else nn.Identity()

    def init_state(self, batch_size: int, device: torch.device | None = None, dtype: torch.dtype | None = None):
        """Zeros for ``batch_size`` lanes (a recording start); see the module docstring for the layout."""
        reference = self.frontend.proj.weight
        device, dtype = device or reference.device, dtype or reference.dtype
        scan_dtype = torch.float64 if dtype == torch.float64 else torch.float32
        zeros = lambda: torch.zeros(batch_size, self.output_dim, device=device, dtype=scan_dtype)  # noqa: E731
        return {"frontend": self.frontend.init_state(batch_size, device=device, dtype=dtype),
                "tracks": [[{"h": zeros(), "s": zeros()} for _ in track.layers] for track in self.tracks]}

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor, state):
        """``feats [B, T, F]``, ``lengths [B]`` (frames) -> ``(out [B, T', H], out_lengths [B], new state)``."""
        x, out_lengths, frontend_state = self.frontend(feats, lengths, state["frontend"])
        if x.shape[1] == 0:  # the chunk completed no output frame: only the front end moved
            return x, out_lengths, {"frontend": frontend_state, "tracks": state["tracks"]}
        valid = valid_mask(out_lengths, x.shape[1])
        outs, tracks = [], []
        for track, track_state in zip(self.tracks, state["tracks"], strict=True):
            y, track_state = track(x, valid, track_state, self.mode, self.chunk_len)
            outs.append(y)
            tracks.append(track_state)
        out = self.merge(torch.cat(outs, dim=-1))
        out = torch.where(valid[..., None], out, out.new_zeros(()))
        return out, out_lengths, {"frontend": frontend_state, "tracks": tracks}
