"""torchaudio.functional.rnnt_loss (imported lazily: PyPI's torchaudio must match the installed torch)."""

from __future__ import annotations

import torch


def unavailable(device: torch.device) -> str | None:
    """Why this backend cannot run on ``device`` (``None`` if it can)."""
    try:
        import torchaudio.functional  # noqa: F401
    except Exception as exc:  # ImportError, or an OSError when its C++ extension does not fit this torch
        return f"torchaudio does not import on this torch ({exc})"
    return None


def rnnt_loss_torchaudio(logits: torch.Tensor, targets: torch.Tensor, enc_lens: torch.Tensor,
                         target_lens: torch.Tensor, blank_id: int) -> torch.Tensor:
    """RNN-T NLL ``[B]`` from joiner ``logits [B, T, U + 1, V]`` (float32 kernel; fused log-softmax)."""
    from torchaudio.functional import rnnt_loss

    loss = rnnt_loss(logits.float(), targets.int(), enc_lens.int(), target_lens.int(), blank=blank_id,
                     reduction="none")
    return loss.to(logits.dtype)
