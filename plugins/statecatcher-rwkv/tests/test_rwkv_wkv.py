"""The chunkwise-parallel WKV forms equal the step-by-step recurrences (RWKV-6 and RWKV-7)."""

import pytest
import torch
import torch.nn.functional as F

from statecatcher_rwkv import chunking, wkv6, wkv7
from statecatcher_rwkv.blocks import neutralise_padding
from statecatcher_rwkv.encoder import make_rwkv6, make_rwkv7

B, H, K = 3, 2, 8
TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-11}


def inputs(version, T, dtype, *, strong_decay=False, seed=0):
    """Realistic magnitudes: unit-scale r, k, v; RWKV-7's a = -kappa_hat, b = kappa_hat * rate."""
    g = torch.Generator().manual_seed(seed)
    rand = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64)  # noqa: E731
    r, k, v = (rand(B, T, H, K) / K ** 0.5 for _ in range(3))
    log_w = -torch.exp(rand(B, T, H, K) * 2 + (2.0 if strong_decay else -1.0))
    if version == 6:
        extra = (rand(H, K),)
    else:
        removal = F.normalize(rand(B, T, H, K), dim=-1)
        extra = (-removal, removal * torch.rand(B, T, H, K, generator=g, dtype=torch.float64))
        log_w = log_w.clamp(min=-0.6065)  # RWKV-7's decay is > exp(-exp(-0.5))
    state = rand(B, H, K, K)
    return [x.to(dtype) for x in (r, k, v, log_w, *extra)], state.to(dtype)


def both_forms(version, args, state, chunk_len):
    module = wkv6 if version == 6 else wkv7
    return module.recurrent(*args, state), module.chunkwise(*args, state, chunk_len=chunk_len)


@pytest.mark.parametrize("version", [6, 7])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("T, chunk_len", [(64, 16), (77, 16), (50, 32), (5, 64), (33, 1)])
def test_chunkwise_equals_recurrent(version, dtype, T, chunk_len):
    args, state = inputs(version, T, dtype)
    (out_ref, state_ref), (out, state_out) = both_forms(version, args, state, chunk_len)
    tol = TOLERANCE[dtype]
    assert out.dtype == out_ref.dtype == dtype and state_out.dtype == dtype
    assert torch.allclose(out, out_ref, atol=tol, rtol=0), (out - out_ref).abs().max()
    assert torch.allclose(state_out, state_ref, atol=tol, rtol=0), (state_out - state_ref).abs().max()


@pytest.mark.parametrize("version", [6, 7])
def test_strong_decays_keep_the_chunkwise_form_as_accurate_as_the_recurrence(version):
    """Per-frame log decays down to -3000 (RWKV-6): no overflow, no cancellation; float64 is the truth."""
    args, state = inputs(version, 96, torch.float32, strong_decay=True)
    args64, state64 = inputs(version, 96, torch.float64, strong_decay=True)
    (truth, truth_state), _ = both_forms(version, args64, state64, 64)
    for out, end in both_forms(version, args, state, 64):
        assert (out.double() - truth).abs().max() < 1e-5
        assert (end.double() - truth_state).abs().max() < 1e-5


@pytest.mark.parametrize("version", [6, 7])
def test_carried_state_splits_exactly(version):
    """Two calls with the state carried equal one call over the concatenation."""
    args, state = inputs(version, 70, torch.float64)
    module = wkv6 if version == 6 else wkv7
    per_frame = [x for x in args if x.dim() == 4]
    constant = [x for x in args if x.dim() != 4]
    whole, whole_state = module.chunkwise(*args, state, chunk_len=16)
    first = [x[:, :29] for x in per_frame]
    second = [x[:, 29:] for x in per_frame]
    order = lambda part: part[:4] + constant + part[4:]  # noqa: E731  (r, k, v, log_w, then u or a, b)
    out1, mid = module.chunkwise(*order(first), state, chunk_len=16)
    out2, end = module.chunkwise(*order(second), mid, chunk_len=16)
    assert torch.allclose(torch.cat([out1, out2], dim=1), whole, atol=1e-12)
    assert torch.allclose(end, whole_state, atol=1e-12)


@pytest.mark.parametrize("version", [6, 7])
def test_masked_frames_leave_the_state_untouched(version):
    """Neutralised padding (decay 1, no update) passes the state through, in both forms."""
    args, state = inputs(version, 40, torch.float64)
    lengths = torch.tensor([40, 17, 0])
    valid = torch.arange(40)[None, :] < lengths[:, None]
    r, k, v, log_w, *extra = args
    updates = (k, v, *extra) if version == 7 else (k, v)
    log_w, k, v, *rest = neutralise_padding(valid, log_w, *updates)
    masked = [r, k, v, log_w, *(rest if version == 7 else extra)]
    short = [x[1:2, :17] if x.dim() == 4 else x for x in args]
    module = wkv6 if version == 6 else wkv7
    for form in (module.recurrent, lambda *a: module.chunkwise(*a, chunk_len=16)):
        _, end = form(*masked, state)
        _, end_short = form(*short, state[1:2])
        assert torch.allclose(end[1:2], end_short, atol=1e-12)          # lane 1 stops at its length
        assert torch.equal(end[2], state[2])                             # an empty lane keeps its state


@pytest.mark.parametrize("make", [make_rwkv6, make_rwkv7])
def test_encoder_modes_agree_with_the_same_weights(make):
    torch.manual_seed(0)
    options = {"input_dim": 8, "hidden_dim": 32, "num_layers": 2, "head_size": 8, "backend": "torch"}
    chunked = make(**options, chunk_len=16)
    stepwise = make(**options, mode="recurrent")
    stepwise.load_state_dict(chunked.state_dict())
    feats, lengths = torch.randn(2, 300, 8), torch.tensor([300, 211])
    with torch.no_grad():
        out_a, len_a, state_a = chunked(feats, lengths, chunked.init_state(2))
        out_b, len_b, state_b = stepwise(feats, lengths, stepwise.init_state(2))
    assert torch.equal(len_a, len_b)
    assert (out_a - out_b).abs().max() < 1e-4
    for layer_a, layer_b in zip(state_a["layers"], state_b["layers"], strict=True):
        assert layer_a["wkv"].dtype == torch.float32
        assert (layer_a["wkv"] - layer_b["wkv"]).abs().max() < 1e-4


@pytest.mark.parametrize("version", [6, 7])
@pytest.mark.parametrize("strong_decay", [False, True])
@pytest.mark.parametrize("split_only", [False, True])
def test_chunkwise_gradients_equal_the_recurrence(version, strong_decay, split_only, monkeypatch):
    """Every input's and the entering state's gradient, float64, through the decay form chunk_decays picks
    (factored where the decays allow) and through the split form alone."""
    if split_only:
        monkeypatch.setitem(chunking.FACTORED_LOG_DECAY_LIMIT, torch.float64, 0.0)
    args, state = inputs(version, 45, torch.float64, strong_decay=strong_decay)
    leaves = [x.requires_grad_() for x in (*args, state)]
    weights = torch.randn(B, 45, H, K, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    module = wkv6 if version == 6 else wkv7
    gradients = []
    for form in (module.recurrent, lambda *a: module.chunkwise(*a, chunk_len=16)):
        out, end = form(*leaves)
        gradients.append(torch.autograd.grad((out * weights).sum() + end.sum(), leaves))
    for reference, chunked in zip(*gradients, strict=True):
        assert (reference - chunked).abs().max() < 1e-9 * max(1.0, float(reference.abs().max()))


@pytest.mark.parametrize("version", [6, 7])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_factored_and_split_decays_give_the_same_chunks(version, dtype, monkeypatch):
    """Within the limit the factored form runs; forcing the split form changes nothing beyond rounding."""
    args, state = inputs(version, 64, dtype)
    args[3] = args[3].clamp(min=-0.6)               # total log decay of a 16-frame chunk >= -9.6: factored
    assert isinstance(chunking.chunk_decays(chunking.to_chunks(args[3], 16)), chunking.FactoredDecays)
    module = wkv6 if version == 6 else wkv7
    factored = module.chunkwise(*args, state, chunk_len=16)
    monkeypatch.setitem(chunking.FACTORED_LOG_DECAY_LIMIT, dtype, 0.0)
    assert isinstance(chunking.chunk_decays(chunking.to_chunks(args[3], 16)), chunking.ChunkDecays)
    split = module.chunkwise(*args, state, chunk_len=16)
    for a, b in zip(factored, split, strict=True):
        assert (a - b).abs().max() < TOLERANCE[dtype] / 10


def test_strong_decays_fall_back_to_the_split_form():
    """A chunk whose total log decay passes the limit (float32: 20) never takes the factored form."""
    log_w = torch.full((1, 16, 1, 4), -1.0)        # a 16-frame chunk: -16, within
    assert isinstance(chunking.chunk_decays(chunking.to_chunks(log_w, 16)), chunking.FactoredDecays)
    log_w[0, 3, 0, 2] = -6.0                       # one channel of the chunk now totals -21 < -20
    assert isinstance(chunking.chunk_decays(chunking.to_chunks(log_w, 16)), chunking.ChunkDecays)


def test_chunk_inverse_is_stable_where_the_delta_rule_replaces_fully():
    """Alike removal keys, a full in-context learning rate and hardly any decay put every ``a_t . b_s`` near
    -1: ``(I - A)^-1`` has entries <= 1, but a power-series inverse would cancel terms in the thousands."""
    g = torch.Generator().manual_seed(3)
    T = 64
    kappa = F.normalize(torch.ones(B, T, H, K, dtype=torch.float64)
                        + 0.01 * torch.randn(B, T, H, K, generator=g, dtype=torch.float64), dim=-1)
    r, k, v = (torch.randn(B, T, H, K, generator=g, dtype=torch.float64) / K ** 0.5 for _ in range(3))
    log_w = torch.full((B, T, H, K), -1e-3, dtype=torch.float64)
    args64, state64 = [r, k, v, log_w, -kappa, kappa], torch.randn(B, H, K, K, generator=g, dtype=torch.float64)
    truth, truth_state = wkv7.recurrent(*args64, state64)
    out, end = wkv7.chunkwise(*(x.float() for x in args64), state64.float(), chunk_len=16)
    assert (out.double() - truth).abs().max() < 1e-5
    assert (end.double() - truth_state).abs().max() < 1e-5

    strict_lower = -0.99 * torch.ones(16, 16, dtype=torch.float64).tril(-1)
    exact = torch.linalg.inv(torch.eye(16, dtype=torch.float64) - strict_lower)
    assert (wkv7.unit_lower_inverse(strict_lower.float()).double() - exact).abs().max() < 1e-6


def test_chunkwise_runs_under_bf16_autocast():
    """Under CPU bf16 autocast the score products come out bf16; the chunk's triangular solve (which LAPACK
    has no bf16 form of) must still run, in the state's float32."""
    args, state = inputs(7, 40, torch.float32)
    reference, reference_state = wkv7.chunkwise(*args, state, chunk_len=16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, end = wkv7.chunkwise(*args, state, chunk_len=16)
    assert end.dtype == torch.float32
    assert (out.float() - reference).abs().max() < 0.1 and (end - reference_state).abs().max() < 0.1
