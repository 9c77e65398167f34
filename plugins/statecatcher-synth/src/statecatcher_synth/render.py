"""Turn episode plans into audio: synthesize every sentence (in worker processes), then lay them out.

A sentence's audio depends only on its own (voice, text, speed, pitch, seed), never on which worker made it
or when, so the output is identical for any number of workers.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np

from statecatcher_synth import voices
from statecatcher_synth.audio import SAMPLE_RATE, add_noise_floor, place, to_16k, trim_silence
from statecatcher_synth.effects import apply_effects
from statecatcher_synth.plan import EpisodePlan, Utterance
from statecatcher_synth.transcript import TimedSentence, whisper_json

ClipCallback = Callable[[EpisodePlan, Utterance, float], None]


def synthesize_clip(voice: str, text: str, speed: float, pitch: float, seed: int) -> np.ndarray:
    """One sentence -> trimmed [T] float32 at 16 kHz, a whole number of milliseconds long."""
    try:
        samples, sample_rate = voices.synthesize(voice, text, speed, seed)
        return trim_silence(to_16k(samples, sample_rate, pitch))
    except Exception as error:
        raise RuntimeError(f"voice {voice!r} failed on {text!r}: {error}") from error


def _clip_args(plan: EpisodePlan, utterance: Utterance) -> tuple[str, str, float, float, int]:
    speaker = plan.speakers[utterance.speaker]
    return speaker.voice, utterance.text, speaker.speed, speaker.pitch, utterance.seed


def iter_episode_clips(
    plans: list[EpisodePlan], workers: int, on_clip: ClipCallback
) -> Iterator[tuple[EpisodePlan, list[np.ndarray]]]:
    """Yield (plan, one clip per utterance) for each episode as soon as all its sentences are synthesized.

    ``workers`` <= 1 synthesizes in this process; otherwise in a spawned process pool (one ONNX thread each).
    ``on_clip(plan, utterance, clip_seconds)`` is called after every sentence, for progress reporting.
    """
    if workers <= 1:
        for plan in plans:
            clips = []
            for utterance in plan.utterances:
                clips.append(synthesize_clip(*_clip_args(plan, utterance)))
                on_clip(plan, utterance, len(clips[-1]) / SAMPLE_RATE)
            yield plan, clips
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        jobs = {
            pool.submit(synthesize_clip, *_clip_args(plan, utterance)): (p, u)
            for p, plan in enumerate(plans)
            for u, utterance in enumerate(plan.utterances)
        }
        clips: list[list] = [[None] * len(plan.utterances) for plan in plans]
        missing = [len(plan.utterances) for plan in plans]
        for job in as_completed(jobs):
            p, u = jobs[job]
            clips[p][u] = job.result()
            on_clip(plans[p], plans[p].utterances[u], len(clips[p][u]) / SAMPLE_RATE)
            missing[p] -= 1
            if missing[p] == 0:
                yield plans[p], clips[p]
                clips[p] = []
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def render_episode(
    plan: EpisodePlan, clips: list[np.ndarray], effects: tuple[str, ...], seed: int, segments: str = "turns"
) -> tuple[np.ndarray, dict, list[str]]:
    """Scale, place and finish an episode -> ([T] float32 in [-1, 1] at 16 kHz, Whisper-style transcript with
    ``segments`` (see :func:`~statecatcher_synth.transcript.whisper_json`), the names of the ``effects`` applied
    to it)."""
    scaled = [clip * np.float32(u.level / np.max(np.abs(clip))) for clip, u in zip(clips, plan.utterances, strict=True)]
    track, spans = place(scaled, plan.lead_in, [u.pause_after for u in plan.utterances])
    rng = np.random.default_rng([seed, plan.index, 1])
    applied: list[str] = []
    track = apply_effects(add_noise_floor(track, rng), effects, rng, applied)
    track = np.clip(track, -1.0, 1.0)
    sentences = [
        TimedSentence(plan.speakers[u.speaker].id, _seconds(start), _seconds(end), u.text)
        for u, (start, end) in zip(plan.utterances, spans, strict=True)
    ]
    return track, whisper_json(sentences, _seconds(len(track)), segments=segments), applied


def _seconds(samples: int) -> float:
    return round(samples / SAMPLE_RATE, 3)
