"""One test per hook (``test_hook_<hook name>``; tests/test_docs.py checks that every hook has one)."""

from types import SimpleNamespace

from click.testing import CliRunner

from statecatcher import get_data_source, get_encoder, get_loss, get_tokenizer, get_tracker, hookimpl
from statecatcher.cli import LazyGroup
from statecatcher.plugins import get, registered


def factory_echo(*args, **kwargs):
    return args, kwargs


def plugin_registering(hook: str, name: str, factory, **register_options):
    """A throw-away plugin whose ``hook`` implementation registers ``name``."""

    def implementation(register):
        register(name, factory, **register_options)

    implementation.__name__ = hook
    return SimpleNamespace(**{hook: hookimpl(implementation)})


def test_hook_register_encoders():
    plugin = plugin_registering("register_encoders", "hook-encoder", factory_echo, description="echoes")
    with registered(plugin, "hook-test"):
        assert get_encoder("hook-encoder", 80, hidden=4) == ((80,), {"hidden": 4})
        assert get("encoder", "hook-encoder").description == "echoes"


def test_hook_register_losses():
    with registered(plugin_registering("register_losses", "hook-loss", factory_echo), "hook-test"):
        assert get_loss("hook-loss", 32, 50, 0) == ((32, 50, 0), {})


def test_hook_register_tokenizers():
    # a "module:attr" string, imported on first use
    with registered(plugin_registering("register_tokenizers", "hook-tokenizer", "collections:Counter"), "hook-test"):
        assert get("tokenizer", "hook-tokenizer").factory == "collections:Counter"
        assert get_tokenizer("hook-tokenizer", a=2) == {"a": 2}


def test_hook_register_data_sources():
    with registered(plugin_registering("register_data_sources", "hook-data", factory_echo), "hook-test"):
        assert get_data_source("hook-data", "/corpus/train") == (("/corpus/train",), {})


def test_hook_register_trackers(tmp_path):
    with registered(plugin_registering("register_trackers", "hook-tracker", factory_echo), "hook-test"):
        assert get_tracker("hook-tracker", tmp_path) == ((tmp_path,), {})


def test_hook_register_label_filters():
    with registered(plugin_registering("register_label_filters", "hook-filter", factory_echo), "hook-test"):
        assert get("label_filter", "hook-filter").create(threshold=3) == ((), {"threshold": 3})


def test_hook_register_tasks():
    with registered(plugin_registering("register_tasks", "hook-task", factory_echo), "hook-test"):
        assert get("task", "hook-task").plugin == "hook-test"


def test_hook_register_commands():
    class Greeter:
        @hookimpl
        def register_commands(self, cli):
            @cli.command()
            def greet():
                """Say hi."""
                print("hi from a plugin")

    group = LazyGroup(name="statecatcher")
    with registered(Greeter(), "hook-test"):
        result = CliRunner().invoke(group, ["greet"])
        assert (result.exit_code, result.output) == (0, "hi from a plugin\n")
        assert group.commands_by_plugin["hook-test"] == ["command:greet"]
