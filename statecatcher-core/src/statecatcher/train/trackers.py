"""Built-in trackers: a rich console progress display and a JSONL metrics file.

Both follow :class:`statecatcher.protocols.Tracker`.  The console writes to stderr so that stdout stays
clean for ``--json`` output; the JSONL file (``RUN_DIR/metrics.jsonl``) is the source for plots.
"""

from __future__ import annotations

import json
import math
import sys
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
    """Progress on stderr: a rich progress bar on a terminal; when stderr is redirected (a log file, CI), one
    plain line every ``every_seconds`` seconds and at the end, so a ``run > log 2>&1`` shows progress as it goes.

    Shown: step/total, epoch, loss, dev WER/CER when known, audio seconds per second (x real time), ETA.
    """

    def __init__(self, run_dir: Path | None = None, *, every_seconds: float = 30.0, stream: Any = None,
                 **_: Any) -> None:
        from rich.console import Console

        console = Console(stderr=True) if stream is None else Console(file=stream)
        self._plain = not console.is_terminal
        self._stream = stream if stream is not None else sys.stderr
        self._every = float(every_seconds)
        self._latest: dict[str, float] = {}
        self._total: int | None = None
        self._step = self._first_step = 0
        self._started = self._printed = self._printed_step = None
        self._progress = None
        if not self._plain:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("[bold]train[/]"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"), console=console, transient=False,
            )
            self._task = self._progress.add_task("train", total=None, info="")  # log_params sets the total

    def log_params(self, params: Mapping[str, Any]) -> None:
        total = params.get("total_steps")
        if total:
            self._total = int(total)
            if self._progress is not None:
                self._progress.update(self._task, total=self._total)

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        now = time.monotonic()
        if self._started is None:
            self._started, self._first_step = now, step
            if self._progress is not None:
                self._progress.start()
        self._step = step
        self._latest.update({k: v for k, v in metrics.items() if isinstance(v, (int, float))})
        if self._progress is not None:
            self._progress.update(self._task, completed=step, info=self._info(with_step=False))
        elif self._printed is None or now - self._printed >= self._every or "dev_wer" in metrics:
            self._print_line(now)

    def _info(self, *, with_step: bool, now: float | None = None) -> str:
        m = self._latest
        shown = []
        if with_step:
            total = f"/{self._total}" if self._total else ""
            shown.append(f"step {self._step}{total}")
        for key, fmt in (("epoch", "epoch {:.0f}"), ("loss", "loss {:.3f}"), ("dev_cer", "dev CER {:.1%}"),
                         ("dev_wer", "dev WER {:.1%}"), ("audio_hours", "{:.2f} h audio"),
                         ("data_wait_pct", "wait {:.0f}%"), ("steps_per_s", "{:.2f} step/s"),
                         ("audio_seconds_per_s", "{:.0f}x real time")):
            value = m.get(key)
            if isinstance(value, (int, float)) and math.isfinite(value):
                shown.append(fmt.format(value))
        if with_step and now is not None and self._total and self._step > self._first_step:
            rate = (self._step - self._first_step) / max(1e-9, now - self._started)
            shown.append(f"ETA {_duration((self._total - self._step) / rate)}")
        return "  ".join(shown)

    def _print_line(self, now: float) -> None:
        print(f"train  {self._info(with_step=True, now=now)}", file=self._stream, flush=True)
        self._printed, self._printed_step = now, self._step

    def close(self) -> None:
        if self._progress is not None and self._started is not None:
            self._progress.stop()
        elif self._plain and self._started is not None and self._printed_step != self._step:
            self._print_line(time.monotonic())


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"
