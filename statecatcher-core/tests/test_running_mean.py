"""statecatcher.nn.RunningMeanNormalization (online CMN) and the front end's ``cmn_frames`` option."""

from __future__ import annotations

import pytest
import torch

from statecatcher.nn import CausalSubsampling
from statecatcher.nn.running_mean import RunningMeanNormalization
from statecatcher.testing.checks import (
    check_chunk_invariance,
    check_lane_independence,
    check_padding_invariance,
    check_reset,
    check_state_roundtrip,
)


def _loop_reference(feats: torch.Tensor, lengths: torch.Tensor, frames: float, mean: torch.Tensor):
    """The recurrence frame by frame: ``m = a m + (1 - a) x``, ``out = x - m``."""
    a = 1.0 - 1.0 / frames
    out = torch.zeros_like(feats)
    means = mean.clone()
    for b in range(feats.shape[0]):
        m = means[b].clone()
        for t in range(int(lengths[b])):
            m = a * m + (1.0 - a) * feats[b, t]
            out[b, t] = feats[b, t] - m
        means[b] = m
    return out, means


@pytest.mark.parametrize("block", [1, 5, 64])
def test_matches_the_frame_by_frame_recurrence_from_any_state(block):
    torch.manual_seed(0)
    cmn = RunningMeanNormalization(4, frames=7.0, block=block)
    feats = torch.randn(3, 23, 4, dtype=torch.float64) + 3.0
    lengths = torch.tensor([23, 11, 0])
    start = torch.randn(3, 4, dtype=torch.float64)
    out, state = cmn(feats, lengths, {"mean": start})
    expected, means = _loop_reference(feats, lengths, 7.0, start)
    assert torch.allclose(out, expected, atol=1e-12)
    assert torch.allclose(state["mean"], means, atol=1e-12)
    assert torch.equal(state["mean"][2], start[2])             # no valid frame: the mean is carried unchanged


def test_a_constant_channel_offset_is_removed_after_a_few_time_constants():
    """A bin shifted by +5 for the whole recording (a telephone band, a microphone) decays to ~0."""
    cmn = RunningMeanNormalization(2, frames=20.0)
    feats = torch.full((1, 200, 2), 5.0, dtype=torch.float64)
    out, state = cmn(feats, torch.tensor([200]), cmn.init_state(1, dtype=torch.float64))
    assert out[0, 0, 0] == pytest.approx(5.0 * (1 - 1 / 20))  # the first frame leans on the zero prior
    assert out[0, -1].abs().max() < 5.0 * 0.95 ** 200 * 1.01   # (1 - 1/20)^200 of the offset is left
    assert torch.allclose(state["mean"], torch.full((1, 2), 5.0, dtype=torch.float64), atol=1e-3)


class FrontEnd(CausalSubsampling):
    @property
    def subsampling(self) -> int:
        return self.factor


@pytest.mark.parametrize(("factor", "kernel", "freq_channels"), [(4, 3, 0), (1, 1, 3), (2, 5, 3)])
def test_front_end_with_running_mean_is_exact_under_chunking_and_blind_to_padding(factor, kernel, freq_channels):
    make = lambda: FrontEnd(input_dim=9, output_dim=7, factor=factor, kernel=kernel, freq_channels=freq_channels,
                            freq_kernel=3, cmn_frames=5.0)
    check_chunk_invariance(make, dtype=torch.float64, atol=1e-10, num_chunkings=4)
    check_state_roundtrip(make, dtype=torch.float64, atol=1e-10)
    check_padding_invariance(make, dtype=torch.float64, atol=1e-10, garbage=1e6)
    check_lane_independence(make, dtype=torch.float64, atol=1e-10)
    check_reset(make, dtype=torch.float64)


def test_front_end_state_has_the_mean_only_when_asked():
    assert "cmn_mean" not in CausalSubsampling(9, 7).init_state(2)
    assert CausalSubsampling(9, 7, cmn_frames=300).init_state(2)["cmn_mean"].shape == (2, 9)


@pytest.mark.parametrize(("frames", "block"), [(1.0, 64), (0.5, 64), (300.0, 0)])
def test_rejects_a_time_constant_of_one_frame_or_less_and_empty_blocks(frames, block):
    with pytest.raises(ValueError, match="running mean: frames must be > 1"):
        RunningMeanNormalization(4, frames=frames, block=block)
