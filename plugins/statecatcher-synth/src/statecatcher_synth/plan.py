"""Plan an episode from a seed: speakers, turns, sentences and pauses, before any audio exists.

Everything random is drawn here from ``numpy.random.default_rng([seed, episode_index])``, so an episode
depends on nothing but (seed, index, length range, voices) and can be synthesized by any worker, in any
order.  The planned length is an estimate (characters per second); the real one is measured after synthesis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from statecatcher_synth.text import sentence_bank
from statecatcher_synth.voices import split_voice, voice_weight

SPEAKERS_PER_EPISODE = (2, 4)
TEMPO_RANGE = (0.85, 1.2)       # overall speaking rate (engine speed x pitch factor)
PITCH_RANGE = (0.9, 1.1)        # resampling factor: > 1 raises pitch (and tempo, compensated by speed)
PEAK_RANGE = (0.3, 0.9)         # per-speaker peak level, linear full scale
SENTENCE_LEVEL_JITTER = (0.85, 1.0)
PAUSE_IN_TURN = (0.12, 0.45)    # seconds
PAUSE_BETWEEN_TURNS = (0.3, 1.2)
EDGE_SILENCE = (0.3, 1.0)       # before the first and after the last sentence
SHORT_TURN_PROBABILITY = 0.35
LONG_TURN_SENTENCES = (2, 5)
CHARS_PER_SECOND = 18.0         # speaking rate at tempo 1 (measured on hibari and piper), to estimate the length


@dataclass(frozen=True)
class Speaker:
    """One episode speaker: a voice with its own speed, pitch factor and loudness."""

    id: str                     # "S1", "S2", ...
    voice: str                  # "ENGINE[:VARIANT]"
    speed: float                # engine speed (1.0 = engine pace)
    pitch: float                # resampling factor applied after synthesis
    peak: float                 # linear peak level


@dataclass(frozen=True)
class Utterance:
    """One sentence to synthesize, and the pause (seconds) that follows it."""

    speaker: int                # index into EpisodePlan.speakers
    text: str
    seed: int
    level: float                # linear peak of this sentence
    pause_after: float


@dataclass(frozen=True)
class EpisodePlan:
    id: str                     # "ep0000"
    index: int
    speakers: tuple[Speaker, ...]
    utterances: tuple[Utterance, ...]
    lead_in: float              # seconds of silence before the first sentence
    target_seconds: float

    def estimated_seconds(self, utterance: Utterance) -> float:
        """Planned length of ``utterance`` (speech only), for progress bars."""
        return estimated_speech_seconds(utterance.text, self.speakers[utterance.speaker])


def estimated_speech_seconds(text: str, speaker: Speaker) -> float:
    return len(text) / (CHARS_PER_SECOND * speaker.speed * speaker.pitch)


def episode_id(index: int) -> str:
    return f"ep{index:04d}"


def plan_episode(seed: int, index: int, minutes: tuple[float, float], voices: tuple[str, ...],
                 text: str | None = None) -> EpisodePlan:
    """Plan episode ``index``: 2-4 speakers taking alternating short and long turns, ~``minutes`` long; its
    sentences come from the whole bank, or with ``text`` from that part of it (:func:`sentence_bank`)."""
    rng = np.random.default_rng([seed, index])
    target = float(rng.uniform(*minutes)) * 60.0
    speakers = _draw_speakers(rng, voices)
    bank = sentence_bank(text)
    utterances: list[Utterance] = []
    estimate, current = float(rng.uniform(*EDGE_SILENCE)), -1
    lead_in = estimate
    while estimate < target:
        current = _next_speaker(rng, current, len(speakers))
        speaker = speakers[current]
        if rng.random() < SHORT_TURN_PROBABILITY:
            texts = [bank.short[rng.integers(len(bank.short))]]
        else:
            count = int(rng.integers(LONG_TURN_SENTENCES[0], LONG_TURN_SENTENCES[1] + 1))
            texts = [bank.long[i] for i in rng.integers(len(bank.long), size=count)]
        for position, text in enumerate(texts):
            last_in_turn = position == len(texts) - 1
            pause = float(rng.uniform(*(PAUSE_BETWEEN_TURNS if last_in_turn else PAUSE_IN_TURN)))
            level = speaker.peak * float(rng.uniform(*SENTENCE_LEVEL_JITTER))
            utterances.append(Utterance(current, text, int(rng.integers(2**31)), level, pause))
            estimate += estimated_speech_seconds(text, speaker) + pause
    last = utterances[-1]
    utterances[-1] = Utterance(last.speaker, last.text, last.seed, last.level, float(rng.uniform(*EDGE_SILENCE)))
    return EpisodePlan(episode_id(index), index, speakers, tuple(utterances), lead_in, target)


def _draw_speakers(rng: np.random.Generator, voices: tuple[str, ...]) -> tuple[Speaker, ...]:
    """2-4 speakers; each draws a voice by its engine's ``WEIGHT`` (shared among that engine's chosen variants)
    and a pitch factor from its own slice of ``PITCH_RANGE`` (so two speakers sharing a voice sound apart)."""
    count = int(rng.integers(SPEAKERS_PER_EPISODE[0], SPEAKERS_PER_EPISODE[1] + 1))
    engines = [split_voice(voice)[0] for voice in voices]
    weights = np.array([voice_weight(voice) / engines.count(split_voice(voice)[0]) for voice in voices])
    chosen = rng.choice(len(voices), size=count, p=weights / weights.sum())
    edges = np.linspace(*PITCH_RANGE, count + 1)
    slices = rng.permutation(count)
    speakers = []
    for k in range(count):
        pitch = float(rng.uniform(edges[slices[k]], edges[slices[k] + 1]))
        tempo = float(rng.uniform(*TEMPO_RANGE))
        speakers.append(Speaker(
            id=f"S{k + 1}", voice=voices[chosen[k]], speed=tempo / pitch, pitch=pitch,
            peak=float(rng.uniform(*PEAK_RANGE)),
        ))
    return tuple(speakers)


def _next_speaker(rng: np.random.Generator, current: int, count: int) -> int:
    """Any speaker but the current one (the first turn may go to anyone)."""
    if current < 0:
        return int(rng.integers(count))
    return int((current + 1 + rng.integers(count - 1)) % count)
