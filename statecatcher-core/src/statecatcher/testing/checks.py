"""Encoder conformance checks: plain functions that raise :class:`ConformanceError`.

Each check takes ``make_encoder``, a zero-argument callable returning a fresh encoder (a
:class:`statecatcher.protocols.StatefulEncoder`).  The check seeds torch, builds the encoder, moves it to
``dtype`` and runs it in eval mode (train mode for the gradient check); every run gets its own encoder with
the same weights, so nothing can leak between runs except through the state.  Checks run on one intra-op
thread: their tensors are tiny, and extra threads only add contention on a busy machine.

Use them from plugin tests (through :class:`statecatcher.testing.EncoderConformance`), notebooks, or
``statecatcher check encoder NAME``::

    from statecatcher.testing.checks import check_chunk_invariance
    check_chunk_invariance(lambda: LSTMEncoder(input_dim=8, hidden_dim=16), atol=1e-5)
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from ..state import State, detach, leaves, load_state, reset_lanes, save_state, state_norms
from ._streams import (
    EncoderFactory,
    build_encoder,
    lane_diffs,
    output_diff,
    random_chunking,
    random_features,
    run_chunked,
    single_thread,
    zero_padding,
)

Run = tuple[list[torch.Tensor], State]  # (valid outputs per lane [T'_b, D], final state)


class ConformanceError(AssertionError):
    """An encoder breaks the streaming contract; the message names the diff, the lane and the chunking."""


# ---------------------------------------------------------------------------------------------- helpers
def default_lengths(subsampling: int) -> tuple[int, ...]:
    """Lane lengths in input frames: 1, and lengths just above, below and at multiples of ``subsampling``."""
    s = max(int(subsampling), 1)
    return (1, s + 1, 3 * s - 1, 5 * s, 7 * s + 3)


def _lengths(lengths: Sequence[int] | None, encoder: Any) -> torch.Tensor:
    return torch.tensor(list(lengths or default_lengths(encoder.subsampling)), dtype=torch.long)


def _stream(make_encoder: EncoderFactory, like: Any, feats: torch.Tensor, lengths: torch.Tensor,
            chunking: list[int], *, seed: int, state: State | None = None) -> Run:
    """Run ``feats`` through a fresh copy of ``like`` (no grad) from ``state`` or ``init_state``."""
    encoder = build_encoder(make_encoder, dtype=feats.dtype, seed=seed, like=like)
    if state is None:
        state = encoder.init_state(feats.shape[0], device=feats.device, dtype=feats.dtype)
    with torch.no_grad():
        return run_chunked(encoder, feats, lengths, chunking, state)


def _compare(check: str, reference: Run, candidate: Run, *, atol: float, lanes: Sequence[int],
             context: str) -> None:
    """Raise unless outputs and final state of ``lanes`` agree within ``atol``."""
    ref_outs, ref_state = reference
    outs, state = candidate
    state_diff = lane_diffs(ref_state, state, len(ref_outs))
    for lane in lanes:
        diff = output_diff(ref_outs[lane], outs[lane])
        if diff > atol:
            raise ConformanceError(
                f"{check}: outputs of lane {lane} differ by max abs {diff:.3g} > atol {atol:g} "
                f"({ref_outs[lane].shape[0]} vs {outs[lane].shape[0]} output frames); {context}")
        if state_diff[lane] > atol:
            raise ConformanceError(
                f"{check}: final state of lane {lane} differs by max abs {float(state_diff[lane]):.3g} > "
                f"atol {atol:g}; {context}")


def _chunkings(total: int, subsampling: int, count: int, generator: torch.Generator) -> list[list[int]]:
    """Chunks of 1 frame, then alternately short (up to ~2 stacks) and long random chunkings."""
    out = [[1] * total]
    for i in range(1, count):
        max_chunk = 2 * max(subsampling, 1) + 1 if i % 2 else total // 2 + 1
        out.append(random_chunking(total, max_chunk, generator))
    return out[:count]


def _named_leaves(state: State) -> list[tuple[str, torch.Tensor]]:
    return list(zip((path or "state" for path in state_norms(state)), leaves(state), strict=True))


def _surrogate_loss(out: torch.Tensor, out_lengths: torch.Tensor, state: State) -> torch.Tensor:
    """Scalar touching every valid output and every differentiable state leaf."""
    valid = torch.arange(out.shape[1], device=out.device)[None, :] < out_lengths[:, None]
    loss = torch.where(valid[..., None], out, out.new_zeros(())).pow(2).sum()
    for leaf in leaves(state):
        if leaf.requires_grad:
            loss = loss + leaf.pow(2).sum()
    return loss


def _grad_norm(encoder: Any) -> float:
    grads = [p.grad.detach().double().norm() for p in encoder.parameters() if p.grad is not None]
    return float(torch.stack(grads).norm()) if grads else 0.0


# ----------------------------------------------------------------------------------------------- checks
@single_thread()
def check_chunk_invariance(make_encoder: EncoderFactory, *, dtype: torch.dtype = torch.float64,
                           atol: float = 1e-5, lengths: Sequence[int] | None = None, num_chunkings: int = 3,
                           seed: int = 0) -> None:
    """One call on whole sequences equals chunked calls with the state carried (outputs and final state).

    The lanes of one batch have different ``lengths`` (default :func:`default_lengths`); chunkings are
    chunks of 1 frame, then random ones whose sizes are rarely multiples of ``subsampling``.
    """
    generator = torch.Generator().manual_seed(seed)
    reference = build_encoder(make_encoder, dtype=dtype, seed=seed)
    lens = _lengths(lengths, reference)
    total = int(lens.max())
    feats = zero_padding(random_features(len(lens), total, reference.input_dim, dtype=dtype, generator=generator),
                         lens)
    whole = _stream(make_encoder, reference, feats, lens, [total], seed=seed)
    for chunking in _chunkings(total, reference.subsampling, num_chunkings, generator):
        chunked = _stream(make_encoder, reference, feats, lens, chunking, seed=seed)
        _compare("chunk invariance", whole, chunked, atol=atol, lanes=range(len(lens)),
                 context=f"lane lengths {lens.tolist()}, whole call vs chunking {chunking}")


@single_thread()
def check_padding_invariance(make_encoder: EncoderFactory, *, dtype: torch.dtype = torch.float64,
                             atol: float = 1e-5, lengths: Sequence[int] | None = None, garbage: float = 1e4,
                             seed: int = 0) -> None:
    """Garbage in padded frames (``+garbage`` everywhere, or uniform in ``±garbage``) changes no lane's
    valid outputs or final state, in one call and in a random chunking.  Every lane has padding."""
    generator = torch.Generator().manual_seed(seed)
    reference = build_encoder(make_encoder, dtype=dtype, seed=seed)
    lens = _lengths(lengths, reference)
    total = int(lens.max()) + 3
    clean = zero_padding(random_features(len(lens), total, reference.input_dim, dtype=dtype, generator=generator),
                         lens)
    is_padding = 1 - zero_padding(torch.ones_like(clean), lens)  # [B, T, F]: 1 on padded frames, else 0
    noise = torch.rand(clean.shape, generator=generator, dtype=torch.float64).to(dtype) * 2 - 1
    garbage_feats = {f"constant {garbage:g}": clean + is_padding * garbage,
                     f"uniform ±{garbage:g}": clean + is_padding * noise * garbage}
    chunkings = [[total], random_chunking(total, 2 * max(reference.subsampling, 1) + 1, generator)]
    for chunking in chunkings:
        expected = _stream(make_encoder, reference, clean, lens, chunking, seed=seed)
        for name, feats in garbage_feats.items():
            got = _stream(make_encoder, reference, feats, lens, chunking, seed=seed)
            _compare("padding invariance", expected, got, atol=atol, lanes=range(len(lens)),
                     context=f"padding filled with {name}, lane lengths {lens.tolist()}, chunking {chunking}")


@single_thread()
def check_lane_independence(make_encoder: EncoderFactory, *, dtype: torch.dtype = torch.float64,
                            atol: float = 1e-5, lengths: Sequence[int] | None = None, seed: int = 0) -> None:
    """Changing lane 0 (its features, its length and its carried state) changes no other lane."""
    generator = torch.Generator().manual_seed(seed)
    reference = build_encoder(make_encoder, dtype=dtype, seed=seed)
    s = max(reference.subsampling, 1)
    prefix = 2 * s + 1  # a first chunk, full length in every lane, so lane 0 enters with its own state
    lens = _lengths(lengths, reference)[-3:] + prefix
    total = int(lens.max())
    feats = zero_padding(random_features(len(lens), total, reference.input_dim, dtype=dtype, generator=generator),
                         lens)
    other = feats.clone()
    other[0] = 3 * random_features(1, total, reference.input_dim, dtype=dtype, generator=generator)[0]
    other_lens = lens.clone()
    other_lens[0] = prefix + 1 if int(lens[0]) != prefix + 1 else total
    other = zero_padding(other, other_lens)
    chunking = [prefix, *random_chunking(total - prefix, 2 * s + 1, generator)]
    expected = _stream(make_encoder, reference, feats, lens, chunking, seed=seed)
    got = _stream(make_encoder, reference, other, other_lens, chunking, seed=seed)
    _compare("lane independence", expected, got, atol=atol, lanes=range(1, len(lens)),
             context=f"lane 0 changed (length {int(lens[0])} -> {int(other_lens[0])}, other features and state), "
                     f"lane lengths {lens.tolist()}, chunking {chunking}")


@single_thread()
def check_reset(make_encoder: EncoderFactory, *, dtype: torch.dtype = torch.float64, batch_size: int = 4,
                seed: int = 0) -> None:
    """``init_state`` is lane-first and the same for every lane; ``reset_lanes`` on a used state gives
    exactly ``init_state`` in the reset lanes and leaves the other lanes untouched (bit for bit)."""
    generator = torch.Generator().manual_seed(seed)
    encoder = build_encoder(make_encoder, dtype=dtype, seed=seed)
    for size in (batch_size, batch_size + 1):
        for path, leaf in _named_leaves(encoder.init_state(size, dtype=dtype)):
            if leaf.dim() == 0 or leaf.shape[0] != size:
                raise ConformanceError(f"reset: leaf {path!r} of init_state({size}) has shape {list(leaf.shape)}; "
                                       f"every state leaf must have the lane axis first ([{size}, ...])")
    fresh = encoder.init_state(batch_size, dtype=dtype)
    single = encoder.init_state(1, dtype=dtype)
    for (path, lane_leaf), one in zip(_named_leaves(fresh), leaves(single), strict=True):
        if not torch.equal(lane_leaf, one.expand_as(lane_leaf)):
            raise ConformanceError(f"reset: leaf {path!r} of init_state({batch_size}) differs between lanes or "
                                   "from init_state(1); the initial state must be the same for every lane")
    frames = 3 * max(encoder.subsampling, 1) + 2
    feats = random_features(batch_size, frames, encoder.input_dim, dtype=dtype, generator=generator)
    with torch.no_grad():
        _, used = run_chunked(encoder, feats, torch.full((batch_size,), frames), [frames],
                              encoder.init_state(batch_size, dtype=dtype))
    mask = torch.arange(batch_size) % 2 == 0
    result = reset_lanes(used, mask, encoder.init_state(batch_size, dtype=dtype))
    to_init = lane_diffs(result, fresh, batch_size)
    to_used = lane_diffs(result, used, batch_size)
    for lane in range(batch_size):
        diff = float(to_init[lane] if mask[lane] else to_used[lane])
        if diff != 0.0:
            what = "init_state" if mask[lane] else "its state before the reset"
            raise ConformanceError(f"reset: lane {lane} (reset={bool(mask[lane])}) differs from {what} by max abs "
                                   f"{diff:.3g}; reset mask {mask.tolist()}")


@single_thread()
def check_detached_state(make_encoder: EncoderFactory, *, dtype: torch.dtype = torch.float64,
                         lengths: Sequence[int] | None = None, seed: int = 0) -> None:
    """Gradients reach the parameters within a chunk; ``detach`` leaves no graph; a second training step
    from the carried, detached state can backprop and its gradient stops at the chunk boundary."""
    generator = torch.Generator().manual_seed(seed)
    encoder = build_encoder(make_encoder, dtype=dtype, seed=seed).train()
    lens = _lengths(lengths, encoder)
    total = int(lens.max())
    first = random_features(len(lens), total, encoder.input_dim, dtype=dtype, generator=generator).requires_grad_()
    out, out_lengths, state = encoder(first, lens, encoder.init_state(len(lens), dtype=dtype))
    try:
        _surrogate_loss(out, out_lengths, state).backward()
    except RuntimeError as exc:
        raise ConformanceError(f"carried state: backward within a chunk failed: {exc}") from exc
    norm = _grad_norm(encoder)
    if not 0.0 < norm < float("inf"):
        raise ConformanceError(f"carried state: gradient norm of the parameters is {norm} after one chunk; "
                               "it must be finite and non-zero")
    carried = detach(state)
    for path, leaf in _named_leaves(carried):
        if leaf.requires_grad or leaf.grad_fn is not None:
            raise ConformanceError(f"carried state: leaf {path!r} still has a graph after detach")
    first_grad = torch.zeros_like(first) if first.grad is None else first.grad.clone()
    encoder.zero_grad()
    second = random_features(len(lens), total, encoder.input_dim, dtype=dtype, generator=generator)
    out, out_lengths, state = encoder(second, lens, carried)
    try:
        _surrogate_loss(out, out_lengths, state).backward()
    except RuntimeError as exc:
        raise ConformanceError(f"carried state: backward of the second chunk (from the detached state of the "
                               f"first) failed; is the state mutated in place or kept in the module? {exc}") from exc
    if first.grad is not None and not torch.equal(first.grad, first_grad):
        raise ConformanceError("carried state: the second chunk's gradient reached the first chunk's inputs")
    if not _grad_norm(encoder) > 0.0:
        raise ConformanceError("carried state: no gradient reached the parameters in the second chunk")


@single_thread()
def check_state_roundtrip(make_encoder: EncoderFactory, *, dtype: torch.dtype = torch.float64, atol: float = 1e-5,
                          lengths: Sequence[int] | None = None, seed: int = 0) -> None:
    """``save_state`` / ``load_state`` keep every leaf (dtype, shape, value), and continuing from the
    loaded state in a new encoder with the same weights equals continuing from the original state."""
    generator = torch.Generator().manual_seed(seed)
    encoder = build_encoder(make_encoder, dtype=dtype, seed=seed)
    lens = _lengths(lengths, encoder)
    split = 2 * max(encoder.subsampling, 1) + 1
    total = int(lens.max()) + split
    lens = lens + split
    feats = zero_padding(random_features(len(lens), total, encoder.input_dim, dtype=dtype, generator=generator),
                         lens)
    with torch.no_grad():
        _, state = run_chunked(encoder, feats[:, :split], lens.clamp(max=split), [split],
                               encoder.init_state(len(lens), dtype=dtype))
    with tempfile.TemporaryDirectory() as tmp:
        try:
            save_state(state, Path(tmp) / "state.pt")
            loaded = load_state(Path(tmp) / "state.pt")
        except (TypeError, RuntimeError, ValueError) as exc:
            raise ConformanceError(f"state roundtrip: save_state/load_state failed: {exc}") from exc
    for (path, before), after in zip(_named_leaves(state), leaves(loaded), strict=True):
        if before.dtype != after.dtype or before.shape != after.shape or not torch.equal(before, after):
            raise ConformanceError(f"state roundtrip: leaf {path!r} changed through save/load "
                                   f"({before.dtype} {list(before.shape)} -> {after.dtype} {list(after.shape)})")
    rest = (feats[:, split:], (lens - split).clamp(min=0), [total - split])
    with torch.no_grad():
        original = run_chunked(encoder, *rest, state)
    restored = _stream(make_encoder, encoder, *rest, seed=seed, state=loaded)
    _compare("state roundtrip", original, restored, atol=atol, lanes=range(len(lens)),
             context=f"continuing after {split} frames, lane lengths {lens.tolist()}; the encoder must keep "
                     "nothing outside the state")


@single_thread()
def check_long_context_stability(make_encoder: EncoderFactory, *, chunks: int = 360, chunk_frames: int = 1000,
                                 dtype: torch.dtype = torch.float32, max_abs: float = 1e4, seed: int = 0) -> None:
    """Over ``chunks`` x ``chunk_frames`` frames of random features (default: one hour in 10 s chunks, 10 ms
    frames), one lane's outputs and floating state leaves stay finite and within ``max_abs``."""
    generator = torch.Generator().manual_seed(seed)
    encoder = build_encoder(make_encoder, dtype=dtype, seed=seed)
    state = encoder.init_state(1, dtype=dtype)
    lengths = torch.tensor([chunk_frames])
    with torch.no_grad():
        for chunk in range(chunks):
            feats = random_features(1, chunk_frames, encoder.input_dim, dtype=dtype, generator=generator)
            out, _, state = encoder(feats, lengths, state)
            named = [("output", out)] + [(p, leaf) for p, leaf in _named_leaves(state) if leaf.is_floating_point()]
            for path, tensor in named:
                peak = float(tensor.abs().max()) if tensor.numel() else 0.0
                if not peak <= max_abs:  # also catches nan
                    seconds = (chunk + 1) * chunk_frames / 100
                    raise ConformanceError(f"long context: {path!r} reached max abs {peak:.3g} (limit {max_abs:g}) "
                                           f"after chunk {chunk + 1} of {chunks} ({seconds:g} s of 10 ms frames)")


CHECKS: dict[str, Callable[..., None]] = {
    "chunk_invariance": check_chunk_invariance,
    "padding_invariance": check_padding_invariance,
    "lane_independence": check_lane_independence,
    "reset": check_reset,
    "detached_state": check_detached_state,
    "state_roundtrip": check_state_roundtrip,
    "long_context_stability": check_long_context_stability,
}


def run_all_checks(make_encoder: EncoderFactory, *, dtype: torch.dtype = torch.float64, atol: float = 1e-5,
                   long_context: bool = True, seed: int = 0) -> dict[str, str | None]:
    """Run every check; returns ``{check name: failure message or None}`` (never raises ConformanceError).

    ``dtype`` and ``atol`` apply to the exactness checks; the long-context check always runs in float32.
    """
    options: dict[str, dict[str, Any]] = {
        "chunk_invariance": {"dtype": dtype, "atol": atol},
        "padding_invariance": {"dtype": dtype, "atol": atol},
        "lane_independence": {"dtype": dtype, "atol": atol},
        "reset": {"dtype": dtype},
        "detached_state": {"dtype": dtype},
        "state_roundtrip": {"dtype": dtype, "atol": atol},
        "long_context_stability": {},
    }
    results: dict[str, str | None] = {}
    for name, check in CHECKS.items():
        if name == "long_context_stability" and not long_context:
            continue
        try:
            check(make_encoder, seed=seed, **options[name])
            results[name] = None
        except ConformanceError as exc:
            results[name] = str(exc)
    return results
