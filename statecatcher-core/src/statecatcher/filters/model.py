"""The model detector: a segment whose per-token loss is far above that of recent segments.

It runs in the trainer, after the forward pass and before the backward, on the training segment (CTC or
RNN-T loss divided by its target tokens).  The reference is a window of the last ``window`` segments'
losses; the score is a robust z-score ``(loss - median) / (1.4826 * spread)``.  The first ``warmup``
segments are only collected (score 0, never rejected): an untrained model's losses say nothing.

The spread is the larger of the MAD and the MAD of the upper half (:func:`~statecatcher.filters.robust.
upper_deviation`).  Losses during training are skewed to the right: bounded by 0 below, where the segments the
model has learnt crowd, with a long tail of clean segments holding words it has not learnt yet (on tone words,
every segment with one particular word).  The plain MAD measures the crowd and flagged that tail (16.8 % and
20.8 % of the clean segments in two of three benchmark seeds); the upper half measures the tail itself.  With
the losses spread alike on both sides the rule is the plain MAD's, and it is never narrower.

Rejected segments' losses enter the window too.  A masked segment gives no gradient, so if rejected losses
stayed out, one jump of the loss level (a spike in training) would make every later segment an outlier
against a stale window: everything masked, nothing learnt, for the rest of the run.  Median and MAD
ignore the bad labels' losses as long as they are fewer than half of the window (the upper half's MAD:
fewer than a quarter).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from statecatcher.filters.robust import RobustWindow, upper_deviation
from statecatcher.records import Segment


class LossOutlier(RobustWindow):
    """Robust z-score of ``context["token_loss"]`` (nats per target token) against the recent window, over
    the larger of the MAD and the upper half's MAD; reject above ``threshold``.  ``min_spread`` (nats) keeps
    the z-score finite when losses barely vary."""

    name = "loss_outlier"
    needs_loss = True
    keep_rejected = True

    def __init__(self, threshold: float = 3.5, warmup: int = 200, window: int = 400, min_spread: float = 0.05):
        super().__init__(threshold, warmup, window, min_spread)

    def deviation(self, middle: float, value: float) -> float:
        return max(super().deviation(middle, value), upper_deviation(self.recent, middle))

    def score(self, segment: Segment, context: Mapping[str, Any]) -> tuple[float, bool]:
        return self.judge(float(context["token_loss"]))
