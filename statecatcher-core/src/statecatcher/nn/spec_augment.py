"""SpecAugment (Park et al., 2019): frequency and time masks on the normalised features of one segment.

Applied per training segment, after feature normalisation, so a masked value is the bin's mean (0).  Only
``lengths[b]`` real frames of a lane are masked; padding stays as it is.  The encoder still runs over the
masked frames, so the state carried into the next segment is computed from the masked input (as a noisy
recording would be), and the loss of the segment itself is unchanged in form.  Evaluation never masks.

The masks come from torch's global generator, which checkpoints save and restore, so a resumed run draws
the same masks as an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SpecAugmentConfig:
    """``freq_masks`` masks of up to ``freq_width`` bins; per lane ``ceil(time_mask_ratio * frames / time_width)``
    masks of up to ``time_width`` frames each, at most ``time_masks`` (0: no time masks)."""

    freq_masks: int = 2
    freq_width: int = 15
    time_masks: int = 10
    time_width: int = 40
    time_mask_ratio: float = 0.05

    @property
    def enabled(self) -> bool:
        return (self.freq_masks > 0 and self.freq_width > 0) or (self.time_masks > 0 and self.time_width > 0)


def _band_mask(starts: torch.Tensor, widths: torch.Tensor, size: int) -> torch.Tensor:
    """``[B, M]`` bands ``[start, start + width)`` -> ``[B, size]`` bool, true inside any band."""
    pos = torch.arange(size, device=starts.device)[None, None, :]
    return ((pos >= starts[..., None]) & (pos < (starts + widths)[..., None])).any(dim=1)


def spec_augment(feats: torch.Tensor, lengths: torch.Tensor, config: SpecAugmentConfig) -> torch.Tensor:
    """``feats [B, T, F]``, ``lengths [B]`` -> a masked copy (masked values are 0)."""
    batch, frames, bins = feats.shape
    if batch == 0 or frames == 0 or not config.enabled:
        return feats
    keep = torch.ones(batch, frames, bins, dtype=torch.bool, device=feats.device)
    if config.freq_masks > 0 and config.freq_width > 0:
        widths = torch.randint(0, config.freq_width + 1, (batch, config.freq_masks))
        starts = (torch.rand(batch, config.freq_masks) * (bins - widths + 1)).long()
        real = torch.arange(frames)[None, :] < lengths.detach().cpu()[:, None]  # [B, T]: padding stays as it is
        keep &= ~(_band_mask(starts, widths, bins)[:, None, :] & real[:, :, None]).to(feats.device)
    if config.time_masks > 0 and config.time_width > 0:
        lens = lengths.detach().cpu().long()
        wanted = torch.ceil(config.time_mask_ratio * lens.double() / config.time_width).long()
        count = wanted.clamp(max=config.time_masks)
        widths = torch.randint(0, config.time_width + 1, (batch, config.time_masks))
        widths = torch.minimum(widths, lens[:, None]) * (torch.arange(config.time_masks)[None] < count[:, None])
        starts = (torch.rand(batch, config.time_masks) * (lens[:, None] - widths + 1)).long()
        keep &= ~_band_mask(starts, widths, frames).to(feats.device)[:, :, None]
    return feats * keep.to(feats.dtype)
