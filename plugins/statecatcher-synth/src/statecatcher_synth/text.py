"""The shipped sentence bank (``data/sentences.txt``; provenance and licence in ``data/SOURCES.md``)."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from importlib import resources

SHORT_TURN_MAX_WORDS = 8


@dataclass(frozen=True)
class SentenceBank:
    """Sentences a TTS engine reads exactly as written, split by length for chat-like turns.

    ``short``: at most ``SHORT_TURN_MAX_WORDS`` words (quick replies); ``long``: the rest.
    """

    short: tuple[str, ...]
    long: tuple[str, ...]


TEXT_PARTS = ("train", "held_out")
HELD_OUT_TEXT_SHARE = 0.25  # of the sentences, chosen by a hash of each sentence


def text_part(sentence: str) -> str:
    """``held_out`` for about a quarter of the sentences (the first 8 hex digits of the sentence's sha256,
    over 16**8, below :data:`HELD_OUT_TEXT_SHARE`), ``train`` for the rest: fixed by the text alone."""
    digest = int(hashlib.sha256(sentence.encode("utf-8")).hexdigest()[:8], 16)
    return "held_out" if digest < HELD_OUT_TEXT_SHARE * 16**8 else "train"


@functools.cache
def sentence_bank(part: str | None = None) -> SentenceBank:
    """The whole bank, or with ``part`` (``train`` / ``held_out``, :func:`text_part`) only that part of it, so
    that held-out episodes can speak sentences no training episode speaks."""
    if part is not None and part not in TEXT_PARTS:
        raise ValueError(f"text part: one of {', '.join(TEXT_PARTS)}, got {part!r}")
    text = resources.files("statecatcher_synth").joinpath("data/sentences.txt").read_text(encoding="utf-8")
    sentences = [line.strip() for line in text.splitlines() if line.strip()]
    sentences = [s for s in sentences if part is None or text_part(s) == part]
    short = tuple(s for s in sentences if len(s.split()) <= SHORT_TURN_MAX_WORDS)
    long = tuple(s for s in sentences if len(s.split()) > SHORT_TURN_MAX_WORDS)
    return SentenceBank(short=short, long=long)
