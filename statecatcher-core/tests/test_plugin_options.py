"""Plugin options come from the factory's signature: flags, types, help, and errors naming option and plugin.

A throw-away plugin registers the encoder ``toy`` here, so these tests need no third-party plugin.
"""

import functools
import json

import pytest
from click.testing import CliRunner

from statecatcher import hookimpl
from statecatcher.cli import cli
from statecatcher.options import PluginOptionError, check_options, options_of
from statecatcher.plugins import get, registered


class ToyEncoder:
    def __init__(self, input_dim: int = 80, hidden_dim: int = 64, pattern: str | list[str] = "m,s",
                 width: float = 1.0, output_dim: int | None = None, causal: bool = True, *, mode: str = "fast"):
        self.options = dict(hidden_dim=hidden_dim, pattern=pattern, width=width, output_dim=output_dim,
                            causal=causal, mode=mode)


def toy_tokenizer(model_type: str = "unigram", **extra):
    return (model_type, extra)


def toy_loss(input_dim: int, vocab_size: int, blank_id: int = 0, scale: float = 1.0):
    return (input_dim, vocab_size, blank_id, scale)


class ToyPlugin:
    @hookimpl
    def register_encoders(self, register):
        register("toy", ToyEncoder, options={"hidden_dim": "model width", "pattern": "block pattern"})
        register("toy6", functools.partial(ToyEncoder, mode="six"))

    @hookimpl
    def register_tokenizers(self, register):
        register("toytok", toy_tokenizer)

    @hookimpl
    def register_losses(self, register):
        register("toyloss", toy_loss)


@pytest.fixture
def toy():
    with registered(ToyPlugin(), name="toy-plugin"):
        yield


def test_options_are_the_factory_keywords_with_types_defaults_and_help(toy):
    options = options_of(get("encoder", "toy")).options
    assert list(options) == ["hidden_dim", "pattern", "width", "output_dim", "causal", "mode"]  # not input_dim
    assert {name: o.type for name, o in options.items()} == {
        "hidden_dim": int, "pattern": None, "width": float, "output_dim": int, "causal": bool, "mode": str}
    assert (options["hidden_dim"].default, options["hidden_dim"].help, options["hidden_dim"].flag) == (
        64, "model width", "--toy-hidden-dim")
    assert "mode" not in options_of(get("encoder", "toy6")).options  # bound by the partial: not an option


def test_unknown_option_names_the_option_the_plugin_and_the_valid_ones(toy):
    with pytest.raises(PluginOptionError, match=r"encoder_options: encoder 'toy' .* has no option 'patern' "
                                                r"\(did you mean 'pattern'\?\)\. Its options: causal, hidden_dim"):
        check_options(options_of(get("encoder", "toy")), {"patern": "m"}, "encoder_options")
    with pytest.raises(PluginOptionError, match="option 'hidden_dim' of encoder 'toy' must be int, got str 'wide'"):
        check_options(options_of(get("encoder", "toy")), {"hidden_dim": "wide"}, "encoder_options")
    check_options(options_of(get("encoder", "toy")), {"width": 2, "pattern": ["m", "s"]}, "encoder_options")
    # a factory taking **kwargs accepts any further name
    check_options(options_of(get("tokenizer", "toytok")), {"split_digits": True}, "tokenizer_options")


def test_help_shows_the_chosen_plugins_flags_only(toy):
    shown = CliRunner().invoke(cli, ["run", "--encoder", "toy", "--loss=toyloss", "--help"], terminal_width=200).output
    assert "--toy-hidden-dim INTEGER" in shown and "[toy] model width  [default: 64]" in shown
    assert "--toy-causal / --no-toy-causal" in shown and "--toy-pattern VALUE" in shown
    assert "--toyloss-scale FLOAT" in shown
    assert not any(f"--{name}" in shown for name in ("toy-input-dim", "toyloss-input-dim", "toyloss-blank-id"))
    assert "--toy-hidden-dim" not in CliRunner().invoke(cli, ["run", "--help"], terminal_width=200).output


def test_flags_file_and_generic_options_merge_into_encoder_options(toy, tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr("statecatcher.train.loop.train", lambda config: seen.setdefault("config", config) and 1 / 0)
    monkeypatch.setattr("statecatcher.train.loop.check_model_builds", lambda config: None)  # toys build no model
    (tmp_path / "run.toml").write_text('encoder = "toy"\n[encoder_options]\nwidth = 0.5\nmode = "slow"\n')
    result = CliRunner().invoke(cli, [
        "run", "--config", str(tmp_path / "run.toml"), "--toy-pattern", "m,m", "--no-toy-causal",
        "--toy-output-dim", "8", "--encoder-opt", "mode=fast", "--tokenizer", "toytok", "--loss", "toyloss",
        "--data", f"local:{tmp_path}"], catch_exceptions=True)
    if "config" not in seen:
        pytest.fail(result.output)
    assert seen["config"].encoder_options == {"width": 0.5, "mode": "fast", "pattern": "m,m", "causal": False,
                                              "output_dim": 8}


def test_a_misspelt_option_fails_before_any_data_is_touched(toy, tmp_path, monkeypatch):
    monkeypatch.setattr("statecatcher.train.loop.train", lambda config: pytest.fail("training started"))
    result = CliRunner().invoke(cli, ["run", "--encoder", "toy", "--encoder-opt", "patern=m", "--tokenizer", "toytok",
                                      "--loss", "toyloss", "--data", "local:/no/such/folder"])
    assert result.exit_code == 2, result.output
    assert "has no option 'patern'" in result.output and "encoder 'toy'" in result.output


def test_nested_tracker_options_round_trip_through_the_saved_config(tmp_path):
    from statecatcher.train.config import RunConfig

    config = RunConfig(trackers=["jsonl", "aim"], tracker_options={"aim": {"repo": "x/.aim", "experiment": "e"}},
                       encoder_options={"pattern": "m,s"})
    config.save_toml(tmp_path / "config.toml")
    assert RunConfig.load(tmp_path / "config.toml") == config
    flags_win = RunConfig.load(tmp_path / "config.toml", {"tracker_options": {"aim": {"repo": "y"}}})
    assert flags_win.tracker_options == {"aim": {"repo": "y", "experiment": "e"}}
    assert json.loads(json.dumps(flags_win.to_dict()))["encoder_options"] == {"pattern": "m,s"}
