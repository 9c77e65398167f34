"""The train/dev/test split is by episode, deterministic, disjoint and complete."""

from __future__ import annotations

import pytest

from statecatcher_synth.corpus import split_of


@pytest.mark.parametrize(("episodes", "counts"), [
    (1, (1, 0, 0)), (2, (1, 0, 1)), (3, (1, 1, 1)), (6, (4, 1, 1)), (9, (5, 2, 2)), (12, (8, 2, 2)),
])
def test_split_sizes(episodes, counts):
    splits = [split_of(index, episodes) for index in range(episodes)]
    assert tuple(splits.count(name) for name in ("train", "dev", "test")) == counts


@pytest.mark.parametrize("episodes", range(1, 31))
def test_split_orders_train_then_dev_then_test(episodes):
    splits = [split_of(index, episodes) for index in range(episodes)]
    order = {"train": 0, "dev": 1, "test": 2}
    assert splits[0] == "train" and [order[s] for s in splits] == sorted(order[s] for s in splits)


def test_corpus_manifest_splits_are_disjoint_and_follow_the_rule(tiny_episodes):
    rows = [row for row, _, _ in tiny_episodes]
    assert [row["split"] for row in rows] == [split_of(i, len(rows)) for i in range(len(rows))]
    by_split = {name: {row["id"] for row in rows if row["split"] == name} for name in ("train", "dev", "test")}
    assert set.union(*by_split.values()) == {row["id"] for row in rows}
    assert sum(map(len, by_split.values())) == len(rows)


@pytest.mark.parametrize(("episodes", "held_out", "counts"), [
    (3, 1, (1, 1, 1)), (12, 1, (10, 1, 1)), (96, 8, (80, 8, 8)), (17, 8, (1, 8, 8)),
])
def test_held_out_fixes_the_dev_and_test_sizes(episodes, held_out, counts):
    splits = [split_of(index, episodes, held_out) for index in range(episodes)]
    assert tuple(splits.count(name) for name in ("train", "dev", "test")) == counts
    assert splits[-held_out:] == ["test"] * held_out  # the last episodes, as without held_out


def test_held_out_that_leaves_no_training_episode_is_refused_before_synthesis(tmp_path):
    from click.testing import CliRunner

    from statecatcher_synth.cli import synth_corpus

    result = CliRunner().invoke(synth_corpus, ["--out", str(tmp_path / "c"), "--episodes", "4", "--held-out", "2"])
    assert result.exit_code == 2 and "held_out" in result.output and "got 2" in result.output
    assert not (tmp_path / "c").exists()


def test_held_out_is_part_of_the_cache_key_and_its_default_keeps_old_keys():
    from statecatcher_synth.corpus import corpus_key

    assert corpus_key(episodes=12, held_out=None) == corpus_key(episodes=12)
    assert corpus_key(episodes=12, held_out=1) != corpus_key(episodes=12)
