"""`statecatcher run` with the real plugins: their options are flags, and mistakes in flags or in a run config
fail before any data is fetched, naming the key (or option and plugin).

The data specs point at a folder and a server that do not exist: an error about them would mean data was
touched before the config was checked.
"""

import pytest
from click.testing import CliRunner

from statecatcher.cli import cli
from statecatcher.options import declaration_problems, options_of
from statecatcher.plugins import get_registry
from statecatcher.registry import Entry

NO_DATA = ["--data", "local:/no/such/corpus", "--run-dir", "/no/such/run"]
NO_SERVER = 'data = "speechcatcher:http://127.0.0.1:9"\n'  # port 9 (discard): nothing listens


@pytest.fixture
def training_must_not_start(monkeypatch):
    monkeypatch.setattr("statecatcher.train.loop.train", lambda config: pytest.fail(f"training started: {config}"))


@pytest.fixture
def captured_config(monkeypatch):
    seen = []
    monkeypatch.setattr("statecatcher.train.loop.train", lambda config: seen.append(config) or 1 / 0)
    return seen


def run(*args: str):
    return CliRunner().invoke(cli, ["run", *args], terminal_width=200)


def test_every_plugin_option_is_declared_once_with_help_and_every_declaration_names_an_option():
    """Both directions, over every installed plugin and built-in: no option without help text, no help (or
    secret) for a name that is no option, and every declared secret redacted when saved."""
    problems = [problem for entry in get_registry().entries() for problem in declaration_problems(options_of(entry))]
    assert problems == []
    assert get_registry().get("data_source", "speechcatcher").secrets == {"api_key"}


def test_declaration_problems_names_each_kind_of_mistake():
    def factory(input_dim, *, hidden: int = 4, width: int = 2, key: str = ""):
        ...

    entry = Entry("encoder", "probe", factory, "probe-plugin", options={"hidden": "width of it", "hiden": "typo"},
                  secrets=frozenset({"key", "password_hint", "nothing"}))
    assert declaration_problems(options_of(entry)) == [
        "encoder 'probe' (plugin 'probe-plugin'): option 'key' has no help text in register(options=...)",
        "encoder 'probe' (plugin 'probe-plugin'): option 'width' has no help text in register(options=...)",
        "encoder 'probe' (plugin 'probe-plugin'): register(options=...) documents 'hiden', which is no option of "
        "its factory",
        "encoder 'probe' (plugin 'probe-plugin'): register(secrets=...) names 'nothing', which is no option of "
        "its factory",
        "encoder 'probe' (plugin 'probe-plugin'): register(secrets=...) names 'password_hint', which is no option "
        "of its factory",
        "encoder 'probe' (plugin 'probe-plugin'): secret option 'key' would be saved unredacted "
        "(statecatcher.secrets.is_secret_name)",
    ]


def test_the_declared_secret_api_key_is_a_plugin_flag_that_never_shows_a_value_and_is_redacted(captured_config,
                                                                                                tmp_path):
    shown = " ".join(run("--data", "speechcatcher:http://127.0.0.1:9", "--help").output.split())
    assert "--speechcatcher-api-key TEXT [speechcatcher] the server's API key" in shown
    assert "[secret: redacted in config.toml, checkpoints and logs]" in shown
    assert "--api-key" not in shown.replace("--speechcatcher-api-key", "")  # no special flag of core's any more
    run("--data", "speechcatcher:http://127.0.0.1:9", "--speechcatcher-api-key", "k-123", "--run-dir",
        str(tmp_path / "run"))
    (config,) = captured_config
    assert config.data_options == {"api_key": "k-123"}
    assert config.to_dict()["data_options"] == {"api_key": "***"}


def test_run_help_shows_the_chosen_encoder_and_loss_options():
    shown = run("--encoder", "xlstm", "--loss", "rnnt", "--help").output
    assert "--xlstm-pattern VALUE" in shown and "block pattern, comma-separated: m = mLSTM block" in shown
    assert "--xlstm-hidden-dim INTEGER" in shown and "[default: 256]" in shown
    assert "--rnnt-prune-range INTEGER" in shown and "--rnnt-pruned / --no-rnnt-pruned" in shown
    assert "--lstm-hidden-dim" not in shown  # the default encoder's options give way to the chosen one's
    assert "--lstm-hidden-dim INTEGER" in run("--help").output
    assert "--rwkv7-head-size INTEGER" in run("--encoder", "rwkv7", "--help").output
    assert "--rwkv7-version" not in run("--encoder", "rwkv7", "--help").output  # fixed by the factory


def test_xlstm_pattern_flag_lands_in_encoder_options(captured_config):
    run("--encoder", "xlstm", "--xlstm-pattern", "m,s", "--xlstm-hidden-dim", "64", "--encoder-opt", "dropout=0.1",
        "--loss", "rnnt", "--rnnt-pruned", *NO_DATA)
    (config,) = captured_config
    assert config.encoder_options == {"pattern": "m,s", "hidden_dim": 64, "dropout": 0.1}
    assert config.loss_options == {"pruned": True}


def test_misspelt_encoder_opt_names_the_option_and_the_plugin(training_must_not_start):
    result = run("--encoder", "xlstm", "--encoder-opt", "patern=m", *NO_DATA)
    assert result.exit_code == 2
    expected = "encoder 'xlstm' (statecatcher-xlstm 0.1.0) has no option 'patern' (did you mean 'pattern'?)"
    assert expected in result.output
    assert ("Its options: backend, chunk_size, cmn_frames, conv_kernel, dropout, freq_channels, hidden_dim, "
            "num_heads, pattern" in " ".join(result.output.split()))


@pytest.mark.parametrize(("flags", "message"), [
    (["--encoder", "rwkv7", "--rwkv7-hidden-dim", "33"],
     "encoder 'rwkv7' + loss 'ctc': RWKV encoder option hidden_dim=33 must be a multiple of head_size=32"),
    (["--encoder", "lstm", "--lstm-freq-channels", "-3"],
     "encoder 'lstm' + loss 'ctc': front end option freq_channels=-3 must be >= 0"),
    (["--encoder", "xlstm", "--xlstm-pattern", "m,q"], "encoder 'xlstm' + loss 'ctc': "),
])
def test_an_option_value_the_plugin_refuses_fails_before_any_data_is_touched(flags, message, training_must_not_start):
    """The model is built on the meta device first: the plugin's own error, one line, exit 2, and no run
    directory or data (before, it came after the data source was opened, or the embedded corpus synthesised)."""
    result = run(*flags, *NO_DATA)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_misspelt_or_mistyped_config_keys_fail_naming_key_and_file(tmp_path, training_must_not_start):
    cases = {
        "batch_sise = 3\n": "run.toml: unknown config key 'batch_sise' (did you mean batch_size?)",
        'lr = "fast"\n': "run.toml: config key 'lr' must be float, got str 'fast'",
        'encoder = "xlstm"\n[encoder_options]\npatern = "m,s"\n': "encoder 'xlstm' (statecatcher-xlstm 0.1.0) has no "
                                                                   "option 'patern'",
        # the default loss, ctc, has no prune_range; rnnt has, as an int
        '[loss_options]\nprune_range = 5\n': "loss 'ctc' (statecatcher-ctc 0.1.0) has no option 'prune_range'",
        'loss = "rnnt"\n[loss_options]\nprune_range = "five"\n': "option 'prune_range' of loss 'rnnt' must be int",
    }
    for text, message in cases.items():
        path = tmp_path / "run.toml"
        path.write_text(NO_SERVER + text)
        result = run("--config", str(path), "--run-dir", str(tmp_path / "run"))
        assert result.exit_code == 2, (text, result.output)
        assert message in " ".join(result.output.split()), (text, result.output)
        assert not (tmp_path / "run").exists()


def test_the_aim_tracker_takes_its_options_as_flags(captured_config):
    pytest.importorskip("statecatcher_aim")
    shown = run("--tracker", "aim", "--help").output
    assert "--aim-repo TEXT" in shown and "[default: ./.aim]" in shown and "--aim-experiment" in shown
    run("--tracker", "jsonl", "--tracker", "aim", "--aim-repo", "/tmp/aim-repo", *NO_DATA)
    (config,) = captured_config
    assert config.tracker_options == {"aim": {"repo": "/tmp/aim-repo"}}


def test_tracker_options_for_a_tracker_not_chosen_are_refused(training_must_not_start):
    result = run("--tracker", "jsonl", "--tracker-opt", "aim.repo=/tmp/aim-repo", *NO_DATA)
    assert result.exit_code == 2
    assert "tracker_options: options given for 'aim', which is not among the trackers ['jsonl']" in result.output


def test_segmenter_flags_are_aliases_of_the_segmenter_table(captured_config, tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("[segmenter]\nsegment_seconds = 8.0\nmax_seconds = 20.0\n")
    run("--config", str(path), "--min-segment-seconds", "3", "--overlong-segments", "skip", *NO_DATA)
    (config,) = captured_config
    assert (config.segmenter.segment_seconds, config.segmenter.min_seconds, config.segmenter.max_seconds,
            config.segmenter.overlong) == (8.0, 3.0, 20.0, "skip")
