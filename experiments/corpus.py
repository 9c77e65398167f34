"""The synthetic corpus the experiments and benchmarks share: multi-speaker episodes of 1-1.5 min
(statecatcher-synth, seed 1234), built on first use and cached in ``$STATECATCHER_TEST_CACHE`` (default
``~/.cache/statecatcher/tests``, the test suite's cache)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from statecatcher.data.local import MANIFEST
from statecatcher.jsonl import read_jsonl

SYNTH_CACHE = Path(os.environ.get("STATECATCHER_TEST_CACHE", Path.home() / ".cache" / "statecatcher" / "tests"))


def synth_corpus(episodes: int = 4) -> Path:
    """``episodes`` synthetic episodes (4: 2 train, 1 dev, 1 test); the first episodes are the same whatever
    ``episodes`` is.  Needs statecatcher-synth (``ImportError`` otherwise)."""
    from statecatcher_synth.corpus import cached_corpus

    return cached_corpus(SYNTH_CACHE, episodes=episodes, minutes=(1.0, 1.5), seed=1234, progress=False)


# ~200 min: 32 train, 8 dev, 8 test (48 episodes since 2026-12-04: the demo's model is limited by its data, and
# half as much again lowered the held-out CER by 1-2.6 points; docs/recipes.md, "More data, more weight decay");
# one transcript segment per sentence (4.5 s on average, against 12.3 s for speaker turns): the segmenter can
# cut every ~8 s, and the model leaves the CTC plateau within ~1,500 audio-seconds instead of up to ~5,700
# (docs/recipes.md, "Sentence segments")
DEMO_CORPUS = {"episodes": 48, "minutes": (3.5, 4.5), "seed": 0, "segments": "sentences"}


def demo_corpus() -> Path:
    """The demo's corpus (:data:`DEMO_CORPUS`, what ``experiments/demo.py`` synthesizes), cached like
    :func:`synth_corpus`."""
    from statecatcher_synth.corpus import cached_corpus

    return cached_corpus(SYNTH_CACHE, **DEMO_CORPUS, progress=False)


def manifest_rows(corpus: Path) -> list[dict[str, Any]]:
    """The rows of ``corpus``'s manifest (a synth-corpus or local-source folder): id, audio, split, duration, ..."""
    return read_jsonl(Path(corpus) / MANIFEST, "no manifest: not a synth-corpus output directory")
