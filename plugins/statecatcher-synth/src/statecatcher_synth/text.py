"""The shipped sentence bank (``data/sentences.txt``; provenance and licence in ``data/SOURCES.md``)."""

from __future__ import annotations

import functools
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


@functools.cache
def sentence_bank() -> SentenceBank:
    text = resources.files("statecatcher_synth").joinpath("data/sentences.txt").read_text(encoding="utf-8")
    sentences = [line.strip() for line in text.splitlines() if line.strip()]
    short = tuple(s for s in sentences if len(s.split()) <= SHORT_TURN_MAX_WORDS)
    long = tuple(s for s in sentences if len(s.split()) > SHORT_TURN_MAX_WORDS)
    return SentenceBank(short=short, long=long)
