"""An ASR model = a stateful encoder plugin + a loss plugin (which owns the output side).

The carried state of the whole model is one pytree ``{"encoder": ..., "head": ...}`` so the core's generic
state operations (reset, detach, save) cover both the encoder and, e.g., an RNN-T predictor's context.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .nn.normalize import FeatureNormalizer
from .nn.spec_augment import SpecAugmentConfig, spec_augment
from .plugins import get

FEATURE_DIM = 80


class AsrModel(nn.Module):
    """``feature_norm`` (global mean/variance, buffers) -> ``encoder`` -> ``head``.

    ``augment`` (a :class:`SpecAugmentConfig`, set by the trainer; not saved) masks the normalised features of
    each segment in training mode only.
    """

    def __init__(self, encoder: nn.Module, head: nn.Module, input_dim: int = FEATURE_DIM):
        super().__init__()
        self.feature_norm = FeatureNormalizer(input_dim)
        self.encoder = encoder
        self.head = head
        self.augment: SpecAugmentConfig | None = None

    def encode(self, feats: torch.Tensor, lengths: torch.Tensor, encoder_state: Any):
        """``feats [B,T,F]`` -> normalised (and, training, SpecAugment-masked) -> encoder: ``(out [B,T',D],
        out_lens [B], encoder state)``.  Every decoder (greedy, beam search) goes through here."""
        feats = self.feature_norm(feats)
        if self.training and self.augment is not None:
            feats = spec_augment(feats, lengths, self.augment)
        return self.encoder(feats, lengths, encoder_state)

    @property
    def subsampling(self) -> int:
        return int(self.encoder.subsampling)

    def init_state(self, batch_size: int, device: torch.device | None = None) -> dict[str, Any]:
        device = device or next(self.parameters()).device
        return {"encoder": self.encoder.init_state(batch_size, device=device),
                "head": self.head.init_state(batch_size, device=device)}

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor,
                target_lens: torch.Tensor, state: dict[str, Any]):
        """feats [B,T,F], lengths [B], targets [B,U], target_lens [B] -> (loss [B], out_lens [B], new_state)."""
        out, out_lens, enc_state = self.encode(feats, lengths, state["encoder"])
        loss, head_state = self.head(out, out_lens, targets, target_lens, state["head"])
        return loss, out_lens, {"encoder": enc_state, "head": head_state}

    @torch.no_grad()
    def decode_step(self, feats: torch.Tensor, lengths: torch.Tensor, state: dict[str, Any]):
        """Greedy streaming decode of one chunk -> (tokens per lane, token output-frames, out_lens, state)."""
        out, out_lens, enc_state = self.encode(feats, lengths, state["encoder"])
        tokens, frames, head_state = self.head.decode_step(out, out_lens, state["head"])
        return tokens, frames, out_lens, {"encoder": enc_state, "head": head_state}


def build_model(*, encoder: str, loss: str, vocab_size: int, blank_id: int = 0,
                encoder_options: dict | None = None, loss_options: dict | None = None,
                input_dim: int = FEATURE_DIM) -> AsrModel:
    """Instantiate the named encoder and loss plugins (names resolved through the registry)."""
    enc = get("encoder", encoder).create(input_dim=input_dim, **(encoder_options or {}))
    head = get("loss", loss).create(input_dim=enc.output_dim, vocab_size=vocab_size, blank_id=blank_id,
                                    **(loss_options or {}))
    return AsrModel(enc, head, input_dim=input_dim)
