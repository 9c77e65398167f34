"""SentencePieceTokenizer: clear errors on bad vocab sizes, capped streaming, reuse through train_or_load."""

from __future__ import annotations

import json
import re

import pytest

from statecatcher.testing.tokenizer import SAMPLE_TEXTS, sample_texts
from statecatcher.text import TextNormalizer
from statecatcher.tokenizer_utils import load_normalizer, train_or_load
from statecatcher_sentencepiece.tokenizer import SentencePieceTokenizer


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_too_large_vocab_names_the_flag_and_a_size_that_works(model_type, tmp_path):
    with pytest.raises(ValueError, match=r"--vocab-size 5000 is too large .* use --vocab-size (\d+) or less") as info:
        SentencePieceTokenizer(model_type).train(sample_texts(), 5000, tmp_path)
    limit = int(re.search(r"use --vocab-size (\d+) or less", str(info.value)).group(1))
    tokenizer = SentencePieceTokenizer(model_type)
    tokenizer.train(sample_texts(), limit, tmp_path)
    assert tokenizer.vocab_size == limit
    with pytest.raises(ValueError, match="too large"):
        SentencePieceTokenizer(model_type).train(sample_texts(), limit + 1, tmp_path / "over")


def test_too_small_vocab_names_the_smallest_size_that_works(tmp_path):
    with pytest.raises(ValueError, match=r"cannot hold every character.* use --vocab-size (\d+) or more") as info:
        SentencePieceTokenizer().train(sample_texts(), 10, tmp_path)
    minimum = int(re.search(r"use --vocab-size (\d+) or more", str(info.value)).group(1))
    tokenizer = SentencePieceTokenizer()
    tokenizer.train(sample_texts(), minimum, tmp_path)
    assert tokenizer.vocab_size == minimum


def test_training_reads_at_most_max_sentences_from_the_stream(tmp_path):
    texts = sample_texts()

    def stream():
        yield ""  # blank transcripts are skipped, not counted
        yield from texts[:12]
        raise AssertionError("read past max_sentences")

    tokenizer = SentencePieceTokenizer(max_sentences=12)
    tokenizer.train(stream(), 48, tmp_path)
    meta = json.loads((tmp_path / "tokenizer.json").read_text())
    assert meta | {"num_sentences": 12, "vocab_size": 48, "blank_id": 0, "offset": 1, "unk_id": 1} == meta
    assert (tmp_path / "tokenizer.model").is_file()


def test_unseen_characters_become_unk_which_is_id_one(tmp_path):
    tokenizer = SentencePieceTokenizer()
    tokenizer.train(sample_texts(), 64, tmp_path)
    assert tokenizer.unk_id == 1 and tokenizer.id_to_piece(1) == "<unk>" and tokenizer.id_to_piece(0) == "<blank>"
    assert 1 in tokenizer.encode("ñ")
    assert {tokenizer.id_to_piece(i) for i in range(2, 64)}.isdisjoint({"<unk>", "<blank>", "<s>", "</s>", "<pad>"})


def test_bad_inputs_give_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="model_type must be one of unigram, bpe"):
        SentencePieceTokenizer("word")
    with pytest.raises(ValueError, match="unk_id, vocab_size are set by the tokenizer"):
        SentencePieceTokenizer(vocab_size=5, unk_id=3)
    with pytest.raises(ValueError, match="no non-empty transcripts"):
        SentencePieceTokenizer().train(["", "  "], 64, tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no trained tokenizer in .*tokenizer.json missing"):
        SentencePieceTokenizer().load(tmp_path / "nowhere")
    with pytest.raises(RuntimeError, match="untrained"):
        SentencePieceTokenizer().encode("hello")


def test_train_or_load_trains_once_then_reuses_the_saved_model(tmp_path):
    assert train_or_load(SentencePieceTokenizer(), sample_texts, 64, tmp_path) is True
    written = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    assert set(written) == {"tokenizer.model", "tokenizer.json", "normalizer.json"}
    assert json.loads((tmp_path / "normalizer.json").read_text()) == TextNormalizer().to_dict()

    def must_not_read():
        raise AssertionError("train_or_load read the transcripts although a matching model exists")

    reused = SentencePieceTokenizer()
    assert train_or_load(reused, must_not_read, 64, tmp_path) is False
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == written
    assert reused.vocab_size == 64 and reused.decode(reused.encode("hello world")) == "hello world"


def test_train_or_load_retrains_when_vocab_size_or_normalizer_differ(tmp_path):
    texts = sample_texts
    assert train_or_load(SentencePieceTokenizer(), texts, 64, tmp_path) is True
    tokenizer = SentencePieceTokenizer()
    assert train_or_load(tokenizer, texts, 48, tmp_path) is True and tokenizer.vocab_size == 48
    cased = TextNormalizer(lowercase=False)
    cased_texts = lambda: [cased(text) for text in SAMPLE_TEXTS]  # noqa: E731
    assert train_or_load(SentencePieceTokenizer(), cased_texts, 64, tmp_path, normalizer=cased) is True
    assert load_normalizer(tmp_path) == cased
    assert train_or_load(tokenizer, cased_texts, 64, tmp_path, normalizer=cased) is False
    assert tokenizer.decode(tokenizer.encode("The Rain")) == "The Rain"
