"""``--xlstm-pattern``: which blocks the encoder stacks, and clear errors for anything else."""

import pytest

from statecatcher_xlstm.blocks import MLSTMBlock, SLSTMBlock
from statecatcher_xlstm.encoder import XLSTMEncoder, parse_pattern


def test_pattern_string_and_list_give_the_same_blocks():
    assert parse_pattern("m,m,s,m") == parse_pattern(["m", "m", "s", "m"]) == ["m", "m", "s", "m"]
    assert parse_pattern(" M , s ") == ["m", "s"]


def test_encoder_stacks_blocks_in_pattern_order():
    encoder = XLSTMEncoder(input_dim=8, hidden_dim=32, pattern="s,m,m", num_heads=2)
    assert [type(b) for b in encoder.blocks] == [SLSTMBlock, MLSTMBlock, MLSTMBlock]
    state = encoder.init_state(3)
    assert [sorted(s) for s in state["blocks"]] == [["c", "conv", "h", "m", "n"], ["C", "conv", "m", "n"],
                                                    ["C", "conv", "m", "n"]]


@pytest.mark.parametrize("pattern", ["m,x", "m,,s", "", "mlstm"])
def test_bad_pattern_is_a_value_error_naming_it(pattern):
    with pytest.raises(ValueError, match=rf"xlstm pattern '{pattern}' \(--xlstm-pattern\)"):
        XLSTMEncoder(input_dim=8, hidden_dim=32, pattern=pattern, num_heads=2)


def test_heads_must_divide_the_width():
    with pytest.raises(ValueError, match="hidden_dim=30 is not divisible by num_heads=4"):
        XLSTMEncoder(input_dim=8, hidden_dim=30, pattern="s", num_heads=4)
