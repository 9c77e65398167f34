"""Small value objects for recordings and their timed transcripts.

Times are in seconds (``Seconds``) from the start of the recording; sample counts and feature frames are
always named as such (``num_samples``, ``num_frames``).  Records never do I/O themselves: a ``Recording``
carries ``load_audio`` and ``segments_loader`` callables that its data source built, and only the data
pipeline calls them (in its prefetch workers, when a lane is about to take the recording).

Listing is apart from loading (lhotse's rule): a data source *lists* recordings (id, duration, meta) without
any transcript or audio I/O, so ordering, sharding, step estimates and re-sharding cost nothing; the
transcript is *loaded* by :meth:`Recording.load_segments` (or :meth:`Recording.loaded`) only when needed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
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
    """A whole recording as a data source lists it: id, ``duration`` (seconds) and how to load the rest.

    ``segments`` are the transcript segments sorted by start time when the source has them in memory
    (a test, an in-memory corpus, a recording after :meth:`loaded`); ``None`` for a listed recording whose
    transcript is loaded later by ``segments_loader()`` (file or network I/O).  Call :meth:`load_segments`
    (or :meth:`loaded`), never ``segments_loader`` directly.  A transcript that cannot be loaded raises
    ``OSError`` naming the problem (the lane planner then skips the recording, as for audio that does not
    decode).

    ``load_audio()`` returns the full waveform as a float32 tensor ``[num_samples]`` at 16 kHz mono.
    ``sample_rate`` is the rate of the stored file when known (informational; audio is resampled on load).
    """

    id: str
    duration: Seconds
    segments: tuple[Segment, ...] | None
    load_audio: Callable[[], torch.Tensor] = field(compare=False, repr=False)
    sample_rate: int | None = None
    meta: dict = field(default_factory=dict, compare=False, repr=False)
    segments_loader: Callable[[], tuple[Segment, ...]] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.segments is None and self.segments_loader is None:
            raise ValueError(f"recording {self.id!r}: give its segments or a segments_loader")

    def load_segments(self) -> tuple[Segment, ...]:
        """The transcript segments: ``segments`` when in memory, else ``segments_loader()`` (I/O; each call
        loads again, keep the result or use :meth:`loaded`).  Raises ``OSError`` when it cannot be loaded."""
        if self.segments is not None:
            return self.segments
        return self.segments_loader()

    def loaded(self) -> Recording:
        """This recording with ``segments`` in memory (itself when they already are)."""
        return self if self.segments is not None else replace(self, segments=self.load_segments())
