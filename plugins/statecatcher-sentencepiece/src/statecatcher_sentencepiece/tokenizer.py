"""A sentencepiece tokenizer whose id 0 is the CTC/RNN-T blank.

Our ids are sentencepiece ids shifted by one (``id = sp_id + 1``): id 0 is the blank, which no text ever
encodes to and which decodes to nothing; ``<unk>`` is sentencepiece's id 0, i.e. our id 1.  Sentencepiece
is trained with ``vocab_size - 1`` pieces and no ``<s>``/``</s>``/``<pad>``, so ``vocab_size`` counts every
id including the blank.

A model directory holds ``tokenizer.model`` (the sentencepiece model) and ``tokenizer.json`` (``vocab_size``,
``model_type``, ``blank_id``, ``offset``, ...), written last so its presence means the model is complete.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import sentencepiece as spm

from statecatcher.files import write_atomically

MODEL_FILE = "tokenizer.model"
META_FILE = "tokenizer.json"
OFFSET = 1  # our id = sentencepiece id + OFFSET; id 0 is the blank
MODEL_TYPES = ("unigram", "bpe")
_RESERVED_OPTIONS = {"vocab_size", "model_type", "character_coverage", "unk_id", "bos_id", "eos_id", "pad_id",
                     "sentence_iterator", "model_writer", "input", "model_prefix", "logstream"}


class SentencePieceTokenizer:
    """``train`` / ``load`` / ``encode`` / ``decode`` (see :class:`statecatcher.protocols.Tokenizer`).

    ``max_sentences`` caps how many transcripts are read from the stream for training (the first ones, in
    the data source's deterministic order).  Further ``spm_options`` go to ``SentencePieceTrainer.train``
    unchanged (e.g. ``split_digits=True``, ``num_threads=2``, ``max_sentence_length=16384``).
    """

    blank_id = 0

    def __init__(self, model_type: str = "unigram", max_sentences: int = 200_000, character_coverage: float = 1.0,
                 **spm_options: Any) -> None:
        if model_type not in MODEL_TYPES:
            raise ValueError(f"sentencepiece: model_type must be one of {', '.join(MODEL_TYPES)}, got {model_type!r}")
        if max_sentences < 1:
            raise ValueError(f"sentencepiece: max_sentences must be positive, got {max_sentences}")
        clashes = sorted(_RESERVED_OPTIONS & spm_options.keys())
        if clashes:
            raise ValueError(f"sentencepiece: options {', '.join(clashes)} are set by the tokenizer itself")
        self.model_type = model_type
        self.max_sentences = max_sentences
        self.character_coverage = character_coverage
        self.spm_options = spm_options
        self.vocab_size = 0
        self._sp: spm.SentencePieceProcessor | None = None

    # ---------------------------------------------------------------------------------------- train / load
    def train(self, texts: Iterable[str], vocab_size: int, model_dir: Path) -> None:
        """Learn ``vocab_size - 1`` pieces from (at most ``max_sentences``) normalised ``texts``; save and load."""
        if vocab_size < 3:
            raise ValueError(f"sentencepiece: --vocab-size must be at least 3 (blank, <unk>, a piece), "
                             f"got {vocab_size}")
        sentences = list(itertools.islice((t for t in texts if t.strip()), self.max_sentences))
        if not sentences:
            raise ValueError("sentencepiece: no non-empty transcripts to train the tokenizer on")
        model = io.BytesIO()
        with open(os.devnull, "w") as quiet, _stderr_with_file_descriptor():
            try:
                spm.SentencePieceTrainer.train(
                    sentence_iterator=iter(sentences), model_writer=model, logstream=quiet,
                    vocab_size=vocab_size - OFFSET, model_type=self.model_type,
                    character_coverage=self.character_coverage,
                    unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1, **self.spm_options,
                )
            except RuntimeError as exc:
                raise ValueError(_explain_training_error(str(exc), vocab_size, len(sentences))) from exc
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        write_atomically(model_dir / MODEL_FILE, model.getvalue())
        meta = {"vocab_size": vocab_size, "model_type": self.model_type, "blank_id": self.blank_id,
                "unk_id": OFFSET, "offset": OFFSET, "character_coverage": self.character_coverage,
                "num_sentences": len(sentences), "sentencepiece_version": spm.__version__}
        write_atomically(model_dir / META_FILE, (json.dumps(meta, indent=2) + "\n").encode())
        self.load(model_dir)

    def load(self, model_dir: Path) -> None:
        """Read ``tokenizer.json`` and ``tokenizer.model`` from ``model_dir`` (``FileNotFoundError`` if absent)."""
        model_dir = Path(model_dir)
        meta_path, model_path = model_dir / META_FILE, model_dir / MODEL_FILE
        for path in (meta_path, model_path):
            if not path.is_file():
                raise FileNotFoundError(f"sentencepiece: no trained tokenizer in {model_dir} ({path.name} missing)")
        meta = json.loads(meta_path.read_text())
        if meta.get("blank_id") != self.blank_id or meta.get("offset") != OFFSET:
            raise ValueError(f"{meta_path}: expected blank_id={self.blank_id} and offset={OFFSET}, got "
                             f"blank_id={meta.get('blank_id')} and offset={meta.get('offset')}")
        sp = spm.SentencePieceProcessor(model_file=str(model_path))
        if sp.get_piece_size() + OFFSET != meta["vocab_size"]:
            raise ValueError(f"{meta_path}: vocab_size {meta['vocab_size']} does not match {model_path.name} "
                             f"({sp.get_piece_size()} pieces + blank)")
        self._sp = sp
        self.vocab_size = meta["vocab_size"]
        self.model_type = meta["model_type"]

    # ---------------------------------------------------------------------------------------- encode / decode
    @property
    def unk_id(self) -> int:
        return self._processor().unk_id() + OFFSET

    def encode(self, text: str) -> list[int]:
        """Normalised text -> ids in ``1 .. vocab_size - 1`` (never the blank)."""
        return [i + OFFSET for i in self._processor().encode(text, out_type=int)]

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> text; blanks are dropped."""
        return self._processor().decode([i - OFFSET for i in ids if i != self.blank_id])

    def id_to_piece(self, token_id: int) -> str:
        """The surface piece of one id (``"<blank>"`` for the blank), for debugging and alignments."""
        return "<blank>" if token_id == self.blank_id else self._processor().id_to_piece(token_id - OFFSET)

    def _processor(self) -> spm.SentencePieceProcessor:
        if self._sp is None:
            raise RuntimeError("sentencepiece: tokenizer is untrained; call train(...) or load(model_dir) first")
        return self._sp


def _explain_training_error(message: str, vocab_size: int, num_sentences: int) -> str:
    """Turn sentencepiece's vocabulary-size errors into advice about ``--vocab-size`` (our ids, blank included)."""
    too_high = re.search(r"Please set it to a value <= (\d+)", message)
    if too_high:
        limit = int(too_high.group(1)) + OFFSET
        return (f"sentencepiece: --vocab-size {vocab_size} is too large for the training text "
                f"({num_sentences} transcripts); use --vocab-size {limit} or less, or train on more text")
    too_low = re.search(r"smaller than required_chars\. \d+ vs (\d+)", message)
    if too_low:
        minimum = int(too_low.group(1)) + OFFSET
        return (f"sentencepiece: --vocab-size {vocab_size} cannot hold every character of the training text; "
                f"use --vocab-size {minimum} or more (or lower character_coverage)")
    return f"sentencepiece training failed (--vocab-size {vocab_size}, {num_sentences} transcripts): {message}"



@contextlib.contextmanager
def _stderr_with_file_descriptor() -> Iterator[None]:
    """sentencepiece's quiet mode redirects ``sys.stderr.fileno()``; a ``sys.stderr`` without one (click's
    CliRunner, a notebook) is swapped for the process's own stderr meanwhile."""
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        original, sys.stderr = sys.stderr, sys.__stderr__
        try:
            yield
        finally:
            sys.stderr = original
        return
    yield
