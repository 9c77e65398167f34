"""Built-in trackers: a rich console progress display and a JSONL metrics file.

Both follow :class:`statecatcher.protocols.Tracker`.  The console writes to stderr so that stdout stays
clean for ``--json`` output; the JSONL file (``RUN_DIR/metrics.jsonl``) is the source for plots.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class JsonlTracker:
    """Appends one JSON object per ``log_metrics`` call: ``{"step": N, "time": unix, ...metrics}``."""

    def __init__(self, run_dir: Path, **_: Any) -> None:
        self.path = Path(run_dir) / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", buffering=1)

    def log_params(self, params: Mapping[str, Any]) -> None:
        (self.path.parent / "params.json").write_text(json.dumps(dict(params), indent=2, default=str))

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        row = {"step": step, "time": round(time.time(), 3)}
        row.update({k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()})
        self._file.write(json.dumps(row) + "\n")

    def close(self) -> None:
        self._file.close()


class ConsoleTracker:
    """A rich progress bar on stderr: steps, loss, audio hours seen, data-wait share, steps/s, audio seconds
    per second (x real time), ETA."""

    def __init__(self, run_dir: Path | None = None, **_: Any) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("[bold]train[/]"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"), console=Console(stderr=True), transient=False,
        )
        self._task = self._progress.add_task("train", total=None, info="")  # log_params sets the total
        self._started = False

    def log_params(self, params: Mapping[str, Any]) -> None:
        total = params.get("total_steps")
        if total:
            self._progress.update(self._task, total=int(total))

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        if not self._started:
            self._progress.start()
            self._started = True
        shown = []
        for key, fmt in (("loss", "loss {:.3f}"), ("audio_hours", "{:.2f} h audio"),
                         ("data_wait_pct", "wait {:.0f}%"), ("steps_per_s", "{:.2f} step/s"),
                         ("audio_seconds_per_s", "{:.0f}x real time"), ("wer", "WER {:.1%}")):
            value = metrics.get(key)
            if isinstance(value, (int, float)) and math.isfinite(value):
                shown.append(fmt.format(value))
        self._progress.update(self._task, completed=step, info="  ".join(shown))

    def close(self) -> None:
        if self._started:
            self._progress.stop()
