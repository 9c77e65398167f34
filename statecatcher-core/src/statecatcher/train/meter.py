"""What the trainer logs every ``log_every`` steps: mean loss and throughput over the window since the last log."""

from __future__ import annotations

import time
from typing import Any


class ThroughputMeter:
    """Window counters: per-token losses, steps, audio seconds (all ranks), input frames (this rank), data wait.

    ``add()`` once per step; ``metrics()`` returns the window's averages and rates and starts a new window.
    """

    def __init__(self, audio_seconds: float = 0.0):
        self._reset(time.perf_counter(), audio_seconds, wait_seconds=0.0)

    def _reset(self, now: float, audio_seconds: float, wait_seconds: float) -> None:
        self.started, self.audio_start, self.wait_start = now, audio_seconds, wait_seconds
        self.losses: list[float] = []
        self.steps = self.frames = 0

    def restart_wait(self, wait_seconds: float = 0.0) -> None:
        """A new data batcher: its wait counter starts again at ``wait_seconds``."""
        self.wait_start = wait_seconds

    def add(self, loss: float | None, frames: int) -> None:
        """One step: its per-token loss (None for a skipped step) and its ``[B, T]`` input frames, padding too."""
        self.steps += 1
        self.frames += frames
        if loss is not None:
            self.losses.append(loss)

    def metrics(self, *, audio_seconds: float, wait_seconds: float) -> dict[str, Any]:
        now = time.perf_counter()
        elapsed = max(1e-9, now - self.started)
        out = {
            "steps_per_s": self.steps / elapsed,
            "data_wait_pct": 100.0 * (wait_seconds - self.wait_start) / elapsed,
            "audio_seconds_per_s": (audio_seconds - self.audio_start) / elapsed,
            "frames_per_s": self.frames / elapsed,
        }
        if self.losses:  # a window of skipped steps has no loss (never a 0.0)
            out["loss"] = sum(self.losses) / len(self.losses)
        self._reset(now, audio_seconds, wait_seconds)
        return out
