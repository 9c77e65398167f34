"""The ``xlstm`` encoder: causal subsampling, then a stack of mLSTM / sLSTM blocks, then LayerNorm.

``feats[B,T,F] -> CausalSubsampling (factor s) -> [B,T',D] -> blocks per pattern (e.g. m,m,s,m) -> [B,T',D]``

Blocks: ``m`` the package's mLSTM block, ``s`` its sLSTM block, ``l`` the xLSTM-7B mLSTM block
(:mod:`statecatcher_xlstm.large_block`: no up-projection or conv, SwiGLU feed-forward; the fast one on a CPU).

State (lane axis first on every leaf)::

    {"frontend": CausalSubsampling state,
     "blocks": [ {"C" [B,H,K,V], "n" [B,H,K], "m" [B,H], "conv" [B,k-1,I]}   mLSTM block
                 {"h", "c", "n", "m" [B,D], "conv" [B,k-1,D]}              sLSTM block
                 {"C" [B,H,D/2H,D/H], "n" [B,H,D/2H], "m" [B,H]}           xLSTM-7B mLSTM block   ... ]}

The mLSTM kernel is picked per call from the input's device (``backend``); the sLSTM cell backend is
fixed when the model is built (``slstm_backend``; ``auto`` = ``cuda`` when CUDA is available), because the
package's two sLSTM cells keep their weights in different layouts.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from mlstm_kernels.torch import get_mlstm_kernel
from torch import nn

from statecatcher.nn import CausalSubsampling, valid_mask

from .backends import MLSTM_KERNELS, choose_mlstm_backend, choose_slstm_backend
from .blocks import MLSTMBlock, SLSTMBlock
from .large_block import LargeMLSTMBlock

BLOCK_KINDS = {"m": "mLSTM", "s": "sLSTM", "l": "xLSTM-7B mLSTM"}


def parse_pattern(pattern: str | Sequence[str]) -> list[str]:
    """``"m,m,s,m"`` (or a list) -> ``["m", "m", "s", "m"]``; anything but ``m``/``s``/``l`` is a ValueError."""
    tokens = pattern.split(",") if isinstance(pattern, str) else list(pattern)
    tokens = [str(t).strip().lower() for t in tokens]
    bad = [t for t in tokens if t not in BLOCK_KINDS]
    if not tokens or bad:
        kinds = ", ".join(f"'{kind}' ({name})" for kind, name in BLOCK_KINDS.items())
        raise ValueError(f"xlstm pattern {pattern!r} (--xlstm-pattern): blocks must be {kinds}, "
                         f"comma-separated, e.g. 'm,m,s,m'; got {bad or 'no blocks'}")
    return tokens


class XLSTMEncoder(nn.Module):
    def __init__(self, input_dim: int = 80, hidden_dim: int = 256, pattern: str | Sequence[str] = "m,m,s,m",
                 num_heads: int = 4, conv_kernel: int = 4, subsampling: int = 4, chunk_size: int = 64,
                 backend: str = "auto", slstm_backend: str = "auto", dropout: float = 0.0, freq_channels: int = 0,
                 cmn_frames: float = 0.0):
        super().__init__()
        if conv_kernel < 1 or chunk_size < 1:
            raise ValueError(f"xlstm: conv_kernel and chunk_size must be >= 1, got {conv_kernel}, {chunk_size}")
        if backend != "auto" and backend not in MLSTM_KERNELS:
            choose_mlstm_backend("cpu", backend)  # raises, naming the choices
        self.input_dim, self.output_dim, self.subsampling = input_dim, hidden_dim, subsampling
        self.pattern, self.backend, self.chunk_size = parse_pattern(pattern), backend, chunk_size
        self.slstm_backend = choose_slstm_backend("cuda" if torch.cuda.is_available() else "cpu", slstm_backend)
        self.frontend = CausalSubsampling(input_dim, hidden_dim, factor=subsampling, freq_channels=freq_channels,
                                          cmn_frames=cmn_frames)
        n = len(self.pattern)
        self.blocks = nn.ModuleList(
            MLSTMBlock(hidden_dim, num_heads, conv_kernel, idx, n) if kind == "m"
            else LargeMLSTMBlock(hidden_dim, num_heads) if kind == "l"
            else SLSTMBlock(hidden_dim, num_heads, conv_kernel, idx, n, self.slstm_backend)
            for idx, kind in enumerate(self.pattern))
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(hidden_dim)

    def for_export(self) -> XLSTMEncoder:
        """A copy (same weights) for ``statecatcher export``: the package's group norms in a traceable form
        (:mod:`statecatcher_xlstm.export`)."""
        from .export import traceable_copy

        return traceable_copy(self)

    def init_state(self, batch_size: int, device=None, dtype=None) -> dict:
        """Zero state for ``batch_size`` lanes, in the module's dtype (float32 at least)."""
        param = self.norm.weight
        device = device or param.device
        dtype = dtype or (param.dtype if param.dtype == torch.float64 else torch.float32)
        return {"frontend": self.frontend.init_state(batch_size, device=device, dtype=dtype),
                "blocks": [block.init_state(batch_size, device=device, dtype=dtype) for block in self.blocks]}

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor, state: dict):
        """``feats[B,T,F]``, ``lengths[B]`` -> ``(out[B,T',D], out_lengths[B], new_state)``."""
        x, out_lengths, frontend_state = self.frontend(feats, lengths, state["frontend"])
        if x.shape[1] == 0:  # no output frame completed in any lane: the blocks' states stay as they are
            return x, out_lengths, {"frontend": frontend_state, "blocks": list(state["blocks"])}
        kernel = get_mlstm_kernel(MLSTM_KERNELS[choose_mlstm_backend(x.device, self.backend)])
        block_states = []
        for block, block_state in zip(self.blocks, state["blocks"], strict=True):
            if isinstance(block, (MLSTMBlock, LargeMLSTMBlock)):
                x, block_state = block(x, out_lengths, block_state, kernel, self.chunk_size)
            else:
                x, block_state = block(x, out_lengths, block_state)
            x = self.dropout(x)
            block_states.append(block_state)
        x = self.norm(x)
        x = torch.where(valid_mask(out_lengths, x.shape[1])[..., None], x, x.new_zeros(()))
        return x, out_lengths, {"frontend": frontend_state, "blocks": block_states}
