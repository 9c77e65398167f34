"""RNNTLoss passes the core LossConformance suite: both predictors, both topologies, full and pruned, against the
brute force."""

from __future__ import annotations

import pytest
import torch

from statecatcher.testing import LossConformance
from statecatcher.testing.rnnt_reference import brute_force_rnnt_loss
from statecatcher_rnnt.loss import RNNTLoss


def primed_predictor_rows(loss, targets, target_lens, history):
    """Predictor rows ``[B, U + 1, P]`` computed from scratch over ``history + targets`` (no carried state)."""
    rows = []
    for b, past in enumerate(history):
        tokens = torch.tensor(past + targets[b, : int(target_lens[b])].tolist() + [0] * (targets.shape[1]
                                                                                       - int(target_lens[b])))
        lens = torch.tensor([len(past) + int(target_lens[b])])
        out, _ = loss.predictor(tokens[None], lens, loss.init_state(1))
        rows.append(out[0, len(past): len(past) + targets.shape[1] + 1])
    return torch.stack(rows)


def brute_force_reference(loss, enc_out, enc_lens, targets, target_lens, history):
    logits = loss.joiner(enc_out, primed_predictor_rows(loss, targets, target_lens, history))
    return brute_force_rnnt_loss(logits, targets, enc_lens, target_lens, loss.blank_id, loss.topology)


class RNNTSuite(LossConformance):
    options: dict = {}

    def make_loss(self, input_dim, vocab_size):
        return RNNTLoss(input_dim, vocab_size, pred_dim=8, joiner_dim=8, **self.options)

    def reference_loss(self, loss, enc_out, enc_lens, targets, target_lens, history):
        return brute_force_reference(loss, enc_out, enc_lens, targets, target_lens, history)


class TestStatelessRNNTConformance(RNNTSuite):
    registered_name = "rnnt"
    options = {"predictor": "stateless", "context_size": 2, "backend": "torch"}


class TestLSTMRNNTConformance(RNNTSuite):
    options = {"predictor": "lstm", "pred_layers": 2, "backend": "torch"}


class TestNumbaRNNTConformance(RNNTSuite):
    options = {"predictor": "stateless", "context_size": 3, "backend": "numba"}

    @pytest.fixture(autouse=True)
    def _needs_numba(self):
        pytest.importorskip("numba")


class TestPrunedRNNTConformance(RNNTSuite):
    """prune_range >= U + 1 keeps the whole lattice, and without the simple loss the pruned loss is exact."""

    options = {"predictor": "lstm", "pruned": True, "prune_range": LossConformance.tokens + 1,
               "simple_loss_scale": 0.0}


class TestModifiedTopologyRNNTConformance(RNNTSuite):
    options = {"predictor": "stateless", "topology": "modified"}


class TestPrunedModifiedTopologyRNNTConformance(RNNTSuite):
    options = {"predictor": "lstm", "topology": "modified", "pruned": True,
               "prune_range": LossConformance.tokens + 1, "simple_loss_scale": 0.0}
