"""Same seed -> identical bytes (whatever the worker count); another seed -> other audio; the cache reuses."""

from __future__ import annotations

import json

import pytest

from statecatcher_synth.corpus import build_corpus, cached_corpus, corpus_key


@pytest.mark.slow
def test_same_seed_gives_identical_files_with_any_worker_count(tiny_corpus, tiny_params, tmp_path):
    rebuilt = build_corpus(tmp_path / "again", **tiny_params, progress=False, workers=2)
    names = sorted(path.name for path in tiny_corpus.iterdir())
    assert names == sorted(path.name for path in rebuilt.iterdir())
    for name in names:
        assert (rebuilt / name).read_bytes() == (tiny_corpus / name).read_bytes(), name


def test_another_seed_gives_other_episodes(tiny_corpus, tiny_params, tmp_path):
    other = build_corpus(tmp_path / "other", episodes=1, minutes=(0.2, 0.2), seed=tiny_params["seed"] + 1,
                         progress=False, workers=1)
    ours = json.loads((tiny_corpus / "ep0000.json").read_text())
    theirs = json.loads((other / "ep0000.json").read_text())
    assert ours["text"] != theirs["text"]
    assert (other / "ep0000.flac").read_bytes() != (tiny_corpus / "ep0000.flac").read_bytes()


def test_cached_corpus_is_reused_and_keyed_by_parameters(tiny_corpus, tiny_params):
    stamp = (tiny_corpus / "manifest.jsonl").stat().st_mtime_ns
    assert cached_corpus(tiny_corpus.parent, **tiny_params, progress=False) == tiny_corpus
    assert (tiny_corpus / "manifest.jsonl").stat().st_mtime_ns == stamp
    assert tiny_corpus.name == corpus_key(**tiny_params)
    assert corpus_key(**{**tiny_params, "seed": 8}) != corpus_key(**tiny_params)
    assert corpus_key(**{**tiny_params, "effects": ("reverb",)}) != corpus_key(**tiny_params)
    assert corpus_key(**{**tiny_params, "segments": "sentences"}) != corpus_key(**tiny_params)
    assert corpus_key(**{**tiny_params, "segments": "turns"}) == corpus_key(**tiny_params)  # the default
    assert [p.name for p in tiny_corpus.parent.iterdir()] == [tiny_corpus.name]   # no scratch left behind


def test_sentence_segments_cut_the_same_audio_and_words_at_every_sentence(tiny_corpus, tiny_params, tmp_path):
    finer = build_corpus(tmp_path / "sentences", **tiny_params, segments="sentences", progress=False, workers=1)
    for name in sorted(path.name for path in tiny_corpus.iterdir() if path.suffix == ".json"):
        turns, sentences = (json.loads((corpus / name).read_text()) for corpus in (tiny_corpus, finer))
        audio = name.replace(".json", ".flac")
        assert (finer / audio).read_bytes() == (tiny_corpus / audio).read_bytes()
        assert sentences["text"] == turns["text"]
        assert [(s["start"], s["end"]) for s in sentences["segments"]] == [
            (x["start"], x["end"]) for turn in turns["segments"] for x in turn["sentences"]]
    with pytest.raises(ValueError, match="segments: must be one of"):
        build_corpus(tmp_path / "bad", **tiny_params, segments="words", progress=False)
