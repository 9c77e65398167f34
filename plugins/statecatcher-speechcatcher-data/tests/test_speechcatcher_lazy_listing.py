"""Listing apart from loading (issue #20, item 3): the ``speechcatcher`` source lists a 1,000-episode server with
listing requests only, and planning (splits, every epoch's order and shards, the step estimate, a re-shard, the
lane planner) fetches no transcript and no audio; the first training step fetches only what its lanes take.
Requests are counted by route on the double of speechcatcher-data and on its media server."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from flask import request

from statecatcher.data.lane_plan import reshard_state
from statecatcher.data.lanes import LaneBatcher
from statecatcher.data.segmenter import SegmenterConfig
from statecatcher.train.loop import estimate_steps
from statecatcher_speechcatcher_data.serve_cmd import Server
from statecatcher_speechcatcher_data.source import SpeechcatcherDataSource
from statecatcher_speechcatcher_data.testing import TEST_API_KEY, client_options, serving
from statecatcher_speechcatcher_data.upstream_double import (
    create_media_app,
    create_upstream_app,
    episodes_from_corpus,
)

EPISODES = 1000
SESSION_BATCH = 64  # the source's default session_batch_size
SEGMENTER = SegmenterConfig(segment_seconds=2.0, min_seconds=1.0, max_seconds=4.0)


@contextmanager
def counted_upstream(corpus, count: int) -> Iterator[tuple[str, Counter]]:
    """``(API URL, requests)``: the speechcatcher-data double of ``count`` episodes (going round ``corpus``)
    and its media server; ``requests`` counts API calls by route name, media files as ``transcript`` / ``audio``."""
    requests: Counter = Counter()
    files: dict = {}
    media = create_media_app(files)

    @media.before_request
    def _count_media():
        requests["transcript" if request.path.endswith(".vtt") else "audio"] += 1

    with serving(Server(media, port=0)) as media_url:
        episodes, found = episodes_from_corpus(corpus, media_url, count)
        files.update(found)
        api = create_upstream_app(episodes)

        @api.before_request
        def _count_api():
            requests[request.url_rule.endpoint if request.url_rule else f"unknown {request.path}"] += 1

        with serving(Server(api, port=0, secrets=[TEST_API_KEY])) as url:
            yield url, requests


def plan_everything(source: SpeechcatcherDataSource) -> None:
    """What planning does before the first step, and more: every epoch's order and shards, the step estimate,
    a re-shard from 2 ranks to 3, and a lane batcher set up (planner and workers) for the re-sharded state."""
    assert source.describe()["recordings"] == {"train": EPISODES}
    for epoch in range(3):
        for world_size in (1, 2, 4):
            shards = [[r.id for r in source.recordings("train", rank=rank, world_size=world_size, epoch=epoch)]
                      for rank in range(world_size)]
            assert sorted(sum(shards, [])) == sorted(str(n) for n in range(1, EPISODES + 1))
    durations = sum(r.duration for r in source.recordings("train"))
    config = SimpleNamespace(split="train", batch_size=4, segmenter=SEGMENTER, epochs=2)
    assert estimate_steps(config, source) == math.ceil(durations / 2.0 / 4) * 2
    old = [{"version": 1, "split": "train", "rank": rank, "world_size": 2, "batch_size": 4, "epoch": 1,
            "next_recording": 300, "finished": False, "exclude": (), "lanes": [None] * 4} for rank in range(2)]
    state = reshard_state(old, source, rank=1, world_size=3, batch_size=2)
    assert len(state["exclude"]) == 600
    with LaneBatcher(source, batch_size=2, segmenter=SEGMENTER, rank=1, world_size=3, epoch=1) as batches:
        batches.load_state_dict(state)


@pytest.mark.parametrize("use_session, listing_requests", [
    ("never", {"get_every_episode_list": 1}),
    # a training session hands out SESSION_BATCH episodes per call and ends the epoch with a 400 on the next
    ("always", {"start_training_session": 1, "get_next_batch": math.ceil(EPISODES / SESSION_BATCH) + 1,
                "mark_batch_done": math.ceil(EPISODES / SESSION_BATCH), "end_training_session": 1}),
])
def test_listing_1000_episodes_makes_listing_requests_only_and_planning_none(corpus, tmp_path, use_session,
                                                                             listing_requests):
    with counted_upstream(corpus, EPISODES) as (url, requests):
        options = client_options(tmp_path / "cache", use_session=use_session, prefetch=0)
        source = SpeechcatcherDataSource(url, **options)
        assert dict(requests) == listing_requests  # listing: no transcript, no audio
        plan_everything(source)
        assert dict(requests) == listing_requests  # planning: nothing at all
        assert SpeechcatcherDataSource(url, **options).describe()["recordings"] == {"train": EPISODES}
        assert dict(requests) == listing_requests  # a second source reads the cached listing

        with LaneBatcher(source, batch_size=2, segmenter=SEGMENTER, num_workers=0, decode_ahead=1) as batches:
            first = next(batches)
        # the first step loads the recordings its two lanes take and one ahead (decode_ahead=1): three
        # transcripts and three audio files, out of 1,000
        assert dict(requests) == {**listing_requests, "transcript": 3, "audio": 3}
        order = [r.id for r in source.recordings("train")]
        assert first.recording_ids == order[:2]
    source.close()
