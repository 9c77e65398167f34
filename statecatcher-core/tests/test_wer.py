"""WER/CER against hand-checked examples, and the normaliser that both sides go through."""

from statecatcher.decode.wer import ErrorCounts, char_errors, word_errors
from statecatcher.text import TextNormalizer, normalize


def test_word_errors_hand_checked():
    # sat->sit (S), the->mat (S), +too (I): 3 errors over 6 reference words
    counts = word_errors("the cat sat on the mat", "the cat sit on mat mat too")
    assert (counts.substitutions, counts.deletions, counts.insertions, counts.ref_words) == (2, 0, 1, 6)
    assert counts.rate == 0.5


def test_deletions_and_empty_sides():
    assert word_errors("a b c", "a c") == ErrorCounts(0, 1, 0, 3)
    assert word_errors("a b", "") == ErrorCounts(0, 2, 0, 2)
    assert word_errors("", "x y").rate == 1.0
    assert word_errors("", "").rate == 0.0


def test_counts_add_up_over_recordings():
    total = word_errors("a b c d", "a b c d") + word_errors("e f", "e g")
    assert total == ErrorCounts(1, 0, 0, 6)
    assert abs(total.rate - 1 / 6) < 1e-12


def test_character_errors():
    assert char_errors("abc", "abd") == ErrorCounts(1, 0, 0, 3)
    assert char_errors("ab", "").rate == 1.0


def test_normaliser_defaults_and_round_trip():
    assert normalize("Hello, World! It's 'quoted' -- fine.") == "hello world it's quoted fine"
    keep_case = TextNormalizer(lowercase=False, strip_punctuation=False)
    assert keep_case("Hi,  there.") == "Hi, there."
    assert TextNormalizer.from_dict(keep_case.to_dict()) == keep_case


def test_normaliser_is_idempotent():
    for text in ["'' a' 'b", "rock 'n' roll", "It's  'quoted', isn't it?"]:
        once = normalize(text)
        assert normalize(once) == once
