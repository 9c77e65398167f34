"""A tiny synthetic corpus (3 episodes, about a minute in all), built once per test session."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

TINY = {"episodes": 3, "minutes": (0.3, 0.4), "seed": 7}


@pytest.fixture(scope="session")
def tiny_params() -> dict:
    """The ``build_corpus`` arguments of ``tiny_corpus``."""
    return dict(TINY)


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory, tiny_params) -> Path:
    from statecatcher_synth.corpus import cached_corpus

    return cached_corpus(tmp_path_factory.mktemp("synth-cache"), **tiny_params, progress=False, workers=1)


def read_episodes(corpus: Path) -> list[tuple[dict, dict, np.ndarray]]:
    """(manifest row, transcript, [T] float64 audio) per episode."""
    rows = [json.loads(line) for line in (corpus / "manifest.jsonl").read_text().splitlines()]
    out = []
    for row in rows:
        audio, sample_rate = soundfile.read(corpus / row["audio"], dtype="float64")
        assert sample_rate == 16_000
        out.append((row, json.loads((corpus / row["transcript"]).read_text()), audio))
    return out


@pytest.fixture(scope="session")
def tiny_episodes(tiny_corpus) -> list[tuple[dict, dict, np.ndarray]]:
    return read_episodes(tiny_corpus)


@pytest.fixture(scope="session", params=["pip-voices", "all-voices"])
def any_episodes(request, tiny_episodes, tmp_path_factory) -> list[tuple[dict, dict, np.ndarray]]:
    """The tiny corpus, then (when a Debian engine is installed) one voiced by every installed voice."""
    if request.param == "pip-voices":
        return tiny_episodes
    from statecatcher_synth.corpus import build_corpus
    from statecatcher_synth.voices import default_voices, installed_voices

    if len(installed_voices()) == len(default_voices()):
        pytest.skip("no Debian TTS engine (espeak-ng, flite, festival) installed")
    corpus = build_corpus(tmp_path_factory.mktemp("synth-all") / "corpus", episodes=3, minutes=(0.3, 0.4),
                          seed=5, voices=["all"], progress=False, workers=1)
    return read_episodes(corpus)
