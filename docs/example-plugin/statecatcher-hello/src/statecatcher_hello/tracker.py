"""A tracker that writes each call as one line of text: ``params {...}`` or ``step N {...}``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class HelloTracker:
    """Appends to ``run_dir / filename``; implements :class:`statecatcher.protocols.Tracker`."""

    def __init__(self, run_dir: Path, filename: str = "hello.log") -> None:
        self.path = Path(run_dir) / filename
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._write(f"params {json.dumps(dict(params), sort_keys=True, default=str)}")

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        self._write(f"step {step} {json.dumps(dict(metrics), sort_keys=True)}")

    def close(self) -> None:
        self._file.close()

    def _write(self, line: str) -> None:
        self._file.write(line + "\n")
        self._file.flush()
