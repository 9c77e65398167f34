"""statecatcher.nn.CausalSubsampling: exact under any chunking, blind to padding."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from statecatcher.nn import CausalSubsampling
from statecatcher.testing.checks import (
    check_chunk_invariance,
    check_lane_independence,
    check_padding_invariance,
    check_reset,
    check_state_roundtrip,
)

SHAPES = [(4, 3), (1, 1), (1, 3), (3, 1), (2, 5)]  # (factor, kernel), including the degenerate ones
FREQ_CHANNELS = [0, 3]  # without and with the convolution along the mel axis


class FrontEnd(CausalSubsampling):
    """CausalSubsampling seen through the encoder protocol (``subsampling`` = ``factor``)."""

    @property
    def subsampling(self) -> int:
        return self.factor


@pytest.mark.parametrize("freq_channels", FREQ_CHANNELS)
@pytest.mark.parametrize(("factor", "kernel"), SHAPES)
def test_chunked_equals_whole_for_every_factor_and_kernel(factor, kernel, freq_channels):
    make = lambda: FrontEnd(input_dim=5, output_dim=7, factor=factor, kernel=kernel, freq_channels=freq_channels,
                            freq_kernel=3)
    check_chunk_invariance(make, dtype=torch.float64, atol=1e-10, num_chunkings=4)
    check_state_roundtrip(make, dtype=torch.float64, atol=1e-10)


@pytest.mark.parametrize("freq_channels", FREQ_CHANNELS)
@pytest.mark.parametrize(("factor", "kernel"), SHAPES)
def test_padding_and_other_lanes_never_matter(factor, kernel, freq_channels):
    make = lambda: FrontEnd(input_dim=5, output_dim=7, factor=factor, kernel=kernel, freq_channels=freq_channels,
                            freq_kernel=3)
    check_padding_invariance(make, dtype=torch.float64, atol=1e-10, garbage=1e6)
    check_lane_independence(make, dtype=torch.float64, atol=1e-10)
    check_reset(make, dtype=torch.float64)


def _frontend(factor=4, kernel=3) -> CausalSubsampling:
    torch.manual_seed(0)
    return CausalSubsampling(input_dim=5, output_dim=7, factor=factor, kernel=kernel).double()


def test_a_chunk_shorter_than_a_stack_yields_no_output_and_waits_in_the_state():
    frontend = _frontend(factor=4, kernel=3)
    state = frontend.init_state(2)
    feats = torch.randn(2, 3, 5, dtype=torch.float64)
    out, n_out, new = frontend(feats, torch.tensor([3, 1]), state)
    assert out.shape == (2, 0, 7) and n_out.tolist() == [0, 0]
    assert new["stack_len"].tolist() == [3, 1]
    assert torch.equal(new["conv"], state["conv"])
    normed = F.layer_norm(feats, (5,), frontend.input_norm.weight, frontend.input_norm.bias)
    assert torch.allclose(new["stack"][0], normed[0])       # right-aligned pending frames
    assert torch.allclose(new["stack"][1, -1], normed[1, 0])
    assert torch.equal(new["stack"][1, :2], torch.zeros(2, 5, dtype=torch.float64))


def test_output_counts_follow_completed_stacks():
    frontend = _frontend(factor=4)
    state = frontend.init_state(3)
    _, n_out, state = frontend(torch.randn(3, 10, 5, dtype=torch.float64), torch.tensor([10, 7, 0]), state)
    assert n_out.tolist() == [2, 1, 0] and state["stack_len"].tolist() == [2, 3, 0]
    _, n_out, state = frontend(torch.randn(3, 2, 5, dtype=torch.float64), torch.tensor([2, 2, 2]), state)
    assert n_out.tolist() == [1, 1, 0] and state["stack_len"].tolist() == [0, 1, 2]


def test_first_output_matches_a_hand_computed_reference():
    frontend = _frontend(factor=2, kernel=3)
    feats = torch.randn(1, 2, 5, dtype=torch.float64)
    out, n_out, _ = frontend(feats, torch.tensor([2]), frontend.init_state(1))
    normed = frontend.input_norm(feats).reshape(1, 10)
    y = frontend.norm(frontend.proj(normed))                  # [1, 7]
    # causal conv at the first frame: the zero cache fills the first kernel-1 taps, y meets the last tap
    expected = F.silu(y @ frontend.conv.weight[:, :, -1].T + frontend.conv.bias)
    assert n_out.tolist() == [1]
    assert torch.allclose(out[0, 0], expected[0], atol=1e-12)


def test_frequency_convolution_matches_a_hand_computed_conv2d_reference():
    """With ``freq_channels`` the first stage is a 2-D convolution over (stack, mel) with the stack as its time
    kernel: checked against ``F.conv2d`` on the stack, then the second convolution, flatten and projection."""
    torch.manual_seed(0)
    frontend = CausalSubsampling(input_dim=9, output_dim=7, factor=2, kernel=1, freq_channels=3,
                                 freq_kernel=3).double()
    feats = torch.randn(1, 2, 9, dtype=torch.float64)
    out, n_out, _ = frontend(feats, torch.tensor([2]), frontend.init_state(1))
    first, second = frontend.freq_conv[0], frontend.freq_conv[2]
    image = frontend.input_norm(feats)[:, None]                                       # [1, 1, stack 2, mel 9]
    h = F.silu(F.conv2d(image, first.weight[:, None], first.bias, stride=(1, 2), padding=(0, 1)))  # [1, 3, 1, 5]
    h = F.silu(F.conv1d(h[:, :, 0], second.weight, second.bias, stride=2, padding=1))  # [1, 3, 3]
    assert h.shape == (1, 3, 3) and frontend.proj.in_features == 9
    y = frontend.norm(frontend.proj(h.reshape(1, 9)))
    expected = F.silu(y @ frontend.conv.weight[:, :, 0].T + frontend.conv.bias)
    assert n_out.tolist() == [1]
    assert torch.allclose(out[0, 0], expected[0], atol=1e-12)


def test_frequency_convolution_is_shift_equivariant_along_the_mel_axis():
    """A pattern moved by 4 mel bins (two stride-2 steps) gives the same first-stage features moved by one
    position: the weight sharing across bins that a per-frame Linear lacks."""
    torch.manual_seed(0)
    frontend = CausalSubsampling(input_dim=24, output_dim=7, factor=1, kernel=1, freq_channels=2,
                                 freq_kernel=3).double()
    pattern = torch.zeros(1, 1, 24, dtype=torch.float64)
    pattern[..., 6:10] = torch.tensor([1.0, 3.0, -2.0, 0.5], dtype=torch.float64)
    shifted = torch.roll(pattern, 4, dims=-1)
    features = lambda x: frontend.freq_conv(x)                                        # [1, 2, 6]
    assert torch.allclose(features(shifted)[..., 2:5], features(pattern)[..., 1:4], atol=1e-12)


def test_factor_one_kernel_one_state_is_empty_and_output_is_per_frame():
    frontend = _frontend(factor=1, kernel=1)
    state = frontend.init_state(2)
    assert state["stack"].shape == (2, 0, 5) and state["conv"].shape == (2, 0, 7)
    out, n_out, new = frontend(torch.randn(2, 4, 5, dtype=torch.float64), torch.tensor([4, 2]), state)
    assert out.shape == (2, 4, 7) and n_out.tolist() == [4, 2]
    assert torch.equal(out[1, 2:], torch.zeros(2, 7, dtype=torch.float64))


@pytest.mark.parametrize(("factor", "kernel"), [(0, 3), (4, 0)])
def test_rejects_empty_stacks_or_kernels(factor, kernel):
    with pytest.raises(ValueError, match="factor and kernel must be >= 1"):
        CausalSubsampling(5, 7, factor=factor, kernel=kernel)


@pytest.mark.parametrize(("channels", "kernel"), [(-1, 5), (4, 4), (4, 0)])
def test_rejects_negative_channels_or_even_frequency_kernels(channels, kernel):
    with pytest.raises(ValueError, match="freq_channels=.* freq_kernel="):
        CausalSubsampling(5, 7, freq_channels=channels, freq_kernel=kernel)
