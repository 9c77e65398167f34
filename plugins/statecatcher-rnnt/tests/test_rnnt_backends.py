"""Loss backends against the brute-force lattice; pruned vs full; backend selection; impossible lanes."""

from __future__ import annotations

import logging

import pytest
import torch

from statecatcher.testing.rnnt_reference import brute_force_rnnt_loss
from statecatcher_rnnt import backends
from statecatcher_rnnt.backends.torch_lattice import rnnt_loss_torch
from statecatcher_rnnt.loss import RNNTLoss
from statecatcher_rnnt.pruned import SimpleJoiner, prune_ranges, pruned_rnnt_loss

CPU = torch.device("cpu")
AVAILABLE = [name for name in backends.BACKENDS if backends.unavailable(name, CPU) is None]


def random_batch(dtype, seed=0, batch=5, frames=5, tokens=3, vocab=4):
    """Varied lengths in one batch, including a lane with no tokens and a lane with a single frame."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, frames, tokens + 1, vocab, generator=generator, dtype=torch.float64).to(dtype)
    targets = torch.randint(1, vocab, (batch, tokens), generator=generator)
    enc_lens = torch.tensor([frames, frames - 1, 1, 3, frames])[:batch]
    target_lens = torch.tensor([tokens, 0, 2, tokens - 1, 1])[:batch]
    return logits, targets, enc_lens, target_lens


def loss_and_grad(fn, logits, *args):
    logits = logits.clone().requires_grad_(True)
    loss = fn(logits, *args)
    (grad,) = torch.autograd.grad((loss * torch.arange(1, len(loss) + 1, dtype=loss.dtype)).sum(), logits)
    return loss.detach(), grad


@pytest.mark.parametrize("name", AVAILABLE)
@pytest.mark.parametrize(("dtype", "atol"), [(torch.float64, 1e-9), (torch.float32, 1e-4)])
def test_backend_matches_brute_force_loss_and_gradient(name, dtype, atol):
    logits, targets, enc_lens, target_lens = random_batch(dtype)
    _, fn = backends.resolve(name, CPU)
    loss, grad = loss_and_grad(lambda x, *a: fn(x, *a, 0), logits, targets, enc_lens, target_lens)
    ref_loss, ref_grad = loss_and_grad(lambda x, *a: brute_force_rnnt_loss(x.double(), *a, 0), logits, targets,
                                       enc_lens, target_lens)
    assert torch.allclose(loss.double(), ref_loss.double(), atol=atol), (loss, ref_loss)
    assert torch.allclose(grad.double(), ref_grad.double(), atol=atol), (grad.double() - ref_grad).abs().max()


def finite_only(fn):
    """``fn`` with its infinite (impossible) lanes set to 0, so a weighted sum of its lanes has a gradient."""
    def wrapped(x, *args):
        nll = fn(x, *args)
        return torch.where(torch.isfinite(nll), nll, 0.0)
    return wrapped


@pytest.mark.parametrize(("dtype", "atol"), [(torch.float64, 1e-9), (torch.float32, 1e-4)])
def test_modified_topology_matches_brute_force_loss_and_gradient(dtype, atol):
    """One symbol per frame; lane 2 (1 frame, 2 tokens) has no alignment: +inf and no gradient."""
    logits, targets, enc_lens, target_lens = random_batch(dtype, frames=6, tokens=4)
    loss, grad = loss_and_grad(finite_only(lambda x, *a: rnnt_loss_torch(x, *a, 0, "modified")), logits, targets,
                               enc_lens, target_lens)
    ref_loss, ref_grad = loss_and_grad(finite_only(lambda x, *a: brute_force_rnnt_loss(x.double(), *a, 0, "modified")),
                                       logits, targets, enc_lens, target_lens)
    raw = rnnt_loss_torch(logits, targets, enc_lens, target_lens, 0, "modified")
    assert torch.isinf(raw[2]) and torch.isfinite(raw[[0, 1, 3, 4]]).all()
    assert torch.allclose(loss.double(), ref_loss.double(), atol=atol), (loss, ref_loss)
    assert torch.allclose(grad.double(), ref_grad.double(), atol=atol), (grad.double() - ref_grad).abs().max()
    assert (grad[2] == 0).all()


def test_modified_topology_puts_no_mass_on_two_symbols_in_one_frame():
    """With T == U the only modified alignment emits one token per frame: its NLL is that path's cost."""
    logits, targets, _, _ = random_batch(torch.float64, batch=1, frames=3, tokens=3)
    log_probs = logits.log_softmax(-1)[0]
    path = sum(log_probs[t, t, int(targets[0, t])] for t in range(3))
    nll = rnnt_loss_torch(logits, targets, torch.tensor([3]), torch.tensor([3]), 0, "modified")
    assert torch.allclose(nll, -path[None])


def test_cpu_backends_agree_on_a_larger_lattice():
    logits, targets, enc_lens, target_lens = random_batch(torch.float64, seed=3, frames=40, tokens=12, vocab=9)
    results = [loss_and_grad(lambda x, *a, fn=backends.resolve(name, CPU)[1]: fn(x, *a, 0), logits, targets,
                             enc_lens, target_lens) for name in AVAILABLE]
    for loss, grad in results[1:]:
        assert torch.allclose(loss, results[0][0], atol=1e-8)
        assert torch.allclose(grad, results[0][1], atol=1e-8)


def make_pruned_inputs(seed=0, batch=3, frames=12, tokens=5, vocab=7, dim=6):
    torch.manual_seed(seed)
    loss = RNNTLoss(dim, vocab, pred_dim=8, joiner_dim=8, pruned=True).double()
    enc_out = torch.randn(batch, frames, dim, dtype=torch.float64)
    targets = torch.randint(1, vocab, (batch, tokens))
    enc_lens, target_lens = torch.tensor([frames, frames - 4, 5]), torch.tensor([tokens, 3, tokens - 1])
    pred_out, _ = loss.predictor(targets, target_lens, loss.init_state(batch))
    return loss, enc_out, pred_out, targets, enc_lens, target_lens


def full_and_pruned(prune_range, topology="standard"):
    loss, enc_out, pred_out, targets, enc_lens, target_lens = make_pruned_inputs()
    full = rnnt_loss_torch(loss.joiner(enc_out, pred_out), targets, enc_lens, target_lens, 0, topology)
    _, pruned = pruned_rnnt_loss(loss.joiner, loss.simple_joiner, enc_out, pred_out, targets, enc_lens, target_lens,
                                 blank_id=0, prune_range=prune_range, topology=topology)
    return loss, full, pruned


@pytest.mark.parametrize("topology", ["standard", "modified"])
def test_pruned_equals_full_when_the_range_covers_all_symbols(topology):
    loss, full, pruned = full_and_pruned(prune_range=6, topology=topology)  # U + 1 = 6
    assert torch.allclose(pruned, full, atol=1e-10)
    params = list(loss.joiner.parameters())
    full_grads = torch.autograd.grad(full.sum(), params, retain_graph=True)
    pruned_grads = torch.autograd.grad(pruned.sum(), params)
    for a, b in zip(full_grads, pruned_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-10)


@pytest.mark.parametrize("topology", ["standard", "modified"])
def test_narrow_pruning_keeps_fewer_paths_so_its_loss_is_not_lower(topology):
    _, full, pruned = full_and_pruned(prune_range=2, topology=topology)
    assert torch.isfinite(pruned).all()
    assert (pruned >= full - 1e-9).all()


def test_prune_ranges_are_monotone_gapless_and_reach_the_last_symbol():
    generator = torch.Generator().manual_seed(1)
    blank_post = torch.rand(2, 9, 7, generator=generator)
    label_post = torch.rand(2, 9, 6, generator=generator)
    enc_lens, target_lens = torch.tensor([9, 6]), torch.tensor([6, 4])
    ranges = prune_ranges(blank_post, label_post, enc_lens, target_lens, prune_range=3)
    start = ranges[..., 0]
    assert ranges.shape == (2, 9, 3) and (start[:, 0] == 0).all()
    steps = start[:, 1:] - start[:, :-1]
    assert ((steps >= 0) & (steps < 3)).all()
    for b in range(2):
        assert int(target_lens[b]) in ranges[b, int(enc_lens[b]) - 1].tolist()


def test_simple_joiner_lattice_is_normalised():
    """The matmul normaliser equals log_softmax over the explicit [B, T, U + 1, V] sum of am and lm."""
    from statecatcher_rnnt.pruned import simple_lattice

    torch.manual_seed(0)
    simple = SimpleJoiner(4, 5, 6).double()
    am, lm = simple.am(torch.randn(2, 3, 4, dtype=torch.float64)), simple.lm(torch.randn(2, 3, 5, dtype=torch.float64))
    targets = torch.tensor([[1, 2], [3, 5]])
    blank, label = simple_lattice(am, lm, targets, blank_id=0, lm_scale=0.0, am_scale=0.0)
    log_probs = (am[:, :, None] + lm[:, None]).log_softmax(-1)
    assert torch.allclose(blank, log_probs[..., 0])
    expected = log_probs[:, :, :2].gather(3, targets[:, None, :, None].expand(2, 3, 2, 1))[..., 0]
    assert torch.allclose(label, expected)


# ---------------------------------------------------------------------------------------------- selection
def test_auto_picks_a_cpu_backend_and_logs_it_once(caplog):
    with caplog.at_level(logging.INFO, logger="statecatcher.rnnt"):
        loss = RNNTLoss(4, 5, pred_dim=4, joiner_dim=4)
        expected = "torchaudio" if "torchaudio" in AVAILABLE else "torch"  # numba only when asked: it is slow
        assert loss.backend_name == expected
        enc_out = torch.randn(2, 3, 4)
        for _ in range(2):
            loss(enc_out, torch.tensor([3, 2]), torch.tensor([[1, 2], [3, 0]]), torch.tensor([2, 1]),
                 loss.init_state(2))
    assert sum(expected in record.getMessage() for record in caplog.records) == 1


def test_warp_on_cpu_and_unknown_backends_fail_clearly():
    with pytest.raises(RuntimeError, match="warp-rnnt has no CPU kernel"):
        RNNTLoss(4, 5, backend="warp")
    with pytest.raises(ValueError, match="unknown; choose auto"):
        RNNTLoss(4, 5, backend="k2")
    with pytest.raises(ValueError, match="prune_range"):
        RNNTLoss(4, 5, pruned=True, prune_range=1)
    with pytest.raises(ValueError, match="topology='bogus' must be one of standard, modified"):
        RNNTLoss(4, 5, topology="bogus")
    with pytest.raises(ValueError, match="backend='numba' supports only topology='standard'"):
        RNNTLoss(4, 5, topology="modified", backend="numba")


def test_modified_topology_runs_on_the_torch_lattice_and_decodes_one_symbol_per_frame():
    loss = RNNTLoss(4, 5, topology="modified", max_symbols_per_frame=3)
    assert loss.backend_name == "torch" and loss.max_symbols_per_frame == 1


@pytest.mark.parametrize("pruned", [False, True])
def test_lane_without_frames_but_with_tokens_counts_as_infinite_and_gives_zero(pruned, caplog):
    torch.manual_seed(0)
    loss = RNNTLoss(4, 5, pred_dim=4, joiner_dim=4, pruned=pruned, backend="torch")
    enc_out = torch.randn(3, 4, 4, requires_grad=True)
    targets = torch.tensor([[1, 2], [3, 4], [1, 1]])
    with caplog.at_level(logging.WARNING, logger="statecatcher.rnnt"):
        nll, _ = loss(enc_out, torch.tensor([4, 0, 0]), targets, torch.tensor([2, 2, 0]), loss.init_state(3))
    assert nll[0] > 0 and nll[1] == 0 and nll[2] == 0 and loss.infinite_lanes == 1
    assert "no alignment" in caplog.text
    nll.sum().backward()
    assert torch.isfinite(enc_out.grad).all() and (enc_out.grad[1:] == 0).all()


def test_bad_targets_are_rejected_with_the_field_name():
    loss = RNNTLoss(4, 5, pred_dim=4, joiner_dim=4)
    state = loss.init_state(1)
    with pytest.raises(ValueError, match="rnnt targets"):
        loss(torch.randn(1, 3, 4), torch.tensor([3]), torch.tensor([[0, 2]]), torch.tensor([2]), state)
    with pytest.raises(ValueError, match="target_lens"):
        loss(torch.randn(1, 3, 4), torch.tensor([3]), torch.tensor([[1, 2]]), torch.tensor([3]), state)


@pytest.mark.parametrize("pruned", [False, True])
def test_bf16_autocast_keeps_the_lattice_in_float32(pruned):
    torch.manual_seed(0)
    loss = RNNTLoss(8, 20, pred_dim=16, joiner_dim=16, pruned=pruned, backend="torch")
    enc_out, targets = torch.randn(2, 30, 8), torch.randint(1, 20, (2, 8))
    args = (torch.tensor([30, 25]), targets, torch.tensor([8, 6]), loss.init_state(2))
    exact, _ = loss(enc_out, *args)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed, _ = loss(enc_out, *args)
    assert mixed.dtype == torch.float32
    assert torch.allclose(mixed, exact, rtol=0.02)


def test_auxiliary_ctc_head_adds_its_scaled_ctc_loss_and_nothing_else():
    torch.manual_seed(0)
    enc_out, targets = torch.randn(3, 6, 4, dtype=torch.float64), torch.tensor([[1, 2, 3], [4, 1, 0], [2, 0, 0]])
    enc_lens, target_lens = torch.tensor([6, 4, 0]), torch.tensor([3, 2, 0])
    plain = RNNTLoss(4, 5, pred_dim=4, joiner_dim=4).double()
    hybrid = RNNTLoss(4, 5, pred_dim=4, joiner_dim=4, ctc_loss_scale=0.3).double()
    hybrid.load_state_dict(plain.state_dict(), strict=False)  # same predictor and joiner; hybrid adds ctc_head
    rnnt, _ = plain(enc_out, enc_lens, targets, target_lens, plain.init_state(3))
    both, _ = hybrid(enc_out, enc_lens, targets, target_lens, hybrid.init_state(3))
    log_probs = hybrid.ctc_head(enc_out).log_softmax(-1)
    ctc = torch.nn.functional.ctc_loss(log_probs.transpose(0, 1), targets, enc_lens, target_lens, reduction="none")
    assert torch.allclose(both[:2], rnnt[:2] + 0.3 * ctc[:2]) and both[2] == 0
    with torch.no_grad():
        assert hybrid.decode_step(enc_out, enc_lens, hybrid.init_state(3))[0] == \
            plain.decode_step(enc_out, enc_lens, plain.init_state(3))[0]
    with pytest.raises(ValueError, match="ctc_loss_scale"):
        RNNTLoss(4, 5, ctc_loss_scale=-1.0)
