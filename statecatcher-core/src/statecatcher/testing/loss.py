"""``LossConformance``: the pytest suite every loss plugin runs (CTC, RNN-T, ...).

A plugin's test file subclasses it and gives two methods::

    from statecatcher.testing import LossConformance

    class TestRNNTConformance(LossConformance):
        registered_name = "rnnt"

        def make_loss(self, input_dim, vocab_size):
            return RNNTLoss(input_dim, vocab_size, pred_dim=8, joiner_dim=8)

        def reference_loss(self, loss, enc_out, enc_lens, targets, target_lens, history):
            ...  # brute-force lattice (statecatcher.testing.rnnt_reference) or torch.nn.functional.ctc_loss

``history[b]`` lists the tokens lane ``b`` consumed in earlier segments since its last reset: a loss whose
state carries context (an RNN-T predictor) must give exactly the loss computed with that context primed from
scratch; a loss without such context (CTC) ignores it.  Every test builds the loss with fixed seeds, in
:attr:`LossConformance.dtype` and eval mode.  Each test calls one plain ``check_*`` function below, which
raises :class:`~statecatcher.testing.checks.ConformanceError` naming the lane and the difference.

Dimension legend as in :mod:`statecatcher.protocols` (B lanes, T' encoder frames, D encoder dim, U tokens).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from ..state import State, max_abs_diff, reset_lanes, select_lanes
from ._discovery import assert_registered
from .checks import ConformanceError

Reference = Callable[..., torch.Tensor]  # (loss, enc_out, enc_lens, targets, target_lens, history) -> [B]


@dataclass(frozen=True)
class LossCase:
    """One segment for every lane: ``enc_out [B, T', D]``, ``enc_lens [B]``, ``targets [B, U]``, ``target_lens [B]``."""

    enc_out: torch.Tensor
    enc_lens: torch.Tensor
    targets: torch.Tensor
    target_lens: torch.Tensor

    def token_lists(self) -> list[list[int]]:
        return [self.targets[b, : int(n)].tolist() for b, n in enumerate(self.target_lens)]


def make_case(*, input_dim: int, vocab_size: int, blank_id: int = 0, batch: int = 4, frames: int = 7,
              tokens: int = 3, dtype: torch.dtype = torch.float64, seed: int = 0) -> LossCase:
    """Lane ``b`` gets ``frames - b`` frames and ``min(tokens - b, (frames - b - 1) // 2)`` tokens (CTC-feasible).

    Padding is clean: zero frames, ``blank_id`` tokens.  Tokens are drawn from the non-blank ids.
    """
    generator = torch.Generator().manual_seed(seed)
    enc_lens = torch.tensor([max(frames - b, 1) for b in range(batch)])
    target_lens = torch.tensor([max(0, min(tokens - b, (int(n) - 1) // 2)) for b, n in enumerate(enc_lens)])
    enc_out = torch.randn(batch, frames, input_dim, generator=generator, dtype=torch.float64)
    ids = torch.tensor([i for i in range(vocab_size) if i != blank_id])
    targets = ids[torch.randint(len(ids), (batch, tokens), generator=generator)]
    case = LossCase(enc_out.to(dtype), enc_lens, targets, target_lens)
    return with_padding(case, garbage=False, blank_id=blank_id, vocab_size=vocab_size)


def with_padding(case: LossCase, *, garbage: bool, blank_id: int, vocab_size: int, extra_frames: int = 0,
                 extra_tokens: int = 0, seed: int = 99) -> LossCase:
    """``case`` with ``extra_*`` padding columns; padding holds large noise / random tokens if ``garbage``."""
    generator = torch.Generator().manual_seed(seed)
    enc_out = torch.cat([case.enc_out, case.enc_out.new_zeros(case.enc_out.shape[0], extra_frames,
                                                              case.enc_out.shape[2])], dim=1)
    targets = torch.cat([case.targets, case.targets.new_full((case.targets.shape[0], extra_tokens), blank_id)], 1)
    frame_pad = torch.arange(enc_out.shape[1])[None, :] >= case.enc_lens[:, None]
    token_pad = torch.arange(targets.shape[1])[None, :] >= case.target_lens[:, None]
    if garbage:
        noise = 100.0 * torch.randn(enc_out.shape, generator=generator, dtype=torch.float64).to(enc_out.dtype)
        junk = torch.randint(vocab_size, targets.shape, generator=generator)
        enc_out = torch.where(frame_pad[..., None], noise, enc_out)
        targets = torch.where(token_pad, junk, targets)
    else:
        enc_out = enc_out.masked_fill(frame_pad[..., None], 0.0)
        targets = targets.masked_fill(token_pad, blank_id)
    return replace(case, enc_out=enc_out, targets=targets)


def run_loss(loss: Any, case: LossCase, state: State) -> tuple[torch.Tensor, State]:
    with torch.no_grad():
        return loss(case.enc_out, case.enc_lens, case.targets, case.target_lens, state)


def _init_state(loss: Any, batch: int) -> State:
    return loss.init_state(batch, device=torch.device("cpu"))


def _assert_close(what: str, expected: torch.Tensor, got: torch.Tensor, atol: float) -> None:
    diff = (expected.double() - got.double()).abs()
    if expected.shape != got.shape or not bool((diff <= atol).all()):
        lane = int(diff.argmax()) if expected.shape == got.shape else -1
        raise ConformanceError(f"{what}: expected {expected.tolist()}, got {got.tolist()} "
                               f"(max abs diff {diff.max().item() if diff.numel() else 'n/a'} at lane {lane})")


def _assert_same_state(what: str, expected: State, got: State, atol: float) -> None:
    diff = max_abs_diff(expected, got)
    if diff > atol:
        raise ConformanceError(f"{what}: states differ by {diff:.3g} (atol {atol})")


# ---------------------------------------------------------------------------------------------- loss checks
def check_loss_shape(loss: Any, case: LossCase) -> None:
    """The loss is one finite, non-negative summed NLL per lane: shape ``[B]``."""
    values, _ = run_loss(loss, case, _init_state(loss, case.enc_out.shape[0]))
    if values.shape != case.enc_lens.shape:
        raise ConformanceError(f"loss shape {tuple(values.shape)}, expected one value per lane "
                               f"{tuple(case.enc_lens.shape)}")
    if not bool(torch.isfinite(values).all()) or bool((values < -1e-6).any()):
        raise ConformanceError(f"loss must be finite and >= 0 per lane, got {values.tolist()}")


def check_padding_invariance(loss: Any, case: LossCase, *, blank_id: int, vocab_size: int, atol: float) -> None:
    """Frames past ``enc_lens`` and tokens past ``target_lens`` (extra columns, garbage values) change nothing."""
    state = _init_state(loss, case.enc_out.shape[0])
    clean_loss, clean_state = run_loss(loss, case, state)
    padded = with_padding(case, garbage=True, blank_id=blank_id, vocab_size=vocab_size, extra_frames=3,
                          extra_tokens=2)
    padded_loss, padded_state = run_loss(loss, padded, state)
    _assert_close("loss with garbage padding vs clean padding", clean_loss, padded_loss, atol)
    _assert_same_state("state after garbage padding vs clean padding", clean_state, padded_state, atol)


def check_lane_independence(loss: Any, case: LossCase, *, atol: float) -> None:
    """Each lane's loss and new state equal those of the lane run alone, cropped to its own lengths."""
    state = _init_state(loss, case.enc_out.shape[0])
    batch_loss, batch_state = run_loss(loss, case, state)
    for b in range(case.enc_out.shape[0]):
        frames, tokens = int(case.enc_lens[b]), int(case.target_lens[b])
        alone = LossCase(case.enc_out[b:b + 1, :frames], case.enc_lens[b:b + 1],
                         case.targets[b:b + 1, : max(tokens, 1)], case.target_lens[b:b + 1])
        lane_loss, lane_state = run_loss(loss, alone, select_lanes(state, [b]))
        _assert_close(f"lane {b} run alone vs in the batch", batch_loss[b:b + 1], lane_loss, atol)
        _assert_same_state(f"lane {b} state run alone vs in the batch", select_lanes(batch_state, [b]),
                           lane_state, atol)


def check_empty_lane(loss: Any, case: LossCase, *, atol: float) -> None:
    """A lane with 0 frames and 0 tokens (a masked lane) gives loss 0 and keeps its (non-initial) state."""
    batch = case.enc_out.shape[0]
    _, primed = run_loss(loss, case, _init_state(loss, batch))
    empty = replace(case, enc_lens=case.enc_lens.clone().index_fill_(0, torch.tensor([1]), 0),
                    target_lens=case.target_lens.clone().index_fill_(0, torch.tensor([1]), 0))
    values, new_state = run_loss(loss, empty, primed)
    _assert_close("loss of the empty lane 1", values.new_zeros(1), values[1:2], atol)
    _assert_same_state("state of the empty lane 1", select_lanes(primed, [1]), select_lanes(new_state, [1]), atol)


def check_zero_weight_gradient(loss: Any, case: LossCase) -> None:
    """``(loss * weight).sum()`` sends exactly zero gradient to weight-0 lanes and to padded frames."""
    enc_out = case.enc_out.clone().requires_grad_(True)
    weight = torch.tensor([float(b % 2 == 0) for b in range(enc_out.shape[0])], dtype=enc_out.dtype)
    values, _ = loss(enc_out, case.enc_lens, case.targets, case.target_lens, _init_state(loss, len(weight)))
    (values * weight).sum().backward()
    grad = enc_out.grad
    for b in range(len(weight)):
        lane = grad[b] if weight[b] == 0 else grad[b, int(case.enc_lens[b]):]
        if bool((lane != 0).any()):
            where = "weight-0 lane" if weight[b] == 0 else "padded frames of lane"
            raise ConformanceError(f"gradient reaches the {where} {b}: max |grad| {lane.abs().max().item():.3g}")
    if not bool((grad[weight > 0] != 0).any()):
        raise ConformanceError("no gradient reaches the weighted lanes at all")


def check_matches_reference(loss: Any, first: LossCase, second: LossCase, reference: Reference, *,
                            atol: float) -> None:
    """Segment 1 from ``init_state``, then segment 2 with the carried state (lane 0 reset in between), each
    equal to ``reference(loss, enc_out, enc_lens, targets, target_lens, history)``."""
    batch = first.enc_out.shape[0]
    fresh = _init_state(loss, batch)
    first_loss, carried = run_loss(loss, first, fresh)
    with torch.no_grad():
        expected = reference(loss, first.enc_out, first.enc_lens, first.targets, first.target_lens,
                             [[] for _ in range(batch)])
    _assert_close("segment 1 loss vs reference", expected, first_loss, atol)
    reset = torch.tensor([b == 0 for b in range(batch)])
    carried = reset_lanes(carried, reset, fresh)
    history = [[] if reset[b] else tokens for b, tokens in enumerate(first.token_lists())]
    second_loss, _ = run_loss(loss, second, carried)
    with torch.no_grad():
        expected = reference(loss, second.enc_out, second.enc_lens, second.targets, second.target_lens, history)
    _assert_close("segment 2 loss (state carried from segment 1, lane 0 reset) vs reference", expected,
                  second_loss, atol)


def check_state_follows_tokens(loss: Any, first: LossCase, second: LossCase, *, blank_id: int, atol: float) -> None:
    """The state after segments 1 then 2 equals the state after one segment holding both segments' tokens."""
    batch = first.enc_out.shape[0]
    second = replace(second, target_lens=second.target_lens.clone().index_fill_(0, torch.tensor([0]), 0))
    _, state = run_loss(loss, first, _init_state(loss, batch))
    _, state = run_loss(loss, second, state)
    joined = [a + b for a, b in zip(first.token_lists(), second.token_lists(), strict=True)]
    width = max(max(map(len, joined)), 1)
    targets = torch.tensor([tokens + [blank_id] * (width - len(tokens)) for tokens in joined])
    whole = LossCase(torch.cat([first.enc_out, second.enc_out], dim=1), first.enc_lens + second.enc_lens,
                     targets, torch.tensor([len(tokens) for tokens in joined]))
    whole = replace(whole, enc_lens=torch.full_like(whole.enc_lens, whole.enc_out.shape[1]))
    _, whole_state = run_loss(loss, whole, _init_state(loss, batch))
    _assert_same_state("state after two segments vs after one segment with all their tokens", whole_state, state,
                       atol)


# ---------------------------------------------------------------------------------------------- decoding
def run_decode(loss: Any, enc_out: torch.Tensor, enc_lens: torch.Tensor, chunking: Sequence[int],
               state: State) -> tuple[list[list[int]], list[list[int]], State]:
    """Greedy decoding chunk by chunk (``chunking`` sums to ``T'``); frames become absolute indices."""
    batch = enc_out.shape[0]
    tokens: list[list[int]] = [[] for _ in range(batch)]
    frames: list[list[int]] = [[] for _ in range(batch)]
    start = 0
    with torch.no_grad():
        for size in chunking:
            chunk_lens = (enc_lens - start).clamp(0, size)
            new_tokens, new_frames, state = loss.decode_step(enc_out[:, start:start + size], chunk_lens, state)
            for b in range(batch):
                tokens[b] += list(new_tokens[b])
                frames[b] += [start + int(f) for f in new_frames[b]]
            start += size
    return tokens, frames, state


def check_decode_chunk_invariance(loss: Any, enc_out: torch.Tensor, enc_lens: torch.Tensor, *, atol: float,
                                  seed: int = 0) -> None:
    """Greedy decoding in one call equals decoding in chunks (sizes 1, 2 and random) with the state carried."""
    total = enc_out.shape[1]
    fresh = _init_state(loss, enc_out.shape[0])
    whole_tokens, whole_frames, whole_state = run_decode(loss, enc_out, enc_lens, [total], fresh)
    if not any(whole_tokens):
        raise ConformanceError("decoding emitted no token at all, so chunking is untested: raise decode_scale")
    generator = torch.Generator().manual_seed(seed)
    randoms = torch.randint(1, 5, (total,), generator=generator).cumsum(0)
    cuts = [0] + [int(c) for c in randoms if c < total] + [total]
    random_sizes = [b - a for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    for chunking in ([1] * total, [2] * (total // 2) + [total % 2], random_sizes):
        chunking = [size for size in chunking if size]
        tokens, frames, state = run_decode(loss, enc_out, enc_lens, chunking, fresh)
        if (tokens, frames) != (whole_tokens, whole_frames):
            lane = next(b for b in range(len(tokens)) if (tokens[b], frames[b]) != (whole_tokens[b], whole_frames[b]))
            raise ConformanceError(f"chunking {chunking}, lane {lane}: tokens {tokens[lane]} at frames "
                                   f"{frames[lane]}, whole gives {whole_tokens[lane]} at {whole_frames[lane]}")
        _assert_same_state(f"decoder state after chunking {chunking} vs whole", whole_state, state, atol)


def check_decode_ignores_padding(loss: Any, enc_out: torch.Tensor, enc_lens: torch.Tensor, *, atol: float) -> None:
    """Garbage frames past ``enc_lens`` emit nothing and leave the decoder state as clean padding does."""
    fresh = _init_state(loss, enc_out.shape[0])
    pad = torch.arange(enc_out.shape[1])[None, :, None] >= enc_lens[:, None, None]
    clean = run_decode(loss, enc_out.masked_fill(pad, 0.0), enc_lens, [enc_out.shape[1]], fresh)
    noisy = run_decode(loss, torch.where(pad, 100.0 * torch.randn_like(enc_out), enc_out), enc_lens,
                       [enc_out.shape[1]], fresh)
    if clean[:2] != noisy[:2]:
        raise ConformanceError(f"garbage padding changes decoding: {noisy[:2]} vs clean {clean[:2]}")
    _assert_same_state("decoder state with garbage vs clean padding", clean[2], noisy[2], atol)


# ---------------------------------------------------------------------------------------------- the suite
class LossConformance:
    """Subclass it (the name starts with ``Test``); implement :meth:`make_loss` and :meth:`reference_loss`."""

    dtype: torch.dtype = torch.float64
    atol: float = 1e-6
    input_dim: int = 6
    vocab_size: int = 5
    blank_id: int = 0
    frames: int = 7          # T' of the test segments (lane b has frames - b)
    tokens: int = 3          # U of the test segments
    decode_scale: float = 3.0  # enc_out scale for the decoding tests (large enough that tokens are emitted)
    registered_name: str | None = None

    def make_loss(self, input_dim: int, vocab_size: int) -> Any:
        """A fresh, small loss module with ``blank_id == self.blank_id``."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_loss(self, input_dim, vocab_size)")

    def reference_loss(self, loss: Any, enc_out: torch.Tensor, enc_lens: torch.Tensor, targets: torch.Tensor,
                       target_lens: torch.Tensor, history: list[list[int]]) -> torch.Tensor:
        """The per-lane loss ``[B]`` computed independently of ``loss.forward``, with ``history[b]`` as the
        tokens lane ``b`` consumed before this segment."""
        raise NotImplementedError(f"{type(self).__name__} must implement reference_loss(...)")

    # -- helpers
    def build(self) -> Any:
        torch.manual_seed(0)
        return self.make_loss(self.input_dim, self.vocab_size).to(self.dtype).eval()

    def case(self, seed: int = 0) -> LossCase:
        return make_case(input_dim=self.input_dim, vocab_size=self.vocab_size, blank_id=self.blank_id,
                         frames=self.frames, tokens=self.tokens, dtype=self.dtype, seed=seed)

    def decode_inputs(self) -> tuple[torch.Tensor, torch.Tensor]:
        generator = torch.Generator().manual_seed(5)
        frames = 3 * self.frames
        enc_out = self.decode_scale * torch.randn(4, frames, self.input_dim, generator=generator, dtype=self.dtype)
        return enc_out, torch.tensor([frames, frames - 3, 1, 0])

    # -- tests
    def test_loss_shape_is_per_lane(self) -> None:
        loss = self.build()
        check_loss_shape(loss, self.case())

    def test_padding_frames_and_tokens_do_not_change_loss_or_state(self) -> None:
        loss = self.build()
        check_padding_invariance(loss, self.case(), blank_id=self.blank_id, vocab_size=self.vocab_size,
                                 atol=self.atol)

    def test_lanes_are_independent(self) -> None:
        loss = self.build()
        check_lane_independence(loss, self.case(), atol=self.atol)

    def test_empty_lane_gives_zero_loss_and_keeps_state(self) -> None:
        loss = self.build()
        check_empty_lane(loss, self.case(), atol=self.atol)

    def test_zero_weight_lanes_get_zero_gradient(self) -> None:
        loss = self.build()
        check_zero_weight_gradient(loss, self.case())

    def test_matches_reference_with_carried_state(self) -> None:
        loss = self.build()
        check_matches_reference(loss, self.case(seed=1), self.case(seed=2), self.reference_loss,
                                atol=self.atol)

    def test_state_carry_equals_concatenated_context(self) -> None:
        loss = self.build()
        check_state_follows_tokens(loss, self.case(seed=1), self.case(seed=2), blank_id=self.blank_id,
                                   atol=self.atol)

    def test_decode_step_chunk_invariance(self) -> None:
        loss = self.build()
        check_decode_chunk_invariance(loss, *self.decode_inputs(), atol=self.atol)

    def test_decode_step_ignores_padding(self) -> None:
        loss = self.build()
        check_decode_ignores_padding(loss, *self.decode_inputs(), atol=self.atol)

    def test_is_registered_under_entry_point(self) -> None:
        import statecatcher

        assert_registered("loss", self.registered_name,
                          lambda: statecatcher.get_loss(self.registered_name, input_dim=self.input_dim,
                                                        vocab_size=self.vocab_size, blank_id=self.blank_id),
                          self.make_loss(self.input_dim, self.vocab_size))
