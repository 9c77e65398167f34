"""What stops a training run, and the check that keeps non-finite numbers out of the weights and the state.

Every way a run can fail that is the data's or the numbers' fault (not a bug) raises :class:`RunStopped`
with one line naming the cause; ``statecatcher run`` prints it and exits 1.  docs/reliability.md lists
them with the drill that proves each.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch


class RunStopped(RuntimeError):
    """The run cannot go on (no data, non-finite gradients, ...); the message is one line naming the cause."""


class NonFiniteGuard:
    """Decides whether an optimizer step may change the weights, and stops a run that keeps failing.

    A segment step is *skipped* when its loss is non-finite (its gradient is never used), or when the
    gradient norm of the optimizer step it belongs to is non-finite (that step is not taken: the weights,
    the optimizer moments and the scheduler stay as they were).  ``limit`` skipped segment steps in a row
    raise :class:`RunStopped`.  One applied optimizer step with a finite loss behind it resets the count.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.consecutive = 0  # skipped segment steps since the last applied optimizer step
        self.finite_in_window = 0  # segment steps with a finite loss since the last optimizer step
        self.window_skipped = 0  # segment steps the last refused optimizer step dropped

    def loss_is_finite(self, total_loss: torch.Tensor, step: int) -> bool:
        """Counts a step whose (all-rank) loss is non-finite as skipped; raises after ``limit`` in a row."""
        if bool(torch.isfinite(total_loss)):
            self.finite_in_window += 1
            return True
        self._skipped(1, step, "loss")
        return False

    def gradients_are_finite(self, parameters: Iterable[torch.nn.Parameter], max_norm: float, step: int) -> bool:
        """Clips the gradients to ``max_norm``; False (and the window's steps counted as skipped) when their
        norm is non-finite, in which case the caller must not take the optimizer step."""
        norm = torch.nn.utils.clip_grad_norm_(list(parameters), max_norm)
        window, self.finite_in_window = self.finite_in_window, 0
        if bool(torch.isfinite(norm)):
            if window:
                self.consecutive = 0
            return True
        self.window_skipped = window
        self._skipped(window, step, f"gradient norm ({float(norm)})")
        return False

    def _skipped(self, count: int, step: int, what: str) -> None:
        self.consecutive += count
        if self.limit and self.consecutive >= self.limit:
            raise RunStopped(f"step {step}: {self.consecutive} steps in a row had a non-finite {what}; stopped "
                             f"(--max-nan-skips {self.limit}); the weights are those of the last finite step. "
                             "Lower --lr or --grad-clip")


def non_finite_tensors(tensors: Mapping[str, Any]) -> list[str]:
    """Names of the floating-point tensors of ``tensors`` (a ``state_dict``) that hold a NaN or an inf."""
    return [name for name, value in tensors.items()
            if isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all())]


def check_finite_weights(model_state: Mapping[str, Any], step: int) -> None:
    """Raises :class:`RunStopped` instead of letting a checkpoint with non-finite weights be written."""
    bad = non_finite_tensors(model_state)
    if bad:
        raise RunStopped(f"step {step}: {len(bad)} parameter tensor(s) are non-finite (first: {bad[0]}); "
                         "no checkpoint written")


def check_epoch_trained(epoch: int, steps: int, skipped: list[tuple[str, str]], *, data: str, split: str) -> None:
    """An epoch (not resumed mid-way) that yielded no batch: every recording failed to load, or there is
    none.  Raises :class:`RunStopped` naming the data source and the first reason."""
    if steps:
        return
    if skipped:
        first_id, reason = skipped[0]
        raise RunStopped(f"epoch {epoch}: no recording of split {split!r} could be loaded from {data} "
                         f"({len(skipped)} skipped; first: {first_id}: {reason})")
    raise RunStopped(f"epoch {epoch}: the data source {data} has no recording with a training segment in split "
                     f"{split!r}")


def check_reached_end(steps: int, *, max_steps: int, epochs: int) -> None:
    """A run with ``--max-steps`` whose epochs ran out first ended short: raises :class:`RunStopped`."""
    if max_steps and steps < max_steps:
        raise RunStopped(f"data ran out: trained {steps} of --max-steps {max_steps} steps in --epochs {epochs} "
                         "epoch(s); raise --epochs to reach --max-steps")
