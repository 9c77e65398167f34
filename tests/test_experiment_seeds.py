"""Several seeds of the stateful experiment merged into one result (experiments/seeds.py): medians and WER ranges."""

from __future__ import annotations

from experiments.seeds import merge_seeds
from experiments.stateful import cell


def one_seed(seed: int, wer: float, loss: float) -> dict:
    scores = {"wer": wer, "cer": wer / 2, "length_ratio": 1.0}
    return {"seed": seed, "wall_seconds": 10.0, "steps": 5,
            "runs": {"lstm-ctc-stateful": {"final_loss": loss, "train_seconds": 4.0 + seed,
                                           "eval": {"test": {"recording": dict(scores)}}}}}


def test_merged_scores_are_medians_with_the_wer_range():
    merged = merge_seeds([one_seed(0, 0.9, 1.0), one_seed(1, 0.5, 3.0), one_seed(2, 0.7, 2.0)])
    run = merged["runs"]["lstm-ctc-stateful"]
    assert run["eval"]["test"]["recording"] == {"wer": 0.7, "cer": 0.35, "length_ratio": 1.0, "wer_range": [0.5, 0.9]}
    assert (run["final_loss"], run["train_seconds"]) == (2.0, 5.0)
    assert (merged["seed"], merged["wall_seconds"], merged["steps"]) == ([0, 1, 2], 30.0, 5)


def test_a_cell_shows_the_range_only_when_the_seeds_differ():
    assert cell({"wer": 0.7, "cer": 0.35, "length_ratio": 1.0, "wer_range": [0.5, 0.9]}) == \
        "70.0% / 35.0% (1.00) [50.0%-90.0%]"
    assert cell({"wer": 0.7, "cer": 0.35, "length_ratio": 1.0, "wer_range": [0.7, 0.7]}) == "70.0% / 35.0% (1.00)"
    assert cell({"wer": 0.7, "cer": 0.35, "length_ratio": 1.0}) == "70.0% / 35.0% (1.00)"
