"""The loss conformance suite passes a correct toy transducer and catches each deliberately broken one."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from statecatcher.testing import LossConformance
from statecatcher.testing.checks import ConformanceError
from statecatcher.testing.rnnt_reference import alignments, brute_force_rnnt_loss, brute_force_rnnt_nll

BLANK = 0


class ToyTransducer(nn.Module):
    """A bigram transducer: the predictor is an embedding of the last token (state ``{"last": [B]}``)."""

    def __init__(self, input_dim: int, vocab_size: int, max_symbols: int = 2):
        super().__init__()
        self.input_dim, self.max_symbols = input_dim, max_symbols
        self.embed = nn.Embedding(vocab_size, input_dim)
        self.out = nn.Linear(input_dim, vocab_size)

    def init_state(self, batch_size, device=None):
        return {"last": torch.full((batch_size,), BLANK, dtype=torch.long, device=device)}

    def joiner(self, enc_out, contexts):  # [B, T, D], [B, U+1] -> [B, T, U+1, V]
        return self.out(torch.tanh(enc_out[:, :, None] + self.embed(contexts)[:, None]))

    def contexts(self, targets, target_lens, last):  # context token of lattice row u: [B, U+1]
        valid = torch.arange(targets.shape[1])[None] < target_lens[:, None]
        return torch.cat([last[:, None], targets.masked_fill(~valid, BLANK)], dim=1)

    def forward(self, enc_out, enc_lens, targets, target_lens, state):
        contexts = self.contexts(targets, target_lens, state["last"])
        loss = brute_force_rnnt_loss(self.joiner(enc_out, contexts), targets, enc_lens, target_lens, BLANK)
        return loss, {"last": contexts.gather(1, target_lens[:, None])[:, 0]}

    def decode_step(self, enc_out, enc_lens, state):
        last = state["last"].clone()
        tokens = [[] for _ in range(enc_out.shape[0])]
        frames = [[] for _ in range(enc_out.shape[0])]
        for b in range(enc_out.shape[0]):
            for t in range(int(enc_lens[b])):
                for _ in range(self.max_symbols):
                    token = int(self.joiner(enc_out[b:b + 1, t:t + 1], last[b:b + 1, None]).argmax())
                    if token == BLANK:
                        break
                    tokens[b].append(token)
                    frames[b].append(t)
                    last[b] = token
        return tokens, frames, {"last": last}


def toy_reference(loss, enc_out, enc_lens, targets, target_lens, history):
    last = torch.tensor([tokens[-1] if tokens else BLANK for tokens in history])
    logits = loss.joiner(enc_out, loss.contexts(targets, target_lens, last))
    return brute_force_rnnt_loss(logits, targets, enc_lens, target_lens, BLANK)


class TestToyTransducerConformance(LossConformance):
    def make_loss(self, input_dim, vocab_size):
        return ToyTransducer(input_dim, vocab_size)

    def reference_loss(self, loss, enc_out, enc_lens, targets, target_lens, history):
        return toy_reference(loss, enc_out, enc_lens, targets, target_lens, history)


# ---------------------------------------------------------------------------------------------- broken losses
class IgnoresStateLoss(ToyTransducer):
    def forward(self, enc_out, enc_lens, targets, target_lens, state):
        loss, new_state = super().forward(enc_out, enc_lens, targets, target_lens, self.init_state(len(enc_lens)))
        return loss, new_state


class DropsStateLoss(ToyTransducer):
    def forward(self, enc_out, enc_lens, targets, target_lens, state):
        return super().forward(enc_out, enc_lens, targets, target_lens, state)[0], state


class ClobbersStateOfTokenlessLanesLoss(ToyTransducer):
    def forward(self, enc_out, enc_lens, targets, target_lens, state):
        loss, _ = super().forward(enc_out, enc_lens, targets, target_lens, state)
        return loss, {"last": targets.gather(1, (target_lens[:, None] - 1) % targets.shape[1])[:, 0]}


class LeaksPaddingLoss(ToyTransducer):
    def forward(self, enc_out, enc_lens, targets, target_lens, state):
        loss, new_state = super().forward(enc_out, enc_lens, targets, target_lens, state)
        return loss + 1e-3 * enc_out.sum(dim=(1, 2)).abs(), new_state


class MixesLanesLoss(ToyTransducer):
    def forward(self, enc_out, enc_lens, targets, target_lens, state):
        loss, new_state = super().forward(enc_out, enc_lens, targets, target_lens, state)
        return loss + 1e-3 * loss.sum(), new_state


class SumsLanesLoss(ToyTransducer):
    def forward(self, enc_out, enc_lens, targets, target_lens, state):
        loss, new_state = super().forward(enc_out, enc_lens, targets, target_lens, state)
        return loss.sum(), new_state


class ForgetsDecoderStateLoss(ToyTransducer):
    def decode_step(self, enc_out, enc_lens, state):
        return super().decode_step(enc_out, enc_lens, self.init_state(len(enc_lens)))


class DecodesPaddingLoss(ToyTransducer):
    def decode_step(self, enc_out, enc_lens, state):
        return super().decode_step(enc_out, torch.full_like(enc_lens, enc_out.shape[1]), state)


@pytest.mark.parametrize(("broken", "failing_test"), [
    (IgnoresStateLoss, "test_matches_reference_with_carried_state"),
    (DropsStateLoss, "test_matches_reference_with_carried_state"),
    (ClobbersStateOfTokenlessLanesLoss, "test_state_carry_equals_concatenated_context"),
    (LeaksPaddingLoss, "test_padding_frames_and_tokens_do_not_change_loss_or_state"),
    (LeaksPaddingLoss, "test_zero_weight_lanes_get_zero_gradient"),
    (MixesLanesLoss, "test_lanes_are_independent"),
    (MixesLanesLoss, "test_zero_weight_lanes_get_zero_gradient"),
    (SumsLanesLoss, "test_loss_shape_is_per_lane"),
    (ForgetsDecoderStateLoss, "test_decode_step_chunk_invariance"),
    (DecodesPaddingLoss, "test_decode_step_ignores_padding"),
])
def test_suite_catches_broken_loss(broken, failing_test):
    class Suite(TestToyTransducerConformance):
        def make_loss(self, input_dim, vocab_size):
            return broken(input_dim, vocab_size)

    with pytest.raises(ConformanceError):
        getattr(Suite(), failing_test)()


# ---------------------------------------------------------------------------------------------- the reference
def test_alignment_count_is_binomial():
    from math import comb

    for frames, tokens in [(1, 0), (1, 3), (3, 2), (4, 3)]:
        paths = list(alignments(frames, tokens))
        assert len(paths) == comb(frames + tokens - 1, tokens)
        assert all(path[-1] == (frames - 1, tokens, False) for path in paths)


def test_brute_force_probabilities_sum_to_one_over_label_sequences():
    """With per-node normalised log-probs, the probabilities of all label sequences of length <= N sum to
    (almost) 1 when one frame is fed (only then is the output length bounded by the symbols per frame)."""
    torch.manual_seed(0)
    log_probs = torch.randn(1, 4, 3, dtype=torch.float64).log_softmax(-1)  # T=1, up to U=3, V=3
    total = brute_force_rnnt_nll(log_probs[:, :1], torch.empty(0, dtype=torch.long), BLANK).neg().exp()
    for first in (1, 2):
        total = total + brute_force_rnnt_nll(log_probs[:, :2], torch.tensor([first]), BLANK).neg().exp()
    # missing mass: sequences of >= 2 tokens, i.e. P(first token) * P(non-blank at u=1)
    missing = (1 - log_probs[0, 0, BLANK].exp()) * (1 - log_probs[0, 1, BLANK].exp())
    assert torch.allclose(total + missing, torch.tensor(1.0, dtype=torch.float64))


def test_empty_lattices():
    log_probs = torch.zeros(0, 3, 4)
    assert brute_force_rnnt_nll(log_probs[:, :1], torch.empty(0, dtype=torch.long)).item() == 0.0
    assert brute_force_rnnt_nll(log_probs, torch.tensor([1, 2])).item() == float("inf")
