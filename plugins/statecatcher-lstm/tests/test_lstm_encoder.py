"""LSTM-specific behaviour beyond the conformance suite: idle lanes, a plain-LSTM reference, options."""

import pytest
import torch

from statecatcher.state import max_abs_diff, select_lanes
from statecatcher_lstm.encoder import LSTMEncoder


def _encoder(**options):
    torch.manual_seed(0)
    return LSTMEncoder(**{"input_dim": 6, "hidden_dim": 8, "num_layers": 2, **options}).double().eval()


def _warm_state(encoder, batch=3, frames=9):
    feats = torch.randn(batch, frames, encoder.input_dim, dtype=torch.float64)
    with torch.no_grad():
        return encoder(feats, torch.full((batch,), frames), encoder.init_state(batch))[2]


def test_lanes_with_no_output_frame_keep_h_and_c_exactly():
    encoder = _encoder(subsampling=4)
    state = _warm_state(encoder)  # 9 frames: every lane holds 1 pending frame of its next stack
    feats = torch.randn(3, 6, 6, dtype=torch.float64)
    with torch.no_grad():  # lane 0: no frames; lane 1: 2 frames (stack 3 of 4, no output); lane 2: 6 frames
        out, out_lengths, new = encoder(feats, torch.tensor([0, 2, 6]), state)
    assert out_lengths.tolist() == [0, 0, 1]
    for key in ("h", "c"):
        assert torch.equal(new[key][:2], state[key][:2])
        assert not torch.equal(new[key][2], state[key][2])
    assert max_abs_diff(select_lanes(new["frontend"], [0]), select_lanes(state["frontend"], [0])) == 0.0


def test_a_call_where_no_lane_has_an_output_frame_keeps_the_whole_state():
    encoder = _encoder(subsampling=4, output_dim=5)
    state = _warm_state(encoder, frames=8)
    with torch.no_grad():
        out, out_lengths, new = encoder(torch.randn(3, 2, 6, dtype=torch.float64), torch.tensor([2, 1, 0]), state)
    assert out.shape == (3, 0, 5) and out_lengths.tolist() == [0, 0, 0]
    assert torch.equal(new["h"], state["h"]) and torch.equal(new["c"], state["c"])


def test_full_lanes_match_a_plain_lstm_over_the_front_end():
    encoder = _encoder(subsampling=2)
    feats = torch.randn(2, 10, 6, dtype=torch.float64)
    lengths = torch.tensor([10, 10])
    state = encoder.init_state(2)
    with torch.no_grad():
        out, _, new = encoder(feats, lengths, state)
        x, _, _ = encoder.frontend(feats, lengths, state["frontend"])
        expected, (h, c) = encoder.lstm(x)
    assert torch.allclose(out, expected, atol=1e-12)
    assert torch.allclose(new["h"], h.transpose(0, 1), atol=1e-12)
    assert torch.allclose(new["c"], c.transpose(0, 1), atol=1e-12)


def test_options_shape_the_state_and_the_output():
    encoder = LSTMEncoder(input_dim=4, hidden_dim=8, num_layers=3, subsampling=2, conv_kernel=5, dropout=0.1)
    assert (encoder.output_dim, encoder.subsampling) == (8, 2)
    state = encoder.init_state(2)
    assert state["h"].shape == state["c"].shape == (2, 3, 8)
    assert state["frontend"]["conv"].shape == (2, 4, 8)
    assert LSTMEncoder(input_dim=4, hidden_dim=8, output_dim=3).output_dim == 3


def test_rejects_an_empty_lstm():
    with pytest.raises(ValueError, match="num_layers"):
        LSTMEncoder(num_layers=0)


def test_registration_check_rejects_a_suite_whose_encoder_is_another_class():
    from statecatcher.testing import EncoderConformance
    from statecatcher.testing.broken import TinyGRUEncoder

    class Mislabelled(EncoderConformance):
        registered_name = "lstm"

        def make_encoder(self):
            return TinyGRUEncoder()

    with pytest.raises(AssertionError, match="builds LSTMEncoder, expected TinyGRUEncoder"):
        Mislabelled().test_is_registered_under_entry_point()


def _plain_clipped_reference(encoder, feats, clip, every):
    """One lane, frame by frame through nn.LSTM, clamping c after every `every`-th output frame."""
    lengths = torch.tensor([feats.shape[1]])
    x, n, _ = encoder.frontend(feats, lengths, encoder.frontend.init_state(1))
    h = torch.zeros(encoder.num_layers, 1, encoder.hidden_dim, dtype=feats.dtype)
    c = torch.zeros_like(h)
    outs = []
    for t in range(int(n)):
        out, (h, c) = encoder.lstm(x[:, t:t + 1], (h, c))
        if (t + 1) % every == 0:
            c = c.clamp(-clip, clip)
        outs.append(out)
    return torch.cat(outs, dim=1), c.transpose(0, 1)


def test_cell_clip_clamps_the_cell_every_clip_every_stream_frames_like_a_frame_loop():
    encoder = _encoder(subsampling=2, cell_clip=0.05, clip_every=3)
    feats = torch.randn(1, 40, 6, dtype=torch.float64)
    with torch.no_grad():
        state, outs = encoder.init_state(1), []
        for start, stop in ((0, 7), (7, 8), (8, 21), (21, 40)):  # calls that cut the stream between clip points
            out, _, state = encoder(feats[:, start:stop], torch.tensor([stop - start]), state)
            outs.append(out)
        ref_out, ref_c = _plain_clipped_reference(encoder, feats, 0.05, 3)
    assert max_abs_diff(torch.cat(outs, dim=1), ref_out) < 1e-12
    assert max_abs_diff(state["c"], ref_c) < 1e-12
    assert state["position"].tolist() == [20 % 3]
    unclipped = _encoder(subsampling=2)
    with torch.no_grad():
        free_c = unclipped(feats, torch.tensor([40]), unclipped.init_state(1))[2]["c"]
    assert free_c.abs().max() > 0.05  # the bound is active in this test


def test_cell_clip_options_are_checked():
    with pytest.raises(ValueError, match="cell_clip"):
        _encoder(cell_clip=-1.0)
    with pytest.raises(ValueError, match="clip_every"):
        _encoder(cell_clip=1.0, clip_every=0)
    assert "position" not in _encoder().init_state(2)


@pytest.mark.parametrize("clip", [{}, {"cell_clip": 0.05, "clip_every": 2}])
def test_for_export_equals_the_encoder_on_one_full_lane_and_shares_its_weights(clip):
    """``for_export()`` (what ``statecatcher export`` traces) replaces the lane staircase by one nn.LSTM call
    (frame by frame, clamping at the stream's clip points, with ``cell_clip``)."""
    encoder = _encoder(subsampling=4, **clip)
    exported = encoder.for_export()
    assert exported.lstm is encoder.lstm and exported.frontend is encoder.frontend
    state = exported_state = _warm_state(encoder, batch=1)
    for frames in (8, 12):
        feats = torch.randn(1, frames, 6, dtype=torch.float64)
        with torch.no_grad():
            out, _, state = encoder(feats, torch.tensor([frames]), state)
            out_exported, _, exported_state = exported(feats, torch.tensor([frames]), exported_state)
        assert max_abs_diff(out, out_exported) < 1e-12  # frame by frame (clip) rounds apart from one call
        assert max_abs_diff(state, exported_state) < 1e-12
