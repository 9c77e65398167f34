"""The RWKV stateful encoder: causal subsampling front end, then RWKV-6 or RWKV-7 blocks.

``feats [B, T, F] -> CausalSubsampling (x subsampling) -> LayerNorm -> num_layers x RWKVBlock -> LayerNorm
-> out [B, T', D]`` with ``D = hidden_dim``.  Everything is causal; a frame never sees the future.

State (lane axis first on every leaf)::

    frontend                 the subsampling front end's frame stack and conv cache (and running mean)
    layers[i].att_shift      [B, D]        last valid input frame of the time mix (token shift)
    layers[i].wkv            [B, H, N, N]  matrix state, float32 (float64 when the module is float64)
    layers[i].ffn_shift      [B, D]        last valid input frame of the channel mix

RWKV-7's ``v_first`` value residual is recomputed per frame from layer 0 and is not state.
"""

from __future__ import annotations

import copy
import functools

import torch
from torch import nn

from statecatcher.nn import CausalSubsampling, valid_mask

from .backends import BACKENDS, MODES, wkv_function
from .blocks import RWKVBlock


class RWKVEncoder(nn.Module):
    """A :class:`statecatcher.protocols.StatefulEncoder` built from RWKV blocks.

    ``version`` 7 (Goose, generalized delta rule) or 6 (Finch); ``mode`` ``"chunkwise"`` (parallel inside
    chunks of ``chunk_len`` output frames, for training) or ``"recurrent"`` (frame by frame); ``backend``
    ``"auto"``, ``"torch"`` or ``"fla"`` (see :mod:`statecatcher_rwkv.backends`).  ``lora_dim`` is the rank
    of the data-dependent decay / mixing maps (default ``max(8, hidden_dim // 8)``).
    """

    def __init__(self, input_dim: int = 80, hidden_dim: int = 256, num_layers: int = 4, head_size: int = 32,
                 version: int = 7, subsampling: int = 4, chunk_len: int = 16, mode: str = "chunkwise",
                 backend: str = "auto", lora_dim: int | None = None, freq_channels: int = 0,
                 cmn_frames: float = 0.0):
        super().__init__()
        if version not in (6, 7):
            raise ValueError(f"RWKV encoder option version={version!r}: choose 6 or 7")
        if hidden_dim % head_size:
            raise ValueError(f"RWKV encoder option hidden_dim={hidden_dim} must be a multiple of head_size={head_size}")
        if chunk_len < 1 or num_layers < 1:
            raise ValueError(f"RWKV encoder options chunk_len={chunk_len}, num_layers={num_layers} must be >= 1")
        if mode not in MODES or backend not in BACKENDS:
            raise ValueError(f"RWKV encoder options mode={mode!r} (one of {MODES}), backend={backend!r} "
                             f"(one of {BACKENDS})")
        self.input_dim, self.output_dim, self.subsampling = input_dim, hidden_dim, subsampling
        self.version, self.head_size, self.chunk_len, self.mode, self.backend = (
            version, head_size, chunk_len, mode, backend)
        lora_dim = lora_dim or max(8, hidden_dim // 8)
        self.frontend = CausalSubsampling(input_dim, hidden_dim, factor=subsampling, freq_channels=freq_channels,
                                          cmn_frames=cmn_frames)
        self.norm_in = nn.LayerNorm(hidden_dim)
        self.blocks = nn.ModuleList(
            RWKVBlock(hidden_dim, head_size, i, num_layers, version, lora_dim) for i in range(num_layers))
        self.norm_out = nn.LayerNorm(hidden_dim)

    def init_state(self, batch_size: int, device: torch.device | None = None, dtype: torch.dtype | None = None):
        """Zeros for ``batch_size`` lanes (a recording start); see the module docstring for the layout."""
        reference = self.norm_in.weight
        device, dtype = device or reference.device, dtype or reference.dtype
        wkv_dtype = torch.float64 if dtype == torch.float64 else torch.float32
        D, H, N = self.output_dim, self.output_dim // self.head_size, self.head_size
        layer = lambda: {  # noqa: E731
            "att_shift": torch.zeros(batch_size, D, device=device, dtype=dtype),
            "wkv": torch.zeros(batch_size, H, N, N, device=device, dtype=wkv_dtype),
            "ffn_shift": torch.zeros(batch_size, D, device=device, dtype=dtype),
        }
        return {"frontend": self.frontend.init_state(batch_size, device=device, dtype=dtype),
                "layers": [layer() for _ in self.blocks]}

    def for_export(self) -> RWKVEncoder:
        """This encoder in ``mode="recurrent"`` for ``statecatcher export`` (ONNX has no operator for the
        chunkwise form's triangular solve); shares the parameters."""
        exported = copy.copy(self)
        exported.mode = "recurrent"
        return exported

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor, state):
        """``feats [B, T, F]``, ``lengths [B]`` (frames) -> ``(out [B, T', D], out_lengths [B], new state)``."""
        x, out_lengths, frontend_state = self.frontend(feats, lengths, state["frontend"])
        if x.shape[1] == 0:  # the chunk completed no output frame: only the front end moved
            return x, out_lengths, {"frontend": frontend_state, "layers": state["layers"]}
        valid = valid_mask(out_lengths, x.shape[1])
        wkv = wkv_function(self.version, self.backend, self.mode, self.chunk_len, x.device)
        x, v_first, layers = self.norm_in(x), None, []
        for block, layer_state in zip(self.blocks, state["layers"], strict=True):
            x, v_first, new_layer_state = block(x, valid, out_lengths, layer_state, v_first, wkv)
            layers.append(new_layer_state)
        out = torch.where(valid[..., None], self.norm_out(x), x.new_zeros(()))
        return out, out_lengths, {"frontend": frontend_state, "layers": layers}


# The factories registered as encoders ``rwkv7`` and ``rwkv6``.  Partials, so that their options (statecatcher
# run --rwkv7-hidden-dim ...) are RWKVEncoder's keyword parameters, ``version`` excepted.
make_rwkv7 = functools.partial(RWKVEncoder, version=7)
make_rwkv6 = functools.partial(RWKVEncoder, version=6)
