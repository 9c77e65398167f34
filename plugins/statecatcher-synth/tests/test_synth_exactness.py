"""Timestamps are exact: speech inside every sentence span, the noise floor between them, nothing lost."""

from __future__ import annotations

import numpy as np

from statecatcher_synth.audio import NOISE_FLOOR_DBFS, SAMPLE_RATE, frame_rms_db
from statecatcher_synth.voices import default_voices

MS = SAMPLE_RATE // 1000


def _sample(seconds: float) -> int:
    return round(seconds * SAMPLE_RATE)


def _sentences(transcript: dict) -> list[dict]:
    return [sentence for segment in transcript["segments"] for sentence in segment["sentences"]]


def _rms_db(audio: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(audio**2)))


def test_every_sentence_span_is_speech(any_episodes):
    for _, transcript, audio in any_episodes:
        for sentence in _sentences(transcript):
            span = audio[_sample(sentence["start"]): _sample(sentence["end"])]
            assert _rms_db(span) > NOISE_FLOOR_DBFS + 25, sentence


def test_every_gap_is_noise_floor(any_episodes):
    for _, transcript, audio in any_episodes:
        edges = [0.0] + [t for s in _sentences(transcript) for t in (s["start"], s["end"])] + [transcript["duration"]]
        for gap_start, gap_end in zip(edges[::2], edges[1::2], strict=True):
            gap = audio[_sample(gap_start): _sample(gap_end)]
            assert len(gap) >= 0.12 * SAMPLE_RATE
            assert abs(_rms_db(gap) - NOISE_FLOOR_DBFS) < 1.0, (gap_start, gap_end)
            assert frame_rms_db(gap, 10 * MS).max() < NOISE_FLOOR_DBFS + 3


def test_speech_starts_and_ends_within_20ms_of_the_span_edges(any_episodes):
    """The trim keeps 20 ms around the first and last frame within 40 dB of the sentence's loudest frame."""
    for _, transcript, audio in any_episodes:
        for sentence in _sentences(transcript):
            span = audio[_sample(sentence["start"]): _sample(sentence["end"])]
            levels = frame_rms_db(span, 10 * MS)
            loud = levels.max() - 41.0
            head = frame_rms_db(span[: 40 * MS], 10 * MS)
            tail = frame_rms_db(span[len(span) - len(span) % MS - 40 * MS:], 10 * MS)
            assert head.max() > loud and tail.max() > loud, sentence


def test_every_sample_belongs_to_the_recording(any_episodes):
    for row, transcript, audio in any_episodes:
        assert len(audio) == _sample(transcript["duration"]) == _sample(row["duration"])
        times = [t for s in _sentences(transcript) for t in (s["start"], s["end"])]
        assert times == sorted(times) and 0.0 < times[0] and times[-1] < transcript["duration"]
        assert all(abs(t * 1000 - round(t * 1000)) < 1e-6 for t in times + [transcript["duration"]])
        assert all(s["start"] < s["end"] for s in _sentences(transcript))


def test_segments_are_whisper_shaped_merges_of_sentences(any_episodes):
    for _, transcript, _ in any_episodes:
        segments = transcript["segments"]
        assert [segment["id"] for segment in segments] == list(range(len(segments)))
        assert transcript["language"] == "en"
        assert transcript["text"] == "".join(segment["text"] for segment in segments)
        for segment, following in zip(segments, segments[1:] + [None], strict=True):
            sentences = segment["sentences"]
            assert segment["start"] == sentences[0]["start"] and segment["end"] == sentences[-1]["end"]
            assert segment["text"] == " " + " ".join(s["text"] for s in sentences)
            assert segment["end"] - segment["start"] <= 30.0 or len(sentences) == 1
            if following is not None and following["speaker"] == segment["speaker"]:
                assert following["end"] - segment["start"] > 30.0


def test_manifest_matches_transcripts(tiny_corpus, tiny_episodes):
    files = sorted(path.name for path in tiny_corpus.iterdir())
    ids = [row["id"] for row, _, _ in tiny_episodes]
    assert ids == ["ep0000", "ep0001", "ep0002"]
    assert files == sorted([f"{i}.flac" for i in ids] + [f"{i}.json" for i in ids] + ["manifest.jsonl"])
    for row, transcript, _ in tiny_episodes:
        assert row["duration"] == transcript["duration"]
        assert row["audio"] == f"{row['id']}.flac" and row["transcript"] == f"{row['id']}.json"
        assert row["speakers"] == sorted({segment["speaker"] for segment in transcript["segments"]})
        assert len(row["voices"]) == len(row["speakers"]) and 2 <= len(row["speakers"]) <= 4
    assert {voice for row, _, _ in tiny_episodes for voice in row["voices"]} == set(default_voices())
