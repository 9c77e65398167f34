"""The stateful-vs-stateless experiment end to end at a tiny scale: paired runs, document from results.json."""

from __future__ import annotations

import json
import sys

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytest.importorskip("statecatcher_synth")
pytest.importorskip("statecatcher_lstm")

from experiments.stateful import BASE_STEPS, DECODES, cell, main, reliance  # noqa: E402


def test_tiny_experiment_pairs_identical_runs_and_documents_the_numbers_of_its_results_json(tmp_path):
    out, doc = tmp_path / "out", tmp_path / "docs" / "result.md"
    main(["--out", str(out), "--scale", str(5 / BASE_STEPS), "--encoders", "lstm", "--splits", "test",
          "--doc", str(doc)])

    results = json.loads((out / "results.json").read_text())
    assert set(results["runs"]) == {"lstm-ctc-stateful", "lstm-ctc-stateless"}
    assert results["corpus"]["episodes"]["test"] and results["corpus"]["episodes"]["train"]
    assert not set(results["corpus"]["episodes"]["test"]) & set(results["corpus"]["episodes"]["train"])

    configs = {name: tomllib.loads((out / name / "config.toml").read_text()) for name in results["runs"]}
    stateful, stateless = configs["lstm-ctc-stateful"], configs["lstm-ctc-stateless"]
    differing = {key for key in stateful if stateful[key] != stateless[key]}
    assert differing == {"stateless", "run_dir"}  # same seed, model, data order and step budget
    assert stateless["stateless"] and not stateful["stateless"]
    assert all(run["steps"] == results["steps"] == 5 for run in results["runs"].values())

    text = doc.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| lstm + ctc |")]
    assert len(rows) == 2
    for row, (name, run) in zip(rows, results["runs"].items(), strict=True):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1] == run["mode"]
        assert cells[2:2 + len(DECODES)] == [cell(run["eval"]["test"][key]) for key in DECODES]
        assert cells[-1] == f"{run['final_loss']:.3f}"
        assert (doc.parent / f"result-{name}-loss.png").read_bytes()[:4] == b"\x89PNG"
    assert "python -m experiments.stateful --out" in text
    assert f"{results['wall_seconds'] / 60:.1f} min" in text
    assert json.loads(doc.with_suffix(".results.json").read_text()) == results


@pytest.mark.parametrize("preset, threads", [("cpu-demo", None), ("cpu-recipe", 2)])
def test_preset_recipes_pair_their_preset_and_differ_only_in_stateless(tmp_path, preset, threads):
    from experiments.stateful import preset_pair_config
    from statecatcher.train.presets import PRESETS

    pair = {mode: preset_pair_config(preset, tmp_path / "corpus", tmp_path / mode, encoder="rwkv7", loss="ctc",
                                     steps=2000, seed=3, stateless=mode == "stateless", threads=threads)
            for mode in ("stateful", "stateless")}
    stateful, stateless = (vars(pair[mode]) for mode in ("stateful", "stateless"))
    assert {key for key in stateful if stateful[key] != stateless[key]} == {"stateless", "run_dir"}
    config = pair["stateful"]
    assert (config.encoder, config.lr, config.vocab_size, config.schedule, config.warmup_steps) == (
        PRESETS[preset]["encoder"], PRESETS[preset]["lr"], PRESETS[preset]["vocab_size"], PRESETS[preset]["schedule"],
        PRESETS[preset]["warmup_steps"])
    assert config.encoder_options == PRESETS[preset]["encoder_options"] and config.feature_norm
    assert (config.max_steps, config.seed, config.eval_every, config.data) == (2000, 3, 0, f"local:{tmp_path}/corpus")
    assert config.threads == (threads or PRESETS[preset]["threads"])


def test_the_recipe_recipe_describes_the_preset_and_corpus_the_runs_use():
    from experiments.recipe_benchmark import RECIPE_CORPUS
    from experiments.stateful import RECIPES
    from statecatcher.train.presets import PRESETS

    model = PRESETS["cpu-recipe"]["encoder_options"]
    episodes, minutes = (RECIPE_CORPUS[RECIPE_CORPUS.index(flag) + 1] for flag in ("--episodes", "--minutes"))
    assert f"rwkv7 {model['hidden_dim']} x {model['num_layers']} unless" in RECIPES["recipe"]
    assert f"{episodes} episodes of {minutes} min" in RECIPES["recipe"]


def test_corpus_and_threads_belong_to_the_recipe_recipe(tmp_path, capsys):
    from experiments.stateful import main

    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--threads", "2"])
    assert "--corpus and --threads go with --recipe recipe" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--recipe", "recipe", "--corpus", str(tmp_path)])
    assert f"--corpus {tmp_path}: no manifest.jsonl there" in capsys.readouterr().err


def test_the_reading_names_a_consistent_but_modest_reliance_instead_of_denying_it():
    """4.4 and 4.7 points worse the other way, for both models, was read as 'no consistent difference'."""
    assert "relies on the carried state" in reliance((0.682, 0.681), (0.740, 0.750))
    modest = reliance((0.682, 0.681), (0.726, 0.728))
    assert "(by 4.4 and 4.7 points): a modest reliance" in modest
    assert "no consistent difference" in reliance((0.682, 0.681), (0.726, 0.690))  # one model only
    assert "no consistent difference" in reliance((0.70, 0.70), (0.69, 0.71))
