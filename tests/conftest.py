"""Cross-package fixtures: these tests load the REAL installed plugins through their entry points."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TEST_CACHE = Path(os.environ.get("STATECATCHER_TEST_CACHE", Path.home() / ".cache" / "statecatcher" / "tests"))


@pytest.fixture(scope="session")
def tiny_corpus() -> Path:
    """Two short synthetic multi-speaker episodes (~1 min each: 1 train, 1 test), built once, cached on disk."""
    from statecatcher_synth.corpus import cached_corpus

    return cached_corpus(TEST_CACHE, episodes=2, minutes=(0.6, 0.8), seed=1234, progress=False)


@pytest.fixture
def tiny_run_config():
    """A factory of small, fast LSTM + CTC run configs: ``tiny_run_config(corpus, run_dir, **overrides)``."""
    return _tiny_run_config


def _tiny_run_config(corpus: Path, run_dir: Path, **overrides):
    from statecatcher.data.segmenter import SegmenterConfig
    from statecatcher.train.config import RunConfig

    values = dict(
        encoder="lstm", loss="ctc", tokenizer="sentencepiece", data=f"local:{corpus}",
        encoder_options={"hidden_dim": 96, "num_layers": 2}, vocab_size=64, run_dir=str(run_dir),
        batch_size=1, segmenter=SegmenterConfig(segment_seconds=5.0, min_seconds=2.0, max_seconds=10.0),
        lr=3e-3, warmup_steps=20, grad_clip=1.0, schedule="constant", epochs=2000, log_every=1, checkpoint_every=1000,
        trackers=["jsonl"], num_workers=1, seed=7,
    )
    values.update(overrides)
    return RunConfig.from_dict(values)


@pytest.fixture(scope="session")
def overfit_run(tiny_corpus, tmp_path_factory):
    """A tiny LSTM + CTC model overfitted on the tiny corpus's one training episode: ``(summary, run_dir)``.

    Shared by the overfitting, transcription and evaluation tests so the suite trains it once.
    """
    from statecatcher.train.loop import train

    run_dir = tmp_path_factory.mktemp("overfit") / "run"
    return train(_tiny_run_config(tiny_corpus, run_dir, max_steps=1200)), run_dir
