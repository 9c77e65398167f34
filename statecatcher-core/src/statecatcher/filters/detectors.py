"""Built-in detectors of hallucinated transcript segments: from the text, its timing, Whisper's no-speech
probability and the energy of its audio (no model needed; the model-based one is filters/model.py).

Each is a :class:`~statecatcher.protocols.LabelFilter`: ``score(segment, context) -> (score, reject)``, with
thresholds as constructor options (``--filter-opt compression_ratio.threshold=2.0``).  The score's meaning
is the detector's own (a ratio, a share, a rate); the verdict compares it with the threshold.

``context`` keys the data pipeline provides: ``audio_seconds`` (the transcript segment's duration, Seconds)
and, when the recording's audio is at hand, ``speech_fraction`` (share of its 25 ms frames loud enough to be
speech, see :func:`speech_fraction`).
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from statecatcher.filters.robust import RobustWindow
from statecatcher.records import SAMPLE_RATE, Segment
from statecatcher.text import normalize

FRAME_SECONDS = 0.025  # energy frames of the speech detector


def _words(text: str) -> list[str]:
    return normalize(text).split()


class CompressionRatio:
    """zlib compression ratio of the text (Whisper's test: looping text compresses well); reject above
    ``threshold`` (Whisper uses 2.4).  Texts shorter than ``min_chars`` score 0."""

    name = "compression_ratio"

    def __init__(self, threshold: float = 2.4, min_chars: int = 20):
        self.threshold, self.min_chars = threshold, min_chars

    def score(self, segment: Segment, context: Mapping[str, Any]) -> tuple[float, bool]:
        data = segment.text.strip().encode("utf-8")
        if len(data) < self.min_chars:
            return 0.0, False
        ratio = len(data) / len(zlib.compress(data))
        return ratio, ratio > self.threshold


class NgramRepetition:
    """Share of the text's word ``n``-grams that repeat an earlier one (0: none); reject at or above
    ``threshold``.  Texts with fewer than ``min_words`` words score 0."""

    name = "ngram_repetition"

    def __init__(self, n: int = 3, threshold: float = 0.3, min_words: int = 8):
        if n < 1:
            raise ValueError(f"ngram_repetition: n must be >= 1, got {n}")
        self.n, self.threshold, self.min_words = n, threshold, min_words

    def score(self, segment: Segment, context: Mapping[str, Any]) -> tuple[float, bool]:
        words = _words(segment.text)
        if len(words) < max(self.min_words, self.n):
            return 0.0, False
        grams = [tuple(words[i:i + self.n]) for i in range(len(words) - self.n + 1)]
        repeated = 1.0 - len(set(grams)) / len(grams)
        return repeated, repeated >= self.threshold


class UniqueWords:
    """Share of distinct words in the text; reject at or below ``threshold`` (0.4), for texts of at least
    ``min_words`` words (short texts score 1)."""

    name = "unique_words"

    def __init__(self, threshold: float = 0.4, min_words: int = 8):
        self.threshold, self.min_words = threshold, min_words

    def score(self, segment: Segment, context: Mapping[str, Any]) -> tuple[float, bool]:
        words = _words(segment.text)
        if len(words) < self.min_words:
            return 1.0, False
        share = len(set(words)) / len(words)
        return share, share <= self.threshold


class CharRate:
    """Characters (spaces excluded) per second of audio; reject outside ``[min_rate, max_rate]``.  Fluent
    speech runs at about 10-20; segments shorter than ``min_seconds`` are not judged (their rate is noise)."""

    name = "char_rate"

    def __init__(self, min_rate: float = 4.0, max_rate: float = 30.0, min_seconds: float = 0.5):
        if not 0 <= min_rate < max_rate:
            raise ValueError(f"char_rate: need 0 <= min_rate < max_rate, got {min_rate}, {max_rate}")
        self.min_rate, self.max_rate, self.min_seconds = min_rate, max_rate, min_seconds

    def score(self, segment: Segment, context: Mapping[str, Any]) -> tuple[float, bool]:
        seconds = float(context.get("audio_seconds", segment.duration))
        chars = len(re.sub(r"\s", "", segment.text))
        if chars == 0 or seconds < self.min_seconds:
            return 0.0, False
        rate = chars / seconds
        return rate, not self.min_rate <= rate <= self.max_rate


class RateOutlier(RobustWindow):
    """Speaking rate relative to the recent segments: robust z-score of ``log(units / seconds)`` (``unit``:
    ``"words"``, or ``"chars"`` without spaces) against the last ``window`` accepted segments, after
    ``warmup``; reject beyond ``threshold`` either way.  Catches text that does not fit its audio even when
    the absolute rate is plausible (a swapped transcript), as the speakers' own pace sets the reference."""

    name = "rate_outlier"

    def __init__(self, threshold: float = 3.5, warmup: int = 100, window: int = 400, min_spread: float = 0.05,
                 unit: str = "words", min_seconds: float = 0.5):
        if unit not in ("chars", "words"):
            raise ValueError(f"rate_outlier: unit must be 'chars' or 'words', got {unit!r}")
        super().__init__(threshold, warmup, window, min_spread)
        self.unit, self.min_seconds = unit, min_seconds

    def score(self, segment: Segment, context: Mapping[str, Any]) -> tuple[float, bool]:
        seconds = float(context.get("audio_seconds", segment.duration))
        units = len(re.sub(r"\s", "", segment.text)) if self.unit == "chars" else len(segment.text.split())
        if units == 0 or seconds < self.min_seconds:
            return 0.0, False
        return self.judge(math.log(units / seconds), two_sided=True)


class LongWord:
    """Length of the longest whitespace-separated "word"; reject at or above ``max_chars`` (25)."""

    name = "long_word"

    def __init__(self, max_chars: int = 25):
        self.max_chars = max_chars

    def score(self, segment: Segment, context: Mapping[str, Any]) -> tuple[float, bool]:
        longest = max((len(word) for word in segment.text.split()), default=0)
        return float(longest), longest >= self.max_chars


KNOWN_PHRASES: tuple[str, ...] = (
    "thanks for watching", "thank you for watching", "thanks for listening", "thank you for listening",
    "please subscribe", "like and subscribe", "subscribe to my channel", "subscribe to the channel",
    "subtitles by", "subtitled by", "captions by", "transcribed by", "translated by", "amara org",
    "see you in the next video", "www",
)


class KnownPhrases:
    """1 if the normalised text contains a phrase Whisper is known to invent (video outros, subtitle
    credits), else 0; reject on 1.  ``phrases`` replaces the built-in list, ``extra_phrases`` extends it."""

    name = "known_phrases"

    def __init__(self, phrases: Iterable[str] | None = None, extra_phrases: Iterable[str] = ()):
        chosen = KNOWN_PHRASES if phrases is None else tuple(phrases)
        self.phrases = tuple(normalize(p) for p in (*chosen, *extra_phrases) if normalize(p))

    def score(self, segment: Segment, context: Mapping[str, Any]) -> tuple[float, bool]:
        padded = f" {normalize(segment.text)} "
        hit = any(f" {phrase} " in padded for phrase in self.phrases)
        return float(hit), hit


class NoSpeechProbability:
    """Whisper's own ``no_speech_prob`` of the segment (0 when the transcript has none); a segment with
    text and a probability at or above ``threshold`` (0.6, Whisper's) is rejected."""

    name = "no_speech"

    def __init__(self, threshold: float = 0.6):
        self.threshold = threshold

    def score(self, segment: Segment, context: Mapping[str, Any]) -> tuple[float, bool]:
        probability = segment.no_speech_prob or 0.0
        return probability, bool(segment.text.strip()) and probability >= self.threshold


class Silence:
    """Text over (near) silence: ``context["speech_fraction"]``, the share of the segment's frames loud
    enough to be speech; a segment with text and a fraction below ``min_speech_fraction`` is rejected.
    Without audio in the context it scores 1 (speech assumed).  Music is not silence: use ``no_speech``."""

    name = "silence"
    needs_audio = True

    def __init__(self, min_speech_fraction: float = 0.25, relative_db: float = 35.0, floor_db: float = -60.0):
        self.min_speech_fraction, self.relative_db, self.floor_db = min_speech_fraction, relative_db, floor_db

    def score(self, segment: Segment, context: Mapping[str, Any]) -> tuple[float, bool]:
        fraction = float(context.get("speech_fraction", 1.0))
        return fraction, bool(segment.text.strip()) and fraction < self.min_speech_fraction


def frame_levels_db(waveform: np.ndarray) -> np.ndarray:
    """RMS level in dBFS of each whole 25 ms frame of ``waveform [num_samples]`` (16 kHz) -> ``[frames]``."""
    size = round(FRAME_SECONDS * SAMPLE_RATE)
    frames = waveform[: len(waveform) // size * size].reshape(-1, size).astype(np.float64)
    return 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-12)


def speech_fraction(levels_db: np.ndarray, start: float, end: float, *, reference_db: float,
                    relative_db: float = 35.0, floor_db: float = -60.0) -> float:
    """Share of the frames of ``[start, end)`` Seconds louder than ``max(reference_db - relative_db,
    floor_db)``; ``levels_db`` from :func:`frame_levels_db` of the whole recording.  1.0 for an empty span."""
    first, last = int(start / FRAME_SECONDS), int(np.ceil(end / FRAME_SECONDS))
    span = levels_db[first:last]
    if span.size == 0:
        return 1.0
    return float(np.mean(span > max(reference_db - relative_db, floor_db)))
