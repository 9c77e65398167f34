"""RNN-T predictors (prediction networks) whose context is carried state, like an encoder's.

Both share one interface (``P`` = ``pred_dim``, the output size)::

    init_state(B, device)                       -> state (lane axis first on every leaf)
    forward(targets [B, U], target_lens [B], state) -> (out [B, U + 1, P], new_state)
    step(state)                                 -> out [B, P]   (the output that predicts the next token)
    advance(state, tokens [B], emit [B] bool)   -> state after consuming ``tokens`` in lanes where ``emit``

``out[:, u]`` sees the carried context plus ``targets[:, :u]``: row ``u`` of the RNN-T lattice.
``new_state`` is the context after all ``target_lens[b]`` tokens (unchanged where ``target_lens[b] == 0``),
so segment ``k + 1`` is predicted from the tokens of segment ``k``.  Tokens past ``target_lens`` are ignored.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


def mask_padding(targets: torch.Tensor, target_lens: torch.Tensor, blank_id: int) -> torch.Tensor:
    """``targets [B, U]`` with tokens at ``u >= target_lens[b]`` replaced by ``blank_id``."""
    valid = torch.arange(targets.shape[1], device=targets.device)[None, :] < target_lens[:, None]
    return targets.masked_fill(~valid, blank_id)


class StatelessPredictor(nn.Module):
    """icefall's stateless predictor: embeddings of the last ``context_size`` tokens, a grouped causal conv, ReLU.

    State: ``{"context": [B, context_size] long}`` (the last tokens, blank-filled at a recording start).
    """

    def __init__(self, vocab_size: int, pred_dim: int, blank_id: int = 0, context_size: int = 2):
        super().__init__()
        if context_size < 1:
            raise ValueError(f"context_size must be >= 1, got {context_size}")
        self.blank_id, self.context_size, self.output_dim = blank_id, context_size, pred_dim
        self.embed = nn.Embedding(vocab_size, pred_dim, padding_idx=blank_id)
        groups = pred_dim // 4 if pred_dim % 4 == 0 else 1
        self.conv = (nn.Conv1d(pred_dim, pred_dim, context_size, groups=groups, bias=False)
                     if context_size > 1 else None)

    def init_state(self, batch_size: int, device: torch.device | None = None) -> dict[str, torch.Tensor]:
        return {"context": torch.full((batch_size, self.context_size), self.blank_id, dtype=torch.long,
                                      device=device or self.embed.weight.device)}

    def _encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """``tokens [B, C + n - 1] -> [B, n, P]``: output ``i`` sees tokens ``i .. i + C - 1``."""
        emb = self.embed(tokens)
        if self.conv is not None:
            emb = self.conv(emb.transpose(1, 2)).transpose(1, 2)
        return torch.relu(emb)

    def forward(self, targets, target_lens, state):
        tokens = torch.cat([state["context"], mask_padding(targets, target_lens, self.blank_id)], dim=1)
        window = target_lens[:, None] + torch.arange(self.context_size, device=tokens.device)[None, :]
        return self._encode(tokens), {"context": tokens.gather(1, window)}

    def step(self, state):
        return self._encode(state["context"])[:, -1]

    def advance(self, state, tokens, emit):
        shifted = torch.cat([state["context"][:, 1:], tokens[:, None]], dim=1)
        return {"context": torch.where(emit[:, None], shifted, state["context"])}


class LSTMPredictor(nn.Module):
    """Embedding + LSTM, fed the previous token (blank at a recording start).

    State: ``{"h": [B, L, H], "c": [B, L, H], "last": [B] long}``: the LSTM state *before* feeding ``last``,
    the most recent token; ``step`` feeds ``last`` to get the output that predicts the next token.
    """

    def __init__(self, vocab_size: int, pred_dim: int, blank_id: int = 0, num_layers: int = 1):
        super().__init__()
        self.blank_id, self.output_dim = blank_id, pred_dim
        self.embed = nn.Embedding(vocab_size, pred_dim)
        self.lstm = nn.LSTM(pred_dim, pred_dim, num_layers=num_layers, batch_first=True)

    def init_state(self, batch_size: int, device: torch.device | None = None) -> dict[str, torch.Tensor]:
        param = self.embed.weight
        zeros = torch.zeros(batch_size, self.lstm.num_layers, self.lstm.hidden_size, dtype=param.dtype,
                            device=device or param.device)
        return {"h": zeros, "c": zeros.clone(),
                "last": torch.full((batch_size,), self.blank_id, dtype=torch.long, device=device or param.device)}

    @staticmethod
    def _hidden(state) -> tuple[torch.Tensor, torch.Tensor]:
        return state["h"].transpose(0, 1).contiguous(), state["c"].transpose(0, 1).contiguous()  # [L, B, H]

    def forward(self, targets, target_lens, state):
        tokens = torch.cat([state["last"][:, None], mask_padding(targets, target_lens, self.blank_id)], dim=1)
        emb = self.embed(tokens)
        out, _ = self.lstm(emb, self._hidden(state))
        new_state = dict(state, last=tokens.gather(1, target_lens[:, None])[:, 0])
        if targets.shape[1] > 0:  # LSTM state after feeding tokens[:, :target_lens] (the old `last` + all but one)
            packed = pack_padded_sequence(emb[:, :-1], target_lens.clamp(min=1).cpu(), batch_first=True,
                                          enforce_sorted=False)
            _, (h, c) = self.lstm(packed, self._hidden(state))
            moved = (target_lens > 0)[:, None, None]
            new_state["h"] = torch.where(moved, h.transpose(0, 1), state["h"])
            new_state["c"] = torch.where(moved, c.transpose(0, 1), state["c"])
        return out, new_state

    def _feed_last(self, state):
        out, (h, c) = self.lstm(self.embed(state["last"])[:, None], self._hidden(state))
        return out[:, 0], h.transpose(0, 1), c.transpose(0, 1)

    def step(self, state):
        return self._feed_last(state)[0]

    def advance(self, state, tokens, emit):
        _, h, c = self._feed_last(state)
        lanes = emit[:, None, None]
        return {"h": torch.where(lanes, h, state["h"]), "c": torch.where(lanes, c, state["c"]),
                "last": torch.where(emit, tokens, state["last"])}


def build_predictor(kind: str, vocab_size: int, pred_dim: int, blank_id: int, context_size: int,
                    num_layers: int) -> nn.Module:
    if kind == "stateless":
        return StatelessPredictor(vocab_size, pred_dim, blank_id, context_size)
    if kind == "lstm":
        return LSTMPredictor(vocab_size, pred_dim, blank_id, num_layers)
    raise ValueError(f"rnnt predictor {kind!r} is unknown; choose 'stateless' or 'lstm'")
