"""Whisper-style label corruptions with known positions: the labelled test set of the label filters.

Each transcript segment is corrupted with probability ``share``, by one of the kinds

* ``repeat``   a phrase of it looped, as Whisper does when it gets stuck (about 4-8 times its length);
* ``silence``  its audio muted (faint noise left) while its text stays: text over silence;
* ``swap``     its text replaced by that of a transcript segment of another recording;
* ``outro``    its text replaced by a phrase Whisper invents ("Thanks for watching!", subtitle credits).

The audio of a ``silence`` segment is changed, everything else only in the text, so the corrupted corpus
has the same recordings, durations and segment times as the clean one.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from statecatcher.records import SAMPLE_RATE, Recording, Segment

KINDS: tuple[str, ...] = ("repeat", "silence", "swap", "outro")
OUTROS = ("Thanks for watching!", "Thank you for watching.", "Subtitles by the Amara.org community",
          "Please subscribe to my channel.", "Thanks for listening, see you in the next video.")
SILENCE_LEVEL = 1e-4  # standard deviation of the noise left in a muted span (about -80 dBFS)


class Corruption(NamedTuple):
    """Transcript segment ``index`` of recording ``recording_id`` was corrupted by ``kind``."""

    recording_id: str
    index: int
    kind: str


def corrupt_recordings(recordings: Sequence[Recording], *, share: float = 0.2, seed: int = 0,
                       kinds: Sequence[str] = KINDS) -> tuple[list[Recording], list[Corruption]]:
    """Corrupt about ``share`` of all transcript segments (kinds drawn uniformly); returns the corrupted
    recordings (same ids, durations and times) and the list of what was corrupted where."""
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown or not kinds or not 0.0 <= share <= 1.0:
        raise ValueError(f"corrupt: kinds must be among {KINDS} and 0 <= share <= 1, got {list(kinds)}, {share}")
    rng = np.random.default_rng(seed)
    corrupted, labels = [], []
    for r, recording in enumerate(recordings):
        others = [s.text for o, other in enumerate(recordings) if o != r for s in other.segments if s.text.strip()]
        segments, muted = list(recording.segments), []
        for i, segment in enumerate(segments):
            if rng.random() >= share:
                continue
            kind = str(rng.choice(list(kinds)))
            if kind == "swap" and not others:
                continue
            segments[i] = dataclasses.replace(segment, text=_corrupted_text(kind, segment.text, others, rng))
            if kind == "silence":
                muted.append((segment.start, segment.end))
            labels.append(Corruption(recording.id, i, kind))
        load_audio = (functools.partial(_muted, recording.load_audio, tuple(muted), seed + r) if muted
                      else recording.load_audio)
        corrupted.append(dataclasses.replace(recording, segments=tuple(segments), load_audio=load_audio))
    return corrupted, labels


def _corrupted_text(kind: str, text: str, others: list[str], rng: np.random.Generator) -> str:
    if kind == "repeat":
        return _looped(text, rng)
    if kind == "swap":
        return str(rng.choice(others))
    if kind == "outro":
        return " " + str(rng.choice(OUTROS))
    return text  # silence: the words stay, the audio goes


def _looped(text: str, rng: np.random.Generator) -> str:
    """A phrase of 2-4 words of ``text`` repeated to 4-8 times the text's word count (at least 10 words)."""
    words = text.split() or ["you"]
    size = min(len(words), int(rng.integers(2, 5)))
    first = int(rng.integers(0, len(words) - size + 1))
    phrase = " ".join(words[first:first + size])
    repeats = max(10 // size, int(rng.integers(4, 9)) * len(words) // size)
    return " " + " ".join([phrase] * repeats)


def _muted(load_audio, spans: tuple[tuple[float, float], ...], seed: int) -> torch.Tensor:
    """The waveform of ``load_audio()`` with each ``(start, end)`` Seconds span replaced by faint noise."""
    waveform = load_audio().clone()
    rng = np.random.default_rng(seed)
    for start, end in spans:
        first, last = round(start * SAMPLE_RATE), min(round(end * SAMPLE_RATE), len(waveform))
        noise = rng.standard_normal(max(last - first, 0)) * SILENCE_LEVEL
        waveform[first:last] = torch.from_numpy(noise.astype(np.float32))
    return waveform


def segment_labels(recordings: Sequence[Recording], corruptions: Sequence[Corruption]) -> dict[tuple[str, int], str]:
    """``(recording_id, index) -> kind`` for every transcript segment, ``"clean"`` where not corrupted."""
    kinds = {(c.recording_id, c.index): c.kind for c in corruptions}
    return {(rec.id, i): kinds.get((rec.id, i), "clean") for rec in recordings for i in range(len(rec.segments))}


def sentence_segments(recording: Recording, sentences: Sequence[Sequence[dict]]) -> Recording:
    """``recording`` with each transcript segment split into its timed sentences (the synthetic corpus
    stores them as ``segments[i]["sentences"]``): Whisper-sized segments of a few seconds each."""
    split = [Segment(float(s["start"]), float(s["end"]), " " + s["text"].strip(), speaker=segment.speaker)
             for segment, timed in zip(recording.segments, sentences, strict=True) for s in timed]
    return dataclasses.replace(recording, segments=tuple(split))
