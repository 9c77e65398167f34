"""Which kernels run the mLSTM and sLSTM cells: chosen at run time, overridable, logged once.

mLSTM (``mlstm_kernels`` chunkwise forms)::

    native         chunkwise--native_autograd   PyTorch, any device, float64 too (the CPU default)
    triton         chunkwise--triton_xl_chunk   Triton, CUDA only (the GPU default)
    triton_limit_chunk  chunkwise--triton_limit_chunk

sLSTM (``xlstm`` package cell): ``vanilla`` (PyTorch loop, the CPU default) or ``cuda`` (the package's
CUDA kernel, compiled on first use; the GPU default).

Not offered: ``chunkwise--native_custbw``.  Its hand-written backward drops the gradient that reaches the
returned last state (measured: parameter gradients off by 67 of 92 when the loss sees the state), which
matters as soon as the state is detached less often than every segment (``--tbptt-segments``).
"""

from __future__ import annotations

import importlib.util
import logging

import torch

LOGGER = logging.getLogger("statecatcher.xlstm")

MLSTM_KERNELS = {
    "native": "chunkwise--native_autograd",
    "triton": "chunkwise--triton_xl_chunk",
    "triton_limit_chunk": "chunkwise--triton_limit_chunk",
}
SLSTM_BACKENDS = ("vanilla", "cuda")

_logged: set[tuple[str, str, str]] = set()


def _log_once(cell: str, device: torch.device, chosen: str) -> None:
    key = (cell, device.type, chosen)
    if key not in _logged:
        _logged.add(key)
        LOGGER.info("xlstm: %s backend %r on %s", cell, chosen, device.type)


def triton_available() -> bool:
    return importlib.util.find_spec("triton") is not None


def choose_mlstm_backend(device: torch.device | str, requested: str = "auto") -> str:
    """The mLSTM backend name (a key of :data:`MLSTM_KERNELS`) for tensors on ``device``.

    ``"auto"`` picks ``triton`` on CUDA when triton is importable, else ``native``.  A Triton backend
    requested off CUDA (or without triton installed) is an error, never a silent fallback.
    """
    device = torch.device(device)
    if requested == "auto":
        chosen = "triton" if device.type == "cuda" and triton_available() else "native"
    elif requested not in MLSTM_KERNELS:
        raise ValueError(f"unknown mLSTM backend {requested!r} (--xlstm-backend); "
                         f"choose auto or one of {', '.join(MLSTM_KERNELS)}")
    elif requested.startswith("triton") and not (device.type == "cuda" and triton_available()):
        raise ValueError(f"mLSTM backend {requested!r} (--xlstm-backend) needs a CUDA device and the triton "
                         f"package; this run is on {device.type} (triton installed: {triton_available()}). "
                         "Use 'auto' or 'native'.")
    else:
        chosen = requested
    _log_once("mLSTM", device, chosen)
    return chosen


def choose_slstm_backend(device: torch.device | str, requested: str = "auto") -> str:
    """The sLSTM cell backend, ``"vanilla"`` or ``"cuda"``, for a model that will run on ``device``.

    ``"auto"`` picks ``cuda`` on a CUDA device, else ``vanilla``; ``"cuda"`` off CUDA is an error.
    """
    device = torch.device(device)
    if requested == "auto":
        chosen = "cuda" if device.type == "cuda" else "vanilla"
    elif requested not in SLSTM_BACKENDS:
        raise ValueError(f"unknown sLSTM backend {requested!r} (--xlstm-slstm-backend); "
                         f"choose auto, {' or '.join(SLSTM_BACKENDS)}")
    elif requested == "cuda" and device.type != "cuda":
        raise ValueError(f"sLSTM backend 'cuda' (--xlstm-slstm-backend) needs a CUDA device; this run is on "
                         f"{device.type}. Use 'auto' or 'vanilla'.")
    else:
        chosen = requested
    _log_once("sLSTM", device, chosen)
    return chosen
