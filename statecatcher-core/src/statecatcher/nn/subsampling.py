"""A causal subsampling front end that is exact under any chunking.

``feats[B,T,F] -> stack `factor` frames -> Linear -> LayerNorm -> causal Conv1d(kernel) -> SiLU -> [B,T',D]``

Output frame ``j`` of a lane exists once input frames ``factor*j .. factor*j+factor-1`` have arrived, so a
chunk may end in the middle of a stack: the unfinished frames wait in the state (``stack``, ``stack_len``),
and the convolution keeps its last ``kernel-1`` inputs (``conv``).  Padding frames are zeroed on entry and
never reach the state, so lanes of any lengths can share a call.

State (lane axis first)::

    stack      [B, factor-1, F]  pending input frames, right-aligned (zeros where unused)
    stack_len  [B]               how many of them are real (int64)
    conv       [B, kernel-1, D]  last kernel-1 linear outputs (zeros at a recording start)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F_
from torch import nn

from .masking import valid_mask


class CausalSubsampling(nn.Module):
    def __init__(self, input_dim: int, output_dim: int, factor: int = 4, kernel: int = 3):
        super().__init__()
        if factor < 1 or kernel < 1:
            raise ValueError(f"factor and kernel must be >= 1, got factor={factor}, kernel={kernel}")
        self.input_dim, self.output_dim, self.factor, self.kernel = input_dim, output_dim, factor, kernel
        self.input_norm = nn.LayerNorm(input_dim)
        self.proj = nn.Linear(factor * input_dim, output_dim)
        self.norm = nn.LayerNorm(output_dim)
        self.conv = nn.Conv1d(output_dim, output_dim, kernel)

    def init_state(self, batch_size: int, device=None, dtype=None) -> dict[str, torch.Tensor]:
        dtype = dtype or self.proj.weight.dtype
        device = device or self.proj.weight.device
        return {
            "stack": torch.zeros(batch_size, self.factor - 1, self.input_dim, device=device, dtype=dtype),
            "stack_len": torch.zeros(batch_size, dtype=torch.long, device=device),
            "conv": torch.zeros(batch_size, self.kernel - 1, self.output_dim, device=device, dtype=dtype),
        }

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor, state: dict[str, torch.Tensor]):
        B, T, F = feats.shape
        s, K = self.factor, self.kernel
        lengths = lengths.to(device=feats.device, dtype=torch.long)
        feats = torch.where(valid_mask(lengths, T)[..., None], self.input_norm(feats), feats.new_zeros(()))

        # ---- frame stacking: pending frames + this chunk's valid frames, in groups of `s`
        pending = state["stack_len"]
        combined = torch.cat([state["stack"].to(feats.dtype), feats], dim=1)  # [B, s-1+T, F]
        first = (s - 1) - pending                                             # first real position
        total = pending + lengths
        n_out = total // s                                                    # [B] output frames
        N = int(n_out.max()) if B else 0
        j = torch.arange(N, device=feats.device)
        r = torch.arange(s, device=feats.device)
        pos = (first[:, None, None] + j[None, :, None] * s + r[None, None, :]).clamp(max=combined.shape[1] - 1)
        stacked = combined.gather(1, pos.reshape(B, N * s, 1).expand(-1, -1, F)).reshape(B, N, s * F)

        end = first + total                                                   # exclusive end, >= s-1
        k = torch.arange(s - 1, device=feats.device)
        left_pos = end[:, None] - (s - 1) + k[None, :]
        new_stack = combined.gather(1, left_pos[..., None].expand(-1, -1, F))
        remainder = total - n_out * s
        keep = (k[None, :] >= (s - 1 - remainder)[:, None])[..., None]
        new_stack = torch.where(keep, new_stack, new_stack.new_zeros(()))

        # ---- projection and causal convolution over output-rate frames
        y = self.norm(self.proj(stacked))                                     # [B, N, D]
        out_valid = valid_mask(n_out, N)[..., None]
        y = torch.where(out_valid, y, y.new_zeros(()))
        with_cache = torch.cat([state["conv"].to(y.dtype), y], dim=1)        # [B, K-1+N, D]
        if N > 0:
            z = F_.silu(self.conv(with_cache.transpose(1, 2)).transpose(1, 2))  # [B, N, D]
            z = torch.where(out_valid, z, z.new_zeros(()))
        else:
            z = y
        kk = torch.arange(K - 1, device=feats.device)
        cache_pos = (n_out[:, None] + kk[None, :])[..., None].expand(-1, -1, self.output_dim)
        new_conv = with_cache.gather(1, cache_pos)
        return z, n_out, {"stack": new_stack, "stack_len": remainder, "conv": new_conv}
