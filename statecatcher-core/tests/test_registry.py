"""Registry: names -> factories, lazy ``module:attr`` factories, collisions, unknown names."""

import pytest

from statecatcher.registry import KINDS, Entry, PluginError, Registry, UnknownNameError


def entry(kind="encoder", name="x", factory=dict, plugin="p", distribution=None, version=None):
    return Entry(kind, name, factory, plugin, distribution, version)


def test_get_returns_the_registered_entry_and_create_calls_its_factory():
    registry = Registry()
    registry.add(entry(factory=lambda dim, **options: ("built", dim, options)))
    assert registry.get("encoder", "x").create(8, hidden=3) == ("built", 8, {"hidden": 3})


def test_string_factory_is_imported_only_when_loaded():
    lazy = entry(factory="collections:OrderedDict.fromkeys")
    assert lazy.load()("ab") == {"a": None, "b": None}


def test_string_factory_that_does_not_import_names_the_entry_and_its_package():
    broken = entry(name="ghost", factory="statecatcher_no_such_module:Encoder",
                   distribution="statecatcher-ghost", version="0.3")
    with pytest.raises(PluginError, match=r"encoder 'ghost' from statecatcher-ghost 0.3: cannot import"):
        broken.create()


def test_second_registration_of_a_name_names_both_packages_and_versions():
    registry = Registry()
    registry.add(entry(name="xlstm", distribution="statecatcher-xlstm", version="0.1.0"))
    with pytest.raises(PluginError) as raised:
        registry.add(entry(name="xlstm", plugin="q", distribution="statecatcher-fastxlstm", version="2.0"))
    message = str(raised.value)
    assert "statecatcher-xlstm 0.1.0" in message and "statecatcher-fastxlstm 2.0" in message
    assert "STATECATCHER_LOAD_PLUGINS" in message


def test_same_name_under_different_kinds_is_fine():
    registry = Registry()
    registry.add(entry(kind="encoder", name="lstm"))
    registry.add(entry(kind="loss", name="lstm"))
    assert registry.names("encoder") == registry.names("loss") == ["lstm"]


def test_unknown_name_lists_every_available_name_with_its_package():
    registry = Registry()
    registry.add(entry(name="lstm", distribution="statecatcher-lstm", version="0.1.0"))
    registry.add(entry(name="rwkv", plugin="r"))
    with pytest.raises(UnknownNameError) as raised:
        registry.get("encoder", "lstn")
    assert str(raised.value) == "unknown encoder 'lstn'. Available: lstm (statecatcher-lstm 0.1.0), rwkv (plugin 'r')"


def test_unknown_kind_lists_the_kinds():
    with pytest.raises(ValueError, match="unknown kind 'encoders'; kinds are " + ", ".join(KINDS)):
        Registry().get("encoders", "lstm")


def test_entries_are_sorted_by_kind_then_name():
    registry = Registry()
    for kind, name in [("tracker", "b"), ("encoder", "z"), ("tracker", "a")]:
        registry.add(entry(kind=kind, name=name))
    assert [(e.kind, e.name) for e in registry.entries()] == [("encoder", "z"), ("tracker", "a"), ("tracker", "b")]
    assert registry.names("tracker") == ["a", "b"]
