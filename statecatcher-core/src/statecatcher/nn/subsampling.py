"""A causal subsampling front end that is exact under any chunking.

``feats[B,T,F] -> stack `factor` frames -> Linear -> LayerNorm -> causal Conv1d(kernel) -> SiLU -> [B,T',D]``

With ``freq_channels=C > 0`` each stack first goes through two convolutions along the mel axis, the stacked
frames as input channels (a 2-D convolution whose time kernel is the stack, as the Conv2d front ends of
icefall and ESPnet, but without time overlap)::

    stack [factor, F] -> Conv1d over F (factor -> C, freq_kernel, stride 2) -> SiLU
                      -> Conv1d over F (C -> C, freq_kernel, stride 2) -> SiLU -> flatten [C * F/4] -> Linear ...

Its weights are shared across mel bins, so a pattern shifted in frequency (another speaker's pitch and
formants) meets the same filters.  It sees one stack at a time, so the state and the chunking are unchanged.

With ``cmn_frames=N > 0`` the input first loses its running mean per bin (online cepstral mean normalisation
with a time constant of N frames, :class:`~statecatcher.nn.running_mean.RunningMeanNormalization`); the mean
is one more state leaf, ``cmn_mean [B, F]``.

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
from .running_mean import RunningMeanNormalization


class CausalSubsampling(nn.Module):
    def __init__(self, input_dim: int, output_dim: int, factor: int = 4, kernel: int = 3,
                 freq_channels: int = 0, freq_kernel: int = 5, cmn_frames: float = 0.0):
        super().__init__()
        if factor < 1 or kernel < 1:
            raise ValueError(f"factor and kernel must be >= 1, got factor={factor}, kernel={kernel}")
        if freq_channels < 0 or freq_kernel < 1 or freq_kernel % 2 == 0:
            raise ValueError(f"front end option freq_channels={freq_channels} must be >= 0 and "
                             f"freq_kernel={freq_kernel} an odd number >= 1")
        self.input_dim, self.output_dim, self.factor, self.kernel = input_dim, output_dim, factor, kernel
        self.running_mean = RunningMeanNormalization(input_dim, cmn_frames) if cmn_frames else None
        self.input_norm = nn.LayerNorm(input_dim)
        self.freq_conv = _frequency_convolution(factor, freq_channels, freq_kernel) if freq_channels else None
        stack_features = freq_channels * _halved(_halved(input_dim)) if freq_channels else factor * input_dim
        self.proj = nn.Linear(stack_features, output_dim)
        self.norm = nn.LayerNorm(output_dim)
        self.conv = nn.Conv1d(output_dim, output_dim, kernel)

    def init_state(self, batch_size: int, device=None, dtype=None) -> dict[str, torch.Tensor]:
        dtype = dtype or self.proj.weight.dtype
        device = device or self.proj.weight.device
        state = {
            "stack": torch.zeros(batch_size, self.factor - 1, self.input_dim, device=device, dtype=dtype),
            "stack_len": torch.zeros(batch_size, dtype=torch.long, device=device),
            "conv": torch.zeros(batch_size, self.kernel - 1, self.output_dim, device=device, dtype=dtype),
        }
        if self.running_mean is not None:
            state["cmn_mean"] = self.running_mean.init_state(batch_size, device=device, dtype=dtype)["mean"]
        return state

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor, state: dict[str, torch.Tensor]):
        B, T, F = feats.shape
        s, K = self.factor, self.kernel
        lengths = lengths.to(device=feats.device, dtype=torch.long)
        extra = {}
        if self.running_mean is not None:
            feats, cmn = self.running_mean(feats, lengths, {"mean": state["cmn_mean"]})
            extra["cmn_mean"] = cmn["mean"]
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

        if self.freq_conv is not None:
            stacked = self.freq_conv(stacked.reshape(B * N, s, F)).reshape(B, N, self.proj.in_features)

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
        return z, n_out, {"stack": new_stack, "stack_len": remainder, "conv": new_conv, **extra}


def _halved(size: int) -> int:
    """Length after one stride-2 convolution with "same" padding."""
    return (size + 1) // 2


def _frequency_convolution(factor: int, channels: int, kernel: int) -> nn.Sequential:
    """Two stride-2 convolutions along the mel axis; the ``factor`` stacked frames are the input channels."""
    return nn.Sequential(
        nn.Conv1d(factor, channels, kernel, stride=2, padding=kernel // 2), nn.SiLU(),
        nn.Conv1d(channels, channels, kernel, stride=2, padding=kernel // 2), nn.SiLU())
