"""Global mean/variance normalisation of input features, per feature bin (``[F]`` statistics).

``y[b, t, f] = (x[b, t, f] - mean[f]) * inv_std[f]``: frame by frame, so it is exact under any chunking and
carries no state.  The statistics are buffers of the model, so they travel in every checkpoint and model pack
and every decoding path (training, ``eval``, ``transcribe``, the speechcatcher interface) applies the same
transform.  Until :meth:`FeatureNormalizer.set_stats` is called the transform is the identity.
"""

from __future__ import annotations

import torch
from torch import nn


class FeatureNormalizer(nn.Module):
    def __init__(self, num_bins: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(num_bins))
        self.register_buffer("inv_std", torch.ones(num_bins))

    def set_stats(self, mean: torch.Tensor, std: torch.Tensor, *, floor: float = 1e-3) -> None:
        """Use ``mean [F]`` and ``std [F]`` (standard deviations below ``floor`` are raised to it)."""
        self.mean.copy_(mean.to(self.mean))
        self.inv_std.copy_(1.0 / std.to(self.inv_std).clamp(min=floor))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """``feats [B, T, F]`` -> normalised ``[B, T, F]`` (padding frames are transformed too; encoders mask them)."""
        return (feats - self.mean.to(feats.dtype)) * self.inv_std.to(feats.dtype)
