"""``TokenizerConformance``: the pytest suite every tokenizer plugin runs, over plain check functions.

A plugin's test file is a few lines::

    from statecatcher.testing import TokenizerConformance
    from statecatcher_sentencepiece.tokenizer import SentencePieceTokenizer

    class TestSentencePieceConformance(TokenizerConformance):
        registered_name = "sentencepiece"

        def make_tokenizer(self):
            return SentencePieceTokenizer(model_type="unigram")

Every check trains a fresh tokenizer on :data:`SAMPLE_TEXTS` (normalised with the default
:class:`~statecatcher.text.TextNormalizer`) into a directory of its own and raises
:class:`~statecatcher.testing.checks.ConformanceError` naming the text and the ids that broke the contract.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ..protocols import Tokenizer
from ..text import normalize
from .checks import ConformanceError

TokenizerFactory = Callable[[], Any]

SAMPLE_TEXTS: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog.",
    "She sells sea shells by the sea shore.",
    "How much wood would a woodchuck chuck if a woodchuck could chuck wood?",
    "Peter Piper picked a peck of pickled peppers.",
    "It's a long way to the top if you want to rock and roll.",
    "We'll meet again, don't know where, don't know when.",
    "The rain in Spain stays mainly in the plain.",
    "Twenty-one people waited at the station for the 9:15 train.",
    "Jack and Jill went up the hill to fetch a pail of water.",
    "Better late than never, but never late is better.",
    "Curiosity killed the cat, but satisfaction brought it back.",
    "Every cloud has a silver lining.",
    "Good things come to those who wait patiently.",
    "If it ain't broke, don't fix it.",
    "Laughter is the best medicine for a weary heart.",
    "Once upon a time, in a kingdom far away, lived a young queen.",
    "Quiet waters run deep beneath the frozen lake.",
    "Rome wasn't built in a day, and neither was this town.",
    "Time flies like an arrow; fruit flies like a banana.",
    "Under the xylophone, the zebra found a jar of quinces.",
)
"""A small built-in training corpus (raw; the checks normalise it).  A vocabulary of 64 fits it."""

HELD_OUT_TEXTS: tuple[str, ...] = (
    "the zebra picked a quiet pail of frozen peppers",
    "nine hundred and twelve woodchucks don't wait",
)
"""Unseen sentences made of characters the sample contains: they must round-trip too."""

UNSEEN_CHARACTER_TEXT = "ñandú 7"
"""Characters absent from the sample: they may become ``<unk>`` but never the blank."""


def sample_texts() -> list[str]:
    return [normalize(text) for text in SAMPLE_TEXTS]


def train_on_sample(make_tokenizer: TokenizerFactory, model_dir: Path, vocab_size: int) -> Tokenizer:
    """A fresh tokenizer trained on :data:`SAMPLE_TEXTS` into ``model_dir``."""
    tokenizer = make_tokenizer()
    tokenizer.train(iter(sample_texts()), vocab_size, Path(model_dir))
    return tokenizer


def _all_texts() -> list[str]:
    return [*sample_texts(), *(normalize(t) for t in HELD_OUT_TEXTS), normalize(UNSEEN_CHARACTER_TEXT)]


# ---------------------------------------------------------------------------------------------- checks
def check_round_trip(make_tokenizer: TokenizerFactory, model_dir: Path, vocab_size: int) -> None:
    """``decode(encode(text)) == text`` for the sample and for held-out text of seen characters."""
    tokenizer = train_on_sample(make_tokenizer, model_dir, vocab_size)
    for text in [*sample_texts(), *(normalize(t) for t in HELD_OUT_TEXTS)]:
        ids = tokenizer.encode(text)
        decoded = tokenizer.decode(ids)
        if decoded != text:
            raise ConformanceError(f"round trip broke: {text!r} -> {ids} -> {decoded!r}")


def check_blank_is_reserved(make_tokenizer: TokenizerFactory, model_dir: Path, vocab_size: int) -> None:
    """Blank is id 0, is not ``<unk>``, is never encoded and decodes to nothing, even between tokens."""
    tokenizer = train_on_sample(make_tokenizer, model_dir, vocab_size)
    blank = tokenizer.blank_id
    if blank != 0:
        raise ConformanceError(f"blank_id is {blank}, the toolkit reserves 0")
    unk = tokenizer.unk_id
    if unk == blank or not 0 < unk < tokenizer.vocab_size:
        raise ConformanceError(f"unk_id {unk} must differ from the blank and lie in 1..{tokenizer.vocab_size - 1}")
    if tokenizer.decode([blank]) != "":
        raise ConformanceError(f"decode([blank]) gave {tokenizer.decode([blank])!r}, expected ''")
    for text in _all_texts():
        ids = tokenizer.encode(text)
        if blank in ids:
            raise ConformanceError(f"encode({text!r}) yields the blank: {ids}")
        with_blanks = [blank, *(x for i in ids for x in (i, blank)), blank]
        if tokenizer.decode(with_blanks) != tokenizer.decode(ids):
            raise ConformanceError(f"blanks change the decoding of {text!r}: {tokenizer.decode(with_blanks)!r}")


def check_ids_within_vocab(make_tokenizer: TokenizerFactory, model_dir: Path, vocab_size: int) -> None:
    """``vocab_size`` is what was asked for; every encoded id lies in ``1 .. vocab_size - 1`` and decodes."""
    tokenizer = train_on_sample(make_tokenizer, model_dir, vocab_size)
    if tokenizer.vocab_size != vocab_size:
        raise ConformanceError(f"trained with vocab_size={vocab_size}, tokenizer reports {tokenizer.vocab_size}")
    for text in _all_texts():
        ids = tokenizer.encode(text)
        outside = [i for i in ids if not 0 < i < vocab_size]
        if outside or not ids:
            raise ConformanceError(f"encode({text!r}) = {ids}: ids {outside} outside 1..{vocab_size - 1}")
    for token_id in range(vocab_size):
        if not isinstance(tokenizer.decode([token_id]), str):
            raise ConformanceError(f"decode([{token_id}]) is not a str")


def check_train_then_load_gives_same_ids(make_tokenizer: TokenizerFactory, model_dir: Path, vocab_size: int) -> None:
    """A fresh tokenizer that ``load``s the saved ``model_dir`` encodes and decodes identically."""
    trained = train_on_sample(make_tokenizer, model_dir, vocab_size)
    loaded = make_tokenizer()
    loaded.load(Path(model_dir))
    facts = lambda tok: (tok.vocab_size, tok.blank_id, tok.unk_id)  # noqa: E731
    if facts(loaded) != facts(trained):
        raise ConformanceError(f"(vocab_size, blank_id, unk_id) trained {facts(trained)} != loaded {facts(loaded)}")
    for text in _all_texts():
        if loaded.encode(text) != trained.encode(text):
            raise ConformanceError(f"{text!r}: trained ids {trained.encode(text)} != loaded {loaded.encode(text)}")
        if loaded.decode(trained.encode(text)) != trained.decode(trained.encode(text)):
            raise ConformanceError(f"{text!r}: the loaded tokenizer decodes differently")


# ---------------------------------------------------------------------------------------------- the suite
class TokenizerConformance:
    """Subclass it (the subclass's name starts with ``Test``) and implement :meth:`make_tokenizer`."""

    vocab_size: int = 64
    registered_name: str | None = None

    def make_tokenizer(self) -> Any:
        """A fresh, untrained tokenizer."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_tokenizer(self)")

    def test_round_trip(self, tmp_path: Path) -> None:
        check_round_trip(self.make_tokenizer, tmp_path / "tokenizer", self.vocab_size)

    def test_blank_is_not_unk_or_a_piece(self, tmp_path: Path) -> None:
        check_blank_is_reserved(self.make_tokenizer, tmp_path / "tokenizer", self.vocab_size)

    def test_ids_within_vocab(self, tmp_path: Path) -> None:
        check_ids_within_vocab(self.make_tokenizer, tmp_path / "tokenizer", self.vocab_size)

    def test_train_then_load_gives_same_ids(self, tmp_path: Path) -> None:
        check_train_then_load_gives_same_ids(self.make_tokenizer, tmp_path / "tokenizer", self.vocab_size)

    def test_is_registered_under_entry_point(self) -> None:
        if self.registered_name is None:
            pytest.skip("registered_name is None: this tokenizer is not registered under an entry point")
        import statecatcher

        entry = statecatcher.get_registry().get("tokenizer", self.registered_name)
        assert entry.distribution is not None, (
            f"tokenizer {self.registered_name!r} is registered by {entry.origin}, not by an installed package")
        built, local = statecatcher.get_tokenizer(self.registered_name), self.make_tokenizer()
        assert type(built) is type(local), (
            f"tokenizer {self.registered_name!r} builds {type(built).__qualname__}, "
            f"expected {type(local).__qualname__}")
        assert isinstance(built, Tokenizer)
