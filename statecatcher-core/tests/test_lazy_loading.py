"""Listing apart from loading (issue #20, item 3) for the ``local`` source: listing reads no transcript, the lane
batcher reads each transcript once, in its workers, and training visits exactly the (recording, segment, text)
set that the recordings with their transcripts in memory give."""

from __future__ import annotations

from collections import Counter

import pytest

import statecatcher.data.local as local
from statecatcher.data.lane_plan import reshard_state
from statecatcher.data.lanes import LaneBatcher
from statecatcher.data.local import LocalDataSource
from statecatcher.data.segmenter import SegmenterConfig, segment_recording
from statecatcher.testing.dummies import make_recordings, write_local_corpus
from statecatcher.text import normalize

SEGMENTER = SegmenterConfig(segment_seconds=2.0, min_seconds=1.0, max_seconds=3.0)
RECORDINGS = make_recordings(9, min_duration=1.5, max_duration=9.0, seed=4)  # transcripts in memory


@pytest.fixture
def reads(monkeypatch) -> Counter:
    """Counts the transcript files the local source reads, by recording file stem."""
    counted: Counter = Counter()
    real = local.read_transcript

    def counting(path):
        counted[path.stem] += 1
        return real(path)

    monkeypatch.setattr(local, "read_transcript", counting)
    return counted


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_local_corpus(tmp_path_factory.mktemp("lazy"), RECORDINGS)


def expected_visits(recordings) -> set[tuple[str, int, str]]:
    """What an epoch must train: every training segment of every recording, from segments held in memory."""
    return {(r.id, s.index, normalize(s.text)) for r in recordings for s in segment_recording(r, SEGMENTER)}


@pytest.mark.parametrize("num_workers", [0, 2])
def test_training_visits_the_same_segments_and_reads_each_transcript_once_in_the_workers(corpus, reads, num_workers):
    source = LocalDataSource(str(corpus), seed=7)
    listed = [r.id for epoch in range(3) for r in source.recordings("train", epoch=epoch)]
    reshard_state([{"version": 1, "split": "train", "rank": 0, "world_size": 1, "batch_size": 3, "epoch": 0,
                    "next_recording": 5, "finished": False, "exclude": (), "lanes": [None] * 3}],
                  source, rank=0, world_size=2, batch_size=3)
    assert len(listed) == 27 and not reads  # listing, ordering and re-sharding read no transcript

    with LaneBatcher(source, batch_size=3, segmenter=SEGMENTER, num_workers=num_workers) as batches:
        visits = [(rid, index, text) for batch in batches
                  for rid, index, text in zip(batch.recording_ids, batch.segment_index, batch.texts, strict=True)
                  if rid is not None]
    assert len(visits) == len(set(visits)) and set(visits) == expected_visits(RECORDINGS)
    assert reads == Counter({r.id: 1 for r in RECORDINGS})  # each transcript read once, when loaded


def test_a_listed_recording_loads_the_segments_its_file_holds(corpus, reads):
    listed = {r.id: r for r in LocalDataSource(str(corpus)).recordings("train")}
    assert all(r.segments is None for r in listed.values()) and not reads
    for original in RECORDINGS:
        loaded = listed[original.id].loaded()
        assert loaded.segments == original.segments and loaded.loaded() is loaded
    assert reads == Counter({r.id: 1 for r in RECORDINGS})
