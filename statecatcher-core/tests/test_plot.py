"""`statecatcher plot RUN_DIR` draws a run's metrics.jsonl (and eval reports) as valid PNG images."""

import json
import math

import pytest
from click.testing import CliRunner

from statecatcher.cli import cli
from statecatcher.train.plots import audio_hours_at, metric_keys, read_metrics, series
from statecatcher.train.trackers import JsonlTracker

Image = pytest.importorskip("PIL.Image")


def write_run(run_dir, *, steps=30, with_wer=True):
    """A run directory as the trainer leaves it: metrics.jsonl through the jsonl tracker, one eval report."""
    tracker = JsonlTracker(run_dir)
    tracker.log_params({"encoder": "lstm"})
    for step in range(5, steps + 1, 5):
        metrics = {"loss": 4.0 / math.sqrt(step), "lr": 1e-3 * min(1.0, step / 10), "epoch": 0,
                   "state_norm/encoder.h": 1.0 + step / 100, "state_norm/encoder.c": 2.0 - step / 100}
        if with_wer and step % 10 == 0:
            metrics["wer"] = 1.0 - step / 100
        if step == 15:
            metrics["loss"] = float("nan")  # a NaN step is written as null and left out of the plot
        tracker.log_metrics(step, metrics)
    tracker.close()
    report = [{"mode": "segment", "stateless": False, "wer": 0.3, "cer": 0.2},
              {"mode": "recording", "stateless": False, "wer": 0.25, "cer": 0.15}]
    (run_dir / "eval_dev.json").write_text(json.dumps(report))


def assert_png(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.size == (800, 450)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 20, f"{path.name} looks blank"


def test_plot_writes_valid_pngs_from_a_finished_run(tmp_path):
    run_dir = tmp_path / "runs" / "demo"
    write_run(run_dir)
    result = CliRunner().invoke(cli, ["plot", str(run_dir)])
    assert result.exit_code == 0, result.output
    names = ["loss.png", "wer.png", "state_norms.png", "eval.png"]
    assert result.output.split() == [str(run_dir / "plots" / name) for name in names]
    for name in names:
        assert_png(run_dir / "plots" / name)


def test_plot_leaves_out_what_the_run_did_not_log(tmp_path):
    write_run(tmp_path, with_wer=False)
    (tmp_path / "eval_dev.json").unlink()
    result = CliRunner().invoke(cli, ["plot", str(tmp_path), "--out", str(tmp_path / "png")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == ["loss.png", "state_norms.png"]


def test_series_skip_missing_and_non_finite_values(tmp_path):
    write_run(tmp_path)
    rows = read_metrics(tmp_path)
    assert series(rows, "wer") == ([10, 20, 30], [0.9, 0.8, 0.7])
    assert series(rows, "loss")[0] == [5, 10, 20, 25, 30]  # step 15 was NaN
    assert metric_keys(rows)[:3] == ["loss", "lr", "epoch"]


def test_plot_of_a_folder_without_metrics_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(cli, ["plot", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{tmp_path / 'metrics.jsonl'}: no metrics" in result.output


def test_plot_of_several_runs_overlays_them_against_audio_hours(tmp_path):
    runs = [tmp_path / "a", tmp_path / "b"]
    for run in runs:
        write_run(run)
    tracker = JsonlTracker(runs[1])  # b validated; the dev plot appears when any run did
    tracker.log_metrics(30, {"dev_cer": 0.5, "dev_wer": 0.9})
    tracker.close()
    out = tmp_path / "sweep"
    result = CliRunner().invoke(cli, ["plot", *map(str, runs), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.split() == [str(out / "compare-loss.png"), str(out / "compare-dev.png")]
    for name in ("compare-loss.png", "compare-dev.png"):
        assert_png(out / name)


def test_audio_hours_at_takes_the_last_logged_value_at_or_before_each_step():
    rows = [{"step": 10, "audio_hours": 0.5}, {"step": 20, "loss": 1.0}, {"step": 30, "audio_hours": 1.5}]
    assert audio_hours_at(rows, [5, 10, 20, 30, 40]) == [0.0, 0.5, 0.5, 1.5, 1.5]
