"""The model detector: a segment whose per-token loss is far above that of recent segments.

It runs in the trainer, after the forward pass and before the backward, on the training segment (CTC or
RNN-T loss divided by its target tokens).  The reference is a window of the last ``window`` segments'
losses; the score is the robust z-score ``(loss - median) / (1.4826 * MAD)``.  The first ``warmup``
segments are only collected (score 0, never rejected): an untrained model's losses say nothing.

Rejected segments' losses enter the window too.  A masked segment gives no gradient, so if rejected losses
stayed out, one jump of the loss level (a spike in training) would make every later segment an outlier
against a stale window: everything masked, nothing learnt, for the rest of the run.  Median and MAD
ignore the bad labels' losses as long as they are fewer than half of the window.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from statecatcher.filters.robust import RobustWindow
from statecatcher.records import Segment


class LossOutlier(RobustWindow):
    """Robust z-score of ``context["token_loss"]`` (nats per target token) against the recent window;
    reject above ``threshold``.  ``min_spread`` (nats) keeps the z-score finite when losses barely vary."""

    name = "loss_outlier"
    needs_loss = True
    keep_rejected = True

    def __init__(self, threshold: float = 3.5, warmup: int = 200, window: int = 400, min_spread: float = 0.05):
        super().__init__(threshold, warmup, window, min_spread)

    def score(self, segment: Segment, context: Mapping[str, Any]) -> tuple[float, bool]:
        return self.judge(float(context["token_loss"]))
