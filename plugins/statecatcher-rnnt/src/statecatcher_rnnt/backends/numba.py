"""warprnnt_numba: warp-transducer's CPU kernel compiled by numba (imported lazily; CPU only here)."""

from __future__ import annotations

import torch


def unavailable(device: torch.device) -> str | None:
    """Why this backend cannot run on ``device`` (``None`` if it can)."""
    if device.type != "cpu":
        return "the warprnnt_numba backend is wired for CPU tensors only"
    try:
        import warprnnt_numba.rnnt_loss.rnnt_pytorch  # noqa: F401  (numba is imported inside)
    except Exception as exc:  # ImportError, or numba failing to load its LLVM library
        return f"warprnnt_numba does not import ({exc}); pip install warprnnt_numba numba"
    return None


def rnnt_loss_numba(logits: torch.Tensor, targets: torch.Tensor, enc_lens: torch.Tensor, target_lens: torch.Tensor,
                    blank_id: int) -> torch.Tensor:
    """RNN-T NLL ``[B]`` from joiner ``logits [B, T, U + 1, V]`` (log-softmax is applied inside)."""
    from warprnnt_numba.rnnt_loss.rnnt_pytorch import rnnt_loss

    return rnnt_loss(logits.contiguous(), targets.int().contiguous(), enc_lens.int().contiguous(),
                     target_lens.int().contiguous(), blank=blank_id, reduction="none")
