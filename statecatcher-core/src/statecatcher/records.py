"""Small value objects for recordings and their timed transcripts.

Times are in seconds (``Seconds``) from the start of the recording; sample counts and feature frames are
always named as such (``num_samples``, ``num_frames``).  Records never do I/O themselves: a ``Recording``
carries a ``load_audio`` callable that its data source built, and only the data pipeline calls it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import torch

Seconds = float

# the frame grid every module shares: feature frames and training-segment boundaries fall on multiples of it
FRAME_SHIFT: Seconds = 0.01
SAMPLE_RATE = 16_000  # every waveform inside statecatcher is mono float32 at 16 kHz


@dataclass(frozen=True)
class Segment:
    """One timed transcript segment (Whisper-style), ``start <= end`` in seconds."""

    start: Seconds
    end: Seconds
    text: str
    speaker: str | None = None
    no_speech_prob: float | None = None

    @property
    def duration(self) -> Seconds:
        return self.end - self.start


@dataclass(frozen=True)
class Recording:
    """A whole recording with its transcript segments, sorted by start time.

    ``load_audio()`` returns the full waveform as a float32 tensor ``[num_samples]`` at 16 kHz mono.
    ``sample_rate`` is the rate of the stored file when known (informational; audio is resampled on load).
    """

    id: str
    duration: Seconds
    segments: tuple[Segment, ...]
    load_audio: Callable[[], torch.Tensor] = field(compare=False, repr=False)
    sample_rate: int | None = None
    meta: dict = field(default_factory=dict, compare=False, repr=False)
