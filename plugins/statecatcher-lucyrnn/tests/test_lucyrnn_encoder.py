"""LucyRNN beyond the conformance kit: the cell's equations, both forms agreeing, padding, gradients, options."""

import pytest
import torch
import torch.nn.functional as F

from statecatcher.state import detach
from statecatcher_lucyrnn.cell import LucyRNNLayer
from statecatcher_lucyrnn.encoder import LucyRNNEncoder

SMALL = {"input_dim": 8, "hidden_dim": 16, "num_layers": 3, "subsampling": 2, "chunk_len": 5}


def twins(dtype, **options):
    """The same weights in mode="chunkwise" and mode="recurrent", in ``dtype``."""
    torch.manual_seed(0)
    chunked = LucyRNNEncoder(**{**SMALL, **options}).to(dtype)
    stepwise = LucyRNNEncoder(**{**SMALL, **options}, mode="recurrent").to(dtype)
    stepwise.load_state_dict(chunked.state_dict())
    return chunked, stepwise


def leaves(state):
    if isinstance(state, torch.Tensor):
        return [state]
    values = state.values() if isinstance(state, dict) else state
    return [leaf for value in values for leaf in leaves(value)]


def max_diff(a, b):
    return max(float((x.double() - y.double()).abs().max()) for x, y in zip(leaves(a), leaves(b), strict=True))


def run_segments(encoder, feats, lengths, cut):
    """Two calls (frames ``:cut`` then ``cut:``) from the initial state: ``(outputs of both, final state)``."""
    state = encoder.init_state(feats.shape[0], dtype=feats.dtype)
    first, first_lengths, state = encoder(feats[:, :cut], lengths.clamp(max=cut), state)
    second, _, state = encoder(feats[:, cut:], (lengths - cut).clamp(min=0), state)
    return torch.cat([first, second], dim=1), state


@pytest.mark.parametrize(("dtype", "atol"), [(torch.float32, 1e-5), (torch.float64, 1e-10)])
@pytest.mark.parametrize("options", [{}, {"num_tracks": 3, "kv_norm": "none"}])
def test_chunkwise_and_recurrent_forms_agree(dtype, atol, options):
    chunked, stepwise = twins(dtype, **options)
    feats = torch.randn(3, 141, 8, dtype=dtype)
    lengths = torch.tensor([141, 60, 7])  # ragged lanes: padding inside both calls
    with torch.no_grad():
        out_c, state_c = run_segments(chunked, feats, lengths, cut=83)
        out_r, state_r = run_segments(stepwise, feats, lengths, cut=83)
    assert out_c.dtype == dtype and state_c["tracks"][0][0]["s"].dtype == dtype
    assert max_diff(out_c, out_r) < atol and max_diff(state_c, state_r) < atol


def test_gradients_of_both_forms_agree_in_float64():
    chunked, stepwise = twins(torch.float64)
    feats = torch.randn(2, 40, 8, dtype=torch.float64)
    grads = []
    for encoder in (chunked, stepwise):
        out, _, state = encoder(feats, torch.tensor([40, 25]), encoder.init_state(2))
        (out.sin().sum() + sum(leaf.square().sum() for leaf in leaves(state["tracks"]))).backward()
        grads.append({name: p.grad for name, p in encoder.named_parameters()})
    assert grads[0].keys() == grads[1].keys()
    assert max(float((grads[0][n] - grads[1][n]).abs().max()) for n in grads[0]) < 1e-10


@pytest.mark.parametrize("mode", ["chunkwise", "recurrent"])
@pytest.mark.parametrize("options", [{}, {"num_tracks": 2, "kv_norm": "none"}])
def test_every_parameter_gets_a_nonzero_gradient_after_one_step(mode, options):
    """The original's Triton forward had no backward: only its output layer learnt.  Here every projection
    (every gate block), norm and the merge get gradients, also through a carried state."""
    torch.manual_seed(0)
    encoder = LucyRNNEncoder(**{**SMALL, **options}, mode=mode)
    head = torch.nn.Linear(encoder.output_dim, 5)
    feats, lengths = torch.randn(2, 30, 8), torch.tensor([30, 21])
    _, _, state = encoder(feats, lengths, encoder.init_state(2))
    out, out_lengths, _ = encoder(feats, lengths, detach(state))
    log_probs = head(out).log_softmax(-1).transpose(0, 1)
    F.ctc_loss(log_probs, torch.tensor([[1, 2, 3], [4, 1, 2]]), out_lengths, torch.tensor([3, 3])).backward()
    hidden = encoder.output_dim
    for name, parameter in encoder.named_parameters():
        assert parameter.grad is not None, name
        if name.endswith("projection.weight") or name.endswith("projection.bias"):
            blocks = parameter.grad.reshape(6, hidden, -1).abs().flatten(1).amax(1)  # z, k, v, hp, a, al
            assert (blocks > 0).all(), (name, blocks)
        assert parameter.grad.abs().max() > 0, name


@pytest.mark.parametrize("mode", ["chunkwise", "recurrent"])
def test_padding_frames_pass_h_and_s_through_bit_for_bit(mode):
    """An idle lane keeps (h, s) exactly; a padded lane ends the call with the h of its last valid frame.
    (That a padded lane equals the same lane run alone is the kit's padding check, to rounding.)"""
    torch.manual_seed(0)
    encoder = LucyRNNEncoder(**SMALL, mode=mode).eval()
    feats = torch.randn(3, 30, 8)
    with torch.no_grad():
        _, _, state = encoder(feats, torch.tensor([30, 30, 30]), encoder.init_state(3))
        out, out_lengths, after = encoder(feats, torch.tensor([0, 17, 30]), state)  # lane 0 idle, lane 1 padded
    assert out_lengths.tolist() == [0, 8, 15]
    for before_layer, after_layer in zip(state["tracks"][0], after["tracks"][0], strict=True):
        for key in ("h", "s"):
            assert torch.equal(after_layer[key][0], before_layer[key][0])
            assert not torch.equal(after_layer[key][1], before_layer[key][1])
    assert torch.equal(after["tracks"][0][-1]["h"][1], out[1, 7]) and not out[1, 8:].any()


def test_layer_follows_the_cell_equations_frame_by_frame():
    torch.manual_seed(0)
    layer = LucyRNNLayer(4, 3, kv_norm="rms").double()
    x = torch.randn(2, 5, 4, dtype=torch.float64)
    h, s = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)
    valid = torch.ones(2, 5, dtype=torch.bool)
    out, state = layer(x, valid, {"h": h, "s": s}, "chunkwise", 2)
    for t in range(5):
        z, k, v, hp, a, al = (layer.projection(x[:, t])).chunk(6, dim=-1)
        rms = torch.cat([k, v], dim=-1).square().mean(-1, keepdim=True).add(1e-6).sqrt()
        k, v = k / rms, v / rms
        s = torch.sigmoid(a) * s + torch.sigmoid(al) * k * v
        c = torch.tanh(hp + s)
        z = torch.sigmoid(z)
        h = z * h + (1 - z) * c
        assert torch.allclose(out[:, t], h, atol=1e-12, rtol=0)
    assert torch.allclose(state["h"], h, atol=1e-12, rtol=0) and torch.allclose(state["s"], s, atol=1e-12, rtol=0)


def test_kv_norm_is_one_rms_across_the_frames_2h_channels_not_per_scalar():
    """Scaling a frame's k~ and v~ together leaves kv unchanged; their ratio per channel survives (a
    per-scalar norm would have made every k and v +-1)."""
    torch.manual_seed(0)
    layer = LucyRNNLayer(4, 3).double()
    x = torch.randn(1, 2, 4, dtype=torch.float64)
    valid = torch.ones(1, 2, dtype=torch.bool)
    gates = layer.gates(x, valid, torch.float64)
    with torch.no_grad():
        layer.projection.weight[3:9] *= 7.0   # the k and v blocks
        layer.projection.bias[3:9] = 0.0
    scaled = layer.gates(x, valid, torch.float64)
    assert torch.allclose(scaled.write, gates.write, atol=1e-9)
    assert not torch.allclose(scaled.write.abs(), torch.sigmoid(torch.tensor(0.5, dtype=torch.float64)).expand(3))


def test_initialisation_xavier_weights_and_gate_biases():
    layer = LucyRNNLayer(10, 4)
    expected = torch.tensor([1.0, 0.0, 0.0, 0.0, 2.0, 0.5]).repeat_interleave(4)
    assert torch.equal(layer.projection.bias.detach(), expected)
    bound = (6 / (10 + 24)) ** 0.5
    assert layer.projection.weight.abs().max() <= bound and layer.projection.weight.std() > bound / 3


def test_state_layout_and_dtype():
    encoder = LucyRNNEncoder(**SMALL, num_tracks=2).to(torch.bfloat16)
    state = encoder.init_state(4)
    assert len(state["tracks"]) == 2 and len(state["tracks"][0]) == 3
    assert state["tracks"][1][2]["h"].shape == (4, 16) and state["tracks"][1][2]["s"].dtype == torch.float32
    assert state["frontend"]["conv"].dtype == torch.bfloat16
    out, _, new = encoder(torch.randn(4, 9, 8, dtype=torch.bfloat16), torch.full((4,), 9), state)
    assert out.dtype == torch.bfloat16 and new["tracks"][0][0]["s"].dtype == torch.float32


@pytest.mark.parametrize(("options", "message"), [
    ({"mode": "parallel"}, "lucyrnn encoder option mode='parallel': choose one of chunkwise, recurrent"),
    ({"kv_norm": "layer"}, "lucyrnn encoder option kv_norm='layer': choose one of rms, none"),
    ({"num_tracks": 0}, "lucyrnn encoder option num_tracks=0: must be >= 1"),
    ({"chunk_len": 0}, "lucyrnn encoder option chunk_len=0: must be >= 1"),
])
def test_bad_options_are_one_clear_error(options, message):
    with pytest.raises(ValueError) as raised:
        LucyRNNEncoder(**options)
    assert str(raised.value) == message
