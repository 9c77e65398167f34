"""Plugin loading: entry-point selection and clashes, collisions between plugins, opt-in hook arguments,
misspelt hooks, tracing, and the rows of ``list-plugins``."""

from types import SimpleNamespace

import pluggy
import pytest

from statecatcher import hookimpl, plugins
from statecatcher.plugins import (
    DEFAULT_PLUGINS,
    PluginError,
    describe_plugins,
    get,
    get_registry,
    plugin_entry_points,
    pm,
    registered,
)


def fake_entry_point(name, distribution, version="1.0"):
    return SimpleNamespace(name=name, dist=SimpleNamespace(name=distribution, version=version))


@pytest.fixture
def installed(monkeypatch):
    """Pretend these entry points are installed in group ``statecatcher``."""

    def install(*eps):
        monkeypatch.setattr(plugins.metadata, "entry_points",
                            lambda group: [ep for ep in eps if group == plugins.ENTRY_POINT_GROUP])

    return install


def test_entry_point_name_declared_by_two_distributions_is_an_error_naming_both(installed, monkeypatch):
    monkeypatch.delenv("STATECATCHER_LOAD_PLUGINS", raising=False)
    installed(fake_entry_point("xlstm", "statecatcher-xlstm"), fake_entry_point("xlstm", "statecatcher-xlstm-fork"),
              fake_entry_point("ctc", "statecatcher-ctc"))
    with pytest.raises(PluginError) as raised:
        plugin_entry_points()
    message = str(raised.value)
    assert "'xlstm' by statecatcher-xlstm and statecatcher-xlstm-fork" in message
    assert "STATECATCHER_LOAD_PLUGINS" in message


def test_load_plugins_env_picks_distributions_and_so_resolves_a_clash(installed, monkeypatch):
    installed(fake_entry_point("xlstm", "statecatcher-xlstm"), fake_entry_point("xlstm", "statecatcher-xlstm-fork"),
              fake_entry_point("ctc", "statecatcher-ctc"))
    monkeypatch.setenv("STATECATCHER_LOAD_PLUGINS", "statecatcher_xlstm, statecatcher-ctc")
    assert [(ep.name, ep.dist.name) for ep in plugin_entry_points()] == [
        ("xlstm", "statecatcher-xlstm"), ("ctc", "statecatcher-ctc")]


def test_empty_load_plugins_env_loads_no_entry_points(installed, monkeypatch):
    installed(fake_entry_point("ctc", "statecatcher-ctc"))
    monkeypatch.setenv("STATECATCHER_LOAD_PLUGINS", "")
    assert plugin_entry_points() == []


def test_built_ins_register_through_the_hooks_as_statecatcher_core():
    registry = get_registry(refresh=True)
    builtins = [e for e in registry.entries() if e.plugin in DEFAULT_PLUGINS]
    assert {(e.kind, e.name) for e in builtins} >= {("tracker", "console"), ("tracker", "jsonl"),
                                                      ("data_source", "local")}
    assert {e.origin for e in builtins} == {"statecatcher-core 0.1.0"}


class EncoderX:
    def __init__(self, factory):
        self.factory = factory

    @hookimpl
    def register_encoders(self, register):
        register("throwaway-x", self.factory, description="a test encoder")


def test_two_plugins_registering_the_same_encoder_is_an_error_naming_both_packages(monkeypatch):
    monkeypatch.setitem(plugins.plugin_distributions, "first", ("statecatcher-first", "1.0"))
    monkeypatch.setitem(plugins.plugin_distributions, "second", ("statecatcher-second", "2.5"))
    with registered(EncoderX(dict), "first"):
        assert get("encoder", "throwaway-x").origin == "statecatcher-first 1.0"
        pm.register(EncoderX(list), name="second")
        try:
            with pytest.raises(PluginError) as raised:
                get_registry(refresh=True)
        finally:
            pm.unregister(name="second")
    message = str(raised.value)
    assert "encoder 'throwaway-x' is registered twice" in message
    assert "statecatcher-first 1.0" in message and "statecatcher-second 2.5" in message
    assert "STATECATCHER_LOAD_PLUGINS" in message


def test_hook_implementations_receive_only_the_arguments_they_ask_for():
    class NoArguments:
        @hookimpl
        def register_losses(self):
            self.called = True

    plugin = NoArguments()
    with registered(plugin, "no-arguments"):
        get_registry()
        assert plugin.called


def test_a_misspelt_hook_fails_loudly():
    class Misspelt:
        @hookimpl
        def register_encoder(self, register):  # missing "s"
            pass

    manager = pluggy.PluginManager("statecatcher")
    manager.add_hookspecs(plugins.hookspecs)
    manager.register(Misspelt(), name="misspelt")
    with pytest.raises(pluggy.PluginValidationError, match="register_encoder"):
        manager.check_pending()


def test_tracing_prints_what_each_plugin_registered(monkeypatch, capsys):
    monkeypatch.setenv("STATECATCHER_TRACE_PLUGINS", "1")
    with registered(EncoderX(dict), "traced"):
        get_registry()
    assert "[statecatcher] register_encoders <- traced: ['throwaway-x']" in capsys.readouterr().err


def test_describe_plugins_lists_hooks_and_names_and_hides_built_ins_unless_asked():
    with registered(EncoderX(dict), "described"):
        rows = {row.name: row for row in describe_plugins()}
        assert rows["described"].as_dict() == {
            "name": "described", "package": "(not installed)", "version": "", "hooks": ["register_encoders"],
            "registers": ["encoder:throwaway-x"], "builtin": False}
        assert not set(DEFAULT_PLUGINS) & set(rows)
        with_builtins = {row.name: row for row in describe_plugins(include_builtins=True)}
    assert with_builtins["statecatcher.default_plugins.jsonl"].registers == ("tracker:jsonl",)
    assert "described" not in {row.name for row in describe_plugins()}


def test_a_plugin_that_fails_to_import_names_its_package(installed, monkeypatch):
    broken = fake_entry_point("broken", "statecatcher-broken", "0.2")
    broken.value = "statecatcher_broken"
    broken.load = lambda: __import__("statecatcher_broken_no_such_module")
    installed(broken)
    monkeypatch.delenv("STATECATCHER_LOAD_PLUGINS", raising=False)
    monkeypatch.setattr(plugins, "_loaded", False)
    with pytest.raises(PluginError, match=r"plugin 'broken' from statecatcher-broken: cannot import "
                                          r"'statecatcher_broken': ModuleNotFoundError"):
        plugins.load_plugins()
    assert pm.get_plugin("broken") is None


def test_a_hook_implementation_that_raises_names_its_package(monkeypatch):
    class Broken:
        @hookimpl
        def register_encoders(self, register):
            raise ImportError("No module named 'flash_attn'")

    monkeypatch.setitem(plugins.plugin_distributions, "broken", ("statecatcher-broken", "0.2"))
    with registered(Broken(), "broken"), pytest.raises(PluginError) as raised:
        get_registry()
    assert str(raised.value) == ("statecatcher-broken 0.2: register_encoders failed: ImportError: "
                                 "No module named 'flash_attn'")
