"""Backend selection: CPU falls back to the PyTorch kernels, GPU-only backends off GPU are clear errors."""

import logging

import pytest
import torch

from statecatcher_xlstm import backends
from statecatcher_xlstm.backends import choose_mlstm_backend, choose_slstm_backend
from statecatcher_xlstm.encoder import XLSTMEncoder


@pytest.fixture(autouse=True)
def fresh_log(monkeypatch):
    monkeypatch.setattr(backends, "_logged", set())


def test_cpu_auto_picks_the_pytorch_kernels():
    assert choose_mlstm_backend("cpu") == "native"
    assert choose_slstm_backend("cpu") == "vanilla"


def test_cuda_auto_picks_triton_when_importable_else_native(monkeypatch):
    monkeypatch.setattr(backends, "triton_available", lambda: True)
    assert choose_mlstm_backend("cuda") == "triton"
    assert choose_slstm_backend("cuda") == "cuda"
    monkeypatch.setattr(backends, "triton_available", lambda: False)
    assert choose_mlstm_backend("cuda") == "native"


def test_explicit_choice_overrides_auto(monkeypatch):
    monkeypatch.setattr(backends, "triton_available", lambda: True)
    assert choose_mlstm_backend("cuda", "native") == "native"
    assert choose_slstm_backend("cuda", "vanilla") == "vanilla"


@pytest.mark.parametrize("name", ["triton", "triton_limit_chunk"])
def test_triton_on_cpu_is_a_clear_error(name):
    with pytest.raises(ValueError, match=rf"'{name}'.*needs a CUDA device.*on cpu"):
        choose_mlstm_backend("cpu", name)


def test_cuda_slstm_on_cpu_is_a_clear_error():
    with pytest.raises(ValueError, match="'cuda'.*needs a CUDA device.*on cpu"):
        choose_slstm_backend("cpu", "cuda")
    with pytest.raises(ValueError, match="needs a CUDA device"):
        XLSTMEncoder(input_dim=8, hidden_dim=32, pattern="s", num_heads=2, slstm_backend="cuda")


def test_unknown_backend_names_the_choices():
    with pytest.raises(ValueError, match="unknown mLSTM backend 'fast'.*native.*triton"):
        XLSTMEncoder(input_dim=8, hidden_dim=32, pattern="m", num_heads=2, backend="fast")
    with pytest.raises(ValueError, match="unknown sLSTM backend 'fast'.*vanilla or cuda"):
        choose_slstm_backend("cpu", "fast")


def test_encoder_asked_for_triton_on_cpu_fails_at_the_first_call():
    encoder = XLSTMEncoder(input_dim=8, hidden_dim=32, pattern="m", num_heads=2, subsampling=1, backend="triton")
    with pytest.raises(ValueError, match="'triton'.*needs a CUDA device"):
        encoder(torch.zeros(1, 4, 8), torch.tensor([4]), encoder.init_state(1))


def test_the_choice_is_logged_once(caplog):
    encoder = XLSTMEncoder(input_dim=8, hidden_dim=32, pattern="m", num_heads=2, subsampling=1)
    with caplog.at_level(logging.INFO, logger="statecatcher.xlstm"):
        for _ in range(3):
            encoder(torch.zeros(1, 4, 8), torch.tensor([4]), encoder.init_state(1))
    assert [r.getMessage() for r in caplog.records] == ["xlstm: mLSTM backend 'native' on cpu"]
