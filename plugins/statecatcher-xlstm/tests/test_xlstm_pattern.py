"""``--xlstm-pattern``: which blocks the encoder stacks, and clear errors for anything else."""

import pytest
import torch

from statecatcher_xlstm.blocks import MLSTMBlock, SLSTMBlock
from statecatcher_xlstm.encoder import XLSTMEncoder, parse_pattern
from statecatcher_xlstm.large_block import LargeMLSTMBlock


def test_pattern_string_and_list_give_the_same_blocks():
    assert parse_pattern("m,m,s,m") == parse_pattern(["m", "m", "s", "m"]) == ["m", "m", "s", "m"]
    assert parse_pattern(" M , s ") == ["m", "s"]


def test_encoder_stacks_blocks_in_pattern_order():
    encoder = XLSTMEncoder(input_dim=8, hidden_dim=32, pattern="s,m,l", num_heads=2)
    assert [type(b) for b in encoder.blocks] == [SLSTMBlock, MLSTMBlock, LargeMLSTMBlock]
    state = encoder.init_state(3)
    assert [sorted(s) for s in state["blocks"]] == [["c", "conv", "h", "m", "n"], ["C", "conv", "m", "n"],
                                                    ["C", "m", "n"]]
    assert state["blocks"][2]["C"].shape == (3, 2, 8, 16)  # q/k at half the width: [B, H, 32/2/2, 32/2]


def test_the_large_block_has_the_packages_parameters_and_gate_initialisation():
    block = LargeMLSTMBlock(32, 4)
    layer = block.block.mlstm_layer
    assert (layer.q.out_features, layer.v.out_features, block.block.ffn.up_proj_dim) == (16, 32, 128)
    assert torch.allclose(layer.fgate_preact.bias, torch.linspace(3.0, 6.0, 4))  # long memory from the start


@pytest.mark.parametrize("pattern", ["m,x", "m,,s", "", "mlstm", "L7"])
def test_bad_pattern_is_a_value_error_naming_it(pattern):
    with pytest.raises(ValueError, match=rf"xlstm pattern '{pattern}' \(--xlstm-pattern\)"):
        XLSTMEncoder(input_dim=8, hidden_dim=32, pattern=pattern, num_heads=2)


def test_heads_must_divide_the_width():
    with pytest.raises(ValueError, match="hidden_dim=30 is not divisible by num_heads=4"):
        XLSTMEncoder(input_dim=8, hidden_dim=30, pattern="s", num_heads=4)
    with pytest.raises(ValueError, match=r"hidden_dim=36 is not divisible by 2 \* num_heads=8"):
        XLSTMEncoder(input_dim=8, hidden_dim=36, pattern="l", num_heads=4)
