"""Generic operations on carried state pytrees (lane axis first on every leaf tensor).

A State is a nested ``dict`` / ``list`` / ``tuple`` whose leaves are tensors ``[B, ...]``.  Encoders and
losses define what goes in; these functions never need to know.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from .protocols import State


def map_state(fn: Callable[..., torch.Tensor], state: State, *others: State) -> State:
    """Apply ``fn`` leaf-wise over one or more states of the same structure."""
    if isinstance(state, torch.Tensor):
        return fn(state, *others)
    if isinstance(state, dict):
        return {k: map_state(fn, v, *(o[k] for o in others)) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        items = [map_state(fn, v, *(o[i] for o in others)) for i, v in enumerate(state)]
        return type(state)(items) if isinstance(state, list) else tuple(items)
    if state is None:
        return None
    raise TypeError(f"state leaves must be tensors, dicts, lists or tuples, got {type(state).__name__}")


def leaves(state: State) -> list[torch.Tensor]:
    """All leaf tensors, in a deterministic order."""
    out: list[torch.Tensor] = []
    map_state(lambda t: out.append(t) or t, state)
    return out


def _lane_mask(mask: torch.Tensor, leaf: torch.Tensor) -> torch.Tensor:
    return mask.to(device=leaf.device, dtype=torch.bool).view(-1, *([1] * (leaf.dim() - 1)))


def reset_lanes(state: State, reset: torch.Tensor, fresh: State) -> State:
    """Return ``state`` with lanes where ``reset[b]`` is true replaced by ``fresh`` (an ``init_state``)."""
    return map_state(lambda s, f: torch.where(_lane_mask(reset, s), f.to(s), s), state, fresh)


def keep_lanes(new: State, old: State, keep_old: torch.Tensor) -> State:
    """Lane-wise choice: ``old`` where ``keep_old[b]``, else ``new`` (e.g. undo a NaN step for some lanes)."""
    return map_state(lambda n, o: torch.where(_lane_mask(keep_old, n), o, n), new, old)


def cast_like(state: State, like: State) -> State:
    """``state`` with every leaf in the dtype of ``like``'s leaf (differentiable).

    Under bf16 autocast an encoder returns its new state in bfloat16; casting it back to the dtype of
    ``init_state`` keeps the carried state in full precision from segment to segment.
    """
    return map_state(lambda s, ref: s.to(ref.dtype), state, like)


def detach(state: State) -> State:
    """Carry the value, drop the graph (truncated BPTT)."""
    return map_state(lambda t: t.detach(), state)


def select_lanes(state: State, index: torch.Tensor | Sequence[int]) -> State:
    """Lanes ``index`` of ``state`` (``index`` is a list of lane numbers or a bool mask)."""
    return map_state(lambda t: t[torch.as_tensor(index, device=t.device)], state)


def stack_lanes(states: Sequence[State]) -> State:
    """Concatenate states lane-wise: ``[s1 (B1 lanes), s2 (B2 lanes)] -> B1+B2 lanes``."""
    return map_state(lambda *ts: torch.cat(ts, dim=0), states[0], *states[1:])


def to_device(state: State, device: torch.device | str) -> State:
    return map_state(lambda t: t.to(device), state)


def max_abs_diff(a: State, b: State) -> float:
    """Largest absolute difference between two states of the same structure (0.0 for empty states)."""
    diffs = [(x.double() - y.double()).abs().max().item() for x, y in zip(leaves(a), leaves(b), strict=True)
             if x.numel()]
    return max(diffs, default=0.0)


def state_norms(state: State) -> dict[str, float]:
    """L2 norm of every leaf, keyed by its path (``"layers.0.h"``): a cheap drift monitor."""
    out: dict[str, float] = {}

    def walk(node: State, path: str) -> None:
        if isinstance(node, torch.Tensor):
            out[path] = float(node.detach().double().norm())
        elif isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(node, (list, tuple)):
            for i, v in enumerate(node):
                walk(v, f"{path}.{i}" if path else str(i))

    walk(state, "")
    return out


def save_state(state: State, path: str | Path) -> None:
    torch.save(to_device(detach(state), "cpu"), Path(path))


def load_state(path: str | Path, device: torch.device | str = "cpu") -> State:
    return to_device(torch.load(Path(path), map_location="cpu", weights_only=True), device)
