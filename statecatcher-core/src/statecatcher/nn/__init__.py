"""Reusable, chunk-exact building blocks for encoder plugins."""

from .masking import valid_mask
from .subsampling import CausalSubsampling

__all__ = ["CausalSubsampling", "valid_mask"]
