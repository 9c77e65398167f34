"""Held-out scores split by whether a test sentence's text was also spoken in a training episode.

The synthesizer draws every episode's sentences from one bank of 4,843, so the more training episodes a
corpus has, the more of its test sentences the model (and the word LM built from the train split) has
already heard: 32 % of the recipe benchmark's test sentences with 32 training episodes, 60 % with 80.  Scores
on the *unseen* sentences are what a held-out number should mean; :func:`by_text_seen` gives both.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jiwer

from experiments.corpus import manifest_rows
from statecatcher.text import TextNormalizer


def sentences(transcript: Path) -> list[str]:
    """The sentences of a synth-corpus transcript in spoken order (a segment without sentence times counts as
    one sentence)."""
    segments = json.loads(Path(transcript).read_text(encoding="utf-8"))["segments"]
    return [s["text"] for segment in segments for s in segment.get("sentences") or [segment]]


def training_sentences(corpus: Path, normalizer: TextNormalizer) -> set[str]:
    """The normalised text of every sentence of the corpus's train split."""
    return {normalizer(text) for row in manifest_rows(corpus) if row["split"] == "train"
            for text in sentences(Path(corpus) / row["transcript"])}


def by_text_seen(report_path: Path, corpus: Path, normalizer: TextNormalizer | None = None) -> dict[str, Any]:
    """``{"seen": {words, cer, wer}, "unseen": {...}, "skipped": [ids]}`` of an ``eval`` report (segment mode):
    each reference word and character is counted with the sentence it belongs to, an inserted one with the
    reference position it follows.  A recording whose reference words do not line up with its transcript's
    sentences (another normaliser) is skipped and listed."""
    normalizer = normalizer or TextNormalizer()
    seen_texts = training_sentences(corpus, normalizer)
    rows = {row["id"]: row for row in manifest_rows(corpus)}
    totals = {True: [0, 0, 0, 0], False: [0, 0, 0, 0]}  # seen -> chars, char errors, words, word errors
    skipped = []
    for name, scores in json.loads(Path(report_path).read_text())[0]["recordings"].items():
        texts = [t for t in (normalizer(s) for s in sentences(Path(corpus) / rows[name]["transcript"])) if t]
        words = scores["reference"].split()
        word_seen = [text in seen_texts for text in texts for _ in text.split()]
        if len(word_seen) != len(words):
            skipped.append(name)
            continue
        char_seen = [seen for word, seen in zip(words, word_seen, strict=True) for _ in range(len(word) + 1)][:-1]
        for owners, counts, align in ((char_seen, 0, jiwer.process_characters), (word_seen, 2, jiwer.process_words)):
            for chunk in align(scores["reference"], scores["hypothesis"]).alignments[0]:
                if chunk.type == "insert":
                    totals[owners[min(chunk.ref_start_idx, len(owners) - 1)]][counts + 1] += (
                        chunk.hyp_end_idx - chunk.hyp_start_idx)
                    continue
                for position in range(chunk.ref_start_idx, chunk.ref_end_idx):
                    totals[owners[position]][counts] += 1
                    totals[owners[position]][counts + 1] += chunk.type != "equal"
    result: dict[str, Any] = {
        ("seen" if seen else "unseen"): {"words": words, "cer": round(char_errors / chars, 4) if chars else None,
                                         "wer": round(word_errors / words, 4) if words else None}
        for seen, (chars, char_errors, words, word_errors) in totals.items()}
    result["skipped"] = skipped
    return result
