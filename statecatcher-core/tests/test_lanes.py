import dataclasses
import threading

import pytest
import torch

from statecatcher.data.audio import AudioDecodeError
from statecatcher.data.features import recording_features
from statecatcher.data.lanes import LaneBatcher
from statecatcher.data.segmenter import SegmenterConfig, segment_recording
from statecatcher.data.speed_perturb import SpeedPerturbation
from statecatcher.testing.dummies import make_recordings

SEGMENTER = SegmenterConfig(segment_seconds=2.0, min_seconds=1.0, max_seconds=3.0)
RECORDINGS = make_recordings(9, min_duration=1.5, max_duration=9.0, seed=4)


class ListSource:
    def __init__(self, recordings=RECORDINGS):
        self.items = list(recordings)

    def recordings(self, split, *, rank=0, world_size=1, epoch=0, start=0):
        order = self.items[epoch % len(self.items):] + self.items[:epoch % len(self.items)]
        return iter(order[rank::world_size][start:])

    def describe(self):
        return {"source": "list"}


def run(source=None, **options):
    options = {"batch_size": 3, "segmenter": SEGMENTER, "num_workers": 2, **options}
    with LaneBatcher(source or ListSource(), **options) as batcher:
        return list(batcher), batcher.stats()


def assert_same_batches(a, b):
    assert len(a) == len(b)
    for k, (x, y) in enumerate(zip(a, b, strict=True)):
        for name, value in x.__dict__.items():
            other = getattr(y, name)
            same = torch.equal(value, other) if isinstance(value, torch.Tensor) else value == other
            assert same, f"batch {k}: field {name} differs"


@pytest.fixture(scope="module")
def batches():
    return run()[0]


def test_every_lane_streams_whole_recordings_in_order(batches):
    by_id = {r.id: r for r in RECORDINGS}
    seen, lane_done = [], [False] * 3
    for k, batch in enumerate(batches):
        assert batch.active.any(), "an epoch ends when every lane is done"
        for b in range(3):
            if not batch.active[b]:
                lane_done[b] = True
                assert (batch.lengths[b], batch.weight[b], batch.reset[b]) == (0, 0.0, False)
                assert (batch.texts[b], batch.recording_ids[b], batch.segment_index[b]) == ("", None, -1)
                continue
            assert not lane_done[b], "an exhausted lane stays inactive"
            rid, index = batch.recording_ids[b], batch.segment_index[b]
            assert bool(batch.reset[b]) == (index == 0), "reset exactly at a recording's first segment"
            if index:
                previous = batches[k - 1]
                assert (previous.recording_ids[b], previous.segment_index[b]) == (rid, index - 1)
            else:
                seen.append(rid)
            if batch.is_last[b]:
                assert batch.end[b] == pytest.approx(by_id[rid].duration, abs=0.01)
    assert sorted(seen) == sorted(by_id), "each recording of the shard exactly once"
    assert [r.id for r in RECORDINGS[:3]] == batches[0].recording_ids, "lanes take recordings in lane order"


def test_features_are_the_whole_recordings_frames_and_padding_is_zero(batches):
    whole = {r.id: recording_features(r.load_audio()) for r in RECORDINGS}
    for batch in batches:
        assert batch.feats.shape[0] == 3 and batch.feats.shape[1] == int(batch.lengths.max())
        for b, rid in enumerate(batch.recording_ids):
            n = int(batch.lengths[b])
            assert not batch.feats[b, n:].any()
            if rid is not None:
                first = round(batch.start[b] * 100)
                assert n == round(batch.end[b] * 100) - first
                assert torch.equal(batch.feats[b, :n], whole[rid][first:first + n])


def test_texts_are_normalised_and_weights_are_one(batches):
    batch = batches[0]
    assert all(t == t.lower() and "." not in t for t in batch.texts) and any(batch.texts)
    assert torch.equal(batch.weight, batch.active.float())


def test_batches_do_not_depend_on_threads_or_processes(batches):
    assert_same_batches(run(num_workers=0)[0], batches)
    assert_same_batches(run(num_workers=3, prefetch=1, decode_ahead=0)[0], batches)
    assert_same_batches(run(feature_processes=1)[0], batches)


@pytest.mark.parametrize("k", [0, 1, 4, 9])
def test_a_resumed_batcher_continues_with_exactly_the_same_batches(batches, k):
    with LaneBatcher(ListSource(), batch_size=3, segmenter=SEGMENTER, num_workers=1) as first:
        for _ in range(k):
            next(first)
        state = first.state_dict()
    resumed = LaneBatcher(ListSource(), batch_size=3, segmenter=SEGMENTER, num_workers=2)
    resumed.load_state_dict(state)
    assert_same_batches(list(resumed), batches[k:])
    assert resumed.state_dict()["finished"]
    finished = LaneBatcher(ListSource(), batch_size=3, segmenter=SEGMENTER, num_workers=0)
    finished.load_state_dict(resumed.state_dict())
    assert list(finished) == []


def test_a_state_from_another_setup_or_source_is_refused(batches):
    with LaneBatcher(ListSource(), batch_size=3, segmenter=SEGMENTER, num_workers=0) as batcher:
        next(batcher)
        state = batcher.state_dict()
        with pytest.raises(RuntimeError, match="before the first batch"):
            batcher.load_state_dict(state)
    with pytest.raises(ValueError, match="'batch_size' is 3"):
        LaneBatcher(ListSource(), batch_size=2, segmenter=SEGMENTER).load_state_dict(state)
    with pytest.raises(ValueError, match="lane 0 was on recording 'rec-000'"):
        LaneBatcher(ListSource(RECORDINGS[::-1]), batch_size=3, segmenter=SEGMENTER).load_state_dict(state)


def test_shards_of_ranks_are_disjoint_and_complete():
    ids = [{rid for batch in run(rank=rank, world_size=2)[0] for rid in batch.recording_ids if rid}
           for rank in range(2)]
    assert not ids[0] & ids[1] and ids[0] | ids[1] == {r.id for r in RECORDINGS}


def broken(recording, error):
    def load_audio():
        raise error
    return dataclasses.replace(recording, load_audio=load_audio)


def test_a_recording_that_does_not_decode_is_skipped_and_reported():
    recordings = list(RECORDINGS)
    recordings[1] = broken(recordings[1], AudioDecodeError("x.flac", "corrupt"))
    with pytest.warns(UserWarning, match="skipping recording 'rec-001'.*corrupt"):
        batches, stats = run(ListSource(recordings))
    assert batches[0].recording_ids == ["rec-000", "rec-002", "rec-003"]
    assert stats["recordings_skipped"] == 1 and stats["skipped_ids"] == ["rec-001"]
    assert stats["recordings_started"] == 8 and stats["batches"] == len(batches)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_other_failures_reach_the_consumer_naming_the_recording(num_workers):
    recordings = list(RECORDINGS)
    recordings[4] = broken(recordings[4], KeyError("boom"))
    with pytest.raises(RuntimeError, match="recording 'rec-004'.*boom"):
        run(ListSource(recordings), num_workers=num_workers)
    recordings[4] = dataclasses.replace(RECORDINGS[4], load_audio=lambda: torch.zeros(2, 16000))
    with pytest.raises(RuntimeError, match="recording 'rec-004'.*mono"):
        run(ListSource(recordings), num_workers=num_workers)


def test_overlong_segments_with_skip_get_weight_zero():
    recording = next(r for r in RECORDINGS if r.duration > 6)
    speech = dataclasses.replace(recording.segments[0], start=2.5, end=recording.duration)
    long = dataclasses.replace(recording, segments=(speech,))
    batches, _ = run(ListSource([long]), batch_size=1, segmenter=dataclasses.replace(
        SEGMENTER, max_seconds=2.0, overlong="skip"))
    weights = [b.weight.item() for b in batches]
    assert weights == [0.0 if b.texts[0] else 1.0 for b in batches]  # only the overlong segment has text
    assert weights.count(0.0) == 1 and len(weights) > 1


def test_close_mid_epoch_stops_the_threads_and_wait_is_measured():
    before = threading.active_count()
    batcher = LaneBatcher(ListSource(), batch_size=2, segmenter=SEGMENTER, num_workers=2, prefetch=1)
    next(batcher)
    batcher.close()
    assert threading.active_count() == before
    assert list(batcher) == [] and batcher.state_dict()["lanes"][0]["next_segment"] == 1
    stats = batcher.stats()
    assert stats["batches"] == 1 and 0 < stats["wait_seconds"] and stats["feature_seconds"] > 0


def test_audio_shorter_than_listed_warns_and_the_missing_tail_is_silence():
    recording = RECORDINGS[2]
    short = dataclasses.replace(recording, load_audio=lambda: recording.load_audio()[:16000])
    with pytest.warns(UserWarning, match=f"'{recording.id}': listed duration {recording.duration:.2f} s, decoded "
                                         "audio 1.00 s"):
        batches, _ = run(ListSource([short]), batch_size=1)
    assert batches[-1].end[0] == recording.duration
    assert torch.equal(batches[-1].feats[0, -1], recording_features(torch.zeros(160))[0])


PERTURB = SpeedPerturbation((0.9, 1.0, 1.1), seed=5)


def perturbed_batches(**options):
    options = {"batch_size": 3, "segmenter": SEGMENTER, "num_workers": 2, "speed_perturbation": PERTURB,
               "epoch": 2, **options}
    with LaneBatcher(ListSource(), **options) as batcher:
        return list(batcher)


def test_lanes_stream_each_recording_at_its_speed_with_its_segments_and_features():
    batches = perturbed_batches()
    speeds = {r.id: PERTURB.factor(r.id, 2) for r in RECORDINGS}
    assert set(speeds.values()) == {0.9, 1.0, 1.1}, "the fixture should exercise every factor"
    for recording in RECORDINGS:
        played, waveform = PERTURB.apply(recording, recording.load_audio(), epoch=2)
        assert played.duration == pytest.approx(recording.duration / speeds[recording.id])
        expected, whole = segment_recording(played, SEGMENTER), recording_features(waveform)
        got = [(batch, b) for batch in batches for b in range(3) if batch.recording_ids[b] == recording.id]
        assert [(batch.start[b], batch.end[b]) for batch, b in got] == [(s.start, s.end) for s in expected]
        for batch, b in got:
            first, n = round(batch.start[b] * 100), int(batch.lengths[b])
            assert torch.equal(batch.feats[b, :n], whole[first:first + n])


def test_a_perturbed_epoch_resumes_with_exactly_the_same_batches():
    batches = perturbed_batches()
    with LaneBatcher(ListSource(), batch_size=3, segmenter=SEGMENTER, num_workers=1, speed_perturbation=PERTURB,
                     epoch=2) as first:
        for _ in range(5):
            next(first)
        state = first.state_dict()
    resumed = LaneBatcher(ListSource(), batch_size=3, segmenter=SEGMENTER, num_workers=0,
                          speed_perturbation=PERTURB, epoch=2)
    resumed.load_state_dict(state)
    assert_same_batches(list(resumed), batches[5:])
    assert_same_batches(perturbed_batches(num_workers=0), batches)
