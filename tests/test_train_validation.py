"""Validation during training: dev WER/CER logged, best.pt kept by dev WER, early stopping, `--best` loading,
feature statistics in every checkpoint and applied by every decoding path."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from statecatcher.checkpoint_io import find_checkpoint, load_checkpoint
from statecatcher.cli import cli
from statecatcher.decode.pack import load_model
from statecatcher.train.loop import train


@pytest.fixture(scope="module")
def validated_run(tiny_corpus, tmp_path_factory):
    from tests.conftest import _tiny_run_config

    run_dir = tmp_path_factory.mktemp("validated") / "run"
    config = _tiny_run_config(tiny_corpus, run_dir, max_steps=42, eval_every=10, eval_split="test",
                              spec_augment=True, log_every=5)
    return train(config), run_dir


def _rows(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_dev_metrics_are_logged_every_eval_every_steps_and_at_the_last_step(validated_run):
    summary, run_dir = validated_run
    dev = [row for row in _rows(run_dir) if "dev_wer" in row]
    assert [row["step"] for row in dev] == [10, 20, 30, 40, 42]  # the last step too: best.pt sees the final model
    assert all(0.0 <= row["dev_cer"] <= 1.5 and row["dev_best_wer"] <= row["dev_wer"] for row in dev)
    best = min(dev, key=lambda row: (row["dev_wer"], row["dev_cer"]))
    assert summary.best_dev == {"step": best["step"], "wer": best["dev_wer"], "cer": best["dev_cer"]}


def test_best_pt_holds_the_weights_of_the_best_validation(validated_run, tiny_corpus):
    summary, run_dir = validated_run
    best = load_checkpoint(run_dir / "checkpoints" / "best.pt")
    assert best["dev"] == summary.best_dev
    assert find_checkpoint(run_dir, "best") == run_dir / "checkpoints" / "best.pt"
    # re-evaluating best.pt reproduces the dev numbers logged when it was written
    result = CliRunner().invoke(cli, ["eval", str(run_dir), "--best", "--data", f"local:{tiny_corpus}",
                                      "--split", "test", "--mode", "segment", "--report",
                                      str(run_dir / "eval-best.json")])
    assert result.exit_code == 0, result.output
    report = json.loads((run_dir / "eval-best.json").read_text())[0]
    assert (report["wer"], report["cer"]) == (summary.best_dev["wer"], summary.best_dev["cer"])


def test_feature_statistics_travel_with_the_model(validated_run):
    _, run_dir = validated_run
    stats = json.loads((run_dir / "feature_stats.json").read_text())
    for which in ("last", "best"):
        loaded = load_model(run_dir, which=which)
        torch.testing.assert_close(loaded.model.feature_norm.mean, torch.tensor(stats["mean"]))
        torch.testing.assert_close(loaded.model.feature_norm.inv_std, 1.0 / torch.tensor(stats["std"]).clamp(min=1e-3))
        assert loaded.model.augment is None  # never masks at inference


def test_early_stopping_stops_after_patience_validations(tiny_corpus, tmp_path, tiny_run_config):
    # lr 1e-12: the model (practically) never changes, so after the first validation nothing improves
    config = tiny_run_config(tiny_corpus, tmp_path / "run", max_steps=100, eval_every=5, eval_split="test",
                             early_stop_patience=2, lr=1e-12, feature_norm=False)
    summary = train(config)
    assert summary.stopped_early and summary.steps == 15
    assert summary.best_dev["step"] == 5


@pytest.mark.parametrize(("flag", "expected"), [([], []), (["--threads", "1"], [1])])
def test_eval_threads_sets_torchs_thread_count(validated_run, tiny_corpus, monkeypatch, flag, expected):
    # two evaluations scored side by side (the recipe benchmark) each take one core instead of torch's default
    _, run_dir = validated_run
    calls: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    result = CliRunner().invoke(cli, ["eval", str(run_dir), "--data", f"local:{tiny_corpus}", "--split", "test",
                                      "--mode", "segment", *flag])
    assert result.exit_code == 0, result.output
    assert calls == expected
