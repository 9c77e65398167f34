"""Re-sharding a lane plan for another world size (or lane count) at recording boundaries."""

from concurrent.futures import Future
from itertools import islice

import pytest

from statecatcher.data.lane_plan import LanePlanner, load_recording, reshard_state
from statecatcher.data.lanes import LaneBatcher
from statecatcher.data.local import LocalDataSource
from statecatcher.data.segmenter import SegmenterConfig
from statecatcher.testing.dummies import make_recordings, write_local_corpus

SEGMENTER = SegmenterConfig(segment_seconds=2.0, min_seconds=1.0, max_seconds=3.0)
EPOCH = 1


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    corpus = write_local_corpus(tmp_path_factory.mktemp("reshard") / "corpus",
                                make_recordings(9, min_duration=2.0, max_duration=7.0, seed=11))
    return LocalDataSource(str(corpus))


def batcher(source, *, rank, world_size, batch_size=2, state=None):
    out = LaneBatcher(source, batch_size=batch_size, segmenter=SEGMENTER, rank=rank, world_size=world_size,
                      epoch=EPOCH, num_workers=0)
    if state is not None:
        out.load_state_dict(state)
    return out


def lanes_seen(batches) -> list[tuple[str, int]]:
    return [(rid, index) for batch in batches for rid, index in zip(batch.recording_ids, batch.segment_index,
                                                                     strict=True) if rid is not None]


def all_ids(source) -> set[str]:
    return {r.id for r in source.recordings("train", epoch=EPOCH)}


def stop_after(source, steps, *, world_size=2, batch_size=2):
    """Run every old rank ``steps`` steps: (their states, the (recording, segment) pairs each trained)."""
    states, seen = [], []
    for rank in range(world_size):
        with batcher(source, rank=rank, world_size=world_size, batch_size=batch_size) as old:
            seen.append(lanes_seen(islice(old, steps)))
            states.append(old.state_dict())
    return states, seen


@pytest.mark.parametrize(("steps", "new_world", "new_lanes"), [(2, 3, 2), (3, 1, 2), (1, 2, 3), (0, 3, 1)])
def test_reshard_skips_finished_recordings_and_restarts_those_in_progress(source, steps, new_world, new_lanes):
    states, seen = stop_after(source, steps)
    trained_before = {rid for rank_seen in seen for rid, _ in rank_seen}
    in_progress = {lane["recording_id"] for state in states for lane in state["lanes"] if lane}
    finished = trained_before - in_progress

    after = []
    for rank in range(new_world):
        new_state = reshard_state(states, source, rank=rank, world_size=new_world, batch_size=new_lanes)
        after.append(lanes_seen(batcher(source, rank=rank, world_size=new_world, batch_size=new_lanes,
                                        state=new_state)))
    ids_after = [{rid for rid, _ in rank_seen} for rank_seen in after]
    assert not finished & set().union(*ids_after), "a finished recording is trained again"
    assert finished | set().union(*ids_after) == all_ids(source), "the epoch is covered"
    assert sum(len(ids) for ids in ids_after) == len(set().union(*ids_after)), "new shards are disjoint"
    for rank_seen in after:  # every recording, those in progress too, is streamed whole from segment 0
        by_id: dict[str, list[int]] = {}
        for rid, index in rank_seen:
            by_id.setdefault(rid, []).append(index)
        assert all(indices == list(range(len(indices))) for indices in by_id.values())
    assert in_progress <= set().union(*ids_after)


def test_a_resharded_state_resumes_exactly_and_a_finished_epoch_stays_finished(source):
    states, _ = stop_after(source, 2)
    new_state = reshard_state(states, source, rank=0, world_size=3, batch_size=2)
    whole = lanes_seen(batcher(source, rank=0, world_size=3, state=new_state))
    with batcher(source, rank=0, world_size=3, state=new_state) as first:
        head = lanes_seen([next(first)])
        mid = first.state_dict()
    assert mid["exclude"] == new_state["exclude"]
    assert head + lanes_seen(batcher(source, rank=0, world_size=3, state=mid)) == whole

    done, _ = stop_after(source, 100)
    assert all(state["finished"] for state in done)
    assert lanes_seen(batcher(source, rank=1, world_size=2,
                              state=reshard_state(done, source, rank=1, world_size=2, batch_size=2))) == []


def test_excluded_recordings_are_never_loaded(source):
    states, _ = stop_after(source, 3)
    new_state = reshard_state(states, source, rank=0, world_size=1, batch_size=2)
    opened: list[str] = []

    def open_recording(recording):
        opened.append(recording.id)
        future = Future()
        future.set_result(load_recording(recording))
        return future

    planner = LanePlanner(source, split="train", batch_size=2, segmenter=SEGMENTER, rank=0, world_size=1,
                          epoch=EPOCH, open_recording=open_recording)
    planner.load_state_dict(new_state)
    while planner.next_plan() is not None:
        pass
    assert opened and not set(opened) & set(new_state["exclude"])
    assert set(opened) | set(new_state["exclude"]) == all_ids(source)


def test_states_of_different_epochs_are_refused(source):
    states, _ = stop_after(source, 1)
    with pytest.raises(ValueError, match="same epoch"):
        reshard_state([states[0], {**states[1], "epoch": EPOCH + 1}], source, rank=0, world_size=1, batch_size=2)
