"""A run killed with SIGKILL and resumed reproduces the uninterrupted run's losses exactly, with label filters
too (their running references are checkpointed, and the report holds every rejection once), and with
SpecAugment, speed perturbation and validation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _losses(run_dir: Path) -> dict[int, float]:
    out: dict[int, float] = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # a line cut by the kill
            continue
        if "loss" in row:  # validation rows carry dev_wer/dev_cer only
            out[row["step"]] = row["loss"]
    return out


FILTERS = ["--label-filters", "rate_outlier", "--label-filters", "loss_outlier",
           *(arg for option in ("rate_outlier.warmup=3", "rate_outlier.threshold=1.0", "loss_outlier.warmup=3",
                                "loss_outlier.threshold=1.0") for arg in ("--filter-opt", option))]


# masks from the checkpointed RNG; speeds from (seed, epoch, recording), every recording perturbed
RECIPE = ["--spec-augment", "--speed-perturb", "0.9,1.1", "--eval-every", "3", "--eval-split", "test"]


def _report(run_dir: Path) -> list[dict]:
    path = run_dir / "filter.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _command(corpus: Path, run_dir: Path, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "statecatcher", "run", "--encoder", "lstm", "--loss", "ctc",
            "--data", f"local:{corpus}", "--run-dir", str(run_dir), "--encoder-opt", "hidden_dim=64",
            "--vocab-size", "64", "--batch-size", "2", "--segment-seconds", "5", "--min-segment-seconds", "2",
            "--max-segment-seconds", "10", "--max-steps", "14", "--checkpoint-every", "4", "--log-every", "1",
            "--tracker", "jsonl", "--num-workers", "1", "--lr", "0.003", "--warmup-steps", "3", "--epochs", "20",
            *extra]


@pytest.mark.slow
@pytest.mark.parametrize("extra", [[], FILTERS, RECIPE], ids=["plain", "label-filters", "augmentation-validation"])
def test_resume_after_sigkill_reproduces_losses(tiny_corpus, tmp_path, extra):
    env = dict(os.environ, PYTHONHASHSEED="0")
    subprocess.run(_command(tiny_corpus, tmp_path / "whole", extra), check=True, env=env, capture_output=True)
    expected = _losses(tmp_path / "whole")
    assert sorted(expected) == list(range(1, 15))

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_command(tiny_corpus, killed, extra), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if (killed / "metrics.jsonl").exists() and max(_losses(killed), default=0) >= 10:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert max(_losses(killed)) < 14

    subprocess.run(_command(tiny_corpus, killed, extra), check=True, env=env, capture_output=True)
    resumed = _losses(killed)
    assert resumed == expected
    rows = [json.loads(line) for line in (killed / "metrics.jsonl").read_text().splitlines()]
    train_rows, dev_rows = [r for r in rows if "dev_wer" not in r], [r for r in rows if "dev_wer" in r]
    assert [row["step"] for row in train_rows] == list(range(1, 15))  # the killed run's rows past its checkpoint
    whole_rows = [json.loads(line) for line in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    assert dev_rows == [{k: v for k, v in r.items() if k != "time"} | {"time": d["time"]}  # validations: same
                        for r, d in zip([r for r in whole_rows if "dev_wer" in r], dev_rows, strict=True)]
    if extra == RECIPE:
        assert [row["step"] for row in dev_rows] == [3, 6, 9, 12, 14]  # every 3 steps and at --max-steps
    if extra == FILTERS:  # rejections before and after the checkpoint the resumed run started from, each reported once
        report = _report(tmp_path / "whole")
        assert min(row["step"] for row in report) < 8 < max(row["step"] for row in report)
        assert _report(killed) == report
