"""Streaming transcription with carried state: audio chunks in, text out, in constant memory.

The feature extractor, the encoder and the decoder (CTC's last token, RNN-T's predictor) all carry state,
so the transcript does not depend on the chunk size.  ``reset()`` resets all three.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.features import StreamingFeatures
from .pack import LoadedModel, load_model


@dataclass
class Token:
    id: int
    piece: str
    time: float  # Seconds from the start of the stream (end of the output frame that emitted it)


@dataclass
class Transcript:
    text: str = ""
    tokens: list[Token] = field(default_factory=list)

    def words(self) -> list[dict[str, Any]]:
        """Words with the time of their first and last token (sentencepiece marks word starts with ▁)."""
        words: list[dict[str, Any]] = []
        for tok in self.tokens:
            piece = tok.piece
            if piece.startswith("\u2581") or not words:
                words.append({"word": piece.lstrip("\u2581"), "start": tok.time, "end": tok.time})
            else:
                words[-1]["word"] += piece
                words[-1]["end"] = tok.time
        return [w for w in words if w["word"]]


class Transcriber:
    """Greedy streaming transcription of one stream (batch of one lane).

    >>> t = Transcriber.from_checkpoint("runs/demo")          # doctest: +SKIP
    >>> for chunk in chunks: print(t.feed(chunk), end="")      # doctest: +SKIP
    >>> print(t.finish())                                      # doctest: +SKIP
    """

    def __init__(self, loaded: LoadedModel, device: str | torch.device = "cpu"):
        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.device = torch.device(device)
        self.frame_seconds = loaded.features.frame_shift * self.model.subsampling
        self.features = StreamingFeatures(loaded.features)
        self.reset()

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "cpu") -> Transcriber:
        return cls(load_model(path, device), device)

    def reset(self) -> None:
        """Start a new stream: features, encoder state and decoder state all return to their initial values."""
        self.features.reset()
        self.state = self.model.init_state(1, self.device)
        self.token_ids: list[int] = []
        self.token_times: list[float] = []
        self.frames_done = 0
        self._text = ""

    @property
    def text(self) -> str:
        return self._text

    def transcript(self) -> Transcript:
        pieces = self.tokenizer.id_to_piece if hasattr(self.tokenizer, "id_to_piece") else str
        return Transcript(self._text, [Token(i, pieces(i), t) for i, t in
                                       zip(self.token_ids, self.token_times, strict=True)])

    def feed(self, samples: np.ndarray | torch.Tensor) -> str:
        """Feed 16 kHz mono float samples; returns the text that became final with them."""
        return self._decode(self.features.feed(torch.as_tensor(samples, dtype=torch.float32).reshape(-1)))

    def finish(self) -> str:
        """End of stream: flush the last partial frame; returns the remaining new text."""
        return self._decode(self.features.flush())

    @torch.no_grad()
    def _decode(self, feats: torch.Tensor) -> str:
        if feats.shape[0] == 0:
            return ""
        x = feats.to(self.device)[None]
        lengths = torch.tensor([feats.shape[0]], device=self.device)
        tokens, frames, out_lens, self.state = self.model.decode_step(x, lengths, self.state)
        self.token_ids.extend(tokens[0])
        self.token_times.extend((self.frames_done + f + 1) * self.frame_seconds for f in frames[0])
        self.frames_done += int(out_lens[0])
        if not tokens[0]:  # nothing new: skip re-decoding the whole token list
            return ""
        text = self.tokenizer.decode(self.token_ids)
        new = text[len(self._text):] if text.startswith(self._text) else text
        self._text = text
        return new


def transcribe_waveform(transcriber: Transcriber, waveform: torch.Tensor, chunk_seconds: float,
                        sample_rate: int = 16_000) -> Transcript:
    """Reset, stream ``waveform`` in chunks of ``chunk_seconds`` and finish: the whole transcript."""
    transcriber.reset()
    step = max(1, int(round(chunk_seconds * sample_rate)))
    for begin in range(0, waveform.numel(), step):
        transcriber.feed(waveform[begin:begin + step])
    transcriber.finish()
    return transcriber.transcript()
