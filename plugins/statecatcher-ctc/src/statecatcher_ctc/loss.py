"""CTC loss and its streaming decoders: greedy (``decode_step``) and prefix beam search (``beam_search``).

Dimension legend (see :mod:`statecatcher.protocols`): B lanes, T' encoder frames of this chunk, D encoder
output dim, U target tokens, V vocabulary size including the blank.

Training with CTC carries nothing across segments: each segment's loss sums over the alignments of that
segment alone.  Greedy decoding carries one token per lane, ``state["last"]`` (the argmax of the previous
chunk's last valid frame, blank or not), so a token repeated across a chunk boundary is merged exactly as it
would be if the recording were decoded in one piece, while ``a <blank> | a`` still gives two ``a``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from statecatcher.decode.ctc_beam import CTCPrefixBeamSearch
from statecatcher.nn.masking import valid_mask

State = dict[str, torch.Tensor]


class CTCLoss(nn.Module):
    """Projection ``Linear(D, V)`` + CTC.  ``blank_id`` must be the tokenizer's blank (0)."""

    def __init__(self, input_dim: int, vocab_size: int, blank_id: int = 0, dropout: float = 0.0) -> None:
        super().__init__()
        if not 0 <= blank_id < vocab_size:
            raise ValueError(f"ctc: blank_id={blank_id} is outside the vocabulary [0, {vocab_size})")
        self.input_dim = input_dim
        self.vocab_size = vocab_size
        self.blank_id = blank_id
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(input_dim, vocab_size)

    def init_state(self, batch_size: int, device: torch.device | None = None) -> State:
        """``{"last": [B] long}``: the previous chunk's last greedy symbol, blank at the start."""
        return {"last": torch.full((batch_size,), self.blank_id, dtype=torch.long,
                                   device=device or self.proj.weight.device)}

    def log_probs(self, enc_out: torch.Tensor) -> torch.Tensor:
        """``[B, T', D] -> [B, T', V]`` log-posteriors (no dropout), at least float32."""
        logits = self.proj(enc_out)
        return logits.to(torch.promote_types(logits.dtype, torch.float32)).log_softmax(dim=-1)

    def forward(self, enc_out: torch.Tensor, enc_lens: torch.Tensor, targets: torch.Tensor,
                target_lens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Summed CTC negative log-likelihood per lane ``[B]``; the state passes through unchanged.

        ``targets[B, U]`` beyond ``target_lens`` may hold anything.  Lanes whose targets cannot be aligned
        (more tokens than frames, or no frames at all) get loss 0 and no gradient (``zero_infinity``).
        """
        log_probs = self.log_probs(self.dropout(enc_out))  # [B, T', V]
        if enc_out.size(1) == 0:  # a chunk too short to complete an encoder frame: nothing to align
            return log_probs.sum(dim=(1, 2)) * 0.0, state  # zeros [B], still part of the graph
        enc_lens = enc_lens.to(torch.long)
        target_lens = target_lens.to(torch.long)
        targets = targets.to(torch.long)
        padded_targets = torch.where(valid_mask(target_lens, targets.size(1)), targets, self.blank_id)
        loss = F.ctc_loss(log_probs.transpose(0, 1), padded_targets, enc_lens, target_lens,
                          blank=self.blank_id, reduction="none", zero_infinity=True)
        return loss, state

    @torch.no_grad()
    def decode_step(self, enc_out: torch.Tensor, enc_lens: torch.Tensor,
                    state: State) -> tuple[list[list[int]], list[list[int]], State]:
        """Greedy CTC on one chunk: ``(tokens, token_frames, new_state)`` per lane.

        ``token_frames[b][i]`` is the chunk-relative frame of ``tokens[b][i]``.  Repeats are collapsed across
        the boundary with ``state["last"]``; padded frames are ignored; lanes with no valid frame keep their
        state.
        """
        batch, frames = enc_out.shape[:2]
        if frames == 0:
            return [[] for _ in range(batch)], [[] for _ in range(batch)], state
        best = self.proj(enc_out).argmax(dim=-1)  # [B, T']
        enc_lens = enc_lens.to(device=best.device, dtype=torch.long)
        previous = torch.cat([state["last"][:, None], best[:, :-1]], dim=1)
        emit = valid_mask(enc_lens, frames) & (best != self.blank_id) & (best != previous)
        last_valid = best.gather(1, (enc_lens - 1).clamp(min=0)[:, None]).squeeze(1)
        new_last = torch.where(enc_lens > 0, last_valid, state["last"])
        tokens = [best[b][emit[b]].tolist() for b in range(batch)]
        token_frames = [emit[b].nonzero().squeeze(1).tolist() for b in range(batch)]
        return tokens, token_frames, {"last": new_last}

    def beam_search(self, options, fusion=None):
        """A streaming CTC prefix beam search over this head's log-posteriors (one stream; see
        :mod:`statecatcher.decode.ctc_beam`); ``fusion`` is a ``WordLMFusion`` or None."""
        return CTCPrefixBeamSearch(self.log_probs, self.blank_id, options, fusion)
