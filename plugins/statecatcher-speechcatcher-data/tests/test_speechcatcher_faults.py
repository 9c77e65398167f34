"""Fault injection: dropped connections, 500s, stalls past the timeout, truncated or corrupt audio, broken or
missing files.  Retries recover what they should; a recording that stays broken is skipped and reported;
every other segment is trained exactly once; nothing hangs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from statecatcher.data.lanes import LaneBatcher
from statecatcher.data.local import LocalDataSource
from statecatcher.data.segmenter import SegmenterConfig
from statecatcher.testing.dummies import make_recordings, write_local_corpus
from statecatcher_speechcatcher_data.faults import Fault
from statecatcher_speechcatcher_data.source import SpeechcatcherDataSource
from statecatcher_speechcatcher_data.testing import client_options, running_server, trained_segments
from statecatcher_speechcatcher_data.upstream_double import running_upstream

SEGMENTER = SegmenterConfig(segment_seconds=2.0, min_seconds=1.0, max_seconds=5.0)
FINE = SegmenterConfig(segment_seconds=1.0, min_seconds=0.5, max_seconds=2.0)  # several segments a recording
# episode ids are manifest line numbers: rec-005 is episode 6, rec-007 episode 8
FAULTS = [
    Fault("audio", "drop", match="rec-000.flac", times=2),        # resumed with Range
    Fault("audio", "error500", match="rec-001.flac", times=2),    # retried
    Fault("audio", "stall", match="rec-002.flac", times=1, seconds=2.5),  # read timeout, resumed
    Fault("audio", "truncate", match="rec-003.flac", times=1),    # too short: downloaded again
    Fault("transcript", "error500", match="/8.vtt", times=1),     # retried
    Fault("audio", "corrupt", match="rec-004.flac", times=0),     # stays undecodable: skipped
    Fault("transcript", "bad_vtt", match="/6.vtt", times=0),      # stays malformed: skipped
    Fault("audio", "not_found", match="rec-006.flac", times=0),   # 404: skipped
]
BROKEN = {"rec-004", "rec-005", "rec-006"}


def titled_segments(batcher: LaneBatcher, title_of: dict[str, str]) -> list[tuple[str, int, str]]:
    with batcher:
        return [(title_of.get(rid, rid), index, text) for rid, index, text in trained_segments(batcher)]


@pytest.fixture(scope="module")
def fault_corpus(tmp_path_factory):
    return write_local_corpus(tmp_path_factory.mktemp("faults"), make_recordings(8, min_duration=3.0, max_duration=5.0,
                                                                                  seed=11))


def test_faults_are_retried_or_skipped_and_every_other_segment_is_trained_once(fault_corpus, tmp_path):
    local = LocalDataSource(str(fault_corpus))
    expected = titled_segments(LaneBatcher(local, batch_size=3, segmenter=SEGMENTER), {})
    expected = sorted(item for item in expected if item[0] not in BROKEN)
    with running_server(fault_corpus, FAULTS) as (url, plan):
        source = SpeechcatcherDataSource(url, **client_options(tmp_path, cache_gb=1.0, prefetch=2))
        title_of = {r.id: r.meta["title"] for r in source.recordings("train")}
        started = time.perf_counter()
        with pytest.warns(UserWarning, match="skipping recording"):
            batcher = LaneBatcher(source, batch_size=3, segmenter=SEGMENTER, num_workers=2)
            trained = titled_segments(batcher, title_of)
        took = time.perf_counter() - started
    assert sorted(trained) == expected  # nothing lost, nothing twice
    assert {title_of[rid] for rid in source.problems()} == BROKEN
    assert {title_of[rid] for rid in batcher.stats()["skipped_ids"]} == BROKEN
    # a faulty answer ignores Range (200: the client starts over), a good one resumes (206): after the
    # second drop of rec-000 and after the stall of rec-002
    assert source.client.counters["resumed"] == 2
    hit = {(route, action) for route, action, _ in plan.hits}
    assert hit == {(f.route, f.action) for f in FAULTS}
    cached = {title_of[p.name.partition("-")[0]]: p.read_bytes() for p in (tmp_path / "audio").iterdir()}
    assert set(cached) >= {"rec-000", "rec-001", "rec-002", "rec-003", "rec-007"} and not set(cached) & {"rec-004",
                                                                                                         "rec-006"}
    assert all(data == (fault_corpus / f"{title}.flac").read_bytes() for title, data in cached.items())
    assert took < 45, f"took {took:.1f} s"


def test_cached_download_after_drops_is_byte_identical(fault_corpus, tmp_path):
    with running_server(fault_corpus, [Fault("audio", "drop", match="rec-000.flac", times=3)]) as (url, _):
        source = SpeechcatcherDataSource(url, **client_options(tmp_path, cache_gb=1.0, order="listed", prefetch=0))
        first = next(source.recordings("train"))
        waveform = first.load_audio()
    assert first.meta["title"] == "rec-000" and source.client.counters["resumed"] == 1
    (cached,) = (tmp_path / "audio").iterdir()
    assert cached.read_bytes() == (fault_corpus / "rec-000.flac").read_bytes()
    assert len(waveform) == round(first.duration * 16_000)


def test_a_server_that_stays_down_ends_in_a_bounded_time(fault_corpus, tmp_path):
    with running_server(fault_corpus, [Fault("audio", "stall", times=0, seconds=3.0)]) as (url, _):
        source = SpeechcatcherDataSource(url, **client_options(tmp_path, retries=1, prefetch=0))
        recording = next(source.recordings("train"))
        started = time.perf_counter()
        with pytest.raises(OSError, match="interrupted 2 time|failed after 2 attempt"):
            recording.load_audio()
    assert time.perf_counter() - started < 8
    assert list(source.problems()) == [recording.id]


@contextmanager
def a_server(kind: str, corpus) -> Iterator[str]:
    """The base URL of ``statecatcher serve`` or of the speechcatcher-data double of ``corpus``."""
    if kind == "serve":
        with running_server(corpus) as (url, _):
            yield url
    else:
        with running_upstream(corpus) as double:
            yield double.url


@pytest.mark.parametrize("kind", ["serve", "upstream"])
def test_a_crashed_run_resumes_without_loss_or_repeats_after_a_server_restart(fault_corpus, tmp_path, kind):
    """Stop after 2 batches; a new process (new source) on a restarted server (sessions gone, new port) loads
    the lane state: the segments before and after add up to one uninterrupted epoch."""
    def batcher(url: str) -> LaneBatcher:
        source = SpeechcatcherDataSource(url, **client_options(tmp_path, cache_gb=0))
        return LaneBatcher(source, batch_size=3, segmenter=FINE, epoch=1)

    with a_server(kind, fault_corpus) as url:
        with batcher(url) as whole:
            uninterrupted = trained_segments(whole)
        with batcher(url) as before:
            first = trained_segments(next(before) for _ in range(2))
            saved = before.state_dict()
    with a_server(kind, fault_corpus) as url, batcher(url) as after:
        after.load_state_dict(saved)
        rest = trained_segments(after)
    assert first and rest and first + rest == uninterrupted
