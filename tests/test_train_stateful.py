"""The trainer carries state: the stateless baseline diverges from the stateful run exactly where state matters."""

from __future__ import annotations

import math

import pytest
import torch

from statecatcher.state import leaves
from statecatcher.train.loop import train


@pytest.mark.slow
def test_loss_falls_by_80_percent_on_a_few_minutes_of_audio(overfit_run):
    summary, _ = overfit_run
    first, last = summary.losses[:5], summary.losses[-5:]
    assert summary.nan_skips == 0
    assert sum(last) / len(last) <= 0.2 * sum(first) / len(first), (first, last)


def test_stateless_baseline_differs_only_once_state_is_carried(tiny_corpus, tmp_path, tiny_run_config):
    stateful = train(tiny_run_config(tiny_corpus, tmp_path / "a", max_steps=4))
    stateless = train(tiny_run_config(tiny_corpus, tmp_path / "b", max_steps=4, stateless=True))
    # step 1: every lane starts a recording, so both runs see the same data, weights and (initial) state
    assert stateful.losses[0] == stateless.losses[0]
    # step 2: same weights update from identical step-1 gradients; only the carried state differs
    assert not math.isclose(stateful.losses[1], stateless.losses[1], rel_tol=1e-6)


def test_tbptt_and_accumulation_options_train(tiny_corpus, tmp_path, tiny_run_config):
    summary = train(tiny_run_config(tiny_corpus, tmp_path / "k", max_steps=6, tbptt_segments=2,
                                    accumulate_segments=2))
    assert summary.steps == 6 and summary.optimizer_steps == 3
    assert all(math.isfinite(x) for x in summary.losses)


def test_bf16_autocast_keeps_the_carried_state_in_float32(tiny_corpus, tmp_path, tiny_run_config, monkeypatch):
    """Under bf16 autocast (CUDA's default precision) every encoder returns its new state in bfloat16; the loop
    casts it back, so the state is carried in full precision and RWKV-7's PyTorch path (whose triangular solve
    has no bfloat16 kernel) keeps working after the first segment.  CPU autocast stands in for CUDA's here."""
    from statecatcher.train import loop, step

    monkeypatch.setattr(loop, "autocast_context", lambda device, precision: torch.autocast("cpu", torch.bfloat16))
    carried = []
    real_detach = step.detach  # the step detaches the state it carries (train/step.py)
    monkeypatch.setattr(step, "detach", lambda state: carried.append(real_detach(state)) or carried[-1])
    summary = train(tiny_run_config(tiny_corpus, tmp_path / "bf16", max_steps=3, encoder="rwkv7",
                                    encoder_options={"hidden_dim": 32, "num_layers": 1, "head_size": 16,
                                                     "backend": "torch"}))
    assert summary.steps == 3 and all(math.isfinite(x) for x in summary.losses)
    assert carried and {leaf.dtype for state in carried for leaf in leaves(state)} <= {torch.float32, torch.long}
