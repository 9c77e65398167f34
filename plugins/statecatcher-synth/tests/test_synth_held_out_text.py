"""``--held-out-text``: dev and test episodes speak sentences that no train episode speaks; off, every episode
draws from the whole bank as before (so earlier corpora keep their bytes)."""

from __future__ import annotations

import pytest

from statecatcher_synth.corpus import corpus_key, split_of, text_part_of
from statecatcher_synth.plan import plan_episode
from statecatcher_synth.text import HELD_OUT_TEXT_SHARE, sentence_bank, text_part

VOICES = ("hibari", "piper")  # planning only: nothing is synthesized, so they need not be installed


def _sentences(plans) -> set[str]:
    return {utterance.text for plan in plans for utterance in plan.utterances}


def test_the_two_text_parts_split_the_bank_about_a_quarter_held_out():
    whole, train, held = sentence_bank(), sentence_bank("train"), sentence_bank("held_out")
    for kind in ("short", "long"):
        assert set(getattr(train, kind)) | set(getattr(held, kind)) == set(getattr(whole, kind))
        assert not set(getattr(train, kind)) & set(getattr(held, kind))
    share = (len(held.short) + len(held.long)) / (len(whole.short) + len(whole.long))
    assert share == pytest.approx(HELD_OUT_TEXT_SHARE, abs=0.03)
    assert all(text_part(s) == "held_out" for s in held.long[:50])
    with pytest.raises(ValueError, match="text part"):
        sentence_bank("test")


def _plans(episodes: int, held_out_text: bool):
    return [plan_episode(7, index, (1.0, 1.5), VOICES, text_part_of(split_of(index, episodes), held_out_text))
            for index in range(episodes)]


def test_held_out_episodes_speak_no_training_sentence_only_when_asked():
    episodes = 24
    for held_out_text in (False, True):
        plans = _plans(episodes, held_out_text)
        train = _sentences(p for p in plans if split_of(p.index, episodes) == "train")
        held = _sentences(p for p in plans if split_of(p.index, episodes) != "train")
        assert bool(train & held) is not held_out_text  # the shared bank repeats sentences across splits


def test_without_held_out_text_plans_and_cache_keys_are_unchanged():
    assert plan_episode(7, 3, (1.0, 1.5), VOICES) == plan_episode(7, 3, (1.0, 1.5), VOICES, None)
    assert corpus_key(episodes=12, held_out_text=False) == corpus_key(episodes=12)
    assert corpus_key(episodes=12, held_out_text=True) != corpus_key(episodes=12)


def test_the_cli_flag_reaches_the_corpus(tmp_path):
    import json

    from click.testing import CliRunner

    from statecatcher_synth.cli import synth_corpus

    out = tmp_path / "c"
    result = CliRunner().invoke(synth_corpus, ["--out", str(out), "--episodes", "3", "--minutes", "0.1-0.15",
                                               "--seed", "5", "--held-out-text", "--no-progress", "--workers", "1"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    parts = {row["split"]: {text_part(s["text"]) for segment in json.loads((out / row["transcript"]).read_text())
                            ["segments"] for s in segment["sentences"]} for row in rows}
    assert parts == {"train": {"train"}, "dev": {"held_out"}, "test": {"held_out"}}
