"""warp-rnnt (1ytic/warp-rnnt), the CUDA kernel named by the design card (imported lazily; CUDA only)."""

from __future__ import annotations

import torch


def unavailable(device: torch.device) -> str | None:
    """Why this backend cannot run on ``device`` (``None`` if it can)."""
    if device.type != "cuda":
        return (f"warp-rnnt has no CPU kernel and the tensors are on {device.type} "
                f"(torch.cuda.is_available() is {torch.cuda.is_available()}); use backend 'auto', 'torch' or 'numba'")
    try:
        import warp_rnnt  # noqa: F401
    except Exception as exc:
        return f"warp_rnnt does not import ({exc}); pip install warp-rnnt"
    return None


def rnnt_loss_warp(logits: torch.Tensor, targets: torch.Tensor, enc_lens: torch.Tensor, target_lens: torch.Tensor,
                   blank_id: int) -> torch.Tensor:
    """RNN-T NLL ``[B]`` from joiner ``logits [B, T, U + 1, V]`` (float32 CUDA kernel on log-probs)."""
    from warp_rnnt import rnnt_loss

    log_probs = logits.float().log_softmax(dim=-1)
    loss = rnnt_loss(log_probs, targets.int(), enc_lens.int(), target_lens.int(), average_frames=False,
                     reduction="none", blank=blank_id, gather=True)
    return loss.to(logits.dtype)
