"""Cut one recording into consecutive training segments that tile it, never splitting a transcript segment.

The rule, in frames of ``FRAME_SHIFT`` (10 ms, records.py) so every boundary maps to whole feature frames:

1. The recording spans ``[0, D)`` with ``D = ceil(duration / frame_shift)`` frames.  Transcript segments
   are clamped to it, sorted, and overlapping ones merged into *blocks* (a block is never cut).
2. A cut may fall on any frame boundary in a *gap* between blocks (blocks are rounded outwards to frames,
   so a gap narrower than a frame does not exist).  Audio without transcript stays in whichever segment
   holds it: the segments tile the recording with no gap and no overlap.
3. Greedy from ``c = 0``: if ``D - c <= max`` take the rest.  Else each gap that meets the window
   ``[c+min, c+max]`` offers its middle, moved into the window if outside; take the offer closest to
   ``c + segment_seconds`` (preferring those that leave at least ``min`` for the rest).  If no gap meets
   the window (a long block crosses it), cut in the middle of the last gap before ``c+min``, else of the
   first gap after ``c+max`` - so a block longer than ``max`` ends up alone in its own long segment, and a
   segment is longer than ``max`` only when no cut was possible within ``max``.
4. A segment holding a block longer than ``max_seconds`` is kept (``overlong="keep"``) or marked
   ``skip=True`` (``overlong="skip"``: its audio still passes the encoder, its loss weight is 0).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from typing import Literal

from statecatcher.records import FRAME_SHIFT, Recording, Seconds, Segment

_EPS = 1e-6  # float tolerance when converting seconds to frames


@dataclass(frozen=True)
class SegmenterConfig:
    """Target, minimum and maximum segment length in seconds; what to do with overlong transcript segments.

    The one validation of these settings: ``RunConfig.validate`` builds this to check its segmenter keys.
    """

    segment_seconds: Seconds = 16.0
    min_seconds: Seconds = 4.0
    max_seconds: Seconds = 24.0
    overlong: Literal["keep", "skip"] = "keep"

    def __post_init__(self):
        if not 0 < self.min_seconds <= self.segment_seconds <= self.max_seconds:
            raise ValueError("segmenter: need 0 < min_seconds <= segment_seconds <= max_seconds, got "
                             f"{self.min_seconds}, {self.segment_seconds}, {self.max_seconds}")
        if self.overlong not in ("keep", "skip"):
            raise ValueError(f"segmenter: overlong must be 'keep' or 'skip', got {self.overlong!r}")


def training_segmenter(config: dict) -> SegmenterConfig:
    """The segmenter of a saved run config (``RunConfig.to_dict()``, e.g. a checkpoint's ``config``): its
    ``[segmenter]`` table, or for a run saved before the table existed its flat keys; defaults for the rest."""
    if isinstance(config.get("segmenter"), dict):
        return SegmenterConfig(**config["segmenter"])
    default = SegmenterConfig()
    return SegmenterConfig(segment_seconds=config.get("segment_seconds", default.segment_seconds),
                           min_seconds=config.get("min_segment_seconds", default.min_seconds),
                           max_seconds=config.get("max_segment_seconds", default.max_seconds),
                           overlong=config.get("overlong_segments", default.overlong))


@dataclass(frozen=True)
class TrainingSegment:
    """Segment ``index`` of a recording: ``[start, end)`` seconds (multiples of the frame shift).

    ``text`` joins the (stripped) texts of the transcript segments inside, in time order;
    ``transcript_indices`` are their indices in ``recording.segments``.
    """

    index: int
    start: Seconds
    end: Seconds
    text: str
    skip: bool = False
    transcript_indices: tuple[int, ...] = ()

    @property
    def duration(self) -> Seconds:
        return self.end - self.start


@dataclass
class _Block:
    start: int  # frames
    end: int
    members: list[int]  # indices into recording.segments, in time order


def segment_recording(recording: Recording, config: SegmenterConfig = SegmenterConfig()) -> list[TrainingSegment]:
    """Tile ``recording`` into :class:`TrainingSegment` s (see the module docstring for the rule).

    Uses ``recording.load_segments()``: give a loaded recording (:meth:`~statecatcher.records.Recording.loaded`)
    to avoid loading its transcript here."""
    shift = FRAME_SHIFT
    total = math.ceil(recording.duration / shift - _EPS)
    if total <= 0:
        return []
    transcript = recording.load_segments()
    blocks = _blocks(recording.id, transcript, total, shift)
    cuts = _greedy_cuts(_gaps(blocks, total), total, *(round(s / shift) for s in (
        config.segment_seconds, config.min_seconds, config.max_seconds)))
    max_frames = round(config.max_seconds / shift)

    members: list[list[int]] = [[] for _ in range(len(cuts) - 1)]
    overlong = [False] * (len(cuts) - 1)
    for block in blocks:
        k = min(bisect_right(cuts, (block.start + block.end) / 2) - 1, len(members) - 1)
        members[k].extend(block.members)
        overlong[k] |= block.end - block.start > max_frames
    return [
        TrainingSegment(
            index=k, start=round(cuts[k] * shift, 6), end=round(cuts[k + 1] * shift, 6),
            text=" ".join(t for t in (transcript[i].text.strip() for i in members[k]) if t),
            skip=overlong[k] and config.overlong == "skip", transcript_indices=tuple(members[k]))
        for k in range(len(cuts) - 1)
    ]


def _blocks(recording_id: str, transcript: tuple[Segment, ...], total: int, shift: Seconds) -> list[_Block]:
    """Transcript segments in frames, clamped to ``[0, total]``, sorted, overlapping ones merged."""
    spans = []
    for i, seg in enumerate(transcript):
        if not (math.isfinite(seg.start) and math.isfinite(seg.end)) or seg.end < seg.start:
            raise ValueError(f"recording {recording_id!r}: transcript segment {i} has invalid times "
                             f"start={seg.start} end={seg.end}")
        start = min(max(math.floor(seg.start / shift + _EPS), 0), total)
        end = min(max(math.ceil(seg.end / shift - _EPS), start), total)
        spans.append((start, seg.start, seg.end, end, i))
    blocks: list[_Block] = []
    for start, _, _, end, i in sorted(spans):  # ties in frames keep the order of the times in seconds
        if blocks and start < blocks[-1].end:
            blocks[-1].end = max(blocks[-1].end, end)
            blocks[-1].members.append(i)
        else:
            blocks.append(_Block(start, end, [i]))
    return blocks


def _gaps(blocks: list[_Block], total: int) -> list[tuple[int, int]]:
    """``[(first, last)]`` frame boundaries of each stretch between blocks where a cut splits nothing."""
    edges = [0] + [x for block in blocks for x in (block.start, block.end)] + [total]
    return list(zip(edges[::2], edges[1::2], strict=True))


def _greedy_cuts(gaps: list[tuple[int, int]], total: int, target: int, min_len: int, max_len: int) -> list[int]:
    """Cut frames ``[0, ..., total]``; each cut is the middle of a gap, moved into the window when needed."""
    starts, ends = [a for a, _ in gaps], [b for _, b in gaps]
    cuts = [0]
    while cuts[-1] < total:
        c = cuts[-1]
        if total - c <= max_len:
            cuts.append(total)
            continue
        # gaps from the one the last cut lies in (counted from that cut on) to the first beyond the window
        first, beyond = bisect_right(ends, c), bisect_right(starts, c + max_len)
        ahead = [(max(a, c), b, (max(a, c) + b) // 2) for a, b in gaps[first:beyond + 1]]
        window = [min(max(m, a, c + min_len), b, c + max_len) for a, b, m in ahead
                  if max(a, c + min_len) <= min(b, c + max_len)]
        if window:
            roomy = [x for x in window if total - x >= min_len] or window
            cuts.append(min(roomy, key=lambda x: (abs(x - c - target), x)))
            continue
        before = [m for a, b, m in ahead if c < a and b < c + min_len]
        cuts.append(before[-1] if before else next(m for a, _, m in ahead if a > c + max_len))
    return cuts
