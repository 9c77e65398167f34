"""The ``aim`` tracker: a training run's parameters and metrics in an Aim repository, browsed with ``aim up``.

Metric names become Aim sequences.  ``loss``, ``lr``, ``steps_per_s``, ``audio_seconds_per_s``,
``frames_per_s``, ``data_wait_pct``, ``wer``, ... are tracked under their own names; a name with a slash is
split into a sequence and a context, so the per-layer state norms share one chart with a line per layer::

    state_norm/encoder.h          ->  "state_norm", context {"layer": "encoder.h"}
    filtered/compression_ratio    ->  "filtered",   context {"filter": "compression_ratio"}

The hyper-parameters (the resolved run config and the trainer's extras) are the run's ``hparams``.  The Aim
run's hash is kept in ``RUN_DIR/aim_run.json``, so a training run resumed from its checkpoint continues the
same Aim run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

RUN_FILE = "aim_run.json"
CONTEXT_KEYS = {"state_norm": "layer", "filtered": "filter"}  # sequence -> context key; others use "part"


def sequence_and_context(metric: str) -> tuple[str, dict[str, str]]:
    """``"state_norm/encoder.h"`` -> ``("state_norm", {"layer": "encoder.h"})``; ``"loss"`` -> ``("loss", {})``."""
    name, slash, rest = metric.partition("/")
    return (name, {CONTEXT_KEYS.get(name, "part"): rest}) if slash else (name, {})


class AimTracker:
    """A :class:`statecatcher.protocols.Tracker` writing to the Aim repository in the folder ``repo``.

    ``repo`` is the folder that holds (or will hold) ``.aim``; a path ending in ``.aim`` means its parent,
    as in Aim itself.  ``experiment`` files the run under an Aim experiment (Aim's ``default`` when unset).
    The run is named after the run directory.
    """

    def __init__(self, run_dir: Path, repo: str = "./.aim", experiment: str | None = None) -> None:
        import aim

        self.run_file = Path(run_dir) / RUN_FILE
        self.repo = str(Path(repo).expanduser().resolve())
        previous = self._previous_hash(aim)
        self.run = aim.Run(run_hash=previous, repo=self.repo, experiment=experiment, system_tracking_interval=None,
                           log_system_params=False, capture_terminal_logs=False)  # the console keeps the terminal
        if previous is None:
            self.run.name = Path(run_dir).resolve().name
        self.run_file.parent.mkdir(parents=True, exist_ok=True)
        self.run_file.write_text(json.dumps({"hash": self.run.hash, "repo": self.repo}, indent=2))

    def _previous_hash(self, aim: Any) -> str | None:
        """The hash in ``RUN_DIR/aim_run.json`` when it names a run of this same repository that still exists."""
        try:
            saved = json.loads(self.run_file.read_text())
        except (OSError, ValueError):
            return None
        if saved.get("repo") != self.repo or not aim.Repo.exists(self.repo):
            return None
        return saved["hash"] if aim.Repo.from_path(self.repo).run_exists(saved["hash"]) else None

    @property
    def hash(self) -> str:
        return self.run.hash

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.run["hparams"] = json.loads(json.dumps(dict(params), default=str))  # paths etc. as text

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        epoch = metrics.get("epoch")
        for metric, value in metrics.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                continue
            name, context = sequence_and_context(metric)
            self.run.track(float(value), name=name, step=step, epoch=epoch, context=context)

    def close(self) -> None:
        self.run.close()
