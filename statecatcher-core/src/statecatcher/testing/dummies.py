"""Tiny synthetic recordings for tests (like lhotse's dummies): nothing is downloaded.

A "word" is a short tone whose pitch is fixed by the word, so the transcript is exact by construction;
sentences of words become Whisper-style transcript segments, separated by pauses, with now and then a
stretch of untranscribed noise.  ``load_audio`` synthesises the waveform from the seed (in memory).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from statecatcher.records import SAMPLE_RATE, Recording, Seconds, Segment

WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
         "kilo", "lima", "mike", "november", "oscar", "papa")


def _word_pitch(word: str) -> float:
    return 200.0 * 2 ** (WORDS.index(word) / 4)  # 200 Hz .. ~2.7 kHz, a minor third apart


def _layout(duration: Seconds, rng: np.random.Generator, untranscribed: float) -> list[tuple]:
    """``[(start, end, words, is_noise)]`` in time order, everything inside ``[0, duration]``."""
    items, t = [], float(rng.uniform(0.0, 0.5))
    while True:
        if rng.random() < untranscribed:  # a stretch of noise nobody transcribed
            length = float(rng.uniform(0.3, 2.0))
            if t + length > duration:
                break
            items.append((t, t + length, (), True))
        else:
            words = tuple(str(w) for w in rng.choice(WORDS, size=int(rng.integers(2, 7))))
            length = len(words) * 0.3 - 0.05
            if t + length > duration:
                break
            items.append((t, t + length, words, False))
        t += length + float(rng.uniform(0.2, 1.0))
    return items


def _synthesize(duration: Seconds, seed: int, layout: tuple) -> torch.Tensor:
    rng = np.random.default_rng(seed + 1)
    audio = (rng.standard_normal(round(duration * SAMPLE_RATE)) * 1e-3).astype(np.float32)
    for start, end, words, is_noise in layout:
        begin = round(start * SAMPLE_RATE)
        if is_noise:
            length = round((end - start) * SAMPLE_RATE)
            audio[begin:begin + length] += 0.05 * rng.standard_normal(length).astype(np.float32)
            continue
        for k, word in enumerate(words):
            t = np.arange(round(0.25 * SAMPLE_RATE)) / SAMPLE_RATE
            tone = 0.3 * np.sin(2 * np.pi * _word_pitch(word) * t) * np.hanning(len(t))
            offset = begin + round(k * 0.3 * SAMPLE_RATE)
            audio[offset:offset + len(t)] += tone.astype(np.float32)
    return torch.from_numpy(audio)


def make_recording(id: str, duration: Seconds = 20.0, seed: int = 0, *, untranscribed: float = 0.1,
                   split: str = "train") -> Recording:
    """A recording of ``duration`` seconds with exact transcript segments (sentences of tone-words)."""
    rng = np.random.default_rng(seed)
    layout = tuple(_layout(duration, rng, untranscribed))
    segments = tuple(Segment(round(start, 4), round(end, 4), " " + " ".join(words).capitalize() + ".")
                     for start, end, words, is_noise in layout if not is_noise)
    return Recording(id=id, duration=duration, segments=segments, sample_rate=SAMPLE_RATE,
                     load_audio=functools.partial(_synthesize, duration, seed, layout), meta={"split": split})


def make_recordings(n: int, *, min_duration: Seconds = 5.0, max_duration: Seconds = 40.0, seed: int = 0,
                    prefix: str = "rec", untranscribed: float = 0.1) -> list[Recording]:
    """``n`` recordings ``{prefix}-000 ..`` with durations drawn from ``[min_duration, max_duration]``."""
    rng = np.random.default_rng(seed)
    durations = rng.uniform(min_duration, max_duration, size=n).round(2)
    return [make_recording(f"{prefix}-{i:03d}", float(d), seed * 1000 + i, untranscribed=untranscribed)
            for i, d in enumerate(durations)]


def _whisper_segment(i: int, segment: Segment) -> dict:
    fields = {"id": i, "start": segment.start, "end": segment.end, "text": segment.text,
              "speaker": segment.speaker, "no_speech_prob": segment.no_speech_prob}
    return {key: value for key, value in fields.items() if value is not None}


def write_local_corpus(directory: str | Path, recordings: Iterable[Recording]) -> Path:
    """Write ``recordings`` in the local format (16-bit FLAC, Whisper JSON, ``manifest.jsonl``)."""
    import soundfile

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    lines = []
    for rec in recordings:
        audio_name, transcript_name = f"{rec.id}.flac", f"{rec.id}.json"
        soundfile.write(directory / audio_name, rec.load_audio().numpy(), SAMPLE_RATE, subtype="PCM_16")
        segments = rec.load_segments()
        whisper = {"text": "".join(s.text for s in segments), "language": "en",
                   "segments": [_whisper_segment(i, s) for i, s in enumerate(segments)]}
        (directory / transcript_name).write_text(json.dumps(whisper, indent=1))
        lines.append({"id": rec.id, "audio": audio_name, "transcript": transcript_name,
                      "duration": rec.duration, "split": rec.meta.get("split", "train")})
    (directory / "manifest.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return directory
