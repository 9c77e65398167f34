"""Padding masks."""

from __future__ import annotations

import torch


def valid_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """``[B, max_len]`` bool, true for frames ``t < lengths[b]``."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]
