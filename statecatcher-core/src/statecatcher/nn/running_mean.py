"""Online cepstral mean normalisation: subtract a causal running mean per feature bin, carried as state.

``out[t] = x[t] - m[t]`` with ``m[t] = a * m[t-1] + (1 - a) * x[t]``, ``a = 1 - 1 / frames`` (an exponential
moving average with a time constant of ``frames`` input frames), ``m = 0`` at a recording start.  The trainer's
global feature normalisation makes 0 the corpus mean, so the first seconds of a recording lean on it (as
Kaldi's online CMVN leans on global statistics until its window fills) and later ones follow the recording's
own channel: a telephone band or a microphone's colouring shifts some bins' means for the whole recording.

The recurrence is linear, so a chunk is computed in blocks of ``block`` frames with a ``[block, block]``
decay matrix instead of a loop over frames; padded frames neither update nor read the mean.  Exact under any
chunking up to rounding.

State (lane axis first)::

    mean   [B, F]   the running mean after the lane's last valid frame
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .masking import valid_mask


class RunningMeanNormalization(nn.Module):
    def __init__(self, num_bins: int, frames: float, block: int = 64):
        super().__init__()
        if frames <= 1 or block < 1:
            raise ValueError(f"running mean: frames must be > 1 and block >= 1, got frames={frames}, block={block}")
        self.num_bins, self.frames, self.block = num_bins, float(frames), block
        self.log_decay = math.log1p(-1.0 / self.frames)

    def init_state(self, batch_size: int, device=None, dtype=None) -> dict[str, torch.Tensor]:
        return {"mean": torch.zeros(batch_size, self.num_bins, device=device, dtype=dtype)}

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor, state: dict[str, torch.Tensor]):
        """``feats [B, T, F]`` -> (``feats`` minus the running mean, zeros on padded frames; new state)."""
        B, T, _ = feats.shape
        valid = valid_mask(lengths.to(feats.device), T)
        mean = state["mean"].to(feats.dtype)
        out = []
        for start in range(0, T, self.block):
            x, ok = feats[:, start:start + self.block], valid[:, start:start + self.block]
            # log of the decay applied by each frame: log(a) on valid frames, 0 (no change) on padding
            log_d = torch.where(ok, self.log_decay, 0.0).to(feats.dtype)                  # [B, L]
            cum = torch.cumsum(log_d, dim=1)                                                # [B, L]
            gap = cum[:, :, None] - cum[:, None, :]                                         # [B, t, k]
            causal = torch.ones(x.shape[1], x.shape[1], dtype=torch.bool, device=feats.device).tril()
            weights = torch.where(causal, torch.exp(gap.clamp(max=0.0)), torch.zeros((), dtype=feats.dtype))
            update = torch.where(ok[..., None], x, torch.zeros((), dtype=feats.dtype)) * (-math.expm1(self.log_decay))
            running = weights @ update + torch.exp(cum)[..., None] * mean[:, None, :]     # [B, L, F]
            out.append(torch.where(ok[..., None], x - running, torch.zeros((), dtype=feats.dtype)))
            mean = running[:, -1]
        normalised = torch.cat(out, dim=1) if out else feats
        return normalised, {"mean": mean}
