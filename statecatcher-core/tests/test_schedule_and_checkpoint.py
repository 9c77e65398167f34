"""LR schedules and atomic, pruned checkpoints."""

import math

import pytest
import torch

from statecatcher.train.checkpoint import find_checkpoint, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from statecatcher.train.schedule import lr_factor


def test_warmup_then_cosine_reaches_floor():
    kw = dict(schedule="cosine", warmup_steps=10, total_steps=110)
    assert [lr_factor(s, **kw) for s in (0, 4, 9)] == [0.1, 0.5, 1.0]
    assert lr_factor(10, **kw) == pytest.approx(1.0)
    assert lr_factor(60, **kw) == pytest.approx(0.05 + 0.95 * 0.5)
    assert lr_factor(500, **kw) == pytest.approx(0.05)


def test_noam_and_constant():
    assert lr_factor(399, schedule="noam", warmup_steps=100, total_steps=0) == pytest.approx(math.sqrt(100 / 400))
    assert lr_factor(10_000, schedule="constant", warmup_steps=0, total_steps=0) == 1.0
    with pytest.raises(ValueError, match="unknown schedule"):
        lr_factor(200, schedule="linear", warmup_steps=0, total_steps=1)


def test_checkpoints_are_pruned_and_last_points_to_newest(tmp_path):
    for step in (10, 20, 30):
        save_checkpoint(tmp_path / "checkpoints", step, {"step": step}, keep=2)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["last.pt", "step-00000020.pt", "step-00000030.pt"]
    assert load_checkpoint(find_checkpoint(tmp_path))["step"] == 30
    assert find_checkpoint(tmp_path / "nothing-here") is None


def test_rng_state_round_trip():
    saved = rng_state()
    a = torch.rand(3)
    set_rng_state(saved)
    assert torch.equal(torch.rand(3), a)
