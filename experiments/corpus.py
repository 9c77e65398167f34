"""The synthetic corpora the experiments and benchmarks use.

:func:`synth_corpus` and :func:`demo_corpus` are built on first use and cached in ``$STATECATCHER_TEST_CACHE``
(default ``~/.cache/statecatcher/tests``, the test suite's cache); :func:`ensure_corpus` keeps an experiment's
own corpus in its output folder, with the ``synth-corpus`` arguments that made it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from experiments import runner
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


SYNTH_ARGS_FILE = "synth-args.json"  # beside a corpus's manifest: the synth-corpus arguments that made it
PRESENTATION_FLAGS = ("--no-progress",)  # synth-corpus flags that change no byte of the corpus


class StaleCorpusError(RuntimeError):
    """A kept corpus was synthesised with other arguments than the experiment asks for."""


def ensure_corpus(corpus: Path, synth_args: list[str]) -> Path:
    """The corpus at ``corpus``: ``statecatcher synth-corpus SYNTH_ARGS`` unless its manifest is already there.

    The arguments are recorded beside the manifest (:data:`SYNTH_ARGS_FILE`); a kept corpus made with other
    ones raises :class:`StaleCorpusError` instead of being reused, so a changed corpus recipe never scores on
    the old corpus.  One made before the record existed is reused with a note.
    """
    wanted = [arg for arg in synth_args if arg not in PRESENTATION_FLAGS]
    record = corpus / SYNTH_ARGS_FILE
    if not (corpus / "manifest.jsonl").exists():
        runner.statecatcher("synth-corpus", "--out", str(corpus), *synth_args)
        record.write_text(json.dumps(wanted) + "\n")
    elif not record.exists():
        print(f"reusing {corpus} (made before {SYNTH_ARGS_FILE} recorded its synth-corpus arguments; delete it "
              f"if it was not made with: {' '.join(wanted)})", flush=True)
    elif (made := json.loads(record.read_text())) != wanted:
        raise StaleCorpusError(f"{corpus} was synthesised with `synth-corpus {' '.join(made)}`, this experiment "
                               f"needs `{' '.join(wanted)}`: delete the folder (or pick another --out)")
    return corpus
