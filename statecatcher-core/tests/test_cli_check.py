"""``statecatcher check encoder NAME`` runs the conformance checks on a registered encoder."""

import pytest
from click.testing import CliRunner

from statecatcher import hookimpl
from statecatcher.cli import cli
from statecatcher.cli.check_cmd import parse_options
from statecatcher.plugins import registered


class EncodersForChecking:
    @hookimpl
    def register_encoders(self, register):
        register("check-good", "statecatcher.testing.broken:TinyGRUEncoder")
        register("check-ignores-state", "statecatcher.testing.broken:IgnoresStateEncoder")


@pytest.fixture(autouse=True)
def encoders_for_checking():
    with registered(EncodersForChecking(), "check-test"):
        yield


def check(*args):
    return CliRunner().invoke(cli, ["check", "encoder", *args])


def test_a_correct_encoder_passes_every_check():
    result = check("check-good", "--input-dim", "5", "-o", "hidden_dim=6")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "encoder 'check-good' from plugin 'check-test': 6/6 checks passed"
    assert "FAIL" not in result.output


def test_an_encoder_that_ignores_its_state_fails_with_exit_status_1_naming_the_check():
    result = check("check-ignores-state", "--input-dim", "5")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("FAIL  chunk_invariance: chunk invariance: final state of lane 0 differs by max abs")
    assert lines[1:-1] == ["ok    padding_invariance", "ok    lane_independence", "ok    reset",
                           "ok    detached_state", "ok    state_roundtrip"]
    assert lines[-1] == "encoder 'check-ignores-state' from plugin 'check-test': 5/6 checks passed"


def test_an_unknown_encoder_lists_the_available_ones():
    result = check("check-gud")
    assert result.exit_code == 2
    assert "unknown encoder 'check-gud'" in result.output and "check-good (plugin 'check-test')" in result.output


def test_options_are_read_as_json_when_they_parse():
    assert parse_options(("hidden=64", "act=gelu", "dims=[1, 2]")) == {"hidden": 64, "act": "gelu", "dims": [1, 2]}
    with pytest.raises(Exception, match="expected KEY=VALUE, got 'hidden'"):
        parse_options(("hidden",))
