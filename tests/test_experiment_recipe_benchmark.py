"""The recipe benchmark's plumbing (experiments/recipe_benchmark.py, ``nox -s recipe``): the two runs it
launches see the same audio, the wide one follows the documented lr rule, and its report states the targets.
The benchmark itself takes ~45 min; its numbers are in docs/recipes.md."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from experiments.recipe_benchmark import (
    LANES,
    WIDE_LR,
    WIDE_LR_CAP,
    by_condition,
    corpus_hours,
    lane_steps,
    report,
    train_command,
)
from statecatcher.train.config import RunConfig
from statecatcher.train.presets import PRESETS


def _flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_the_wide_run_sees_the_same_audio_at_the_square_root_learning_rate(tmp_path: Path):
    steps = lane_steps(800)
    one = train_command(tmp_path, tmp_path / "a", lanes=1, steps=steps[1], seed=0)
    wide = train_command(tmp_path, tmp_path / "b", lanes=LANES, steps=steps[LANES], seed=0)
    assert int(_flag(one, "--max-steps")) == LANES * int(_flag(wide, "--max-steps"))  # equal segments
    assert "--batch-size" not in one and int(_flag(wide, "--batch-size")) == LANES
    one_lane_lr = PRESETS["cpu-recipe"]["lr"]
    assert float(_flag(wide, "--lr")) == float(WIDE_LR) > one_lane_lr
    assert float(WIDE_LR) == pytest.approx(min(one_lane_lr * math.sqrt(LANES), WIDE_LR_CAP), rel=0.01)
    assert int(_flag(wide, "--warmup-steps")) * LANES <= PRESETS["cpu-recipe"]["warmup_steps"]  # same audio share
    assert _flag(one, "--preset") == _flag(wide, "--preset") == "cpu-recipe"


def test_the_recipe_preset_is_a_valid_one_thread_config():
    config = RunConfig.from_dict({"preset": "cpu-recipe", "data": "local:corpus"})
    assert (config.encoder, config.threads, config.batch_size, config.spec_augment) == ("rwkv7", 1, 1, False)


def _summary_run(**extra) -> dict:
    """One run's entry of a benchmark result, as much of it as :func:`report` reads, plus ``extra``."""
    return {"steps": 10, "train_seconds": 5.0, "test": {"cer": 0.2, "wer": 0.5}, "test_lm": {"cer": 0.1, "wer": 0.3},
            "best": {"step": 10, "dev_cer": 0.25}, **extra}


def test_corpus_hours_and_report(tmp_path: Path):
    rows = [{"split": "train", "duration": 5400.0}, {"split": "test", "duration": 1800.0},
            {"split": "train", "duration": 1800.0}]
    (tmp_path / "manifest.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert corpus_hours(tmp_path) == {"test": 0.5, "train": 2.0}
    run = _summary_run()
    text = report({"corpus": {"train": 2.0}, "wall_seconds": 120.0, "runs": {"1": run, "8": run},
                   "wide_vs_one_relative_cer": 0.0})
    assert "held-out greedy CER 20.0% / WER 50.0%" in text and "CER <= 15%, WER <= 35%" in text
    assert "wall 2.0 min for the benchmark, budget 45 min for the nox session: within it" in text


def test_a_benchmark_past_its_time_budget_says_so():
    run = _summary_run()
    text = report({"corpus": {}, "wall_seconds": 50.1 * 60, "runs": {"1": run}, "wide_vs_one_relative_cer": 0.0})
    assert "wall 50.1 min for the benchmark, budget 45 min for the nox session: OVER BUDGET" in text


def _scores(char_errors: int, chars: int, word_errors: int, words: int) -> dict:
    return {"chars": {"substitutions": char_errors, "deletions": 0, "insertions": 0, "ref_words": chars},
            "words": {"substitutions": 0, "deletions": word_errors, "insertions": 0, "ref_words": words}}


def test_held_out_scores_are_pooled_by_the_effects_each_episode_got(tmp_path: Path):
    rows = [{"id": "a", "split": "test", "effects": []}, {"id": "b", "split": "test", "effects": ["noise"]},
            {"id": "c", "split": "test", "effects": []}, {"id": "d", "split": "test", "effects": ["reverb", "noise"]}]
    (tmp_path / "manifest.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    recordings = {"a": _scores(10, 100, 5, 20), "b": _scores(50, 100, 15, 20), "c": _scores(30, 300, 5, 60),
                  "d": _scores(7, 10, 1, 2)}
    (tmp_path / "eval.json").write_text(json.dumps([{"recordings": recordings}]))
    assert by_condition(tmp_path / "eval.json", tmp_path) == {
        "clean": {"episodes": 2, "cer": 0.1, "wer": 0.125},  # (10 + 30) / 400 chars, (5 + 5) / 80 words
        "noise": {"episodes": 1, "cer": 0.5, "wer": 0.75}, "reverb+noise": {"episodes": 1, "cer": 0.7, "wer": 0.5}}
    run = _summary_run(test_by_condition=by_condition(tmp_path / "eval.json", tmp_path))
    text = report({"corpus": {}, "wall_seconds": 60.0, "runs": {"1": run}, "wide_vs_one_relative_cer": 0.0})
    assert "clean CER 10.0% / WER 12.5% (2 ep.)" in text and "reverb+noise CER 70.0% / WER 50.0% (1 ep.)" in text
    (tmp_path / "manifest.jsonl").write_text(json.dumps({"id": "a", "split": "test"}) + "\n")  # effects unknown
    (tmp_path / "eval.json").write_text(json.dumps([{"recordings": {"a": recordings["a"]}}]))
    assert by_condition(tmp_path / "eval.json", tmp_path) == {}


def test_held_out_scores_split_by_whether_a_sentence_was_also_spoken_in_training(tmp_path: Path):
    from experiments.text_overlap import by_text_seen

    def transcript(name: str, texts: list[str]) -> str:
        sentences = [{"start": 0.0, "end": 1.0, "text": text} for text in texts]
        (tmp_path / name).write_text(json.dumps({"segments": [{"text": " ".join(texts), "sentences": sentences}]}))
        return name

    rows = [{"id": "a", "split": "train", "transcript": transcript("a.json", ["Hello world.", "Good day."])},
            {"id": "b", "split": "test", "transcript": transcript("b.json", ["Good day!", "New words here."])}]
    (tmp_path / "manifest.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    recordings = {"b": {"reference": "good day new words here", "hypothesis": "good dy new word here"}}
    (tmp_path / "eval.json").write_text(json.dumps([{"recordings": recordings}]))
    # "good day" (+ the space after it: 9 chars, 2 words) lost one character and one word; "new words here"
    # (14 chars, 3 words) one character and one word
    assert by_text_seen(tmp_path / "eval.json", tmp_path) == {
        "seen": {"words": 2, "cer": round(1 / 9, 4), "wer": 0.5},
        "unseen": {"words": 3, "cer": round(1 / 14, 4), "wer": round(1 / 3, 4)}, "skipped": []}
    recordings["b"]["reference"] = "good day new words"  # does not line up with the transcript: skipped
    (tmp_path / "eval.json").write_text(json.dumps([{"recordings": recordings}]))
    assert by_text_seen(tmp_path / "eval.json", tmp_path)["skipped"] == ["b"]
    run = _summary_run(test_by_text={"seen": {"words": 2, "cer": 0.1, "wer": 0.5},
                                     "unseen": {"words": 3, "cer": 0.2, "wer": 0.4}})
    text = report({"corpus": {}, "wall_seconds": 60.0, "runs": {"1": run}, "wide_vs_one_relative_cer": 0.0})
    assert "greedy, test sentences also in train (2 words) CER 10.0% / WER 50.0%; unseen (3 words) CER 20.0%" in text


def test_a_corpus_with_held_out_text_reports_every_test_sentence_unheard():
    run = _summary_run(test_by_text={"seen": {"words": 0, "cer": None, "wer": None},
                                     "unseen": {"words": 3, "cer": 0.2, "wer": 0.4}, "skipped": []})
    text = report({"corpus": {}, "wall_seconds": 60.0, "runs": {"1": run}, "wide_vs_one_relative_cer": 0.0})
    assert "greedy: every test sentence unheard in training (3 words)" in text


def test_the_two_runs_are_scored_side_by_side_on_one_core_each(monkeypatch, tmp_path: Path):
    import experiments.recipe_benchmark as recipe

    monkeypatch.setattr(recipe, "statecatcher", lambda *args, **kwargs: None)  # the LM estimate
    monkeypatch.setattr(recipe, "held_out_scores", lambda run_dir, corpus, out, decodes: decodes)
    decodes = recipe.score(tmp_path, tmp_path)
    assert set(decodes) == {"test", "test_lm"}
    assert all(flags[flags.index("--threads") + 1] == "1" for flags in decodes.values())
    assert decodes["test_lm"][-len(recipe.LM_DECODING):] == recipe.LM_DECODING


def test_steps_sets_both_runs_compute_and_a_too_small_count_is_refused(monkeypatch, tmp_path: Path, capsys):
    import experiments.recipe_benchmark as recipe

    asked = {}
    monkeypatch.setattr(recipe, "run_recipe", lambda out, **kwargs: asked.update(kwargs) or {})
    monkeypatch.setattr(recipe, "report", lambda result: "")
    recipe.main(["--out", str(tmp_path), "--steps", "20400"])
    assert asked == {"seed": 0, "quick": False, "steps": 20400}
    assert lane_steps(asked["steps"]) == {1: 20400, LANES: 20400 // LANES}
    with pytest.raises(SystemExit) as stopped:
        recipe.main(["--out", str(tmp_path), "--steps", "4"])
    assert stopped.value.code == 2 and f"--steps 4: needs at least {LANES}" in capsys.readouterr().err
