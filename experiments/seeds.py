"""Several seeds of one experiment as one result: every number the median over seeds, WERs with their range."""

from __future__ import annotations

import copy
from typing import Any

from experiments.tables import spread


def merge_seeds(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """``results.json`` dicts of :mod:`experiments.stateful` for several seeds (same runs, splits, decodes) ->
    one such dict whose every eval score, final loss and training time is the median over seeds; each eval entry
    also gets ``wer_range`` ``[min, max]``, and ``seed`` becomes the list of seeds."""
    merged = copy.deepcopy(per_seed[0])
    merged["seed"] = [results["seed"] for results in per_seed]
    merged["wall_seconds"] = sum(results["wall_seconds"] for results in per_seed)
    for name, run in merged["runs"].items():
        runs = [results["runs"][name] for results in per_seed]
        for key in ("final_loss", "train_seconds"):
            run[key] = spread(r[key] for r in runs)["median"]
        for split, decodes in run["eval"].items():
            for how, scores in decodes.items():
                for metric in scores:
                    scores[metric] = spread(r["eval"][split][how][metric] for r in runs)["median"]
                wers = spread(r["eval"][split][how]["wer"] for r in runs)
                scores["wer_range"] = [wers["min"], wers["max"]]
    return merged
