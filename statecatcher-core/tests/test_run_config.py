"""Run configs: TOML + flags, with errors naming the key and the file before any data is touched."""

import pytest

from statecatcher.train.config import ConfigError, RunConfig


def test_toml_round_trip_keeps_every_key(tmp_path):
    config = RunConfig(encoder="xlstm", encoder_options={"pattern": "m,s", "hidden_dim": 64}, trackers=["jsonl"])
    config.save_toml(tmp_path / "run.toml")
    assert RunConfig.load(tmp_path / "run.toml") == config


def test_flags_override_the_file(tmp_path):
    (tmp_path / "run.toml").write_text('batch_size = 3\nlr = 2e-3\n[encoder_options]\nhidden_dim = 32\n')
    config = RunConfig.load(tmp_path / "run.toml", {"batch_size": 5})
    assert (config.batch_size, config.lr, config.encoder_options) == (5, 2e-3, {"hidden_dim": 32})


def test_misspelt_key_names_key_and_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("batch_sise = 3\n")
    with pytest.raises(ConfigError, match=r"run\.toml.*'batch_sise'.*batch_size"):
        RunConfig.load(path)


def test_wrong_type_names_key(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('batch_size = "eight"\n')
    with pytest.raises(ConfigError, match="'batch_size' must be int"):
        RunConfig.load(path)
    with pytest.raises(ConfigError, match="'stateless' must be bool"):
        RunConfig.load(None, {"stateless": 1})


def test_inconsistent_values_are_rejected():
    with pytest.raises(ConfigError, match="accumulate_segments"):
        RunConfig.load(None, {"tbptt_segments": 2, "accumulate_segments": 3})
    with pytest.raises(ConfigError, match="data"):
        RunConfig.load(None, {"data": "corpus"})
