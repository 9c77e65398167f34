"""The data-source conformance kit passes a correct source and catches each kind of broken one."""

import dataclasses
import itertools

import pytest

from statecatcher.testing import DataSourceConformance
from statecatcher.testing.data_source import (
    check_listing_loads_no_transcript,
    check_loading_is_repeatable,
    check_order_is_deterministic,
    check_segments_sorted_within_duration,
    check_shards_disjoint_and_complete,
    check_start_cursor_resumes,
)
from statecatcher.testing.dummies import make_recordings

RECORDINGS = make_recordings(7, min_duration=4.0, max_duration=8.0)


def listed(recording):
    """``recording`` as a source lists it: its segments left to a loader."""
    return dataclasses.replace(recording, segments=None, segments_loader=lambda: recording.segments)


class ListSource:
    """A correct in-memory source: order by (seed, epoch), shard = every world_size-th, transcripts loaded lazily."""

    def __init__(self, recordings=RECORDINGS, seed=0):
        self.items, self.seed = [listed(r) for r in recordings], seed

    def order(self, epoch):
        return sorted(self.items, key=lambda r: (sum(map(ord, r.id)) * (epoch + self.seed + 1)) % 97)

    def recordings(self, split, *, rank=0, world_size=1, epoch=0, start=0):
        return iter(self.order(epoch)[rank::world_size][start:])

    def describe(self):
        return {"source": "list"}


class TestListSourceConforms(DataSourceConformance):
    def make_source(self):
        return ListSource()


class OverlappingShards(ListSource):
    def recordings(self, split, *, rank=0, world_size=1, epoch=0, start=0):
        return iter(self.order(epoch)[max(rank - 1, 0):][::world_size][start:])


class IgnoresStart(ListSource):
    def recordings(self, split, *, rank=0, world_size=1, epoch=0, start=0):
        return iter(self.order(epoch)[rank::world_size])


class RandomOrder(ListSource):
    import random as _random

    def recordings(self, split, *, rank=0, world_size=1, epoch=0, start=0):
        items = self.order(epoch)
        self._random.shuffle(items)
        return iter(items[rank::world_size][start:])


class UnsortedSegments(ListSource):
    def recordings(self, split, **kwargs):
        import dataclasses

        return (listed(dataclasses.replace(r, segments=r.load_segments()[::-1]))
                for r in super().recordings(split, **kwargs))


class EagerListing(ListSource):
    """Loads every transcript while listing (what the contract forbids)."""

    def recordings(self, split, **kwargs):
        return (r.loaded() for r in super().recordings(split, **kwargs))


class ChangingTranscripts(ListSource):
    """Each load of a transcript gives other segments (a loader that is not a pure function of the listing)."""

    loads = itertools.count()

    def recordings(self, split, **kwargs):
        for r in super().recordings(split, **kwargs):
            segments = r.load_segments()
            yield dataclasses.replace(r, segments_loader=lambda s=segments: s[: 1 + next(self.loads) % len(s)])


CHECKS = {
    OverlappingShards: lambda s: check_shards_disjoint_and_complete(s, "train"),
    IgnoresStart: lambda s: check_start_cursor_resumes(s, "train"),
    RandomOrder: lambda s: check_order_is_deterministic(lambda: s, "train"),
    UnsortedSegments: lambda s: check_segments_sorted_within_duration(s, "train"),
    EagerListing: lambda s: check_listing_loads_no_transcript(s, "train"),
    ChangingTranscripts: lambda s: check_loading_is_repeatable(s, "train"),
}


@pytest.mark.parametrize("broken", list(CHECKS), ids=lambda b: b.__name__)
def test_each_broken_source_fails_its_own_check(broken):
    with pytest.raises(AssertionError):
        CHECKS[broken](broken())


@pytest.mark.parametrize("broken", [OverlappingShards, IgnoresStart, UnsortedSegments, EagerListing],
                         ids=lambda b: b.__name__)
def test_a_deterministic_broken_source_passes_the_other_checks(broken):
    for other, check in CHECKS.items():
        if other is not broken:
            check(broken())
