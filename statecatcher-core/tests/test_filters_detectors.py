"""The built-in text, timing and audio detectors: clean Whisper-like text passes, each hallucination kind fails."""

import math

import numpy as np
import pytest

from statecatcher.filters import DEFAULT_FILTERS
from statecatcher.filters.detectors import (
    CharRate,
    CompressionRatio,
    KnownPhrases,
    LongWord,
    NgramRepetition,
    NoSpeechProbability,
    RateOutlier,
    Silence,
    UniqueWords,
    frame_levels_db,
    speech_fraction,
)
from statecatcher.plugins import get
from statecatcher.records import SAMPLE_RATE, Segment

CLEAN = Segment(0.0, 5.0, " And the time that Jehu reigned over Israel in Samaria was twenty and eight years.")
LOOPING = Segment(0.0, 5.0, " and the lord said unto him" * 8)


def verdict(detector, segment, **context):
    return detector.score(segment, context)


def test_compression_ratio_flags_looping_text_like_whisper():
    ratio, reject = verdict(CompressionRatio(), LOOPING)
    assert ratio > 2.4 and reject
    ratio, reject = verdict(CompressionRatio(), CLEAN)
    assert 0.9 < ratio < 2.0 and not reject
    assert verdict(CompressionRatio(), Segment(0, 1, "ha ha")) == (0.0, False)  # too short to judge


def test_ngram_repetition_counts_repeated_trigrams():
    share, reject = verdict(NgramRepetition(), LOOPING)
    # 48 words -> 46 trigrams, 6 distinct
    assert share == pytest.approx(1 - 6 / 46) and reject
    assert verdict(NgramRepetition(), CLEAN) == (0.0, False)


def test_unique_words_share():
    share, reject = verdict(UniqueWords(), LOOPING)
    assert share == pytest.approx(6 / 48) and reject
    share, reject = verdict(UniqueWords(), CLEAN)
    assert share == pytest.approx(14 / 15) and not reject


def test_char_rate_outside_the_plausible_range():
    assert verdict(CharRate(), CLEAN)[1] is False  # 67 characters in 5 s
    rate, reject = verdict(CharRate(), CLEAN, audio_seconds=1.0)
    assert rate == 67.0 and reject
    rate, reject = verdict(CharRate(), Segment(0.0, 20.0, "Thank you."))
    assert rate == pytest.approx(9 / 20) and reject
    assert verdict(CharRate(), Segment(0.0, 0.2, "a very long text for a fifth of a second")) == (0.0, False)
    with pytest.raises(ValueError, match="min_rate < max_rate"):
        CharRate(min_rate=10, max_rate=5)


def test_rate_outlier_flags_a_pace_far_from_the_recent_segments():
    detector = RateOutlier(warmup=5, window=10)
    six_words = "one two three four five six"
    for k in range(5):  # 2.5 to 3 words per second
        assert detector.score(Segment(0.0, 2.0 + 0.1 * k, six_words), {}) == (0.0, False)
    z, reject = detector.score(Segment(0.0, 2.0, "one two"), {})  # 1 word per second
    middle, spread = math.log(6 / 2.2), 1.4826 * (math.log(6 / 2.1) - math.log(6 / 2.2))
    assert reject and z == pytest.approx((0.0 - middle) / spread)
    assert len(detector.recent) == 5  # a speaking rate does not drift: rejected rates stay out of the reference
    assert detector.score(Segment(0.0, 1.9, six_words), {})[1] is False
    assert detector.score(Segment(0.0, 1.0, six_words), {"audio_seconds": 1.0})[1] is True  # 6 per second
    with pytest.raises(ValueError, match="unit"):
        RateOutlier(unit="syllables")


def test_long_word():
    assert verdict(LongWord(), Segment(0, 2, "supercalifragilisticexpialidocious")) == (34.0, True)
    assert verdict(LongWord(), CLEAN) == (7.0, False)


def test_known_phrases_match_whole_words_after_normalising():
    assert verdict(KnownPhrases(), Segment(0, 2, " Thanks for watching!")) == (1.0, True)
    assert verdict(KnownPhrases(), Segment(0, 2, "Subtitles by the Amara.org community")) == (1.0, True)
    assert verdict(KnownPhrases(), CLEAN) == (0.0, False)
    assert verdict(KnownPhrases(extra_phrases=["twenty and eight"]), CLEAN) == (1.0, True)
    assert verdict(KnownPhrases(phrases=["jehu"]), Segment(0, 2, "Thanks for watching")) == (0.0, False)


def test_no_speech_probability_needs_text():
    assert verdict(NoSpeechProbability(), Segment(0, 2, "Hello there.", no_speech_prob=0.9)) == (0.9, True)
    assert verdict(NoSpeechProbability(), Segment(0, 2, "", no_speech_prob=0.9)) == (0.9, False)
    assert verdict(NoSpeechProbability(), CLEAN) == (0.0, False)


def test_silence_uses_the_speech_fraction_of_the_audio():
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)
    quiet = 1e-4 * np.random.default_rng(0).standard_normal(2 * SAMPLE_RATE)
    levels = frame_levels_db(np.concatenate([tone, quiet, tone]).astype(np.float32))  # 1 s tone, 2 s quiet, 1 s tone
    assert levels.shape == (160,)
    reference = float(np.percentile(levels, 95))
    assert speech_fraction(levels, 0.0, 1.0, reference_db=reference) == 1.0
    assert speech_fraction(levels, 1.0, 3.0, reference_db=reference) == 0.0
    assert speech_fraction(levels, 0.5, 1.5, reference_db=reference) == 0.5
    assert verdict(Silence(), CLEAN, speech_fraction=0.0) == (0.0, True)
    assert verdict(Silence(), CLEAN, speech_fraction=0.8) == (0.8, False)
    assert verdict(Silence(), CLEAN) == (1.0, False)  # no audio: not judged


@pytest.mark.parametrize("name", DEFAULT_FILTERS)
def test_every_builtin_is_registered_under_its_own_name(name):
    detector = get("label_filter", name).create()
    assert detector.name == name
    score, reject = detector.score(CLEAN, {"audio_seconds": CLEAN.duration, "token_loss": 1.0})
    assert isinstance(score, float) and reject is False
