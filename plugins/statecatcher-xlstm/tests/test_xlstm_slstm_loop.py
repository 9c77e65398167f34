"""The sLSTM loop of ``slstm_loop`` equals the package's vanilla loop with the lane-local step: values and
gradients, in float64, with a non-zero recurrent kernel and lanes whose stabiliser starts mid-batch."""

import torch
from xlstm.blocks.slstm.src.vanilla import slstm_forward

from statecatcher_xlstm.blocks import SLSTMBlock, slstm_pointwise_lane_local
from statecatcher_xlstm.slstm_loop import slstm_sequence

B, H, d, S = 3, 2, 4, 7


def random_case(seed: int = 0, fresh_lane: bool = True):
    g = torch.Generator().manual_seed(seed)
    rand = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64)  # noqa: E731
    gates = rand(S, B, 4 * H * d) * 2
    kernel = rand(H, 4 * d, d) / d ** 0.5
    bias = rand(4 * H * d)
    start = torch.stack([rand(B, H * d), rand(B, H * d), rand(B, H * d).abs() + 0.5, rand(B, H * d)])
    if fresh_lane:
        start[1:, 1] = 0.0                               # lane 1 is fresh: n == 0 starts its stabiliser
    return [x.requires_grad_() for x in (gates, start, kernel, bias)]


def package_loop(gates, start, kernel, bias):
    return slstm_forward(gates, start, kernel, bias, slstm_pointwise_lane_local)[0]


def test_states_and_gradients_equal_the_package_loop():
    inputs = random_case()
    ours, reference = slstm_sequence(*inputs), package_loop(*inputs)
    assert ours.shape == reference.shape == (4, S + 1, B, H * d)
    assert (ours - reference).abs().max() < 1e-12
    weights = torch.randn(ours.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    grads_ours = torch.autograd.grad((ours * weights).sum(), inputs)
    grads_reference = torch.autograd.grad((reference * weights).sum(), inputs)
    for name, mine, theirs in zip(("gates", "start", "kernel", "bias"), grads_ours, grads_reference, strict=True):
        assert (mine - theirs).abs().max() < 1e-10, name


def test_gradcheck():
    """Against finite differences (no fresh lane: ``n == 0`` is a switch, not differentiable)."""
    gates, start, kernel, bias = (x.detach() for x in random_case(2, fresh_lane=False))
    short = [x.requires_grad_() for x in (gates[:3], start, kernel, bias)]
    assert torch.autograd.gradcheck(slstm_sequence, short)


def test_the_block_runs_the_loop_and_matches_the_package_cell():
    """An ``SLSTMBlock`` (vanilla) gives the same output and state through either loop."""
    torch.manual_seed(0)
    block = SLSTMBlock(16, 2, 3, 0, 1, backend="vanilla").double()
    with torch.no_grad():
        block.block.xlstm.slstm_cell._recurrent_kernel_.normal_(0, 0.3)
    x, lengths = torch.randn(2, 9, 16, dtype=torch.float64), torch.tensor([9, 4])
    out, state = block(x, lengths, block.init_state(2, dtype=torch.float64))
    cell = block.block.xlstm.slstm_cell
    cell.pointwise = lambda *args, **kwargs: slstm_pointwise_lane_local(*args, **kwargs)  # forces the package loop
    out_ref, state_ref = block(x, lengths, block.init_state(2, dtype=torch.float64))
    assert (out - out_ref).abs().max() < 1e-12
    for key in state:
        assert (state[key] - state_ref[key]).abs().max() < 1e-12, key
