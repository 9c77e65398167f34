"""Learning-rate schedules: linear warm-up, then cosine decay, Noam (inverse square root) or constant."""

from __future__ import annotations

import math

import torch


def lr_factor(step: int, *, schedule: str, warmup_steps: int, total_steps: int) -> float:
    """Multiplier of the peak learning rate at optimizer step ``step`` (0-based)."""
    warm = max(1, warmup_steps)
    if step < warmup_steps:
        return (step + 1) / warm
    if schedule == "constant":
        return 1.0
    if schedule == "noam":
        return math.sqrt(warm / (step + 1))
    if schedule == "cosine":
        if total_steps <= warmup_steps:
            return 1.0
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown schedule {schedule!r}; choose cosine, noam or constant")


def make_scheduler(optimizer: torch.optim.Optimizer, *, schedule: str, warmup_steps: int,
                   total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, schedule=schedule, warmup_steps=warmup_steps,
                                          total_steps=total_steps))
