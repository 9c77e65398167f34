"""The optimiser named by ``--optimizer``: adamw (default), adam, or lion (from the lion-pytorch package)."""

from __future__ import annotations

from collections.abc import Iterable

import torch


class OptimizerError(ValueError):
    """The optimiser cannot be made (unknown name, or its package is not installed)."""


def make_optimizer(name: str, params: Iterable[torch.nn.Parameter], *, lr: float,
                   weight_decay: float) -> torch.optim.Optimizer:
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "lion":
        try:
            from lion_pytorch import Lion
        except ImportError as exc:
            raise OptimizerError("--optimizer lion needs the lion-pytorch package: pip install lion-pytorch") from exc
        return Lion(params, lr=lr, weight_decay=weight_decay)
    raise OptimizerError(f"unknown optimizer {name!r}; choose adamw, adam or lion")
