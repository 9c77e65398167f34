"""Greedy streaming decoding: a toy model trained with RNNTLoss recovers its targets; decoding limits; state I/O."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from statecatcher.state import load_state, max_abs_diff, save_state
from statecatcher.testing.loss import run_decode
from statecatcher_rnnt.loss import RNNTLoss

VOCAB, FEATURES = 7, 8


def toy_task(batch=8, seed=0):
    """Each token is 3 frames of its own noisy prototype vector, tokens separated by a silent frame."""
    generator = torch.Generator().manual_seed(seed)
    prototypes = torch.randn(VOCAB, FEATURES, generator=generator)
    lengths = torch.randint(3, 7, (batch,), generator=generator)
    targets = torch.zeros(batch, int(lengths.max()), dtype=torch.long)
    frames = []
    for b, n in enumerate(lengths.tolist()):
        tokens = torch.randint(1, VOCAB, (n,), generator=generator)
        targets[b, :n] = tokens
        frames.append(torch.cat([torch.cat([prototypes[tok].expand(3, -1), torch.zeros(1, FEATURES)])
                                 for tok in tokens.tolist()]))
    feats = nn.utils.rnn.pad_sequence(frames, batch_first=True)
    feats = feats + 0.1 * torch.randn(feats.shape, generator=generator)
    return feats, torch.tensor([len(f) for f in frames]), targets, lengths


@pytest.mark.parametrize("options", [{"predictor": "stateless"},
                                     {"predictor": "lstm", "pruned": True, "prune_range": 3},
                                     {"predictor": "stateless", "topology": "modified"}])
def test_toy_model_overfits_and_streaming_greedy_decoding_recovers_the_targets(options):
    torch.manual_seed(0)
    feats, frame_lens, targets, target_lens = toy_task()
    encoder = nn.Sequential(nn.Linear(FEATURES, 32), nn.Tanh())
    loss_fn = RNNTLoss(32, VOCAB, pred_dim=32, joiner_dim=32, **options)
    optimizer = torch.optim.Adam([*encoder.parameters(), *loss_fn.parameters()], lr=1e-2)
    first = None
    for _ in range(150):
        nll, _ = loss_fn(encoder(feats), frame_lens, targets, target_lens, loss_fn.init_state(len(feats)))
        loss = nll.sum() / target_lens.sum()
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1 * first
    loss_fn.eval()
    with torch.no_grad():
        tokens, frames, _ = run_decode(loss_fn, encoder(feats), frame_lens, [5] * 5, loss_fn.init_state(len(feats)))
    expected = [targets[b, :n].tolist() for b, n in enumerate(target_lens.tolist())]
    assert tokens == expected
    assert all(f < n for lane, n in zip(frames, frame_lens.tolist(), strict=True) for f in lane)


def test_decoding_emits_at_most_max_symbols_per_frame():
    torch.manual_seed(0)
    loss = RNNTLoss(4, VOCAB, pred_dim=4, joiner_dim=4, max_symbols_per_frame=2)
    with torch.no_grad():  # a joiner that never says blank
        loss.joiner.out.bias.copy_(torch.tensor([-1e4] + [0.0] * (VOCAB - 1)))
    tokens, frames, _ = loss.decode_step(torch.randn(2, 5, 4), torch.tensor([5, 3]), loss.init_state(2))
    assert [len(t) for t in tokens] == [10, 6]
    assert frames[1] == [0, 0, 1, 1, 2, 2]


@pytest.mark.parametrize("predictor", ["stateless", "lstm"])
def test_predictor_state_roundtrips_through_save_load(predictor, tmp_path):
    torch.manual_seed(0)
    loss = RNNTLoss(4, VOCAB, predictor=predictor, pred_dim=4, joiner_dim=4)
    _, state = loss(torch.randn(2, 6, 4), torch.tensor([6, 4]), torch.tensor([[1, 2, 3], [4, 5, 0]]),
                    torch.tensor([3, 2]), loss.init_state(2))
    save_state(state, tmp_path / "state.pt")
    assert max_abs_diff(load_state(tmp_path / "state.pt"), state) == 0.0
