"""The aim tracker: what a run logs reads back through Aim's own Python API, and a resumed run continues."""

import json

import pytest

aim = pytest.importorskip("aim")

from statecatcher.plugins import get  # noqa: E402
from statecatcher_aim.tracker import RUN_FILE, AimTracker, sequence_and_context  # noqa: E402


def read_run(repo_dir, run_hash):
    """``(hparams, {(sequence, context items): (steps, values)})`` of one run, as Aim's API returns them.

    Aim serves a run to readers once it is indexed, which ``aim up`` does in the background; here we index now.
    """
    from aim.sdk.index_manager import RepoIndexManager

    repo = aim.Repo.from_path(str(repo_dir))
    RepoIndexManager.get_index_manager(repo).index(run_hash)
    run = repo.get_run(run_hash)
    sequences = {}
    for metric in run.metrics():
        steps, (values,) = metric.data.view("val").items_list()
        sequences[metric.name, tuple(sorted(metric.context.to_dict().items()))] = (list(steps), list(values))
    return run["hparams"], sequences


def test_metric_names_with_a_slash_become_a_sequence_and_a_context():
    assert sequence_and_context("loss") == ("loss", {})
    assert sequence_and_context("state_norm/encoder.h") == ("state_norm", {"layer": "encoder.h"})
    assert sequence_and_context("filtered/compression_ratio") == ("filtered", {"filter": "compression_ratio"})
    assert sequence_and_context("eval/wer") == ("eval", {"part": "wer"})


def test_params_and_metrics_read_back_and_a_resumed_run_continues_the_same_aim_run(tmp_path):
    run_dir, repo = tmp_path / "runs" / "demo", tmp_path / "aim"
    tracker = get("tracker", "aim").create(run_dir, repo=str(repo), experiment="unit")
    tracker.log_params({"encoder": "xlstm", "encoder_options": {"pattern": "m,s"}, "run_dir": run_dir})
    for step, loss in ((10, 3.0), (20, 2.5)):
        tracker.log_metrics(step, {"loss": loss, "epoch": 0, "state_norm/encoder.h": step / 10, "bad": float("nan")})
    tracker.close()
    first_hash = json.loads((run_dir / RUN_FILE).read_text())["hash"]

    resumed = AimTracker(run_dir, repo=str(repo), experiment="unit")  # what a resumed training run does
    assert resumed.hash == first_hash
    resumed.log_metrics(30, {"loss": 2.0, "epoch": 1, "state_norm/encoder.h": 3.0})
    resumed.close()

    hparams, sequences = read_run(repo, first_hash)
    assert hparams == {"encoder": "xlstm", "encoder_options": {"pattern": "m,s"}, "run_dir": str(run_dir)}
    assert sequences[("loss", ())] == ([10, 20, 30], [3.0, 2.5, 2.0])
    assert sequences[("state_norm", (("layer", "encoder.h"),))] == ([10, 20, 30], [1.0, 2.0, 3.0])
    assert ("bad", ()) not in sequences  # non-finite values stay out of Aim
    assert aim.Repo.from_path(str(repo)).get_run(first_hash).experiment == "unit"


def test_another_repo_starts_a_new_aim_run(tmp_path):
    first = AimTracker(tmp_path / "run", repo=str(tmp_path / "a"))
    first.close()
    second = AimTracker(tmp_path / "run", repo=str(tmp_path / "b"))
    second.close()
    assert second.hash != first.hash
    assert json.loads((tmp_path / "run" / RUN_FILE).read_text())["repo"] == str((tmp_path / "b").resolve())


@pytest.mark.slow
def test_a_short_training_run_logs_every_metric_to_aim(tmp_path):
    for plugin in ("statecatcher_lstm", "statecatcher_ctc", "statecatcher_sentencepiece"):
        pytest.importorskip(plugin)
    from statecatcher.data.segmenter import SegmenterConfig
    from statecatcher.testing.dummies import make_recordings, write_local_corpus
    from statecatcher.train.config import RunConfig
    from statecatcher.train.loop import train

    corpus = write_local_corpus(tmp_path / "corpus", make_recordings(3, min_duration=12.0, max_duration=16.0, seed=3))
    run_dir, repo = tmp_path / "run", tmp_path / "aim"
    config = RunConfig.from_dict(dict(
        encoder="lstm", loss="ctc", data=f"local:{corpus}", encoder_options={"hidden_dim": 32, "num_layers": 1},
        vocab_size=40, run_dir=str(run_dir), batch_size=2,
        segmenter=SegmenterConfig(segment_seconds=4.0, min_seconds=2.0, max_seconds=8.0), epochs=10, max_steps=6,
        log_every=2, checkpoint_every=1000, num_workers=1,
        trackers=["jsonl", "aim"], tracker_options={"aim": {"repo": str(repo), "experiment": "short"}},
        tokenizer_options={"model_type": "unigram"}))
    train(config)

    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    hparams, sequences = read_run(repo, json.loads((run_dir / RUN_FILE).read_text())["hash"])
    assert hparams["encoder"] == "lstm" and hparams["tracker_options"]["aim"]["experiment"] == "short"
    assert hparams["parameters"] > 0
    steps = [row["step"] for row in rows]
    assert steps == [2, 4, 6]
    for key in ("loss", "lr", "steps_per_s", "audio_seconds_per_s", "frames_per_s", "data_wait_pct"):
        assert sequences[(key, ())] == (steps, pytest.approx([row[key] for row in rows])), key
    norms = {key.removeprefix("state_norm/") for key in rows[0] if key.startswith("state_norm/")}
    assert norms and all(sequences[("state_norm", (("layer", layer),))][0] == steps for layer in norms)
    assert all(row["audio_seconds_per_s"] > 0 and row["frames_per_s"] > 0 for row in rows)
    # the same finished run plots (statecatcher plot RUN_DIR)
    from statecatcher.train.plots import plot_run

    assert [path.name for path in plot_run(run_dir)] == ["loss.png", "state_norms.png"]
    assert all(path.read_bytes()[:4] == b"\x89PNG" for path in (run_dir / "plots").iterdir())
