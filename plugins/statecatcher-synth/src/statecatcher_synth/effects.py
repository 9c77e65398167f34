"""Optional whole-episode effects (numpy only).  None of them moves audio in time, so timestamps stay exact.

- ``reverb``: convolution with a synthetic room response (exponentially decaying noise, RT60 0.2-0.6 s).
- ``noise``: added white noise at 15-30 dB SNR (against the speech RMS).
- ``telephone``: 300-3400 Hz band-pass.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from statecatcher_synth.audio import SAMPLE_RATE

RT60_RANGE = (0.2, 0.6)      # seconds
WET_RANGE = (0.2, 0.5)       # reverb energy relative to the direct sound
SNR_RANGE_DB = (15.0, 30.0)
TELEPHONE_BAND_HZ = (300.0, 3400.0)


def _fft_size(length: int) -> int:
    return 1 << (length - 1).bit_length()


def reverb(track: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    rt60 = float(rng.uniform(*RT60_RANGE))
    t = np.arange(int(rt60 * SAMPLE_RATE)) / SAMPLE_RATE
    tail = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60)       # -60 dB after rt60 seconds
    tail *= np.sqrt(float(rng.uniform(*WET_RANGE)) / np.sum(tail**2))
    response = np.concatenate([[1.0], tail[1:]])
    size = _fft_size(len(track) + len(response))
    wet = np.fft.irfft(np.fft.rfft(track, size) * np.fft.rfft(response, size), size)[: len(track)]
    return _match_peak(wet, track)


def noise(track: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    speech_rms = np.sqrt(np.mean(track.astype(np.float64) ** 2))
    snr_db = float(rng.uniform(*SNR_RANGE_DB))
    return track + rng.standard_normal(len(track)) * speech_rms * 10.0 ** (-snr_db / 20.0)


def telephone(track: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    size = _fft_size(len(track))
    spectrum = np.fft.rfft(track, size)
    freqs = np.fft.rfftfreq(size, 1.0 / SAMPLE_RATE)
    low, high = TELEPHONE_BAND_HZ
    spectrum[(freqs < low) | (freqs > high)] = 0.0
    return _match_peak(np.fft.irfft(spectrum, size)[: len(track)], track)


def _match_peak(processed: np.ndarray, original: np.ndarray) -> np.ndarray:
    return processed * (np.max(np.abs(original)) / max(np.max(np.abs(processed)), 1e-9))


EFFECTS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "reverb": reverb, "noise": noise, "telephone": telephone,
}


def check_effects(names: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [name for name in names if name not in EFFECTS]
    if unknown:
        raise ValueError(f"unknown effect(s) {', '.join(unknown)}; known effects: {', '.join(EFFECTS)}")
    return tuple(names)


def apply_effects(track: np.ndarray, names: tuple[str, ...], rng: np.random.Generator) -> np.ndarray:
    """Apply the named effects in order to [T] float audio; returns float32."""
    for name in names:
        track = EFFECTS[name](track, rng)
    return np.asarray(track, dtype=np.float32)
