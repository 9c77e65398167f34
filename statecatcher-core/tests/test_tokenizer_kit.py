"""The tokenizer conformance suite passes a correct character tokenizer and catches each broken one;
``train_or_load`` trains once per model directory and records the normaliser beside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from statecatcher import hookimpl
from statecatcher.plugins import registered
from statecatcher.registry import UnknownNameError
from statecatcher.testing import TokenizerConformance
from statecatcher.testing.checks import ConformanceError
from statecatcher.testing.tokenizer import (
    check_blank_is_reserved,
    check_ids_within_vocab,
    check_round_trip,
    check_train_then_load_gives_same_ids,
)
from statecatcher.text import TextNormalizer
from statecatcher.tokenizer_utils import NORMALIZER_FILE, load_normalizer, train_or_load


class CharTokenizer:
    """One id per character seen in training: 0 blank, 1 ``<unk>``, then the characters in sorted order."""

    blank_id = 0
    unk_id = 1

    def __init__(self) -> None:
        self.vocab_size, self.chars = 0, ""

    def train(self, texts, vocab_size, model_dir):
        chars = "".join(sorted(set("".join(texts))))[: vocab_size - 2]
        Path(model_dir).mkdir(parents=True, exist_ok=True)
        (Path(model_dir) / "chars.json").write_text(json.dumps({"vocab_size": vocab_size, "chars": chars}))
        self.load(model_dir)

    def load(self, model_dir):
        path = Path(model_dir) / "chars.json"
        if not path.is_file():
            raise FileNotFoundError(path)
        saved = json.loads(path.read_text())
        self.vocab_size, self.chars = saved["vocab_size"], saved["chars"]

    def encode(self, text):
        return [self.chars.index(c) + 2 if c in self.chars else self.unk_id for c in text]

    def decode(self, ids):
        return "".join(self.chars[i - 2] if i >= 2 else "" for i in ids if i < len(self.chars) + 2)


class BlankIsUnkTokenizer(CharTokenizer):
    unk_id = 0


class BlankDecodesAsSpaceTokenizer(CharTokenizer):
    def decode(self, ids):
        return "".join(" " if i == self.blank_id else super(BlankDecodesAsSpaceTokenizer, self).decode([i])
                       for i in ids)


class DropsApostrophesTokenizer(CharTokenizer):
    def encode(self, text):
        return super().encode(text.replace("'", ""))


class IdsBeyondVocabTokenizer(CharTokenizer):
    def encode(self, text):
        return [i + self.vocab_size for i in super().encode(text)]


class ReordersOnLoadTokenizer(CharTokenizer):
    def load(self, model_dir):
        super().load(model_dir)
        if (Path(model_dir) / "loaded-once").exists():
            self.chars = self.chars[::-1]
        (Path(model_dir) / "loaded-once").touch()


CHECKS = {
    "round_trip": check_round_trip,
    "blank": check_blank_is_reserved,
    "ids": check_ids_within_vocab,
    "reload": check_train_then_load_gives_same_ids,
}


@pytest.mark.parametrize("check", CHECKS)
def test_correct_tokenizer_passes_every_check(check, tmp_path):
    CHECKS[check](CharTokenizer, tmp_path, 64)


@pytest.mark.parametrize("broken, check, message", [
    (BlankIsUnkTokenizer, "blank", "unk_id 0 must differ from the blank"),
    (BlankDecodesAsSpaceTokenizer, "blank", "decode"),
    (DropsApostrophesTokenizer, "round_trip", "round trip broke: \"it's"),
    (IdsBeyondVocabTokenizer, "ids", "outside 1..63"),
    (ReordersOnLoadTokenizer, "reload", "trained ids"),
])
def test_each_broken_tokenizer_fails_its_check(broken, check, message, tmp_path):
    with pytest.raises(ConformanceError, match=message):
        CHECKS[check](broken, tmp_path, 64)


class TestCharTokenizerConformance(TokenizerConformance):
    def make_tokenizer(self):
        return CharTokenizer()


class _ThrowAwayPlugin:
    @hookimpl
    def register_tokenizers(self, register):
        register("chars-test", CharTokenizer)


def test_registration_check_needs_the_name_and_an_installed_package():
    suite = TestCharTokenizerConformance()
    suite.registered_name = "no-such-tokenizer"
    with pytest.raises(UnknownNameError, match="no-such-tokenizer"):
        suite.test_is_registered_under_entry_point()
    suite.registered_name = "chars-test"
    with registered(_ThrowAwayPlugin(), name="chars-test-plugin"):
        with pytest.raises(AssertionError, match="not by an installed package"):
            suite.test_is_registered_under_entry_point()


# ---------------------------------------------------------------------------------------------- train_or_load
def test_train_or_load_trains_once_and_records_the_normalizer(tmp_path):
    assert train_or_load(CharTokenizer(), lambda: ["hello world"], 40, tmp_path) is True
    assert json.loads((tmp_path / "chars.json").read_text())["chars"] == " dehlorw"
    assert load_normalizer(tmp_path) == TextNormalizer()
    mtime = (tmp_path / "chars.json").stat().st_mtime_ns

    def must_not_read():
        raise AssertionError("read the transcripts although a matching model exists")

    reused = CharTokenizer()
    assert train_or_load(reused, must_not_read, 40, tmp_path) is False
    assert reused.chars == " dehlorw" and (tmp_path / "chars.json").stat().st_mtime_ns == mtime


def test_train_or_load_retrains_for_another_vocab_size_or_normalizer(tmp_path):
    assert train_or_load(CharTokenizer(), lambda: ["hello world"], 40, tmp_path) is True
    assert train_or_load(CharTokenizer(), lambda: ["hello world"], 41, tmp_path) is True
    cased = TextNormalizer(lowercase=False, strip_punctuation=False)
    assert train_or_load(CharTokenizer(), lambda: [cased("Hello, World!")], 41, tmp_path, normalizer=cased) is True
    assert json.loads((tmp_path / "chars.json").read_text())["chars"] == " !,HWdelor"
    assert load_normalizer(tmp_path) == cased
    assert train_or_load(CharTokenizer(), lambda: [], 41, tmp_path, normalizer=cased) is False


def test_load_normalizer_names_the_missing_or_bad_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=NORMALIZER_FILE):
        load_normalizer(tmp_path)
    (tmp_path / NORMALIZER_FILE).write_text('{"lowercase": true, "shout": true}')
    with pytest.raises(ValueError, match=f"{NORMALIZER_FILE}: not a TextNormalizer record"):
        load_normalizer(tmp_path)
