"""Streaming transcription with carried state: audio chunks in, text out, in constant memory.

The feature extractor, the encoder and the decoder (CTC's last token, RNN-T's predictor, or a beam search's
hypotheses) all carry state, so the transcript does not depend on the chunk size.  ``reset()`` resets all three.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.features import StreamingFeatures
from .beam import best, final_length, stable_length
from .decoder import DecoderConfig, build_search
from .incremental import IncrementalText
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


class TokenLog:
    """What a transcriber has decoded so far: ``token_ids``, ``token_times`` (seconds), ``_text`` and its
    ``tokenizer``: the onnxruntime transcriber's; the torch :class:`Transcriber` commits finished words
    incrementally and overrides ``text`` and ``transcript``."""

    tokenizer: Any
    token_ids: list[int]
    token_times: list[float]
    _text: str

    @property
    def text(self) -> str:
        return self._text

    def transcript(self) -> Transcript:
        pieces = self.tokenizer.id_to_piece if hasattr(self.tokenizer, "id_to_piece") else str
        return Transcript(self._text, [Token(i, pieces(i), t) for i, t in
                                       zip(self.token_ids, self.token_times, strict=True)])


class Transcriber(TokenLog):
    """Streaming transcription of one stream (batch of one lane), greedy or with a beam search.

    ``search`` is a loss head's streaming beam search (:mod:`statecatcher.decode.beam`); None decodes greedily.
    With a beam search, :attr:`text` is the best hypothesis so far (it may still change) and ``feed`` returns
    only text every hypothesis agrees on.

    Work per chunk does not grow with the stream: finished words are decoded once
    (:class:`~statecatcher.decode.incremental.IncrementalText`), and with a beam search the tokens every
    hypothesis shares, with their frames, are committed to :attr:`final_ids` and never read back again.

    >>> t = Transcriber.from_checkpoint("runs/demo")          # doctest: +SKIP
    >>> for chunk in chunks: print(t.feed(chunk), end="")      # doctest: +SKIP
    >>> print(t.finish())                                      # doctest: +SKIP
    """

    def __init__(self, loaded: LoadedModel, device: str | torch.device = "cpu", search=None):
        self.loaded = loaded
        self.search = search
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.device = torch.device(device)
        self.frame_seconds = loaded.features.frame_shift * self.model.subsampling
        self.features = StreamingFeatures(loaded.features)
        self.words = IncrementalText(self.tokenizer)
        self.reset()

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "cpu",
                        decoder: DecoderConfig = DecoderConfig(), which: str = "last") -> Transcriber:
        """From a pack, a checkpoint or a run directory's ``last`` (or ``best``) checkpoint."""
        loaded = load_model(path, device, which)
        return cls(loaded, device, build_search(loaded, decoder))

    def reset(self) -> None:
        """Start a new stream: features, encoder state and decoder state all return to their initial values."""
        self.features.reset()
        self.state = self.model.init_state(1, self.device)
        if self.search is not None:
            self.state["head"] = self.search.init_state()
        self.words.reset()
        self.final_ids: list[int] = []  # tokens that can no longer change, and their times (Seconds)
        self.final_times: list[float] = []
        self._tail_ids: list[int] = []  # beam search: the best hypothesis's tokens after those, and their times
        self._tail_times: list[float] = []
        self.frames_done = 0
        self.walked_tokens = 0  # beam search: tokens read back from hypotheses (the work that must stay per chunk)
        self._rest = self._stable_rest = ""  # the text after ``words.text``: of the best / of the stable tokens

    @property
    def text(self) -> str:
        return self.words.text + self._rest

    @property
    def token_ids(self) -> list[int]:
        return [*self.final_ids, *self._tail_ids]

    @property
    def decoded_tokens(self) -> int:
        """Ids passed to the tokenizer since the transcriber was built (linear in the stream's length)."""
        return self.words.decoded_tokens

    def transcript(self) -> Transcript:
        pieces = self.tokenizer.id_to_piece if hasattr(self.tokenizer, "id_to_piece") else str
        return Transcript(self.text, [Token(i, pieces(i), t) for i, t in
                                      zip(self.token_ids, [*self.final_times, *self._tail_times], strict=True)])

    def feed(self, samples: np.ndarray | torch.Tensor) -> str:
        """Feed 16 kHz mono float samples; returns the text that became final with them."""
        return self._decode(self.features.feed(torch.as_tensor(samples, dtype=torch.float32).reshape(-1)))

    def finish(self) -> str:
        """End of stream: flush the last partial frame; returns the remaining new text."""
        return self._decode(self.features.flush(), final=True)

    @torch.no_grad()
    def _decode(self, feats: torch.Tensor, final: bool = False) -> str:
        if self.search is not None:
            return self._beam_decode(feats, final)
        if feats.shape[0] == 0:
            return ""
        x = feats.to(self.device)[None]
        lengths = torch.tensor([feats.shape[0]], device=self.device)
        tokens, frames, out_lens, self.state = self.model.decode_step(x, lengths, self.state)
        times = [(self.frames_done + f + 1) * self.frame_seconds for f in frames[0]]
        self.frames_done += int(out_lens[0])
        if not tokens[0]:  # nothing new: no text to decode
            return ""
        return self._update_text(tokens[0], times, [], [], [])

    def _beam_decode(self, feats: torch.Tensor, final: bool) -> str:
        """Beam search on this chunk's frames; returns the newly stable text (all of the rest when ``final``)."""
        beam = self.state["head"]
        if feats.shape[0]:
            lengths = torch.tensor([feats.shape[0]], device=self.device)
            out, out_lens, encoder_state = self.model.encode(feats.to(self.device)[None], lengths,
                                                              self.state["encoder"])
            beam = self.search.step(out[0, :int(out_lens[0])], beam)
            self.state["encoder"] = encoder_state
        if final:
            beam = self.search.finish(beam)
        self.state["head"] = beam
        self.frames_done = beam.frames_done
        done = len(self.final_ids)
        hypothesis = best(beam)
        tail, tail_frames = hypothesis.tail(done)  # the best hypothesis's tokens after the final ones
        self.walked_tokens += len(tail)
        times = [(f + 1) * self.frame_seconds for f in tail_frames]
        settled = len(tail) if final else final_length(beam) - done
        stable = len(tail) if final else stable_length(beam) - done
        return self._update_text(tail[:settled], times[:settled], tail[settled:], times[settled:],
                                 tail[settled:stable])

    def _update_text(self, ids: list[int], times: list[float], tail: list[int], tail_times: list[float],
                     stable_tail: list[int]) -> str:
        """Commit the final ``ids``; the text after them is ``tail``'s, and the stable text ends with
        ``stable_tail``'s.  Returns the stable text added since the last call (all of it if it changed)."""
        self.final_ids.extend(ids)
        self.final_times.extend(times)
        self._tail_ids, self._tail_times = tail, tail_times
        committed = self.words.append(ids)
        self._rest = self.words.render(tail)
        stable_rest = self._rest if stable_tail == tail else self.words.render(stable_tail)
        grown = committed + stable_rest
        new = grown[len(self._stable_rest):] if grown.startswith(self._stable_rest) else self.words.text + stable_rest
        self._stable_rest = stable_rest
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
