"""Full-lattice RNN-T loss backends, chosen at run time.

Every backend is ``fn(logits [B, T, U + 1, V], targets [B, U], enc_lens [B], target_lens [B], blank_id) ->
nll [B]`` with ``1 <= enc_lens[b]``; optional ones import their package only when asked.  ``"auto"`` takes the
first available of :data:`AUTO_ORDER` for the tensors' device.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import torch

BackendFn = Callable[..., torch.Tensor]

# name -> module (relative to this package), loss function
BACKENDS: dict[str, tuple[str, str]] = {
    "torch": ("torch_lattice", "rnnt_loss_torch"),
    "numba": ("numba", "rnnt_loss_numba"),
    "torchaudio": ("torchaudio", "rnnt_loss_torchaudio"),
    "warp": ("warp", "rnnt_loss_warp"),
}
AUTO_ORDER: dict[str, tuple[str, ...]] = {
    "cuda": ("warp", "torchaudio", "torch"),
    "cpu": ("torchaudio", "torch", "numba"),  # warprnnt_numba's CPU path is Python loops: slow
}


def _module(name: str):
    return importlib.import_module(f"{__name__}.{BACKENDS[name][0]}")


def unavailable(name: str, device: torch.device) -> str | None:
    """Why backend ``name`` cannot run on ``device``, or ``None``."""
    module = _module(name)
    return module.unavailable(device) if hasattr(module, "unavailable") else None


def resolve(name: str, device: torch.device) -> tuple[str, BackendFn]:
    """``(backend name, loss function)`` for ``name`` (one of :data:`BACKENDS` or ``"auto"``) on ``device``.

    Raises ``ValueError`` for an unknown name and ``RuntimeError`` (with the reason) for an unusable one.
    """
    if name == "auto":
        order = AUTO_ORDER.get(device.type, ("torch",))
        name = next(candidate for candidate in order if unavailable(candidate, device) is None)
    elif name not in BACKENDS:
        raise ValueError(f"rnnt backend {name!r} is unknown; choose auto, {', '.join(BACKENDS)}")
    else:
        reason = unavailable(name, device)
        if reason is not None:
            raise RuntimeError(f"rnnt backend {name!r} cannot run: {reason}")
    return name, getattr(_module(name), BACKENDS[name][1])
