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


def test_the_segmenter_has_one_home_the_segmenter_table_and_the_flat_names_are_aliases(tmp_path):
    from statecatcher.data.segmenter import SegmenterConfig, training_segmenter

    path = tmp_path / "run.toml"
    path.write_text("[segmenter]\nsegment_seconds = 8\nmin_seconds = 2\n")
    config = RunConfig.load(path, {"max_segment_seconds": 12.0})  # --max-segment-seconds 12
    assert config.segmenter == SegmenterConfig(segment_seconds=8.0, min_seconds=2.0, max_seconds=12.0)
    config.save_toml(tmp_path / "saved.toml")
    saved = (tmp_path / "saved.toml").read_text()
    assert '[segmenter]\nsegment_seconds = 8.0\nmin_seconds = 2.0\nmax_seconds = 12.0\noverlong = "keep"\n' in saved
    assert "min_segment_seconds" not in saved
    assert RunConfig.load(tmp_path / "saved.toml") == config
    # a config saved before the table existed (flat keys) loads into the table, and eval reads either form
    path.write_text('segment_seconds = 6.0\nmin_segment_seconds = 3.0\noverlong_segments = "skip"\n')
    old = RunConfig.load(path)
    assert old.segmenter == SegmenterConfig(segment_seconds=6.0, min_seconds=3.0, overlong="skip")
    assert training_segmenter(old.to_dict()) == old.segmenter
    assert training_segmenter({"segment_seconds": 6.0, "min_segment_seconds": 3.0, "overlong_segments": "skip"}) \
        == old.segmenter


def test_segmenter_mistakes_name_the_table_key():
    with pytest.raises(ConfigError, match=r"unknown key 'segmenter.segment_secs'"):
        RunConfig.load(None, {"segmenter": {"segment_secs": 3.0}})
    with pytest.raises(ConfigError, match=r"config key 'segmenter.overlong' must be str"):
        RunConfig.load(None, {"overlong_segments": 1})
    with pytest.raises(ConfigError, match=r"\[segmenter\]: segmenter: need 0 < min_seconds <= segment_seconds"):
        RunConfig.load(None, {"segment_seconds": 2.0, "min_segment_seconds": 3.0})
