"""CTCLoss beyond the core contract: unalignable lanes, repeats across chunk boundaries, a toy overfit.

The brute-force reference, padding, lane independence and zero-weight gradients are in the conformance suite
(``test_ctc_conformance.py``)."""

from __future__ import annotations

import itertools
import math
import random

import pytest
import torch

from statecatcher import get_loss
from statecatcher.testing.loss import run_decode
from statecatcher_ctc.loss import CTCLoss

BLANK = 0


def collapse(path: list[int]) -> list[int]:
    """CTC's many-to-one map: merge repeats, then drop blanks."""
    return [s for s, _ in itertools.groupby(path) if s != BLANK]


def one_hot_frames(symbols: list[int], vocab: int, scale: float = 10.0) -> torch.Tensor:
    """``[T, V]`` encoder frames whose greedy symbol (under :func:`identity_loss`) is ``symbols[t]``."""
    return torch.nn.functional.one_hot(torch.tensor(symbols, dtype=torch.long), vocab).double() * scale


def identity_loss(vocab: int) -> CTCLoss:
    """A CTCLoss whose projection is the identity, so frame ``t`` argmaxes to its one-hot symbol."""
    loss = CTCLoss(vocab, vocab).double()
    with torch.no_grad():
        loss.proj.weight.copy_(torch.eye(vocab))
        loss.proj.bias.zero_()
    return loss


def test_unalignable_empty_and_frameless_lanes_give_finite_zero_loss():
    loss_fn = CTCLoss(input_dim=3, vocab_size=4)
    enc_out = torch.randn(3, 2, 3, requires_grad=True)
    # lane 0: 3 tokens in 2 frames (impossible), lane 1: no frames and no tokens, lane 2: ordinary
    loss, _ = loss_fn(enc_out, torch.tensor([2, 0, 2]), torch.tensor([[1, 2, 3], [0, 0, 0], [1, 0, 0]]),
                      torch.tensor([3, 0, 1]), loss_fn.init_state(3))
    assert loss[0] == 0 and loss[1] == 0 and 0 < loss[2] < math.inf
    loss.sum().backward()
    assert torch.isfinite(enc_out.grad).all() and enc_out.grad[:2].abs().max() == 0
    loss_fn.zero_grad()
    no_frames = torch.randn(3, 0, 3)
    loss, _ = loss_fn(no_frames, torch.zeros(3, dtype=torch.long), torch.ones(3, 1, dtype=torch.long),
                      torch.ones(3, dtype=torch.long), loss_fn.init_state(3))
    assert torch.equal(loss, torch.zeros(3)) and loss.requires_grad
    loss.sum().backward()
    assert loss_fn.proj.weight.grad.abs().max() == 0


def decode_in_chunks(loss_fn: CTCLoss, enc_out: torch.Tensor, enc_lens: torch.Tensor, bounds: list[int]):
    """Decode chunk by chunk between frame ``bounds``; per-lane tokens, absolute frames, final state."""
    sizes = [end - start for start, end in itertools.pairwise(bounds)]
    return run_decode(loss_fn, enc_out, enc_lens, sizes, loss_fn.init_state(enc_out.size(0)))


@pytest.mark.parametrize("symbols, expected", [
    ([1, 1, 1, 1], [1]),               # "a a" across any boundary is one "a"
    ([1, 1, 0, 1], [1, 1]),            # "a <blank> a" is two "a", whatever the chunking
    ([0, 2, 2, 0, 0, 2, 3, 3], [2, 2, 3]),
])
def test_decode_merges_repeats_across_chunk_boundaries(symbols, expected):
    loss_fn = identity_loss(4)
    enc_out = one_hot_frames(symbols, 4)[None]
    lens = torch.tensor([len(symbols)])
    for cut in range(len(symbols) + 1):
        tokens, _, _ = decode_in_chunks(loss_fn, enc_out, lens, [0, cut, len(symbols)])
        assert tokens == [expected], f"cut at frame {cut}"


def test_decode_in_random_chunkings_equals_whole_with_padding_and_empty_lanes():
    rng = random.Random(3)
    vocab = 5
    loss_fn = identity_loss(vocab)
    lengths = [17, 9, 0, 13]
    paths = [[rng.choice([0, 0, 1, 2, 2, 3, 4]) for _ in range(17)] for _ in lengths]
    enc_out = torch.stack([one_hot_frames(p, vocab) for p in paths])
    pad = torch.arange(17)[None, :] >= torch.tensor(lengths)[:, None]
    enc_out[pad] = one_hot_frames([3] * int(pad.sum()), vocab)  # padding would emit 3s if it were read
    lens = torch.tensor(lengths)
    whole_tokens, whole_frames, whole_state = decode_in_chunks(loss_fn, enc_out, lens, [0, 17])
    for b, length in enumerate(lengths):
        assert whole_tokens[b] == collapse(paths[b][:length])
        assert [paths[b][f] for f in whole_frames[b]] == whole_tokens[b]
    assert whole_state["last"].tolist() == [paths[0][16], paths[1][8], BLANK, paths[3][12]]
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, 17), rng.randint(1, 8)))
        tokens, frames, state = decode_in_chunks(loss_fn, enc_out, lens, [0, *cuts, 17])
        assert (tokens, frames) == (whole_tokens, whole_frames), f"chunk bounds {cuts}"
        assert torch.equal(state["last"], whole_state["last"])


def test_toy_model_overfits_and_greedy_decode_recovers_targets():
    torch.manual_seed(4)
    vocab, dim, frames = 6, 8, 12
    targets = torch.tensor([[1, 2, 3, 0], [4, 4, 5, 1], [2, 0, 0, 0]])
    target_lens = torch.tensor([3, 4, 1])
    alignments = [[0, 1, 1, 0, 2, 0, 3, 3, 0, 0, 0, 0], [4, 0, 4, 4, 0, 5, 0, 1, 1, 0, 0, 0], [0] * 5 + [2] * 7]
    codebook = torch.randn(vocab, dim)
    feats = codebook[torch.tensor(alignments)] + 0.1 * torch.randn(3, frames, dim)
    loss_fn = CTCLoss(dim, vocab)
    optimizer = torch.optim.Adam(loss_fn.parameters(), lr=0.1)
    lens = torch.full((3,), frames)
    first = None
    for _ in range(60):
        loss, _ = loss_fn(feats, lens, targets, target_lens, loss_fn.init_state(3))
        first = float(loss.detach().sum()) if first is None else first
        optimizer.zero_grad()
        loss.sum().backward()
        optimizer.step()
    assert float(loss.detach().sum()) < 0.1 * first
    tokens, _, _ = loss_fn.decode_step(feats, lens, loss_fn.init_state(3))
    assert tokens == [targets[b, : target_lens[b]].tolist() for b in range(3)]


def test_registered_as_ctc_with_core_signature():
    loss_fn = get_loss("ctc", 7, 11, 0)
    assert isinstance(loss_fn, CTCLoss)
    assert (loss_fn.proj.in_features, loss_fn.proj.out_features, loss_fn.blank_id) == (7, 11, 0)
    with pytest.raises(ValueError, match="blank_id=11"):
        CTCLoss(7, 11, blank_id=11)
