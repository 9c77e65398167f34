"""Optional whole-episode effects (numpy only).  None of them moves audio in time, so timestamps stay exact.

- ``reverb``: convolution with a synthetic room response (exponentially decaying noise, RT60 0.2-0.6 s).
- ``noise``: added white noise at 15-30 dB SNR (against the speech RMS).
- ``telephone``: 300-3400 Hz band-pass.

``NAME@P`` (``reverb@0.3``) applies the effect to an episode with probability ``P`` (drawn per episode from
the episode's seeded generator), so one corpus mixes clean and processed episodes; a plain ``NAME`` applies
it to every episode without a draw (corpora made before ``@P`` existed keep their bytes).
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


def split_effect(spec: str) -> tuple[str, float | None]:
    """``"reverb@0.3"`` -> ``("reverb", 0.3)``; ``"reverb"`` -> ``("reverb", None)`` (every episode)."""
    name, at, probability = spec.partition("@")
    if not at:
        return name, None
    try:
        value = float(probability)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"effect {spec!r}: the probability after '@' must be a number in [0, 1]")
    return name, value


def check_effects(specs: tuple[str, ...]) -> tuple[str, ...]:
    """Return ``specs`` (``NAME`` or ``NAME@P``) unchanged, or raise ``ValueError`` naming the bad one."""
    unknown = [spec for spec in specs if split_effect(spec)[0] not in EFFECTS]
    if unknown:
        raise ValueError(f"unknown effect(s) {', '.join(unknown)}; known effects: {', '.join(EFFECTS)}")
    return tuple(specs)


def apply_effects(track: np.ndarray, specs: tuple[str, ...], rng: np.random.Generator,
                  applied: list[str] | None = None) -> np.ndarray:
    """Apply the effects (``NAME`` always, ``NAME@P`` with probability ``P``) in order to [T] float audio;
    returns float32.  The names of those applied are appended to ``applied`` when given."""
    for spec in specs:
        name, probability = split_effect(spec)
        if probability is None or rng.random() < probability:
            track = EFFECTS[name](track, rng)
            if applied is not None:
                applied.append(name)
    return np.asarray(track, dtype=np.float32)
