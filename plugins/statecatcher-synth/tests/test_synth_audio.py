"""Unit checks of the audio steps, the effects, the segment merging, the text bank and the voices."""

from __future__ import annotations

import re

import numpy as np
import pytest

from statecatcher_synth import voices
from statecatcher_synth.audio import SAMPLE_RATE, SAMPLES_PER_MS, place, to_16k, trim_silence
from statecatcher_synth.effects import apply_effects, check_effects
from statecatcher_synth.text import sentence_bank
from statecatcher_synth.transcript import TimedSentence, whisper_json


def _tone_burst(silence_before: int, tone: int, silence_after: int) -> np.ndarray:
    t = np.arange(tone) / SAMPLE_RATE
    return np.concatenate([np.zeros(silence_before), 0.5 * np.sin(2 * np.pi * 440 * t), np.zeros(silence_after)])


def test_trim_keeps_20ms_around_speech_and_whole_milliseconds():
    clip = trim_silence(_tone_burst(8000, 4800, 8000).astype(np.float32))
    assert len(clip) == 4800 + 2 * 320 and len(clip) % SAMPLES_PER_MS == 0
    assert np.all(clip[:320] == 0) and np.all(clip[-320:] == 0) and np.abs(clip[320:340]).max() > 0
    with pytest.raises(ValueError, match="silence"):
        trim_silence(np.zeros(1600, np.float32))


def test_resampling_to_16k_and_pitch_factor_scale_the_length():
    audio = np.zeros(24_000, np.float32)
    assert len(to_16k(audio, 24_000)) == 16_000
    assert len(to_16k(audio, 24_000, pitch=1.25)) == 12_800


def test_place_puts_clips_at_millisecond_spans():
    clips = [np.ones(160, np.float32), np.ones(320, np.float32)]
    track, spans = place(clips, lead_in=0.5, pauses=[0.2504, 0.1])
    assert spans == [(8000, 8160), (8160 + 4000, 8160 + 4000 + 320)]
    assert len(track) == spans[-1][1] + 1600 and track.sum() == 480


@pytest.mark.parametrize("effect", ["reverb", "noise", "telephone"])
def test_effects_keep_length_and_timing(effect):
    burst = _tone_burst(16_000, 8000, 16_000)
    out = apply_effects(burst, (effect,), np.random.default_rng(0))
    assert out.shape == burst.shape and out.dtype == np.float32
    onset = np.flatnonzero(np.abs(out) > 0.05)[0]
    assert abs(onset - 16_000) < 5 * SAMPLES_PER_MS


def test_telephone_removes_the_low_band():
    hum = 0.5 * np.sin(2 * np.pi * 100 * np.arange(16_000) / SAMPLE_RATE)
    both = hum + _tone_burst(0, 16_000, 0)
    out = apply_effects(both, ("telephone",), np.random.default_rng(0))
    spectrum = np.abs(np.fft.rfft(out))
    assert spectrum[100] < 1e-3 * spectrum[440]
    with pytest.raises(ValueError, match="echo"):
        check_effects(("echo",))


def test_segments_merge_one_speakers_sentences_up_to_30_seconds():
    sentences = [TimedSentence("S1", 0.5, 10.0, "A."), TimedSentence("S1", 10.3, 25.0, "B."),
                 TimedSentence("S1", 25.2, 31.0, "C."), TimedSentence("S2", 32.0, 33.0, "D.")]
    segments = whisper_json(sentences, 34.0)["segments"]
    assert [(s["speaker"], s["start"], s["end"], s["text"]) for s in segments] == [
        ("S1", 0.5, 25.0, " A. B."), ("S1", 25.2, 31.0, " C."), ("S2", 32.0, 33.0, " D.")]
    by_sentence = whisper_json(sentences, 34.0, segments="sentences")
    assert [(s["speaker"], s["start"], s["end"], s["text"]) for s in by_sentence["segments"]] == [
        (x.speaker, x.start, x.end, f" {x.text}") for x in sentences]
    assert by_sentence["text"] == whisper_json(sentences, 34.0)["text"]  # the same words, cut finer
    with pytest.raises(ValueError, match="segments must be one of turns, sentences"):
        whisper_json(sentences, 34.0, segments="words")


def test_sentence_bank_is_readable_text_only():
    bank = sentence_bank()
    assert len(bank.short) > 300 and len(bank.long) > 3000
    for sentence in bank.short + bank.long:
        assert re.fullmatch(r"[A-Z][A-Za-z ,;:'!?]*[.?!]", sentence) and len(sentence) <= 250, sentence
        assert not any(len(w) > 1 and w.isupper() for w in re.findall(r"[A-Za-z]+", sentence)), sentence


@pytest.mark.parametrize("voice", voices.installed_voices())
def test_voice_is_deterministic_and_speed_changes_the_length(voice):
    text = "The Lord is at hand, and the evening was quiet."
    slow, rate = voices.synthesize(voice, text, 0.85, 5)
    again, _ = voices.synthesize(voice, text, 0.85, 5)
    fast, _ = voices.synthesize(voice, text, 1.2, 5)
    assert rate >= 16_000 and slow.dtype == np.float32 and np.array_equal(slow, again)
    assert 0.5 * rate < len(fast) < 0.92 * len(slow)


def test_unknown_voices_are_named_in_the_error():
    with pytest.raises(ValueError, match="nosuch"):
        voices.check_voice("nosuch")
    with pytest.raises(ValueError, match="hibari:fenrir"):
        voices.check_voice("hibari:fenrir")


def test_effect_probability_applies_to_a_seeded_share_of_episodes():
    hum = 0.5 * np.sin(2 * np.pi * 100 * np.arange(4_000) / SAMPLE_RATE)

    def processed_episodes() -> list[bool]:
        return [not np.allclose(apply_effects(hum, ("telephone@0.3",), np.random.default_rng([7, episode])), hum,
                                atol=1e-4) for episode in range(400)]

    applied = processed_episodes()
    assert 0.22 < np.mean(applied) < 0.38  # ~30 % of the episodes, each decided by its own generator
    assert processed_episodes() == applied
    names = []  # the names reported are exactly the episodes processed
    for episode in range(400):
        before = len(names)
        apply_effects(hum, ("telephone@0.3",), np.random.default_rng([7, episode]), names)
        assert names[before:] == (["telephone"] if applied[episode] else [])
    assert np.allclose(apply_effects(hum, ("telephone@0",), np.random.default_rng(0)), hum)
    assert not np.allclose(apply_effects(hum, ("telephone@1",), np.random.default_rng(0)), hum, atol=1e-4)


@pytest.mark.parametrize("spec", ["noise@", "noise@1.5", "noise@x", "echo@0.5"])
def test_effect_probability_is_checked(spec):
    with pytest.raises(ValueError, match=spec.split("@")[0]):
        check_effects((spec,))
