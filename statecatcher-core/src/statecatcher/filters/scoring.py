"""Per-token loss of every transcript segment of a corpus under a trained model, as the trainer sees it.

What :class:`~statecatcher.filters.model.LossOutlier` judges in a run, computed after the fact for each
*transcript* segment: every recording is cut into *tiles*, one per transcript segment, each reaching from
the middle of the gap before it to the middle of the gap after it (overlapping transcript segments share
one tile), and streamed tile by tile with the encoder state carried, as in stateful training.  A
transcript segment cut exactly at its first and last word would be judged unfairly: a causal model emits
a word's tokens after hearing it, so the frames after the word end are part of its alignment.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from itertools import pairwise
from typing import Any, NamedTuple

import torch

from statecatcher.data.features import features_for_span
from statecatcher.records import FRAME_SHIFT, Recording

Key = tuple[str, int]  # (recording id, transcript segment index)


class Tile(NamedTuple):
    """``[start, end)`` Seconds (multiples of the frame shift) holding transcript segments ``indices``."""

    start: float
    end: float
    indices: tuple[int, ...]


def transcript_tiles(recording: Recording, frame_shift: float = FRAME_SHIFT) -> list[Tile]:
    """Tiles that cover ``[0, duration)`` without gap or overlap, one per transcript segment (or per group of
    overlapping ones), cut in the middle of the gaps between them; text-less recordings give none."""
    order = sorted(range(len(recording.segments)), key=lambda i: (recording.segments[i].start, i))
    blocks: list[tuple[float, float, list[int]]] = []  # (start, end, members), overlapping ones merged
    for i in order:
        segment = recording.segments[i]
        if blocks and segment.start < blocks[-1][1]:
            blocks[-1] = (blocks[-1][0], max(blocks[-1][1], segment.end), [*blocks[-1][2], i])
        else:
            blocks.append((segment.start, segment.end, [i]))
    total = math.ceil(recording.duration / frame_shift - 1e-6)
    cuts = [0] + [round((a[1] + b[0]) / 2 / frame_shift) for a, b in pairwise(blocks)] + [total]
    return [Tile(round(cuts[k] * frame_shift, 6), round(cuts[k + 1] * frame_shift, 6), tuple(block[2]))
            for k, block in enumerate(blocks) if cuts[k + 1] > cuts[k]]


@torch.no_grad()
def token_losses(loaded: Any, recordings: Iterable[Recording]) -> dict[Key, float]:
    """``(recording id, index) -> loss / tokens`` (nats per target token) of every transcript segment with
    text, under ``loaded`` (:func:`statecatcher.decode.pack.load_model`); a tile's loss goes to each of its
    transcript segments.  Infeasible targets (more tokens than frames; CTC's ``zero_infinity`` makes
    their loss 0) get ``nan``, which the robust detectors skip."""
    model, features = loaded.model, loaded.features
    losses: dict[Key, float] = {}
    for recording in recordings:
        waveform = recording.load_audio()
        state = model.init_state(1)
        for tile in transcript_tiles(recording, features.frame_shift):
            feats = features_for_span(waveform, features.frame_start_sample(tile.start),
                                      features.frame_start_sample(tile.end), features)[None]
            text = " ".join(t for t in (loaded.normalizer(recording.segments[i].text) for i in tile.indices) if t)
            ids = loaded.tokenizer.encode(text) if text else []
            targets = torch.tensor([ids or [0]])
            loss, _, state = model(feats, torch.tensor([feats.shape[1]]), targets, torch.tensor([len(ids)]), state)
            if ids:
                per_token = float(loss[0]) / len(ids) if float(loss[0]) > 0 else math.nan
                losses.update({(recording.id, i): per_token for i in tile.indices})
    return losses
