"""Which implementation runs the WKV linear attention, chosen at run time and logged once.

* ``torch``: the pure-PyTorch forms in :mod:`~statecatcher_rwkv.wkv6` / :mod:`~statecatcher_rwkv.wkv7`;
  runs everywhere and is the CPU backend.
* ``fla``: flash-linear-attention's Triton chunk kernels (``pip install flash-linear-attention``); CUDA only.
* ``auto``: ``fla`` when the input is on a CUDA device and ``fla`` imports, else ``torch``.

``mode="recurrent"`` always runs the PyTorch step-by-step reference (streaming decode of tiny chunks); the
backend choice applies to ``mode="chunkwise"``.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from collections.abc import Callable

import torch

from . import wkv6, wkv7

logger = logging.getLogger("statecatcher.rwkv")

BACKENDS = ("auto", "torch", "fla")
MODES = ("chunkwise", "recurrent")
_already_logged: set[tuple] = set()


def fla_installed() -> bool:
    return importlib.util.find_spec("fla") is not None


def resolve_backend(requested: str, device: torch.device) -> str:
    """``"torch"`` or ``"fla"`` for inputs on ``device``; clear errors for impossible requests."""
    if requested not in BACKENDS:
        raise ValueError(f"RWKV encoder option backend={requested!r}: choose one of {', '.join(BACKENDS)}")
    if requested == "fla":
        if device.type != "cuda":
            raise RuntimeError(
                f"RWKV encoder option backend='fla' needs CUDA (fla's Triton kernels do not run on {device.type}); "
                "use backend='torch' or 'auto' on CPU"
            )
        if not fla_installed():
            raise RuntimeError("RWKV encoder option backend='fla' needs `pip install flash-linear-attention`")
        return "fla"
    if requested == "auto" and device.type == "cuda" and fla_installed():
        return "fla"
    return "torch"


def wkv_function(version: int, requested: str, mode: str, chunk_len: int, device: torch.device) -> Callable:
    """The ``wkv`` callable a time mix uses (signatures in :mod:`statecatcher_rwkv.blocks`)."""
    if mode not in MODES:
        raise ValueError(f"RWKV encoder option mode={mode!r}: choose one of {', '.join(MODES)}")
    backend = resolve_backend(requested, device) if mode == "chunkwise" else "torch"
    key = (version, requested, backend, mode, device.type)
    if key not in _already_logged:
        _already_logged.add(key)
        logger.info("RWKV-%d WKV: backend=%s (requested %s), mode=%s, chunk_len=%d, device=%s",
                    version, backend, requested, mode, chunk_len, device.type)
    module = {6: wkv6, 7: wkv7}[version]
    if mode == "recurrent":
        return module.recurrent
    if backend == "fla":
        return _fla_wkv6 if version == 6 else _fla_wkv7
    return functools.partial(module.chunkwise, chunk_len=chunk_len)


def _fla_wkv6(r, k, v, log_w, u, state):
    """fla's chunk kernel for RWKV-6, every input in ``r``'s dtype (the kernels' dots need one dtype)."""
    from fla.ops.rwkv6 import chunk_rwkv6

    k_, v_, log_w_, u_ = same_dtype(r, k, v, log_w, u)
    out, state_out = chunk_rwkv6(r, k_, v_, log_w_, u_, scale=1.0, initial_state=state, output_final_state=True)
    return out.to(v.dtype), state_out.to(state.dtype)


def _fla_wkv7(r, k, v, log_w, a, b, state):
    """fla's chunk kernel for RWKV-7, every input in ``r``'s dtype (the kernels' dots need one dtype)."""
    from fla.ops.rwkv7 import chunk_rwkv7

    k_, v_, log_w_, a_, b_ = same_dtype(r, k, v, log_w, a, b)
    out, state_out = chunk_rwkv7(r=r, w=log_w_, k=k_, v=v_, a=a_, b=b_, scale=1.0, initial_state=state,
                                 output_final_state=True)
    return out.to(v.dtype), state_out.to(state.dtype)


def same_dtype(reference: torch.Tensor, *tensors: torch.Tensor) -> list[torch.Tensor]:
    """``tensors`` in ``reference``'s dtype.

    Under bf16 autocast the time mix hands the WKV a mix of dtypes: ``r`` comes straight from a linear layer
    (bf16), while ``k``, ``v`` and the decay pass through float32 parameters (float32).  The torch forms
    promote; fla's Triton kernels do not (``tl.dot``: "Both operands must be same dtype. Got bf16 and fp32",
    seen on the first GPU run).  ``r``'s dtype is the autocast dtype, which is what fla's own RWKV layers
    feed its kernels; the state stays float32.
    """
    return [t.to(reference.dtype) for t in tensors]
