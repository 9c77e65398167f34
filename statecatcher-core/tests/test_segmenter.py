import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statecatcher.data.segmenter import SegmenterConfig, segment_recording
from statecatcher.records import Recording, Segment

CONFIG = SegmenterConfig(segment_seconds=16.0, min_seconds=4.0, max_seconds=24.0)


def recording(duration, spans, texts=None):
    texts = texts or [f"w{i}" for i in range(len(spans))]
    segments = tuple(Segment(s, e, t) for (s, e), t in zip(spans, texts, strict=True))
    return Recording("r", duration, segments, load_audio=lambda: None)


def frames(t):
    return round(t / 0.01)


def assert_tiles(segments, duration):
    assert segments[0].start == 0.0
    assert frames(segments[-1].end) == math.ceil(duration / 0.01 - 1e-6)
    for k, (a, b) in enumerate(zip(segments, segments[1:], strict=False)):
        assert a.end == b.start, f"gap or overlap between segments {k} and {k + 1}"
    for k, segment in enumerate(segments):
        assert segment.index == k and segment.end > segment.start
        for t in (segment.start, segment.end):
            assert abs(t / 0.01 - round(t / 0.01)) < 1e-6, f"{t} is not a whole frame"


def assert_nothing_split(rec, segments):
    owner = {}
    for segment in segments:
        for i in segment.transcript_indices:
            assert i not in owner, f"transcript segment {i} in two training segments"
            owner[i] = segment
            t = rec.segments[i]
            start, end = min(max(t.start, 0), rec.duration), min(max(t.end, 0), rec.duration)
            assert segment.start - 1e-9 <= start and end <= segment.end + 1e-9, f"transcript segment {i} is cut"
    assert sorted(owner) == list(range(len(rec.segments)))


def test_regular_speech_is_cut_near_the_target_in_the_pauses():
    spans = [(i * 2.0 + 0.5, i * 2.0 + 1.7) for i in range(50)]  # 100 s: 1.2 s utterances, 0.8 s pauses
    rec = recording(100.0, spans)
    segments = segment_recording(rec, CONFIG)
    assert_tiles(segments, 100.0)
    assert_nothing_split(rec, segments)
    assert all(4.0 <= s.duration <= 24.0 for s in segments)
    assert all(abs(s.duration - 16.0) <= 1.0 for s in segments[:-1])
    assert segments[0].end == 16.1  # middle of the pause 15.7 .. 16.5
    assert segments[0].text == " ".join(f"w{i}" for i in range(8))


def test_text_joins_the_inside_segments_in_time_order_from_unsorted_input():
    rec = recording(10.0, [(5.0, 6.0), (1.0, 2.0), (3.0, 4.0)], [" c.", " A", "b "])
    (only,) = segment_recording(rec, CONFIG)
    assert (only.start, only.end, only.text, only.transcript_indices) == (0.0, 10.0, "A b c.", (1, 2, 0))


def test_untranscribed_audio_stays_in_the_segments():
    rec = recording(60.0, [(1.0, 2.0), (50.0, 51.0)])  # 48 s with no transcript in between
    segments = segment_recording(rec, CONFIG)
    assert_tiles(segments, 60.0)
    assert [s.text for s in segments if s.text] == ["w0", "w1"]
    assert all(s.duration <= 24.0 for s in segments) and "" in [s.text for s in segments]


def test_overlapping_segments_are_never_cut_apart():
    spans = [(0.5, 10.0), (9.0, 20.0), (19.5, 30.0), (31.0, 32.0)]  # one 29.5 s block, then a short one
    rec = recording(40.0, spans)
    segments = segment_recording(rec, CONFIG)
    assert_nothing_split(rec, segments)
    assert segments[0].transcript_indices == (0, 1, 2)
    assert segments[0].end == 30.5


@pytest.mark.parametrize("overlong, skip", [("keep", False), ("skip", True)])
def test_an_overlong_transcript_segment_is_kept_whole_or_marked_skip(overlong, skip):
    spans = [(1.0, 2.0), (3.0, 4.0), (5.0, 35.0), (36.0, 37.0), (38.0, 39.0)]
    rec = recording(60.0, spans)
    segments = segment_recording(rec, SegmenterConfig(overlong=overlong))
    assert_tiles(segments, 60.0)
    assert_nothing_split(rec, segments)
    long = [s for s in segments if 2 in s.transcript_indices]
    assert len(long) == 1 and long[0].transcript_indices == (2,), "the overlong segment is alone"
    assert long[0].duration > 24.0 and long[0].skip is skip
    assert not any(s.skip for s in segments if s is not long[0])


def test_times_past_the_end_are_clamped_and_empty_recordings_give_nothing():
    rec = recording(10.004, [(9.0, 10.5)])
    segments = segment_recording(rec, CONFIG)
    assert segments[-1].end == 10.01 and segments[-1].text == "w0"
    assert segment_recording(recording(0.0, []), CONFIG) == []


def test_invalid_times_name_the_recording_and_segment():
    with pytest.raises(ValueError, match=r"'r'.*segment 0.*start=2.0 end=1.0"):
        segment_recording(recording(10.0, [(2.0, 1.0)]), CONFIG)
    with pytest.raises(ValueError, match="min_seconds"):
        SegmenterConfig(segment_seconds=2.0, min_seconds=3.0)


layouts = st.lists(st.tuples(st.floats(0, 120, allow_nan=False), st.floats(0, 30, allow_nan=False)), max_size=40)


def legal_cuts(rec):
    """Frame boundaries strictly inside no transcript segment (rounded outwards to frames), brute force."""
    total = math.ceil(rec.duration / 0.01 - 1e-6)
    covered = np.zeros(total + 1, bool)
    for t in rec.segments:
        start = min(max(math.floor(t.start / 0.01 + 1e-6), 0), total)
        covered[start + 1:max(math.ceil(t.end / 0.01 - 1e-6), start)] = True
    return np.flatnonzero(~covered)


@settings(max_examples=150, deadline=None, database=None)
@given(duration=st.floats(0.011, 120), layout=layouts, overlong=st.sampled_from(["keep", "skip"]))
def test_any_layout_is_tiled_without_splitting_a_transcript_segment(duration, layout, overlong):
    rec = recording(duration, [(s, s + length) for s, length in layout])
    config = SegmenterConfig(segment_seconds=10.0, min_seconds=3.0, max_seconds=15.0, overlong=overlong)
    segments = segment_recording(rec, config)
    assert_tiles(segments, duration)
    assert_nothing_split(rec, segments)
    legal = legal_cuts(rec)
    for segment in segments:  # longer than max only when no legal cut lay in [start + min, start + max]
        start = frames(segment.start)
        if frames(segment.end) - start > 1500:
            assert not np.any((legal >= start + 300) & (legal <= start + 1500))
        texts = [rec.segments[i] for i in segment.transcript_indices]
        assert [t.start for t in texts] == sorted(t.start for t in texts)
