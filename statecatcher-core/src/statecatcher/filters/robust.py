"""A running robust reference: median and MAD of the last accepted values, and robust z-scores against it."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from statistics import median
from typing import Any

MAD_TO_SIGMA = 1.4826  # MAD * this estimates the standard deviation of a normal distribution


class RobustWindow:
    """The last ``window`` values; after ``warmup`` of them, ``judge`` returns the robust z-score
    ``(value - median) / max(1.4826 * MAD, min_spread)`` (a subclass may measure the spread otherwise:
    :meth:`deviation`) and rejects beyond ``threshold`` (``two_sided``:
    in either direction).  With ``keep_rejected`` False, rejected values stay out of the window, so a run of
    bad ones cannot shift it; that suits a quantity that does not drift (a speaking rate).  A quantity that
    does drift (a loss during training) needs ``keep_rejected``: else one jump of its level would make every
    later value an outlier against a window that never moves again.  Median and MAD ignore outliers as long
    as they are fewer than half of the window."""

    keep_rejected = False

    def __init__(self, threshold: float, warmup: int, window: int, min_spread: float):
        if warmup < 1 or window < 2:
            raise ValueError(f"need warmup >= 1 and window >= 2, got {warmup} and {window}")
        self.threshold, self.warmup, self.min_spread = threshold, warmup, min_spread
        self.seen = 0
        self.recent: deque[float] = deque(maxlen=window)

    def judge(self, value: float, *, two_sided: bool = False) -> tuple[float, bool]:
        if not math.isfinite(value):
            return 0.0, False
        z = self.z_score(value) if self.seen >= self.warmup else 0.0
        reject = (abs(z) if two_sided else z) > self.threshold
        if self.keep_rejected or not reject:
            self.recent.append(value)
            self.seen += 1
        return z, reject

    def state_dict(self) -> dict[str, Any]:
        """The window and the count seen (checkpointed with the run, so a resumed run judges alike)."""
        return {"seen": self.seen, "recent": list(self.recent)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seen = int(state["seen"])
        self.recent.clear()
        self.recent.extend(float(x) for x in state["recent"])

    def z_score(self, value: float) -> float:
        middle = median(self.recent)
        return (value - middle) / max(MAD_TO_SIGMA * self.deviation(middle, value), self.min_spread)

    def deviation(self, middle: float, value: float) -> float:
        """The MAD (median absolute deviation from ``middle``, the window's median) the z-score of ``value``
        divides by; see :func:`upper_deviation` for a quantity skewed to the right."""
        return median(abs(x - middle) for x in self.recent)


def upper_deviation(values: Iterable[float], middle: float) -> float:
    """The MAD of the upper half: the median distance to ``middle`` (the median of ``values``) of the values
    at or above it (one half of the "double MAD").  For a symmetric distribution it equals the MAD; for one
    skewed to the right (bounded below, with a long tail above, like losses during training) it is larger,
    as wide as the upper half actually spreads, where the MAD is narrowed by the values crowded below."""
    return median(x - middle for x in values if x >= middle)
