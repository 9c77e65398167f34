"""``DataSourceConformance``: the contract every data source runs (subclass, provide ``make_source``, ``pass``).

::

    class TestMySource(DataSourceConformance):
        split = "train"

        def make_source(self):
            return MySource(...)

The source's ``split`` must hold at least ``min_recordings`` recordings.  Listing is apart from loading:
``recordings()`` must yield *listed* recordings (``segments`` None, a ``segments_loader``), so ordering,
sharding and step estimates do no transcript I/O; loading (``Recording.load_segments()``) must give the same
segments every time.  The plain check functions raise
:class:`AssertionError` with what differs, so notebooks and ``statecatcher check`` can call them too.
"""

from __future__ import annotations

from typing import Any

from statecatcher.protocols import DataSource
from statecatcher.records import SAMPLE_RATE


def _ids(source: DataSource, split: str, **kwargs: Any) -> list[str]:
    return [recording.id for recording in source.recordings(split, **kwargs)]


def check_shards_disjoint_and_complete(source: DataSource, split: str, world_sizes=(1, 2, 3), epoch: int = 0):
    everything = _ids(source, split, epoch=epoch)
    assert len(set(everything)) == len(everything), f"split {split!r} lists an id twice: {everything}"
    for world_size in world_sizes:
        shards = [_ids(source, split, rank=rank, world_size=world_size, epoch=epoch) for rank in range(world_size)]
        seen = [rid for shard in shards for rid in shard]
        assert len(seen) == len(set(seen)), f"world_size {world_size}: shards overlap: {shards}"
        assert set(seen) == set(everything), (f"world_size {world_size}: shards miss "
                                              f"{sorted(set(everything) - set(seen))} or add "
                                              f"{sorted(set(seen) - set(everything))}")


def check_start_cursor_resumes(source: DataSource, split: str, world_size: int = 2, epoch: int = 1):
    for rank in range(world_size):
        full = list(source.recordings(split, rank=rank, world_size=world_size, epoch=epoch))
        for start in range(len(full) + 2):
            resumed = list(source.recordings(split, rank=rank, world_size=world_size, epoch=epoch, start=start))
            assert resumed == full[start:], (f"rank {rank}/{world_size}, start={start}: got "
                                             f"{[r.id for r in resumed]}, expected {[r.id for r in full[start:]]}")


def check_order_is_deterministic(make_source, split: str, epoch: int = 3):
    first, second = make_source(), make_source()
    assert _ids(first, split, epoch=epoch) == _ids(first, split, epoch=epoch), "two passes differ"
    assert _ids(first, split, epoch=epoch) == _ids(second, split, epoch=epoch), "two equal sources differ"
    assert _loaded(first, split, epoch) == _loaded(second, split, epoch), (
        "same ids but different recordings (durations or segments)")


def _loaded(source: DataSource, split: str, epoch: int = 0) -> list:
    return [recording.loaded() for recording in source.recordings(split, epoch=epoch)]


def check_listing_loads_no_transcript(source: DataSource, split: str, world_size: int = 2, epoch: int = 1):
    """Every listed recording (each shard, with a start cursor too) has ``segments`` None and a
    ``segments_loader``: listing loads no transcript, whatever the caller does with the listing."""
    for rank in range(world_size):
        for start in (0, 1):
            for recording in source.recordings(split, rank=rank, world_size=world_size, epoch=epoch, start=start):
                assert recording.segments is None and callable(recording.segments_loader), (
                    f"recording {recording.id!r} was listed with its segments loaded (segments="
                    f"{'None' if recording.segments is None else len(recording.segments)}, segments_loader="
                    f"{recording.segments_loader!r}): listing must leave the transcript to load_segments()")


def check_loading_is_repeatable(source: DataSource, split: str):
    """Loading a listed recording twice, or the same recording listed again, gives the same segments."""
    again = {recording.id: recording for recording in source.recordings(split, epoch=1)}
    for recording in source.recordings(split):
        first = recording.load_segments()
        assert recording.load_segments() == first, f"recording {recording.id!r}: two loads gave different segments"
        assert again[recording.id].load_segments() == first, (
            f"recording {recording.id!r}: listed in another epoch, it loads other segments")


def check_segments_sorted_within_duration(source: DataSource, split: str):
    for recording in _loaded(source, split):
        assert recording.duration > 0, f"recording {recording.id!r}: duration {recording.duration}"
        starts = [segment.start for segment in recording.segments]
        assert starts == sorted(starts), f"recording {recording.id!r}: segments not sorted by start"
        for i, segment in enumerate(recording.segments):
            assert 0 <= segment.start <= segment.end <= recording.duration, (
                f"recording {recording.id!r}, segment {i}: [{segment.start}, {segment.end}] is outside "
                f"[0, {recording.duration}] or ends before it starts")


class DataSourceConformance:
    """pytest suite for a :class:`~statecatcher.protocols.DataSource`; subclasses define ``make_source``."""

    split = "train"
    min_recordings = 4

    def make_source(self) -> DataSource:
        raise NotImplementedError("subclass DataSourceConformance and define make_source(self)")

    def _source(self) -> DataSource:
        source = self.make_source()
        count = len(_ids(source, self.split))
        assert count >= self.min_recordings, (
            f"make_source() must give at least {self.min_recordings} recordings in split {self.split!r}, got {count}")
        return source

    def test_is_a_data_source(self):
        source = self._source()
        assert isinstance(source, DataSource)
        description = source.describe()
        assert isinstance(description, dict) and description, "describe() must return a non-empty dict"

    def test_shards_are_disjoint_and_complete(self):
        check_shards_disjoint_and_complete(self._source(), self.split)

    def test_start_cursor_resumes_identically(self):
        check_start_cursor_resumes(self._source(), self.split)

    def test_order_is_deterministic(self):
        check_order_is_deterministic(self._source, self.split)

    def test_listing_loads_no_transcript(self):
        check_listing_loads_no_transcript(self._source(), self.split)

    def test_loading_gives_the_same_segments_every_time(self):
        check_loading_is_repeatable(self._source(), self.split)

    def test_recordings_have_sorted_segments_within_duration(self):
        check_segments_sorted_within_duration(self._source(), self.split)

    def test_audio_is_mono_16k_float32_of_the_listed_duration(self):
        recording = next(iter(self._source().recordings(self.split)))
        waveform = recording.load_audio()
        assert waveform.dtype.is_floating_point and waveform.dim() == 1, (
            f"recording {recording.id!r}: load_audio() gave {waveform.dtype} {tuple(waveform.shape)}")
        assert abs(len(waveform) / SAMPLE_RATE - recording.duration) < 0.05, (
            f"recording {recording.id!r}: audio is {len(waveform) / SAMPLE_RATE:.3f} s, listed {recording.duration}")
