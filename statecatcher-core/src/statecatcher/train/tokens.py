"""Tokenizer preparation (train once from the transcripts, reuse when present) and batch encoding."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ..data.loading import loaded_recordings
from ..plugins import get
from ..text import TextNormalizer
from .config import RunConfig


def transcript_texts(source: Any, split: str, normalizer: TextNormalizer) -> Iterator[str]:
    """Normalised transcript segment texts of ``split``, streamed (no audio is loaded; a recording whose
    transcript cannot be loaded is skipped with a warning)."""
    for recording in loaded_recordings(source, split, "tokenizer training"):
        for segment in recording.segments:
            text = normalizer(segment.text)
            if text:
                yield text


def prepare_tokenizer(config: RunConfig, source: Any, normalizer: TextNormalizer, model_dir: Path) -> Any:
    from ..tokenizer_utils import train_or_load

    tokenizer = get("tokenizer", config.tokenizer).create(**config.tokenizer_options)
    train_or_load(tokenizer, lambda: transcript_texts(source, config.split, normalizer), config.vocab_size,
                  model_dir, normalizer=normalizer)
    return tokenizer


def encode_batch(tokenizer: Any, texts: list[str], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """texts (already normalised) -> targets [B, U] (0-padded) and target_lens [B]."""
    ids = [tokenizer.encode(text) if text else [] for text in texts]
    lens = torch.tensor([len(x) for x in ids], dtype=torch.long)
    targets = torch.zeros(len(ids), max(1, int(lens.max()) if len(ids) else 1), dtype=torch.long)
    for b, row in enumerate(ids):
        targets[b, : len(row)] = torch.tensor(row, dtype=torch.long)
    return targets.to(device), lens.to(device)
