"""How a loss head becomes ONNX graphs: a CTC projection inside the encoder graph, or a transducer's predictor
and joiner as two more graphs.

Duck-typed, so the core imports no loss plugin:

* **CTC**: the head has ``log_probs(enc_out [B, T', D]) -> [B, T', V]`` and its state is ``{"last": [B]}``
  (the one greedy symbol, carried by the runtime).  The encoder graph outputs ``log_probs``.
* **transducer**: the head has ``predictor`` (``init_state``, ``step(state) -> [B, P]``, ``advance(state,
  tokens [B], emit [B])``), ``joiner`` (``enc_proj``, ``pred_proj``, ``join(enc [.., J], pred [.., J])``),
  ``blank_id`` and ``max_symbols_per_frame`` (statecatcher-rnnt's ``RNNTLoss``).  The encoder graph outputs
  ``enc = joiner.enc_proj(enc_out)`` ``[1, T', J]``; ``predictor.onnx`` maps ``(token [1], state) -> (pred
  [1, J], state)`` (the predictor after consuming ``token``, projected); ``joiner.onnx`` maps ``(enc [1, J],
  pred [1, J]) -> logits [1, V]``.  The projected output of the initial predictor state is a constant
  (``initial_pred`` in ``model.json``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..state import leaves
from .state_io import leaf_names, unflatten

CTC, TRANSDUCER = "ctc", "transducer"


class ExportError(Exception):
    """A model that cannot be exported; the message is one line naming the encoder, loss or option."""


def head_kind(head: nn.Module, loss: str) -> str:
    """``"ctc"`` or ``"transducer"`` (see the module docstring); ``ExportError`` for any other head."""
    if hasattr(head, "log_probs") and leaf_names(head.init_state(1)) == ["last"]:
        return CTC
    predictor, joiner = getattr(head, "predictor", None), getattr(head, "joiner", None)
    if (all(hasattr(predictor, name) for name in ("init_state", "step", "advance"))
            and all(hasattr(joiner, name) for name in ("enc_proj", "pred_proj", "join"))
            and hasattr(head, "max_symbols_per_frame")):
        return TRANSDUCER
    raise ExportError(f"loss {loss!r} cannot be exported: only CTC heads (log_probs and a one-token greedy state) "
                      "and transducer heads (predictor + joiner) export to ONNX")


def encoder_output(head: nn.Module, kind: str, enc_out: torch.Tensor) -> torch.Tensor:
    """What the encoder graph outputs for ``enc_out [B, T', D]``: log-probabilities or the joiner's projection."""
    return head.log_probs(enc_out) if kind == CTC else head.joiner.enc_proj(enc_out)


class PredictorStep(nn.Module):
    """``(token [1] int64, *state leaves) -> (pred [1, J], *new state leaves)``: consume ``token``, project."""

    def __init__(self, head: nn.Module):
        super().__init__()
        self.predictor, self.joiner = head.predictor, head.joiner
        self.template = head.predictor.init_state(1)

    def forward(self, token: torch.Tensor, *state_leaves: torch.Tensor):
        state = unflatten(self.template, state_leaves)
        state = self.predictor.advance(state, token, torch.ones(1, dtype=torch.bool))
        return (self.joiner.pred_proj(self.predictor.step(state)), *leaves(state))

    @torch.no_grad()
    def initial_pred(self) -> torch.Tensor:
        """``[1, J]``: the projected predictor output of a stream start (no token consumed)."""
        return self.joiner.pred_proj(self.predictor.step(self.template))


class JoinerStep(nn.Module):
    """``(enc [1, J], pred [1, J]) -> logits [1, V]``."""

    def __init__(self, head: nn.Module):
        super().__init__()
        self.joiner = head.joiner

    def forward(self, enc: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
        return self.joiner.join(enc, pred)


def state_spec(template: Any) -> list[dict]:
    """``[{"name", "shape", "dtype", "fill"}]`` of every leaf of an initial state (``model.json``): a runtime
    starts from ``fill`` everywhere (zeros, or the blank id of a predictor's context)."""
    spec = []
    for name, leaf in zip(leaf_names(template), leaves(template), strict=True):
        fill = leaf.flatten()[0].item() if leaf.numel() else 0
        if leaf.numel() and not bool((leaf == fill).all()):
            raise ExportError(f"state {name!r}: its initial value is not one constant; a runtime could not rebuild it")
        spec.append({"name": name, "shape": list(leaf.shape), "dtype": str(leaf.dtype).removeprefix("torch."),
                     "fill": fill})
    return spec
