"""Shared helpers of the conformance checks: building encoders, random streams, chunked runs, lane diffs.

Dimension legend as in :mod:`statecatcher.protocols` (B lanes, T input frames, F features, T' output frames,
D output dim).  A *chunking* is a list of chunk sizes in input frames that sums to the padded length T.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch

from ..state import State, leaves

EncoderFactory = Callable[[], Any]


def build_encoder(make_encoder: EncoderFactory, *, dtype: torch.dtype, seed: int, like: Any = None) -> Any:
    """A fresh encoder in ``dtype`` and eval mode; with ``like``, a copy of ``like``'s weights.

    Every run of a check gets its own encoder, so a module that hides state in buffers or attributes
    cannot carry it from one run into the next (the save/load check is the one that catches that).
    """
    torch.manual_seed(seed)
    encoder = make_encoder().to(dtype).eval()
    if like is not None:
        encoder.load_state_dict(like.state_dict())
    return encoder


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run tiny, batch-1 work on one intra-op thread (threads only add contention there), then restore."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def random_features(batch: int, frames: int, dim: int, *, dtype: torch.dtype,
                    generator: torch.Generator) -> torch.Tensor:
    """Standard-normal features ``[B, T, F]``."""
    return torch.randn(batch, frames, dim, generator=generator, dtype=torch.float64).to(dtype)


def zero_padding(feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``feats[B,T,F]`` with frames ``t >= lengths[b]`` set to 0."""
    valid = torch.arange(feats.shape[1])[None, :] < lengths[:, None]
    return torch.where(valid[..., None], feats, feats.new_zeros(()))


def random_chunking(total: int, max_chunk: int, generator: torch.Generator) -> list[int]:
    """Random chunk sizes in ``1..max_chunk`` that sum to ``total`` input frames."""
    sizes: list[int] = []
    while sum(sizes) < total:
        size = int(torch.randint(1, max(max_chunk, 1) + 1, (1,), generator=generator))
        sizes.append(min(size, total - sum(sizes)))
    return sizes


def run_chunked(encoder: Any, feats: torch.Tensor, lengths: torch.Tensor, chunking: list[int],
                state: State) -> tuple[list[torch.Tensor], State]:
    """Stream ``feats[B,T,F]`` (lane b valid for ``lengths[b]`` frames) through ``encoder`` chunk by chunk.

    Each call gets the chunk's slice and per-lane lengths ``clamp(lengths - start, 0, size)``, so lanes that
    have ended see calls with 0 valid frames.  Returns each lane's valid outputs concatenated over the
    chunks (``[T'_b, D]`` per lane) and the final state.
    """
    if sum(chunking) != feats.shape[1]:
        raise ValueError(f"chunking {chunking} sums to {sum(chunking)}, features have {feats.shape[1]} frames")
    per_lane: list[list[torch.Tensor]] = [[] for _ in range(feats.shape[0])]
    start = 0
    for size in chunking:
        chunk_lengths = (lengths - start).clamp(0, size)
        out, out_lengths, state = encoder(feats[:, start:start + size], chunk_lengths, state)
        for lane, n in enumerate(out_lengths.tolist()):
            per_lane[lane].append(out[lane, :n])
        start += size
    return [torch.cat(chunks, dim=0) for chunks in per_lane], state


def lane_diffs(a: State, b: State, batch: int) -> torch.Tensor:
    """Per-lane max-abs difference ``[B]`` (float64) between two states of the same structure.

    A leaf whose first axis is not ``batch`` (a broken lane-first layout) counts against every lane.
    """
    diffs = torch.zeros(batch, dtype=torch.float64)
    for x, y in zip(leaves(a), leaves(b), strict=True):
        if x.shape != y.shape:
            return torch.full((batch,), float("inf"), dtype=torch.float64)
        if x.numel() == 0:
            continue
        d = (x.detach().double() - y.detach().double()).abs()
        if x.dim() > 0 and x.shape[0] == batch:
            diffs = torch.maximum(diffs, d.reshape(batch, -1).amax(dim=1))
        else:
            diffs = torch.maximum(diffs, d.max().expand(batch))
    return diffs.nan_to_num(nan=float("inf"))


def output_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """Max-abs difference of one lane's outputs ``[T'_b, D]``; ``inf`` when the frame counts differ."""
    if a.shape != b.shape:
        return float("inf")
    if a.numel() == 0:
        return 0.0
    return float((a.detach().double() - b.detach().double()).abs().max().nan_to_num(nan=float("inf")))
