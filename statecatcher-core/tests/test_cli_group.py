"""The click group: lazy built-in commands, ``-h``/``--help`` everywhere, plugin commands and their clashes."""

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from statecatcher import __version__, hookimpl
from statecatcher import cli as cli_package
from statecatcher.cli import BUILTIN_COMMANDS, LazyGroup, cli, command_name, command_paths
from statecatcher.plugins import registered


@pytest.mark.parametrize("help_flag", ["-h", "--help"])
def test_every_command_has_help_under_both_flags(help_flag):
    paths = command_paths(cli)
    assert ("list-plugins",) in paths and ("check", "encoder") in paths
    for path in paths:
        result = CliRunner().invoke(cli, [*path, help_flag], prog_name="statecatcher")
        assert result.exit_code == 0, (path, result.output)
        assert result.output.startswith(f"Usage: statecatcher {' '.join(path)}".rstrip()), result.output


def test_builtin_command_names_are_their_function_names_with_dashes():
    ctx = click.Context(cli)
    for name, spec in cli.builtins().items():
        assert name == command_name(spec)
        assert cli.get_command(ctx, name).name == name, f"{spec} must define the command {name!r}"


def test_a_builtin_command_whose_module_is_missing_is_an_error_naming_it(monkeypatch):
    monkeypatch.setattr(cli_package, "BUILTIN_COMMANDS", (*BUILTIN_COMMANDS, "no_such_cmd:ghost"))
    with pytest.raises(click.ClickException, match="do not exist in statecatcher.cli: no_such_cmd:ghost"):
        LazyGroup(name="statecatcher").builtins()
    result = CliRunner().invoke(LazyGroup(name="statecatcher"), ["--help"])  # a fresh group: nothing cached
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: BUILTIN_COMMANDS lists modules that do not exist in statecatcher.cli: no_such_cmd:ghost"]


def test_every_builtin_command_module_exists():
    assert set(LazyGroup(name="statecatcher").builtins()) == {command_name(s) for s in BUILTIN_COMMANDS}


def test_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(cli, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command 'no-such-command'" in result.output


def test_a_plugin_command_may_not_replace_a_builtin_one():
    class Clashing:
        @hookimpl
        def register_commands(self, cli):
            @cli.command(name="list-plugins")
            def impostor():
                """Not the real one."""

    group = LazyGroup(name="statecatcher")
    with registered(Clashing(), "clashing"):
        result = CliRunner().invoke(group, ["--help"])
    assert result.exit_code == 1
    assert "Error: plugin 'clashing' adds command(s) list-plugins" in result.output


def test_python_dash_m_statecatcher_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "statecatcher", "--version"], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip().endswith(__version__)


def test_a_plugin_whose_register_commands_raises_is_a_clear_error():
    class Broken:
        @hookimpl
        def register_commands(self, cli):
            raise ModuleNotFoundError("No module named 'statecatcher_broken.serve_cmd'")

    group = LazyGroup(name="statecatcher")
    with registered(Broken(), "broken"):
        result = CliRunner().invoke(group, ["--help"])
    assert result.exit_code == 1
    assert result.output == ("Error: plugin 'broken': register_commands failed: ModuleNotFoundError: "
                             "No module named 'statecatcher_broken.serve_cmd'\n")
