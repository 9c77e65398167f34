"""Experiments keep their synthesised corpus between runs (experiments/corpus.py's ``ensure_corpus``); a kept
corpus made with other ``synth-corpus`` arguments must not be scored as if it were the one asked for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments import runner
from experiments.corpus import SYNTH_ARGS_FILE, StaleCorpusError, ensure_corpus


@pytest.fixture
def synthesised(monkeypatch) -> list[tuple[str, ...]]:
    """``synth-corpus`` replaced by one that writes a manifest; returns the calls."""
    calls = []

    def fake_statecatcher(*args: str, env=None) -> None:
        calls.append(args)
        out = Path(args[args.index("--out") + 1])
        out.mkdir(parents=True)
        (out / "manifest.jsonl").write_text("{}\n")

    monkeypatch.setattr(runner, "statecatcher", fake_statecatcher)
    return calls


def test_a_kept_corpus_is_reused_only_for_the_arguments_that_made_it(tmp_path: Path, synthesised, capsys):
    corpus = tmp_path / "corpus"
    ensure_corpus(corpus, ["--no-progress", "--episodes", "4", "--segments", "sentences"])
    assert len(synthesised) == 1
    assert json.loads((corpus / SYNTH_ARGS_FILE).read_text()) == ["--episodes", "4", "--segments", "sentences"]

    assert ensure_corpus(corpus, ["--episodes", "4", "--segments", "sentences"]) == corpus  # --no-progress: same
    assert len(synthesised) == 1
    with pytest.raises(StaleCorpusError, match=r"corpus was synthesised with `synth-corpus --episodes 4 "
                                               r"--segments sentences`, this experiment needs `--episodes 4`"):
        ensure_corpus(corpus, ["--episodes", "4"])
    assert len(synthesised) == 1

    (corpus / SYNTH_ARGS_FILE).unlink()  # a corpus from before the record: reused, with a note
    ensure_corpus(corpus, ["--episodes", "4"])
    assert len(synthesised) == 1 and "delete it if it was not made with: --episodes 4" in capsys.readouterr().out
