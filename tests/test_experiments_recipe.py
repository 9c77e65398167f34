"""The experiments' shared recipe (experiments/recipe.py) pins what the published numbers were measured with,
instead of following the trainer's defaults: when feature normalisation became the default (2026-12-03), the
filter benchmark's loss model silently changed (tone words, seed 0: 21.2 % of the clean segments flagged
instead of 16.8 %), and so did both experiments."""

from __future__ import annotations

from pathlib import Path

from experiments.recipe import PINNED, run_config
from statecatcher.data.segmenter import SegmenterConfig
from statecatcher.train.config import RunConfig


def test_the_shared_recipe_pins_feature_normalisation_and_specaugment_off(tmp_path: Path):
    config = run_config(tmp_path / "corpus", tmp_path / "run", segmenter=SegmenterConfig(), steps=10, seed=3)
    assert (config.feature_norm, config.spec_augment, config.threads, config.seed) == (False, False, 1, 3)
    assert PINNED == {"feature_norm": False, "spec_augment": False}


def test_a_caller_can_still_turn_them_on(tmp_path: Path):
    config = run_config(tmp_path / "corpus", tmp_path / "run", segmenter=SegmenterConfig(), steps=10, seed=0,
                        feature_norm=True)
    assert config.feature_norm is True


def test_the_trainer_default_differs_so_the_pin_matters():
    assert RunConfig().feature_norm is True
