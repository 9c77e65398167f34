"""chunkwise_scan equals the frame-by-frame recurrence x_t = exp(g_t) x_{t-1} + u_t, also where it is hard."""

import pytest
import torch

from statecatcher_lucyrnn.scan import chunkwise_scan


def reference_scan(log_decay, inputs, initial):
    """T steps of the recurrence, in float64."""
    decay, inputs, x = log_decay.double().exp(), inputs.double(), initial.double()
    outs = []
    for t in range(inputs.shape[1]):
        x = decay[:, t] * x + inputs[:, t]
        outs.append(x)
    return torch.stack(outs, dim=1), x


def random_case(T, *, strongest=-3.0, B=3, H=5, seed=0, dtype=torch.float32):
    generator = torch.Generator().manual_seed(seed)
    log_decay = torch.rand(B, T, H, generator=generator, dtype=torch.float64) * strongest       # in [strongest, 0]
    inputs = torch.randn(B, T, H, generator=generator, dtype=torch.float64)
    initial = torch.randn(B, H, generator=generator, dtype=torch.float64)
    return log_decay.to(dtype), inputs.to(dtype), initial.to(dtype)


@pytest.mark.parametrize("T", [1, 2, 7, 16, 17, 50])
@pytest.mark.parametrize("chunk_len", [1, 3, 16, 64])
def test_equals_the_recurrence_in_float64_to_1e_10(T, chunk_len):
    log_decay, inputs, initial = random_case(T, dtype=torch.float64)
    out, final = chunkwise_scan(log_decay, inputs, initial, chunk_len)
    ref_out, ref_final = reference_scan(log_decay, inputs, initial)
    assert out.dtype == final.dtype == torch.float64 and out.shape == inputs.shape
    assert (out - ref_out).abs().max() < 1e-10 and (final - ref_final).abs().max() < 1e-10


@pytest.mark.parametrize("chunk_len", [4, 16, 32])
def test_float32_is_within_1e_5_of_the_float64_recurrence(chunk_len):
    log_decay, inputs, initial = random_case(203, strongest=-1.0)
    out, final = chunkwise_scan(log_decay, inputs, initial, chunk_len)
    ref_out, ref_final = reference_scan(log_decay, inputs, initial)
    assert out.dtype == torch.float32
    assert (out.double() - ref_out).abs().max() < 1e-5 and (final.double() - ref_final).abs().max() < 1e-5


def test_decays_near_one_over_a_long_sequence_stay_accurate_in_float32():
    """a = exp(-1e-4): the memory barely fades, values grow to ~40; still float32-accurate (relative 1e-6)."""
    log_decay, inputs, initial = random_case(2000, strongest=-1e-4, B=1)
    inputs = inputs.abs()  # a growing sum, the worst case for the absolute error
    out, _ = chunkwise_scan(log_decay, inputs, initial, 16)
    ref_out, _ = reference_scan(log_decay, inputs, initial)
    assert ((out.double() - ref_out).abs() / ref_out.abs().clamp(min=1)).max() < 1e-6


def test_spans_are_summed_over_their_frames_so_float32_keeps_its_digits_under_strong_decays():
    """Log decays down to -20 per frame: G_t - G_j as a difference of two prefix sums (near -160 at a chunk's
    end) was off by 1.5e-5 here; summed over its own span it is within 2e-7."""
    log_decay, inputs, initial = random_case(96, strongest=-20.0, H=64)
    out, final = chunkwise_scan(log_decay, inputs, initial, 16)
    ref_out, ref_final = reference_scan(log_decay, inputs, initial)
    assert (out.double() - ref_out).abs().max() < 1e-6


def test_strong_decays_never_overflow_and_forget_exactly():
    """Log decays down to -1e4 per frame: exp(-G_j) would overflow float32; the differences never do."""
    log_decay, inputs, initial = random_case(40, strongest=-1e4)
    log_decay.requires_grad_(True)
    out, final = chunkwise_scan(log_decay, inputs, initial, 16)
    ref_out, ref_final = reference_scan(log_decay.detach(), inputs, initial)
    assert torch.isfinite(out).all() and (out.double() - ref_out).abs().max() < 1e-5
    out.sum().backward()
    assert torch.isfinite(log_decay.grad).all()


def test_zero_decay_and_zero_input_pass_the_value_through_bit_for_bit():
    log_decay, inputs, initial = random_case(20)
    log_decay[:, 5:], inputs[:, 5:] = 0.0, 0.0  # frames 5.. are padding
    out, final = chunkwise_scan(log_decay, inputs, initial, 4)
    assert torch.equal(final, out[:, 4]) and torch.equal(out[:, 19], out[:, 4])


def test_gradients_equal_those_of_the_recurrence():
    log_decay, inputs, initial = (x.requires_grad_(True) for x in random_case(11, dtype=torch.float64))
    out, final = chunkwise_scan(log_decay, inputs, initial, 4)
    chunked = torch.autograd.grad((out.sin().sum() + final.square().sum()), (log_decay, inputs, initial))
    ref_out, ref_final = reference_scan(log_decay, inputs, initial)
    reference = torch.autograd.grad((ref_out.sin().sum() + ref_final.square().sum()), (log_decay, inputs, initial))
    for got, expected in zip(chunked, reference, strict=True):
        assert (got - expected).abs().max() < 1e-10


def test_an_empty_sequence_returns_the_initial_value():
    log_decay, inputs, initial = random_case(0)
    out, final = chunkwise_scan(log_decay, inputs, initial, 16)
    assert out.shape == (3, 0, 5) and torch.equal(final, initial)
