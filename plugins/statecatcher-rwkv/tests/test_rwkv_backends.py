"""The WKV backend is chosen at run time: PyTorch on CPU, fla only with CUDA, and the choice is logged."""

import logging

import pytest
import torch

from statecatcher_rwkv import backends, wkv6, wkv7
from statecatcher_rwkv.encoder import make_rwkv7

CPU = torch.device("cpu")


@pytest.mark.parametrize("requested", ["auto", "torch"])
def test_cpu_runs_the_pytorch_forms(requested):
    assert backends.resolve_backend(requested, CPU) == "torch"
    chunked = backends.wkv_function(7, requested, "chunkwise", 16, CPU)
    assert chunked.func is wkv7.chunkwise and chunked.keywords == {"chunk_len": 16}
    assert backends.wkv_function(6, requested, "recurrent", 16, CPU) is wkv6.recurrent


def test_fla_without_cuda_is_a_clear_error():
    with pytest.raises(RuntimeError, match="backend='fla' needs CUDA"):
        backends.resolve_backend("fla", CPU)
    encoder = make_rwkv7(input_dim=8, hidden_dim=16, num_layers=1, head_size=8, backend="fla")
    with pytest.raises(RuntimeError, match="backend='fla' needs CUDA"):
        encoder(torch.randn(1, 8, 8), torch.tensor([8]), encoder.init_state(1))


def test_auto_picks_fla_only_on_cuda_with_fla_installed(monkeypatch):
    cuda = torch.device("cuda")
    monkeypatch.setattr(backends, "fla_installed", lambda: True)
    assert backends.resolve_backend("auto", cuda) == "fla"
    assert backends.resolve_backend("auto", CPU) == "torch"
    monkeypatch.setattr(backends, "fla_installed", lambda: False)
    assert backends.resolve_backend("auto", cuda) == "torch"
    with pytest.raises(RuntimeError, match="pip install flash-linear-attention"):
        backends.resolve_backend("fla", cuda)


def test_bad_options_name_the_option():
    with pytest.raises(ValueError, match="backend='cuda'"):
        backends.resolve_backend("cuda", CPU)
    with pytest.raises(ValueError, match="mode='parallel'"):
        make_rwkv7(input_dim=8, hidden_dim=16, head_size=8, mode="parallel")
    with pytest.raises(ValueError, match="hidden_dim=20 must be a multiple of head_size=8"):
        make_rwkv7(input_dim=8, hidden_dim=20, head_size=8)


def test_choice_is_logged_once(caplog, monkeypatch):
    monkeypatch.setattr(backends, "_already_logged", set())
    encoder = make_rwkv7(input_dim=8, hidden_dim=16, num_layers=1, head_size=8, chunk_len=4)
    with caplog.at_level(logging.INFO, logger="statecatcher.rwkv"):
        for _ in range(3):
            encoder(torch.randn(1, 8, 8), torch.tensor([8]), encoder.init_state(1))
    messages = [r.getMessage() for r in caplog.records if r.name == "statecatcher.rwkv"]
    assert messages == ["RWKV-7 WKV: backend=torch (requested auto), mode=chunkwise, chunk_len=4, device=cpu"]


def test_for_export_is_the_recurrent_form_with_the_same_weights():
    """``for_export()`` (what ``statecatcher export`` traces): mode recurrent, parameters shared, equal outputs."""
    torch.manual_seed(0)
    encoder = make_rwkv7(input_dim=8, hidden_dim=32, num_layers=2, head_size=16).double().eval()
    exported = encoder.for_export()
    assert (encoder.mode, exported.mode) == ("chunkwise", "recurrent")
    assert exported.blocks is encoder.blocks
    feats = torch.randn(1, 64, 8, dtype=torch.float64)
    with torch.no_grad():
        out, _, _ = encoder(feats, torch.tensor([64]), encoder.init_state(1))
        out_exported, _, _ = exported(feats, torch.tensor([64]), exported.init_state(1))
    torch.testing.assert_close(out_exported, out, rtol=0, atol=1e-10)


def _stand_in_fla(monkeypatch, seen):
    """``fla.ops.rwkv6/7`` stand-ins that insist, as fla's Triton dots do, on one dtype for every input, then
    compute with this package's chunk forms in float32 (returning fla's dtypes: output as ``r``, state float32)."""
    import sys
    import types

    def one_dtype(version, **inputs):
        dtypes = {name: t.dtype for name, t in inputs.items()}
        seen.append(dtypes)
        assert len(set(dtypes.values())) == 1, f"fla RWKV-{version} kernel given mixed dtypes {dtypes}"

    def chunk_rwkv7(r, w, k, v, a, b, scale, initial_state, output_final_state):
        one_dtype(7, r=r, w=w, k=k, v=v, a=a, b=b)
        out, state = wkv7.chunkwise(*(t.float() for t in (r, k, v, w, a, b, initial_state)), chunk_len=16)
        return out.to(r.dtype), state

    def chunk_rwkv6(r, k, v, w, u, scale, initial_state, output_final_state):
        one_dtype(6, r=r, k=k, v=v, w=w, u=u)
        out, state = wkv6.chunkwise(*(t.float() for t in (r, k, v, w, u, initial_state)), chunk_len=16)
        return out.to(r.dtype), state

    fla, ops = types.ModuleType("fla"), types.ModuleType("fla.ops")
    ops6, ops7 = types.ModuleType("fla.ops.rwkv6"), types.ModuleType("fla.ops.rwkv7")
    ops6.chunk_rwkv6, ops7.chunk_rwkv7 = chunk_rwkv6, chunk_rwkv7
    for name, module in {"fla": fla, "fla.ops": ops, "fla.ops.rwkv6": ops6, "fla.ops.rwkv7": ops7}.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(backends, "resolve_backend", lambda requested, device: "fla")


@pytest.mark.parametrize("version", [6, 7])
def test_fla_kernels_get_one_dtype_under_bf16_autocast(monkeypatch, version):
    """Under bf16 autocast the time mix makes r bf16 but k, v and the decay float32 (they pass through float32
    parameters); fla's kernels failed on the first GPU run with "Both operands must be same dtype. Got bf16 and
    fp32".  The fla path now casts every input to r's dtype, and the output and state keep the caller's."""
    from statecatcher_rwkv.encoder import make_rwkv6

    seen = []
    _stand_in_fla(monkeypatch, seen)
    make = make_rwkv6 if version == 6 else make_rwkv7
    encoder = make(input_dim=8, hidden_dim=16, num_layers=2, head_size=8, backend="fla")
    feats = torch.randn(2, 40, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _, state = encoder(feats, torch.tensor([40, 33]), encoder.init_state(2))
        out.float().pow(2).mean().backward()
    assert len(seen) == 2 and all(set(d.values()) == {torch.bfloat16} for d in seen)
    assert torch.isfinite(out.float()).all()
    assert {layer["wkv"].dtype for layer in state["layers"]} == {torch.float32}
