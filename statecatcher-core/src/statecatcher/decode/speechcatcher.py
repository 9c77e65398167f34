"""A speechcatcher-compatible streaming front for :class:`~statecatcher.decode.streaming.Transcriber`.

speechcatcher calls its streaming recogniser once per audio chunk with ``is_final`` on the last one and reads
``(text, tokens, token_ids, token_positions, hypothesis)``; this class gives a statecatcher model that shape::

    from statecatcher.decode.speechcatcher import SpeechcatcherStream
    asr = SpeechcatcherStream.from_checkpoint("model.pt")   # a pack, checkpoint or run dir
    asr = SpeechcatcherStream.from_checkpoint("model.pt", decoder=DecoderConfig("beam"))  # beam search (+ its LM)
    for chunk, last in chunks:                               # float32 16 kHz mono numpy arrays
        text, tokens, token_ids, token_positions, hyp = asr(chunk, is_final=last)
    asr.reset()                                              # next recording

``token_positions`` are output-frame indices from the start of the stream; ``asr.frame_seconds`` turns them
into seconds.  ``hypothesis`` is the :class:`~statecatcher.decode.streaming.Transcript` so far (with a beam
search: the best hypothesis so far, which later chunks may still revise; final once ``is_final``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .decoder import DecoderConfig
from .streaming import Transcriber, Transcript


class SpeechcatcherStream:
    def __init__(self, transcriber: Transcriber):
        self.transcriber = transcriber
        self.frame_seconds = transcriber.frame_seconds

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu",
                        decoder: DecoderConfig = DecoderConfig()) -> SpeechcatcherStream:
        return cls(Transcriber.from_checkpoint(path, device, decoder))

    def reset(self) -> None:
        """Forget the stream: features, encoder and decoder state."""
        self.transcriber.reset()

    def __call__(self, speech_chunk: np.ndarray | torch.Tensor,
                 is_final: bool = False) -> tuple[str, list[str], list[int], list[int], Transcript]:
        self.transcriber.feed(speech_chunk)
        if is_final:
            self.transcriber.finish()
        hypothesis = self.transcriber.transcript()
        positions = [round(t.time / self.frame_seconds) - 1 for t in hypothesis.tokens]
        return (hypothesis.text, [t.piece for t in hypothesis.tokens], [t.id for t in hypothesis.tokens],
                positions, hypothesis)
