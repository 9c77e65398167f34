"""The core loss contract for CTC, against a brute-force sum over every alignment."""

from __future__ import annotations

import itertools
import math

import torch

from statecatcher.testing import LossConformance
from statecatcher_ctc.loss import CTCLoss


def brute_force_ctc_nll(log_probs: torch.Tensor, target: list[int], blank: int) -> float:
    """``-log sum_{paths -> target} prod_t p(path_t)`` for one lane's ``[T, V]`` log-probs (tiny T and V only)."""
    frames, vocab = log_probs.shape
    scores = [
        sum(float(log_probs[t, s]) for t, s in enumerate(path))
        for path in itertools.product(range(vocab), repeat=frames)
        if [s for s, _ in itertools.groupby(path) if s != blank] == target
    ]
    return -math.log(sum(math.exp(x) for x in scores)) if scores else 0.0  # unalignable: zero_infinity


class TestCTCConformance(LossConformance):
    registered_name = "ctc"
    frames = 5      # V ** T' = 1024 alignments per lane for the brute force
    vocab_size = 4

    def make_loss(self, input_dim, vocab_size):
        return CTCLoss(input_dim, vocab_size, blank_id=self.blank_id)

    def reference_loss(self, loss, enc_out, enc_lens, targets, target_lens, history):
        log_probs = loss.log_probs(enc_out)  # CTC carries no context: history is irrelevant
        return torch.tensor([
            brute_force_ctc_nll(log_probs[b, : enc_lens[b]], targets[b, : target_lens[b]].tolist(), self.blank_id)
            for b in range(enc_out.shape[0])
        ], dtype=torch.float64)
