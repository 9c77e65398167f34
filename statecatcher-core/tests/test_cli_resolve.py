"""``resolve``: names given on the command line become registry entries, or a BadParameter listing them all."""

import click
import pytest
from click.testing import CliRunner

from statecatcher import hookimpl, plugins
from statecatcher.cli.resolve import resolve
from statecatcher.plugins import registered


class TwoEncoders:
    @hookimpl
    def register_encoders(self, register):
        register("resolve-lstm", dict)
        register("resolve-rwkv", list)


@click.command()
@click.option("--encoder")
def train(encoder):
    click.echo(resolve("encoder", encoder, "--encoder").factory.__name__)


@pytest.fixture
def two_encoders(monkeypatch):
    monkeypatch.setitem(plugins.plugin_distributions, "two", ("statecatcher-two", "1.2"))
    with registered(TwoEncoders(), "two"):
        yield


def test_known_name_resolves_to_its_entry(two_encoders):
    entry = resolve("encoder", "resolve-rwkv", "--encoder")
    assert (entry.factory, entry.origin) == (list, "statecatcher-two 1.2")


def test_unknown_name_fails_naming_the_flag_and_every_available_name_with_its_package(two_encoders):
    result = CliRunner().invoke(train, ["--encoder", "resolve-lstn"])
    assert result.exit_code == 2
    assert "Invalid value for --encoder: unknown encoder 'resolve-lstn'" in result.output
    assert "resolve-lstm (statecatcher-two 1.2), resolve-rwkv (statecatcher-two 1.2)" in result.output
