"""A running robust reference: median and MAD of the last accepted values, and robust z-scores against it."""

from __future__ import annotations

import math
from collections import deque
from statistics import median
from typing import Any

MAD_TO_SIGMA = 1.4826  # MAD * this estimates the standard deviation of a normal distribution


class RobustWindow:
    """The last ``window`` values; after ``warmup`` of them, ``judge`` returns the robust z-score
    ``(value - median) / max(1.4826 * MAD, min_spread)`` and rejects beyond ``threshold`` (``two_sided``:
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
        spread = max(MAD_TO_SIGMA * median(abs(x - middle) for x in self.recent), self.min_spread)
        return (value - middle) / spread
