"""The optimiser named by ``--optimizer``: adamw (default), adam, or lion (from the lion-pytorch package).

Adam and AdamW run torch's fused kernel wherever it has one for the parameters' device (CPU and CUDA among
them), else its default implementation.  On CPU the default is the per-parameter loop: at batch 1 with the
``cpu-recipe`` model of the time (192 wide: 1.7 M parameters in 117 tensors) it took ~12 ms of a ~200 ms
training step, the fused kernel ~2 ms (docs/recipes.md, "A fused optimizer step").
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

# Devices where torch's fused Adam(W) kernels run (torch checks only at the first step, so ask before).
FUSED_DEVICES = ("cpu", "cuda")


def fused_kernel_fits(params: list[torch.nn.Parameter]) -> bool:
    """Every parameter a floating-point tensor on a device with torch's fused Adam(W) kernel."""
    return all(p.device.type in FUSED_DEVICES and torch.is_floating_point(p) for p in params)


class OptimizerError(ValueError):
    """The optimiser cannot be made (unknown name, or its package is not installed)."""


def make_optimizer(name: str, params: Iterable[torch.nn.Parameter], *, lr: float,
                   weight_decay: float) -> torch.optim.Optimizer:
    params = list(params)
    if name in ("adamw", "adam"):
        adam = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
        # None, not False, where the fused kernel does not fit: False would also turn off torch's own default
        # choice (the multi-tensor form on CUDA)
        return adam(params, lr=lr, weight_decay=weight_decay, fused=fused_kernel_fits(params) or None)
    if name == "lion":
        try:
            from lion_pytorch import Lion
        except ImportError as exc:
            raise OptimizerError("--optimizer lion needs the lion-pytorch package: pip install lion-pytorch") from exc
        return Lion(params, lr=lr, weight_decay=weight_decay)
    raise OptimizerError(f"unknown optimizer {name!r}; choose adamw, adam or lion")
