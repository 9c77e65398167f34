"""The eval report's per-recording counts: words and characters, pooling to the report's totals."""

from __future__ import annotations

from statecatcher.decode.evaluate import EvalReport
from statecatcher.decode.wer import ErrorCounts, char_errors


def test_per_recording_word_and_char_counts_pool_to_the_totals():
    report = EvalReport(mode="segment")
    report.add("a", "the cat sat", "the cat sad")
    report.add("a", "on the mat", "on a mat")
    report.add("b", "hello world", "hollow world")
    data = report.to_dict()
    rows = data["recordings"]
    assert rows["b"]["chars"] == char_errors("hello world", "hollow world").to_dict()
    for unit in ("words", "chars"):
        for key in ("substitutions", "deletions", "insertions", "ref_words"):
            assert rows["a"][unit][key] + rows["b"][unit][key] == data[unit][key]
    assert rows["a"]["cer"] == (sum(rows["a"]["chars"][k] for k in ("substitutions", "deletions", "insertions"))
                                / rows["a"]["chars"]["ref_words"])


def test_error_counts_read_back_from_their_dict():
    counts = char_errors("hello world", "hollow word")
    assert ErrorCounts.from_dict(counts.to_dict()) == counts
