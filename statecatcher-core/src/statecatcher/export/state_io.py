"""A state pytree as a flat list of named tensors, and back (the explicit inputs/outputs of an exported graph).

Names are dotted paths in the order of :func:`statecatcher.state.leaves`: ``frontend.stack``,
``layers.0.wkv``, ...  ``unflatten(template, tensors)`` rebuilds a state of ``template``'s structure.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..protocols import State
from ..state import leaves, map_state


def leaf_names(state: State, prefix: str = "") -> list[str]:
    """Dotted paths of every leaf tensor, in :func:`~statecatcher.state.leaves` order."""
    if isinstance(state, torch.Tensor):
        return [prefix]
    if isinstance(state, dict):
        items = state.items()
    elif isinstance(state, (list, tuple)):
        items = enumerate(state)
    elif state is None:
        return []
    else:
        raise TypeError(f"state leaves must be tensors, dicts, lists or tuples, got {type(state).__name__}")
    return [name for key, value in items for name in leaf_names(value, f"{prefix}.{key}" if prefix else str(key))]


def unflatten(template: State, tensors: Sequence[torch.Tensor]) -> State:
    """A state with ``template``'s structure whose leaves are ``tensors`` (in leaf order)."""
    if len(tensors) != len(leaves(template)):
        raise ValueError(f"state has {len(leaves(template))} leaves, got {len(tensors)} tensors")
    it = iter(tensors)
    return map_state(lambda _: next(it), template)
