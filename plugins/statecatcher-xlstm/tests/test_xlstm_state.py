"""State carry details the kit does not pin down: no in-place mutation, bit-exact padding, lane-local sLSTM."""

import pytest
import torch
from mlstm_kernels.torch import get_mlstm_kernel
from xlstm.blocks.slstm.src.vanilla import slstm_pointwise_function_registry

from statecatcher.state import detach, leaves, max_abs_diff, reset_lanes, select_lanes
from statecatcher_xlstm.blocks import MLSTMBlock, SLSTMBlock
from statecatcher_xlstm.encoder import XLSTMEncoder
from statecatcher_xlstm.large_block import LargeMLSTMBlock


def tiny_encoder(**options) -> XLSTMEncoder:
    torch.manual_seed(0)
    return XLSTMEncoder(input_dim=8, hidden_dim=32, pattern="m,s,m,l", num_heads=2, subsampling=2, chunk_size=4,
                        **options)


def test_training_steps_from_carried_state_backprop_and_never_touch_it():
    """The xlstm large model's trap: a state mutated in place breaks backward even when detached."""
    encoder = tiny_encoder().train()
    optimizer = torch.optim.SGD(encoder.parameters(), lr=0.1)
    lengths = torch.tensor([20, 13])
    state = encoder.init_state(2)
    for step in range(3):
        given = [leaf.clone() for leaf in leaves(state)]
        versions = [leaf._version for leaf in leaves(state)]
        feats = torch.randn(2, 20, 8)
        out, _, new_state = encoder(feats, lengths, state)
        loss = out.pow(2).sum() + sum(leaf.pow(2).sum() for leaf in leaves(new_state) if leaf.is_floating_point())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        assert all(torch.equal(a, b) for a, b in zip(given, leaves(state), strict=True)), f"step {step}"
        assert versions == [leaf._version for leaf in leaves(state)], f"step {step}: state written in place"
        state = detach(new_state)


def test_init_state_dtype_follows_the_module_and_is_lane_first():
    encoder = tiny_encoder()
    assert {leaf.dtype for leaf in leaves(encoder.init_state(3)) if leaf.is_floating_point()} == {torch.float32}
    assert {leaf.dtype for leaf in leaves(encoder.double().init_state(3)) if leaf.is_floating_point()} \
        == {torch.float64}
    assert all(leaf.shape[0] == 3 for leaf in leaves(encoder.init_state(3)))


@pytest.mark.parametrize("block_type", [MLSTMBlock, SLSTMBlock, LargeMLSTMBlock])
def test_padded_frames_leave_the_block_state_bit_for_bit(block_type):
    """Same kernel chunk layout, with and without garbage after the last valid frame: identical state."""
    torch.manual_seed(0)
    extra = {"backend": "vanilla"} if block_type is SLSTMBlock else {}
    block = LargeMLSTMBlock(16, 2) if block_type is LargeMLSTMBlock else block_type(16, 2, 3, 0, 1, **extra)
    block = block.double()
    kernel = get_mlstm_kernel("chunkwise--native_autograd")
    call = block if block_type is SLSTMBlock else (lambda x, n, s: block(x, n, s, kernel, 4))
    x = torch.randn(2, 8, 16, dtype=torch.float64)
    start = block.init_state(2, dtype=torch.float64)
    with torch.no_grad():
        _, carried = call(x, torch.tensor([8, 8]), start)  # a used state, m != 0
        exact_x = torch.cat([x[:, :5], torch.zeros(2, 3, 16, dtype=torch.float64)], dim=1)
        garbage_x = torch.cat([x[:, :5], 100 * torch.randn(2, 3, 16, dtype=torch.float64)], dim=1)
        _, exact = call(exact_x, torch.tensor([5, 0]), carried)
        _, padded = call(garbage_x, torch.tensor([5, 0]), carried)
    for key in exact:
        assert torch.equal(exact[key], padded[key]), key
        assert torch.equal(exact[key][1], carried[key][1]), f"{key}: a lane with 0 valid frames moved"


def test_a_reset_lane_evolves_like_a_fresh_lane_alone():
    """sLSTM: the stabiliser starts per lane (as in the CUDA kernel), not when the whole batch is fresh."""
    torch.manual_seed(0)
    block = SLSTMBlock(16, 2, 3, 0, 1, backend="vanilla").double()
    x = torch.randn(2, 6, 16, dtype=torch.float64)
    both = torch.tensor([6, 6])
    with torch.no_grad():
        _, used = block(x, both, block.init_state(2, dtype=torch.float64))
        mixed = reset_lanes(used, torch.tensor([True, False]), block.init_state(2, dtype=torch.float64))
        out, state = block(x, both, mixed)
        alone_out, alone = block(x[:1], both[:1], block.init_state(1, dtype=torch.float64))
        assert max_abs_diff(select_lanes(state, [0]), alone) < 1e-12
        assert (out[0] - alone_out[0]).abs().max() < 1e-12
        # the package's vanilla step (batch-wide torch.all(n == 0)) starts lane 0's stabiliser differently
        one_frame = torch.tensor([1, 1])
        _, first_alone = block(x[:1, :1], one_frame[:1], block.init_state(1, dtype=torch.float64))
        block.block.xlstm.slstm_cell.pointwise = slstm_pointwise_function_registry["slstm"]
        _, coupled = block(x[:, :1], one_frame, mixed)
        assert max_abs_diff(select_lanes(coupled, [0]), first_alone) > 1e-3


def test_gradient_through_an_undetached_state_is_exact():
    """With ``--tbptt-segments 2`` the second segment's loss backpropagates into the first through the state."""
    torch.manual_seed(0)
    encoder = XLSTMEncoder(input_dim=4, hidden_dim=16, pattern="m,s,l", num_heads=2, subsampling=2, chunk_size=4)
    encoder = encoder.double()
    second = torch.randn(2, 6, 4, dtype=torch.float64)
    lengths = torch.tensor([6, 3])

    def second_segment_output(first: torch.Tensor) -> torch.Tensor:
        _, _, state = encoder(first, lengths, encoder.init_state(2))
        return encoder(second, lengths, state)[0]

    first = torch.randn(2, 6, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(second_segment_output, (first,), atol=1e-6)
