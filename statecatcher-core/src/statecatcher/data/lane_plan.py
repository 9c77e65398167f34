"""Which segment every lane gets at each step: the deterministic, resumable heart of the lane batcher.

No threads here.  At every step, lanes whose recording is done take the next recording of the shard in
lane order (0..B-1); a lane with nothing left is inactive.  The shard is *listed* (ids and durations, no
I/O); a recording is *loaded* (its transcript, then its audio) through ``open_recording``, which may do it
in the background, a few recordings ahead.  A recording whose transcript or audio cannot be loaded
(``OSError``, or :class:`~statecatcher.data.audio.AudioDecodeError`) or that yields no segment is skipped.
Loading is deterministic, so the plan never depends on thread timing.

Re-sharding (:func:`reshard_state`): when a run resumes with another world size, each new rank starts its
shard of the same epoch afresh but passes over the recordings that the old ranks finished (the state's
``exclude`` ids); recordings that were in progress start again from their first segment.
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, Protocol

import torch

from statecatcher.data.audio import AudioDecodeError
from statecatcher.data.segmenter import SegmenterConfig, TrainingSegment, segment_recording
from statecatcher.protocols import DataSource
from statecatcher.records import SAMPLE_RATE, Recording

STATE_VERSION = 1
DURATION_TOLERANCE = 0.1  # seconds between the listed duration and the decoded audio before we warn


class PendingLoad(Protocol):
    """A recording being loaded (a ``concurrent.futures.Future``): ``result()`` is ``(the recording with its
    segments loaded, waveform [num_samples])``, see :func:`load_recording`."""

    def result(self) -> tuple[Recording, torch.Tensor]: ...


def load_recording(recording: Recording) -> tuple[Recording, torch.Tensor]:
    """``(recording.loaded(), waveform [num_samples])``: the transcript first (small; when it fails, no audio
    is fetched), then the audio.  Raises ``OSError`` / ``AudioDecodeError`` when either cannot be loaded."""
    loaded = recording.loaded()
    return loaded, loaded.load_audio()


@dataclass
class _Lane:
    recording_index: int  # position of the recording in this shard's order
    recording: Recording  # with its segments loaded
    segments: list[TrainingSegment]
    load: PendingLoad
    next_segment: int = 0


@dataclass(frozen=True)
class LaneItem:
    """Lane b's part of one batch: ``segment`` of ``recording``, whose audio is ``waveform [num_samples]``."""

    recording: Recording
    segment: TrainingSegment
    waveform: torch.Tensor
    is_last: bool


class LanePlanner:
    """Plans steps for ``batch_size`` lanes over shard ``rank``/``world_size`` of ``source``'s ``split``."""

    def __init__(self, source: DataSource, *, split: str, batch_size: int, segmenter: SegmenterConfig,
                 rank: int, world_size: int, epoch: int, open_recording: Callable[[Recording], PendingLoad],
                 decode_ahead: int = 2):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.source, self.split, self.batch_size, self.segmenter = source, split, batch_size, segmenter
        self.rank, self.world_size, self.epoch = rank, world_size, epoch
        self.open_recording, self.decode_ahead = open_recording, max(decode_ahead, 0)
        self.cursor = 0  # recordings of the shard taken by lanes (skipped ones included)
        self.lanes: list[_Lane | None] = [None] * batch_size
        self.finished = False
        self.started = 0
        self.skipped: list[str] = []
        self.skip_reasons: list[str] = []  # why skipped[i] was skipped
        self.exclude: tuple[str, ...] = ()  # recording ids passed over (finished before a re-shard), sorted
        self._excluded: frozenset[str] = frozenset()
        self._upcoming: deque[tuple[Recording, PendingLoad | None]] = deque()
        self._iterator: Iterator[Recording] | None = None

    # -- planning -----------------------------------------------------------------------------------------

    def next_plan(self) -> list[LaneItem | None] | None:
        """The next step's item per lane (``None`` = inactive lane), or ``None`` when every lane is done."""
        if self.finished:
            return None
        plan: list[LaneItem | None] = []
        for b in range(self.batch_size):
            lane = self.lanes[b] or self._take_recording()
            self.lanes[b] = lane
            if lane is None:
                plan.append(None)
                continue
            segment = lane.segments[lane.next_segment]
            lane.next_segment += 1
            is_last = lane.next_segment == len(lane.segments)
            plan.append(LaneItem(lane.recording, segment, self._waveform(lane), is_last))
            if is_last:
                self.lanes[b] = None  # drop the audio now; the next step takes the next recording
        if all(item is None for item in plan):
            self.finished = True
            return None
        return plan

    def _take_recording(self) -> _Lane | None:
        while True:
            self._fill_upcoming(self.decode_ahead + 1)
            if not self._upcoming:
                return None
            recording, pending = self._upcoming.popleft()
            self.cursor += 1
            if pending is None:  # excluded: finished before a re-shard
                continue
            lane = self._loaded_lane(self.cursor - 1, recording, pending)
            if lane is None:
                continue
            if not lane.segments:
                self._skip(recording, f"no training segment (duration {recording.duration} s)")
                continue
            self.started += 1
            return lane

    def _loaded_lane(self, index: int, recording: Recording, pending: PendingLoad,
                     next_segment: int = 0) -> _Lane | None:
        """The lane of the loaded recording, or None (the recording skipped and reported) when its transcript
        or audio cannot be loaded."""
        try:
            loaded, _ = pending.result()
        except (AudioDecodeError, OSError) as error:
            self._skip(recording, str(error))  # a transcript or audio that cannot be loaded, named by the source
            return None
        except RuntimeError:
            raise  # the source's own "stop the run" error (e.g. every transcript of the shard failed)
        except Exception as error:
            raise RuntimeError(f"recording {recording.id!r}: loading it failed: {error}") from error
        lane = _Lane(index, loaded, segment_recording(loaded, self.segmenter), pending, next_segment)
        self._waveform(lane)  # checks the shape and the listed duration
        return lane

    def _waveform(self, lane: _Lane) -> torch.Tensor:
        _, waveform = lane.load.result()
        if waveform.dim() != 1:
            raise RuntimeError(f"recording {lane.recording.id!r}: load_audio must return a mono waveform "
                               f"[num_samples], got shape {tuple(waveform.shape)}")
        if lane.next_segment == 0 and abs(len(waveform) / SAMPLE_RATE - lane.recording.duration) > DURATION_TOLERANCE:
            warnings.warn(f"recording {lane.recording.id!r}: listed duration {lane.recording.duration:.2f} s, "
                          f"decoded audio {len(waveform) / SAMPLE_RATE:.2f} s; segments follow the listed one",
                          stacklevel=2)
        return waveform

    def _skip(self, recording: Recording, reason: str) -> None:
        self.skipped.append(recording.id)
        self.skip_reasons.append(reason)
        warnings.warn(f"skipping recording {recording.id!r}: {reason}", stacklevel=3)

    def _fill_upcoming(self, count: int) -> None:
        if self._iterator is None:
            self._iterator = self._shard(start=self.cursor)
        while len(self._upcoming) < count:
            recording = next(self._iterator, None)
            if recording is None:
                return
            excluded = recording.id in self._excluded
            self._upcoming.append((recording, None if excluded else self.open_recording(recording)))

    def _shard(self, start: int) -> Iterator[Recording]:
        return iter(self.source.recordings(self.split, rank=self.rank, world_size=self.world_size,
                                           epoch=self.epoch, start=start))

    # -- resume -------------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Where the plan stands: the next recording of the shard and, per lane, its recording and segment."""
        return {
            "version": STATE_VERSION, "split": self.split, "rank": self.rank, "world_size": self.world_size,
            "batch_size": self.batch_size, "epoch": self.epoch, "next_recording": self.cursor,
            "finished": self.finished, "exclude": self.exclude,
            "lanes": [None if lane is None else {"recording_index": lane.recording_index,
                                                 "recording_id": lane.recording.id,
                                                 "next_segment": lane.next_segment} for lane in self.lanes],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state`` (from :meth:`state_dict`); the source must list the same recordings."""
        for key in ("version", "split", "rank", "world_size", "batch_size"):
            if key != "version" and state.get(key) != getattr(self, key):
                raise ValueError(f"lane state: field {key!r} is {state.get(key)!r}, this batcher has "
                                 f"{getattr(self, key)!r}")
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"lane state: field 'version' is {state.get('version')!r}, expected {STATE_VERSION}")
        self.epoch, self.cursor, self.finished = state["epoch"], state["next_recording"], state["finished"]
        self.exclude = tuple(sorted(state.get("exclude", ())))
        self._excluded = frozenset(self.exclude)
        self._upcoming.clear()
        self._iterator = None
        opened = [None if saved is None else self._reopen(b, saved) for b, saved in enumerate(state["lanes"])]
        self.lanes = [None if item is None else self._resumable(b, *item) for b, item in enumerate(opened)]

    def _reopen(self, b: int, saved: dict[str, Any]) -> tuple[dict[str, Any], Recording, PendingLoad]:
        """Lane ``b``'s recording, listed again and its loading started (every lane's at once)."""
        recording = next(self._shard(start=saved["recording_index"]), None)
        if recording is None or recording.id != saved["recording_id"]:
            raise ValueError(f"lane state: lane {b} was on recording {saved['recording_id']!r} (shard index "
                             f"{saved['recording_index']}), the data source now has "
                             f"{None if recording is None else recording.id!r} there")
        return saved, recording, self.open_recording(recording)

    def _resumable(self, b: int, saved: dict[str, Any], recording: Recording, pending: PendingLoad) -> _Lane | None:
        """Lane ``b`` as the checkpoint left it; None (its recording skipped and reported) when its audio or
        transcript broke, or its transcript changed, since the checkpoint."""
        lane = self._loaded_lane(saved["recording_index"], recording, pending, saved["next_segment"])
        if lane is not None and lane.next_segment >= len(lane.segments):
            self._skip(lane.recording, f"it has {len(lane.segments)} training segment(s) now, the checkpoint's "
                                       f"lane {b} was at segment {lane.next_segment}")
            return None
        return lane


def reshard_state(states: Sequence[dict[str, Any]], source: DataSource, *, rank: int, world_size: int,
                  batch_size: int) -> dict[str, Any]:
    """A state for shard ``rank``/``world_size`` that continues the epoch where ``states`` (one per old rank,
    from :meth:`LanePlanner.state_dict`, any old world size and batch size) left off, at recording boundaries.

    Recordings an old rank finished (or skipped) are excluded; recordings that were in progress and all the
    others are dealt out again as ``source`` shards them for the new world size, from their first segment.
    Lists each old shard up to its cursor (no transcript or audio is loaded).
    """
    first = states[0]
    if any(s["epoch"] != first["epoch"] or s["split"] != first["split"] for s in states):
        raise ValueError("lane states to re-shard must come from the same epoch and split")
    finished: set[str] = set()
    for old in states:
        taken = source.recordings(old["split"], rank=old["rank"], world_size=old["world_size"],
                                  epoch=old["epoch"])
        in_progress = {lane["recording_id"] for lane in old["lanes"] if lane is not None}
        finished.update(r.id for r in islice(taken, old["next_recording"]) if r.id not in in_progress)
        finished.update(old.get("exclude", ()))
    return {"version": STATE_VERSION, "split": first["split"], "rank": rank, "world_size": world_size,
            "batch_size": batch_size, "epoch": first["epoch"], "next_recording": 0, "finished": False,
            "exclude": tuple(sorted(finished)), "lanes": [None] * batch_size}
