"""Speed perturbation: each training recording played at one of a few speeds, chosen anew every epoch.

Kaldi's and icefall's 0.9 / 1.0 / 1.1 augmentation (sox ``speed``): a factor ``f`` shortens the audio to
``1/f`` of its length and raises every frequency by ``f`` (tempo and pitch together), as if the recording
had been sampled at ``f x 16 kHz``; soxr resamples it back to 16 kHz.  The transcript's times are divided
by ``f`` the same way, so the segmenter cuts the perturbed recording where it cuts the original.

The whole recording gets one factor: lane ``b`` streams it segment after segment with one state, and a speed
that changed between segments would be a discontinuity no real recording has.  The factor is a function of
``(seed, epoch, recording id)`` only: the same on every rank, in every resumed run and whatever the thread
timing, and different from epoch to epoch, so over a few epochs every recording is heard at every speed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from statecatcher.records import SAMPLE_RATE, Recording

if TYPE_CHECKING:  # torch and soxr are imported when audio is perturbed, not by the config's check
    import torch

FACTOR_RANGE = (0.5, 2.0)  # outside it the speech stops sounding like speech


def parse_factors(text: str) -> tuple[float, ...]:
    """``"0.9,1.0,1.1"`` -> ``(0.9, 1.0, 1.1)``; ``""`` -> ``()`` (off).  Raises ``ValueError`` saying what is
    wrong (not a number, outside :data:`FACTOR_RANGE`)."""
    factors = []
    for part in (p.strip() for p in text.split(",") if text.strip()):
        try:
            factor = float(part)
        except ValueError:
            raise ValueError(f"{part!r} is not a number (give factors such as 0.9,1.0,1.1)") from None
        if not FACTOR_RANGE[0] <= factor <= FACTOR_RANGE[1]:
            raise ValueError(f"factor {factor:g} is outside [{FACTOR_RANGE[0]:g}, {FACTOR_RANGE[1]:g}]")
        factors.append(factor)
    return tuple(factors)


@dataclass(frozen=True)
class SpeedPerturbation:
    """Picks a recording's factor among ``factors`` (equally likely) and applies it."""

    factors: tuple[float, ...]
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.factors:
            raise ValueError("speed perturbation needs at least one factor")

    def factor(self, recording_id: str, epoch: int) -> float:
        """The factor of ``recording_id`` in ``epoch``: a hash of ``(seed, epoch, id)``, no global RNG."""
        digest = hashlib.blake2b(f"{self.seed}\0{epoch}\0{recording_id}".encode(), digest_size=8).digest()
        return self.factors[int.from_bytes(digest, "little") % len(self.factors)]

    def apply(self, recording: Recording, waveform: torch.Tensor, epoch: int) -> tuple[Recording, torch.Tensor]:
        """``(recording, waveform)`` at this epoch's speed; ``recording`` must have its segments loaded.  The
        perturbed recording keeps its id (lane states and skip logs name the listed recording) and says its
        factor in ``meta["speed"]``."""
        factor = self.factor(recording.id, epoch)
        if factor == 1.0:
            return recording, waveform
        return perturbed_recording(recording, factor), speed_changed(waveform, factor)


def speed_changed(waveform: torch.Tensor, factor: float) -> torch.Tensor:
    """``waveform [num_samples]`` (16 kHz) played ``factor`` times as fast: ``round(num_samples / factor)``
    samples, every frequency times ``factor``."""
    import torch

    from statecatcher.data.audio import resample_to_16k

    samples = waveform.detach().to(torch.float32).cpu().numpy()
    return torch.from_numpy(resample_to_16k(samples, SAMPLE_RATE * factor))


def perturbed_recording(recording: Recording, factor: float) -> Recording:
    """``recording`` with its duration and every transcript time divided by ``factor``."""
    segments = tuple(replace(s, start=s.start / factor, end=s.end / factor) for s in recording.load_segments())
    return replace(recording, duration=recording.duration / factor, segments=segments,
                   meta={**recording.meta, "speed": factor})
