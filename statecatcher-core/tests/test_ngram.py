"""The n-gram estimator against hand-computed Kneser-Ney numbers, ARPA round trips, back-off queries."""

from __future__ import annotations

import math

import pytest

from statecatcher.decode.ngram import NgramLM

CORPUS = [s.split() for s in ["a b", "a c", "b"]]
WORDS = ["a", "b", "c", "</s>", "<unk>"]


def p(lm: NgramLM, context: tuple[str, ...], word: str) -> float:
    return math.exp(lm.log_prob(context, word))


def test_bigram_kneser_ney_matches_hand_computed_counts():
    # padded: <s> a b </s> | <s> a c </s> | <s> b </s>
    # unigram continuation counts: a 1 ({<s>}), b 2 ({a, <s>}), c 1 ({a}), </s> 2 ({b, c}); total 6, 4 types
    # D = 0.5: gamma() = 0.5 * 4 / 6 = 1/3, spread uniformly over 5 words (a b c </s> <unk>)
    lm = NgramLM.estimate(CORPUS, order=2, discount=0.5)
    assert p(lm, (), "a") == pytest.approx(0.5 / 6 + 1 / 15)
    assert p(lm, (), "b") == pytest.approx(1.5 / 6 + 1 / 15)
    assert p(lm, (), "<unk>") == p(lm, (), "never-seen") == pytest.approx(1 / 15)
    # bigram "a b": raw counts c(a b) = c(a c) = 1, gamma(a) = 0.5 * 2 / 2
    assert p(lm, ("a",), "b") == pytest.approx(0.5 / 2 + 0.5 * (1.5 / 6 + 1 / 15))
    # unseen after b: the back-off weight gamma(b) = 0.5 * 1 / 2 times the unigram
    assert p(lm, ("b",), "a") == pytest.approx(0.25 * (0.5 / 6 + 1 / 15))
    # "<s> a": c = 2 of the 3 sentence starts, gamma(<s>) = 0.5 * 2 / 3
    assert p(lm, ("<s>",), "a") == pytest.approx(1.5 / 3 + (1 / 3) * (0.5 / 6 + 1 / 15))


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_every_context_is_a_distribution(order):
    lm = NgramLM.estimate([s.split() for s in ["a b a c", "b b a", "c a b c a", "a"]], order=order)
    for context in [(), ("<s>",), ("a",), ("b", "a"), ("c", "a"), ("a", "b", "c"), ("zzz",)]:
        assert sum(p(lm, context, w) for w in WORDS) == pytest.approx(1.0, abs=1e-9), context


def test_arpa_round_trip(tmp_path):
    lm = NgramLM.estimate([s.split() for s in ["the cat sat", "the cat", "a hat"]], order=3)
    path = lm.write_arpa(tmp_path / "lm.arpa")
    text = path.read_text()
    # 5 words + <s> </s> <unk>; bigrams and trigrams as observed
    assert "\\data\\\nngram 1=8\nngram 2=8\nngram 3=6\n" in text and text.rstrip().endswith("\\end\\")
    again = NgramLM.read_arpa(path)
    assert again.order == 3
    for context, word in [(("<s>", "the"), "cat"), (("the", "cat"), "sat"), (("a",), "cat"), ((), "dog")]:
        assert again.log_prob(context, word) == pytest.approx(lm.log_prob(context, word), abs=1e-6)


def test_bad_input_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.arpa"
    bad.write_text("\\data\\\nngram 1=1\n\n\\1-grams:\n-1.0\n")
    with pytest.raises(ValueError, match=r"bad.arpa:5: not an ARPA n-gram line"):
        NgramLM.read_arpa(bad)
    with pytest.raises(ValueError, match="no words"):
        NgramLM.estimate([[], []], order=2)


def test_kenlm_reads_our_arpa_files_the_same_way(tmp_path):
    # KenLM's python module (an sdist that compiles; not a dependency) queries ARPA files but cannot estimate
    kenlm = pytest.importorskip("kenlm")
    lm = NgramLM.estimate([s.split() for s in ["the cat sat on the mat", "the dog sat", "a cat ran"]], order=3)
    model = kenlm.Model(str(lm.write_arpa(tmp_path / "lm.arpa")))
    for sentence in ["the cat sat", "a dog ran on the mat", "zebra the cat", "the"]:
        context, ours = ("<s>",), 0.0
        for word in [*sentence.split(), "</s>"]:
            ours += lm.log_prob(context, word) / math.log(10)
            context = (*context, word)
        assert model.score(sentence, bos=True, eos=True) == pytest.approx(ours, abs=1e-5), sentence
