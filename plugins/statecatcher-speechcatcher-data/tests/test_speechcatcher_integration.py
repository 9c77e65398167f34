"""End to end: ``statecatcher serve`` in a subprocess on loopback (and the speechcatcher-data double), and
``train()`` / ``statecatcher run`` reading through the client.

The set of (recording, segment) the trainer sees equals what the same corpus gives through the ``local``
source; the API key appears in no file of the run directory and in neither side's log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from statecatcher.data.lanes import LaneBatcher
from statecatcher.data.local import LocalDataSource
from statecatcher.data.segmenter import SegmenterConfig
from statecatcher.train import epoch, loop
from statecatcher.train.config import RunConfig
from statecatcher_speechcatcher_data.testing import TEST_API_KEY, server_process, trained_segments

# training needs the lstm, ctc and sentencepiece plugins, absent in `nox -s plugin` (this plugin alone with core)
for _plugin in ("statecatcher_lstm", "statecatcher_ctc", "statecatcher_sentencepiece"):
    pytest.importorskip(_plugin)


@pytest.fixture(scope="module")
def served_corpus(corpus, tmp_path_factory):
    """``(base_url, server log path)`` of ``python -m statecatcher serve CORPUS`` on a free loopback port."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    with server_process(corpus, log) as url:
        yield url, log


class RecordingBatcher(LaneBatcher):
    """A LaneBatcher that remembers every (recording id, segment index, text) it hands to the trainer."""

    seen: list[tuple[str, int, str]] = []

    def __next__(self):
        batch = super().__next__()
        RecordingBatcher.seen += trained_segments([batch])
        return batch


def tiny_config(url: str, run_dir: Path, **data_options) -> RunConfig:
    return RunConfig.from_dict(dict(
        encoder="lstm", loss="ctc", tokenizer="sentencepiece", data=f"speechcatcher:{url}",
        data_options={"dev_fraction": 0.0, "test_fraction": 0.0, "cache_dir": str(run_dir / "data-cache"),
                      **data_options},
        encoder_options={"hidden_dim": 32, "num_layers": 1}, vocab_size=32, run_dir=str(run_dir), batch_size=2,
        segmenter=SegmenterConfig(segment_seconds=3.0, min_seconds=1.0, max_seconds=6.0), lr=3e-3, warmup_steps=2,
        schedule="constant", epochs=1, log_every=1, checkpoint_every=1000, trackers=["jsonl"], num_workers=1, seed=7))


@pytest.mark.slow
@pytest.mark.parametrize("server", ["serve", "upstream"])
def test_training_through_the_server_sees_every_segment_once(server, request, corpus, tmp_path, monkeypatch):
    if server == "serve":
        url, server_log = request.getfixturevalue("served_corpus")
    else:  # the speechcatcher-data double: listed through its session, transcripts from its media server
        url, server_log = request.getfixturevalue("upstream").url, None
    monkeypatch.setenv("STATECATCHER_API_KEY", TEST_API_KEY)
    monkeypatch.setattr(epoch, "LaneBatcher", RecordingBatcher)  # the batcher each epoch builds
    RecordingBatcher.seen = []
    config = tiny_config(url, tmp_path / "run")
    summary = loop.train(config)

    source = loop.get("data_source", "speechcatcher").create(url, **config.data_options)
    title_of = {r.id: r.meta["title"] for r in source.recordings("train")}
    trained = sorted((title_of[rid], index, text) for rid, index, text in RecordingBatcher.seen)
    segmenter = SegmenterConfig(segment_seconds=3.0, min_seconds=1.0, max_seconds=6.0)
    with LaneBatcher(LocalDataSource(str(corpus)), batch_size=2, segmenter=segmenter,
                     normalizer=loop.TextNormalizer()) as local:
        expected = sorted(trained_segments(local))
    assert trained == expected and len({title for title, _, _ in trained}) == 6
    assert summary.epochs_done == 1 and summary.steps >= len(trained) // 2
    assert summary.losses and all(loss == loss for loss in summary.losses)  # not NaN
    files = [p for p in (tmp_path / "run").rglob("*") if p.is_file()]
    assert [p for p in files if p.name == "config.toml"] and not [
        p for p in files if TEST_API_KEY.encode() in p.read_bytes()]
    if server_log is not None:
        assert TEST_API_KEY not in server_log.read_text() and "GET /apiv1/audio/***/" in server_log.read_text()
    assert source.listing_facts["listed_by"] == "training session"


@pytest.mark.slow
def test_statecatcher_run_trains_several_epochs_against_speechcatcher_data_with_its_defaults(upstream, tmp_path):
    """Issue #18's bar: only --data speechcatcher:URL/apiv1 (server_api_url's form) and the key; use_session=auto,
    the default language, the default retries; three epochs."""
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "statecatcher", "run", "--data", f"speechcatcher:{upstream.url}/apiv1",
               "--speechcatcher-api-key", TEST_API_KEY, "--run-dir", str(run_dir), "--epochs", "3", "--log-every", "1",
               "--lstm-hidden-dim", "32", "--lstm-num-layers", "1", "--vocab-size", "32", "--batch-size", "2",
               "--segment-seconds", "3", "--min-segment-seconds", "1", "--max-segment-seconds", "6",
               "--warmup-steps", "2", "--num-workers", "1", "--device", "cpu", "--tracker", "jsonl"]
    env = {**os.environ, "STATECATCHER_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    env.pop("STATECATCHER_API_KEY", None)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert {m["epoch"] for m in metrics if "epoch" in m} == {0, 1, 2}
    assert all(m["loss"] == m["loss"] for m in metrics if "loss" in m)  # not NaN
    (listing,) = (tmp_path / "cache").rglob("listing-*.json")
    assert json.loads(listing.read_text())["facts"]["listed_by"] == "training session"
    assert "skipping" not in done.stderr and TEST_API_KEY not in done.stderr + done.stdout


def test_api_key_given_as_data_option_is_not_saved(served_corpus, tmp_path):
    url, _ = served_corpus
    config = tiny_config(url, tmp_path / "run", api_key=TEST_API_KEY)
    config.save_toml(tmp_path / "config.toml")
    assert TEST_API_KEY not in (tmp_path / "config.toml").read_text()
    assert TEST_API_KEY not in str(config.to_dict())
