"""Sample-level audio work: resample to 16 kHz, trim silence, place sentences on a millisecond grid.

All positions are sample indices at ``SAMPLE_RATE``; every clip length and pause is a whole number of
milliseconds (``SAMPLES_PER_MS`` samples), so times written rounded to milliseconds are exact.
"""

from __future__ import annotations

import numpy as np
import soxr

SAMPLE_RATE = 16_000
SAMPLES_PER_MS = SAMPLE_RATE // 1000
FRAME = SAMPLE_RATE // 100          # 10 ms analysis frames
TRIM_BELOW_LOUDEST_DB = 40.0
TRIM_MARGIN = 2 * FRAME             # keep 20 ms around the speech
NOISE_FLOOR_DBFS = -60.0


def to_16k(samples: np.ndarray, sample_rate: int, pitch: float = 1.0) -> np.ndarray:
    """Resample [T] float32 to 16 kHz; ``pitch`` > 1 raises pitch and tempo by that factor (read faster)."""
    return soxr.resample(samples, sample_rate * pitch, SAMPLE_RATE).astype(np.float32)


def frame_rms_db(samples: np.ndarray, frame: int = FRAME) -> np.ndarray:
    """RMS in dBFS of consecutive ``frame``-sample frames of [T] audio -> [T // frame]."""
    frames = samples[: len(samples) // frame * frame].reshape(-1, frame).astype(np.float64)
    return 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-20)


def trim_silence(samples: np.ndarray) -> np.ndarray:
    """Cut leading/trailing frames more than 40 dB below the loudest 10 ms frame, keeping a 20 ms margin.

    The result is zero-padded to a whole number of milliseconds.  Raises ``ValueError`` on silent input.
    """
    levels = frame_rms_db(samples)
    if len(levels) == 0 or levels.max() <= -100.0:
        raise ValueError("the TTS engine returned silence")
    loud = np.flatnonzero(levels >= levels.max() - TRIM_BELOW_LOUDEST_DB)
    start = max(0, loud[0] * FRAME - TRIM_MARGIN)
    end = min(len(samples), (loud[-1] + 1) * FRAME + TRIM_MARGIN)
    clip = samples[start:end]
    return np.pad(clip, (0, -len(clip) % SAMPLES_PER_MS))


def ms_samples(seconds: float) -> int:
    """``seconds`` rounded to whole milliseconds, in samples."""
    return round(seconds * 1000.0) * SAMPLES_PER_MS


def place(clips: list[np.ndarray], lead_in: float, pauses: list[float]) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Lay ``clips`` end to end: ``lead_in`` seconds, clip 0, ``pauses[0]``, clip 1, ...

    Returns the [T] float32 track and each clip's (start, end) sample span; the last pause is the tail.
    """
    spans, position = [], ms_samples(lead_in)
    for clip, pause in zip(clips, pauses, strict=True):
        spans.append((position, position + len(clip)))
        position += len(clip) + ms_samples(pause)
    track = np.zeros(position, dtype=np.float32)
    for clip, (start, end) in zip(clips, spans, strict=True):
        track[start:end] = clip
    return track, spans


def add_noise_floor(track: np.ndarray, rng: np.random.Generator, dbfs: float = NOISE_FLOOR_DBFS) -> np.ndarray:
    """Add white noise of RMS ``dbfs`` to [T] audio (so no sample is digital silence)."""
    noise = rng.standard_normal(len(track)).astype(np.float32) * np.float32(10.0 ** (dbfs / 20.0))
    return track + noise
