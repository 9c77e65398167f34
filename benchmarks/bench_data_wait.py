"""Row ``data_wait``: the share of step time the trainer spends waiting for the next batch.

    python -m benchmarks data_wait [--small]

``statecatcher.train.loop.train`` runs the demo configuration, i.e. ``RunConfig``'s defaults (lstm 2 x 256 +
ctc, 8 lanes, 16 s segments, 2 background data workers) with two changes: one torch thread, so that the
data workers have the second of the 2 cores (with torch's default of 2 threads a step took 10x longer on the
loaded shared machine), and sentencepiece with 32 ids instead of 256, as the dummy transcripts hold only 16
distinct words.  It runs ``steps`` steps on a synthetic local corpus (``statecatcher.testing.dummies``,
16-bit FLAC, written before the clock starts).  Every step is logged (``log_every=1``) to an in-memory
tracker, whose ``data_wait_pct`` and ``steps_per_s`` give each step's wait and duration.  The first step
also waits for the workers to decode the first recordings, so it is reported apart from the steady state.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

FULL = {"steps": 12, "recordings": 12, "minutes": (2.0, 4.0),
        "overrides": {"vocab_size": 32, "threads": 1}}  # 16 distinct words: too little text for 256 ids
SMALL = {"steps": 4, "recordings": 3, "minutes": (0.3, 0.5),
         "overrides": {"threads": 1, "batch_size": 2, "vocab_size": 32,
                       "segment_seconds": 4.0, "min_segment_seconds": 2.0, "max_segment_seconds": 6.0,
                       "encoder_options": {"hidden_dim": 32, "num_layers": 1}}}


class StepRecorder:
    """A tracker that keeps every step's metrics in memory (the ``Tracker`` protocol)."""

    def __init__(self) -> None:
        self.steps: list[dict[str, float]] = []

    def log_params(self, params: Any) -> None:
        pass

    def log_metrics(self, step: int, metrics: dict[str, float]) -> None:
        self.steps.append(dict(metrics))

    def close(self) -> None:
        pass


def wait_share(steps: list[dict[str, float]]) -> float:
    """Waiting seconds / step seconds over ``steps`` (each logged alone: ``log_every=1``)."""
    durations = [1.0 / step["steps_per_s"] for step in steps]
    waits = [step["data_wait_pct"] / 100 * duration for step, duration in zip(steps, durations, strict=True)]
    return sum(waits) / sum(durations)


def run(small: bool = False) -> list[dict]:
    """Two results: the steady-state wait share (steps 2..N) and the share including the first step."""
    from statecatcher.testing.dummies import make_recordings, write_local_corpus
    from statecatcher.train.config import RunConfig
    from statecatcher.train.loop import train

    sizes = SMALL if small else FULL
    (shortest, longest), recorder = sizes["minutes"], StepRecorder()
    with tempfile.TemporaryDirectory(prefix="statecatcher-bench-wait-") as scratch:
        recordings = make_recordings(sizes["recordings"], min_duration=shortest * 60, max_duration=longest * 60, seed=3)
        corpus = write_local_corpus(Path(scratch) / "corpus", recordings)
        config = RunConfig.from_dict({"data": f"local:{corpus}", "run_dir": str(Path(scratch) / "run"),
                                      "max_steps": sizes["steps"], "log_every": 1, "checkpoint_every": 10_000,
                                      "trackers": [], **sizes["overrides"]})
        summary = train(config, trackers=[recorder])
    steady, overall = wait_share(recorder.steps[1:]), wait_share(recorder.steps)
    step_seconds = sum(1.0 / step["steps_per_s"] for step in recorder.steps[1:]) / max(1, len(recorder.steps) - 1)
    setting = (f"{config.encoder} {config.encoder_options or '(defaults)'} + {config.loss}, "
               f"{config.batch_size} lanes x {config.segmenter.segment_seconds:g} s, "
               f"{config.num_workers} data workers, "
               f"{config.threads} torch thread")
    print(f"data wait: steady {100 * steady:.1f} %, with the first step {100 * overall:.1f} %, "
          f"{step_seconds:.2f} s per step ({setting})", flush=True)
    return [
        {"name": "wait / step time, steady state", "ratio": steady, "step_seconds": step_seconds,
         "description": f"{100 * steady:.2f} % over steps 2-{len(recorder.steps)}, {step_seconds:.2f} s/step; "
                        f"{setting}"},
        {"name": "wait / step time, with first step", "ratio": overall, "wall_seconds": summary.wall_seconds,
         "description": f"{100 * overall:.2f} % over all {len(recorder.steps)} steps (the first waits for decoding)"},
    ]
