"""``statecatcher list-plugins``: table, ``--json``, ``--all``, and clear errors on collisions."""

import json

import pytest
from click.testing import CliRunner

from statecatcher import hookimpl, plugins
from statecatcher.cli import cli
from statecatcher.plugins import registered


class Hello:
    @hookimpl
    def register_encoders(self, register):
        register("listed-encoder", dict)

    @hookimpl
    def register_trackers(self, register):
        register("listed-tracker", dict)


@pytest.fixture
def hello_plugin(monkeypatch):
    monkeypatch.setitem(plugins.plugin_distributions, "listed", ("statecatcher-listed", "0.7"))
    with registered(Hello(), "listed"):
        yield


def list_plugins(*args):
    result = CliRunner().invoke(cli, ["list-plugins", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_json_has_one_object_per_plugin_with_what_it_registers(hello_plugin):
    rows = {row["name"]: row for row in json.loads(list_plugins("--json"))}
    assert rows["listed"] == {"name": "listed", "package": "statecatcher-listed", "version": "0.7",
                              "hooks": ["register_encoders", "register_trackers"],
                              "registers": ["encoder:listed-encoder", "tracker:listed-tracker"], "builtin": False}
    assert not any(row["builtin"] for row in rows.values())


def test_all_adds_the_built_ins(hello_plugin):
    rows = {row["name"]: row for row in json.loads(list_plugins("--all", "--json"))}
    console = rows["statecatcher.default_plugins.console"]
    assert (console["package"], console["registers"], console["builtin"]) == (
        "statecatcher-core", ["tracker:console"], True)
    assert "listed" in rows


def test_table_shows_package_version_hooks_and_registered_names(hello_plugin):
    table = list_plugins()
    for text in ("package", "version", "hooks", "registers", "statecatcher-listed", "0.7", "encoders",
                 "encoder:listed-encoder", "tracker:listed-tracker"):
        assert text in table


def test_a_name_collision_is_a_clear_error_not_a_traceback(hello_plugin):
    plugins.pm.register(Hello(), name="copycat")
    try:
        result = CliRunner().invoke(cli, ["list-plugins"])
    finally:
        plugins.pm.unregister(name="copycat")
    assert result.exit_code == 1
    assert "Error: encoder 'listed-encoder' is registered twice: by statecatcher-listed 0.7 and by plugin " \
           "'copycat'" in result.output
