"""One training step on one batch of lane segments: forward with the carried state, the weighted per-token
loss, backward every ``tbptt_segments`` steps, an optimizer step every ``accumulate_segments`` steps.

Guards (:class:`~statecatcher.train.guards.NonFiniteGuard`): a step whose loss is not finite (on any rank) is
skipped - no backward, the carried state keeps its pre-step value; an optimizer step whose gradient norm is not
finite is not taken - the weights, the optimizer moments, the schedule and the carried state keep their
pre-step values.  Both count as ``nan_skips``; ``--max-nan-skips`` of them in a row stop the run.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch

from ..state import cast_like, detach, reset_lanes
from .guards import RunStopped
from .tokens import encode_batch


@dataclass
class StepResult:
    state: Any                 # the carried state after this step (detached every tbptt_segments steps)
    loss: float | None         # weighted per-token loss of all ranks' lanes; None when the step was skipped
    audio_seconds: float       # audio of all ranks' lanes in this step


class TbpttStep:
    """Holds what a step needs (model, optimiser, schedule, world, filters) and the pending TBPTT graph."""

    def __init__(self, *, forward: torch.nn.Module, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 scheduler: Any, world: Any, filters: Any, tokenizer: Any, config: Any, fresh_state: Any,
                 guard: Any, autocast: Any = None):
        self.forward, self.model, self.optimizer, self.scheduler = forward, model, optimizer, scheduler
        self.world, self.filters, self.tokenizer, self.config = world, filters, tokenizer, config
        self.fresh_state = fresh_state  # what a reset lane starts from; never mutated
        self.guard = guard
        self.autocast = autocast or contextlib.nullcontext()
        self.pending: torch.Tensor | None = None  # summed loss of the segments since the last backward

    @property
    def can_checkpoint(self) -> bool:
        """No graph pending: the carried state is a plain value that a checkpoint can hold."""
        return self.pending is None

    def __call__(self, batch: Any, state: Any, summary: Any) -> StepResult:
        config, world = self.config, self.world
        # -- lanes that start a new recording (or every lane, for the stateless baseline)
        reset = torch.ones_like(batch.reset) if config.stateless else batch.reset
        state = reset_lanes(state, reset, self.fresh_state)
        pre_step_state = detach(state)  # what a skipped step keeps
        # -- forward with the carried state; per-token loss over the weighted lanes
        targets, target_lens = encode_batch(self.tokenizer, batch.texts, batch.feats.device)
        with self.autocast:
            per_lane, _, new_state = self.forward(batch.feats, batch.lengths, targets, target_lens, state)
        new_state = cast_like(new_state, self.fresh_state)  # autocast returns bf16 leaves: carry float32
        weight = batch.weight.to(per_lane.dtype)
        # -- label filters: a rejected segment keeps its forward (state) but gets weight 0
        weight = self.filters.update(batch, per_lane, target_lens, weight, step=summary.steps + 1)
        tokens = (target_lens.to(per_lane.dtype) * weight).sum()
        lane_loss = (per_lane.float() * weight).sum()
        # -- summed over every rank's lanes; DDP averages the ranks' gradients, hence * world.size
        tokens, total_loss, audio = world.all_sum(tokens, lane_loss,
                                                  torch.tensor(batch.audio_seconds, dtype=torch.float64))
        tokens = tokens.clamp(min=1.0)
        summary.steps += 1
        loss_value: float | None = None
        if self._loss_is_finite(total_loss, summary):  # the same verdict on every rank
            state = new_state
            loss = lane_loss * world.size / tokens
            self.pending = loss if self.pending is None else self.pending + loss
            loss_value = float(total_loss / tokens)
        else:  # skip: no backward, the state keeps its pre-step value
            summary.nan_skips += 1
            self.pending = None
            self.optimizer.zero_grad(set_to_none=True)
            state = detach(state)
        # -- backward every tbptt_segments; optimizer step every accumulate_segments
        if self.pending is not None and summary.steps % config.tbptt_segments == 0:
            if self.pending.requires_grad:
                (self.pending / config.accumulate_segments).backward()
            self.pending = None
            state = detach(state)
        if summary.steps % config.accumulate_segments == 0 and not self._optimizer_step(summary):
            state = pre_step_state  # a non-finite gradient norm (same on every rank): keep the state too
        return StepResult(state=state, loss=loss_value, audio_seconds=float(audio))

    def _loss_is_finite(self, total_loss: torch.Tensor, summary: Any) -> bool:
        try:
            return self.guard.loss_is_finite(total_loss, summary.steps)
        except RunStopped:  # the skip that stopped the run is counted too
            summary.nan_skips += 1
            raise

    def _optimizer_step(self, summary: Any) -> bool:
        """Clip, then step the optimiser and the schedule - unless the gradient norm is non-finite."""
        try:
            applied = self.guard.gradients_are_finite(self.model.parameters(), self.config.grad_clip, summary.steps)
        except RunStopped:  # the skips that stopped the run are counted too
            summary.nan_skips += self.guard.window_skipped
            raise
        if applied:
            self.optimizer.step()
            self.scheduler.step()
            summary.optimizer_steps += 1
        else:
            summary.nan_skips += self.guard.window_skipped
        self.optimizer.zero_grad(set_to_none=True)
        return applied
