"""Train a model's word n-gram LM: from its run's training transcripts or from a text file.

    statecatcher lm train runs/demo --order 3              # runs/demo/lm.arpa, from the run's train split
    statecatcher lm train model.pt --text books.txt --out books.arpa

Texts go through the model's own normaliser (the one its targets and WER use), so LM words and decoded words
match.  ``transcribe --decoder beam`` and ``eval --decoder beam`` then use ``RUN_DIR/lm.arpa`` by themselves,
and ``statecatcher pack`` copies it into the pack.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..checkpoint_io import find_checkpoint, load_checkpoint
from ..data.loading import loaded_recordings
from ..text import TextNormalizer
from .ngram import NgramLM


def model_facts(model: str | Path) -> tuple[dict[str, Any], TextNormalizer]:
    """The run config and the text normaliser recorded in a pack, checkpoint or run directory."""
    found = find_checkpoint(Path(model))
    if found is None:
        raise FileNotFoundError(f"{model}: not a model pack, checkpoint or run directory with checkpoints/last.pt")
    payload = load_checkpoint(found)
    if "config" not in payload or "normalizer" not in payload:
        raise ValueError(f"{found}: not a statecatcher model pack or checkpoint (no config or normalizer)")
    return payload["config"], TextNormalizer.from_dict(payload["normalizer"])


def split_sentences(source: Any, split: str, normalizer: TextNormalizer) -> Iterator[list[str]]:
    """The normalised words of every transcript segment of ``split``."""
    for recording in loaded_recordings(source, split, "language-model training"):
        for segment in recording.segments:
            words = normalizer(segment.text).split()
            if words:
                yield words


def file_sentences(path: str | Path, normalizer: TextNormalizer) -> Iterator[list[str]]:
    """The normalised words of every non-empty line of a UTF-8 text file."""
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            words = normalizer(line).split()
            if words:
                yield words


def train_lm(sentences: Iterator[list[str]], order: int, out: str | Path) -> tuple[NgramLM, int]:
    """Estimate an ``order``-gram LM from ``sentences`` and write it to ``out`` (ARPA): ``(lm, sentences)``."""
    kept = list(sentences)
    lm = NgramLM.estimate(kept, order=order)
    lm.write_arpa(out)
    return lm, len(kept)
