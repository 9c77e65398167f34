"""Plugin loading (in the manner of llm/plugins.py): entry points first, then the built-ins.

* Third-party plugins are modules named by entry points in the group ``statecatcher``.
* ``STATECATCHER_LOAD_PLUGINS="dist-a,dist-b"`` loads only those distributions; ``""`` loads none.
* ``STATECATCHER_TRACE_PLUGINS=1`` prints every hook call and what it registered to stderr (datasette style).
* Built-ins (:data:`DEFAULT_PLUGINS`) register through the very same hooks.

Loading happens once per process; :func:`get_registry` caches the name table and rebuilds it when a plugin
is registered or unregistered (tests add throw-away plugins with :func:`registered`).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy

from . import hookspecs
from ._version import __version__
from .registry import KINDS, Entry, PluginError, Registry

ENTRY_POINT_GROUP = "statecatcher"
CORE_DISTRIBUTION = "statecatcher-core"
DEFAULT_PLUGINS: tuple[str, ...] = (
    "statecatcher.default_plugins.console",
    "statecatcher.default_plugins.jsonl",
    "statecatcher.default_plugins.local_data",
    "statecatcher.default_plugins.label_filters",
)

pm = pluggy.PluginManager("statecatcher")
pm.add_hookspecs(hookspecs)

_loaded = False
_registry: Registry | None = None
_registry_plugins: list[tuple[str, object]] = []  # the (name, plugin) pairs _registry was built from
# entry-point plugin name (as registered with pm) -> (distribution, version)
plugin_distributions: dict[str, tuple[str, str]] = {}


def _selected_distributions() -> set[str] | None:
    raw = os.environ.get("STATECATCHER_LOAD_PLUGINS")
    if raw is None:
        return None
    return {_normalise(name) for name in raw.split(",") if name.strip()}


def _normalise(distribution: str) -> str:
    return distribution.strip().lower().replace("_", "-").replace(".", "-")


def _distribution_name(ep: metadata.EntryPoint) -> str:
    return ep.dist.name if ep.dist else "<unknown distribution>"


def plugin_entry_points() -> list[metadata.EntryPoint]:
    """The entry points of group ``statecatcher`` that will load, honouring ``STATECATCHER_LOAD_PLUGINS``.

    Raises :class:`PluginError` when two distributions declare the same entry-point name (pluggy would
    silently skip the second one).
    """
    selected = _selected_distributions()
    eps = [
        ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)
        if selected is None or _normalise(_distribution_name(ep)) in selected
    ]
    declared_by: dict[str, set[str]] = defaultdict(set)
    for ep in eps:
        declared_by[ep.name].add(_distribution_name(ep))
    clashes = sorted((name, sorted(dists)) for name, dists in declared_by.items() if len(dists) > 1)
    if clashes:
        text = "; ".join(f"{name!r} by {' and '.join(dists)}" for name, dists in clashes)
        raise PluginError(
            f"entry point name declared by several distributions in group {ENTRY_POINT_GROUP!r}: {text}. "
            "Uninstall one of them, or choose which plugins load with STATECATCHER_LOAD_PLUGINS=dist-a,dist-b."
        )
    return eps


def load_plugins() -> pluggy.PluginManager:
    """Load entry-point plugins and built-ins once; fail loudly on a misspelt hook implementation."""
    global _loaded
    if _loaded:
        return pm
    for ep in plugin_entry_points():
        if pm.get_plugin(ep.name) is None:
            pm.register(_import_entry_point(ep), name=ep.name)
        if ep.dist:
            plugin_distributions[ep.name] = (ep.dist.name, ep.dist.version)
    for module_name in DEFAULT_PLUGINS:
        if pm.get_plugin(module_name) is None:
            pm.register(importlib.import_module(module_name), name=module_name)
    pm.check_pending()
    _loaded = True
    return pm


def _import_entry_point(ep: metadata.EntryPoint) -> Any:
    try:
        return ep.load()
    except Exception as exc:
        raise PluginError(
            f"plugin {ep.name!r} from {_distribution_name(ep)}: cannot import {ep.value!r}: "
            f"{type(exc).__name__}: {exc}. Reinstall or uninstall it, or leave it out with "
            "STATECATCHER_LOAD_PLUGINS=dist-a,dist-b."
        ) from exc


def trace(hook_name: str, plugin_name: str, registered_names: list[str]) -> None:
    """With ``STATECATCHER_TRACE_PLUGINS`` set, print one hook call and what it registered to stderr."""
    if os.environ.get("STATECATCHER_TRACE_PLUGINS"):
        print(f"[statecatcher] {hook_name} <- {plugin_name}: {registered_names}", file=sys.stderr)


def distribution_of(plugin_name: str) -> tuple[str | None, str | None]:
    """(distribution, version) that provides a loaded plugin; ``(None, None)`` for one registered by hand."""
    if plugin_name in DEFAULT_PLUGINS:
        return CORE_DISTRIBUTION, __version__
    return plugin_distributions.get(plugin_name, (None, None))


def call_hookimpl(hook_name: str, impl: pluggy.HookImpl, **available: Any) -> Any:
    """Call one plugin's implementation with the arguments it asks for (pluggy's opt-in arguments, so hooks
    can grow); an exception it raises becomes a :class:`PluginError` naming the plugin's package."""
    try:
        return impl.function(**{arg: available[arg] for arg in impl.argnames})
    except PluginError:
        raise
    except Exception as exc:
        distribution, version = distribution_of(impl.plugin_name)
        origin = f"{distribution} {version}" if distribution else f"plugin {impl.plugin_name!r}"
        raise PluginError(f"{origin}: {hook_name} failed: {type(exc).__name__}: {exc}") from exc


def _register_callback(registry: Registry, kind: str, plugin_name: str):
    """The ``register(name, factory, *, description="", options=None, secrets=())`` callback one plugin's hook
    receives; ``options`` maps every keyword parameter of the factory to its help text, ``secrets`` names those
    that hold a secret (see :mod:`statecatcher.options`)."""
    distribution, version = distribution_of(plugin_name)

    def register(name: str, factory, *, description: str = "", options: dict[str, str] | None = None,
                 secrets: Iterable[str] = ()) -> None:
        registry.add(Entry(kind, name, factory, plugin_name, distribution, version, description, dict(options or {}),
                           frozenset(secrets)))

    return register


def build_registry() -> Registry:
    """Call every plugin's ``register_*`` implementations, one plugin at a time, so each name knows its plugin."""
    load_plugins()
    registry = Registry()
    for kind, hook_name in KINDS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            call_hookimpl(hook_name, impl, register=_register_callback(registry, kind, impl.plugin_name))
            trace(hook_name, impl.plugin_name, [e.name for e in registry.entries(kind) if e.plugin == impl.plugin_name])
    return registry


def get_registry(refresh: bool = False) -> Registry:
    """The table of every registered name, rebuilt when the set of plugins changed or ``refresh=True``."""
    global _registry, _registry_plugins
    load_plugins()
    plugins_now = pm.list_name_plugin()
    same_plugins = len(plugins_now) == len(_registry_plugins) and all(
        name == old_name and plugin is old_plugin
        for (name, plugin), (old_name, old_plugin) in zip(plugins_now, _registry_plugins, strict=True))
    if _registry is None or refresh or not same_plugins:
        _registry, _registry_plugins = None, plugins_now
        _registry = build_registry()
    return _registry


def get(kind: str, name: str) -> Entry:
    """The :class:`Entry` registered as ``kind:name``; raises ``UnknownNameError`` listing what is available."""
    return get_registry().get(kind, name)


@contextmanager
def registered(plugin: object, name: str) -> Iterator[object]:
    """Register a throw-away plugin object for the duration of a ``with`` block (tests, notebooks)."""
    load_plugins()
    pm.register(plugin, name=name)
    try:
        yield plugin
    finally:
        pm.unregister(plugin)


@dataclass(frozen=True)
class PluginInfo:
    """One row of ``statecatcher list-plugins``: a loaded plugin and what it registers (``kind:name``)."""

    name: str
    package: str
    version: str
    hooks: tuple[str, ...]
    registers: tuple[str, ...]
    builtin: bool

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "package": self.package, "version": self.version, "hooks": list(self.hooks),
                "registers": list(self.registers), "builtin": self.builtin}


def describe_plugins(include_builtins: bool = False,
                     extra_registrations: dict[str, list[str]] | None = None) -> list[PluginInfo]:
    """Every loaded plugin (third-party first, built-ins only if asked) with its hooks and registered names.

    ``extra_registrations`` maps plugin name -> further ``kind:name`` strings (the CLI adds ``command:NAME``).
    """
    registry = get_registry()
    extra = extra_registrations or {}
    rows = []
    for plugin_name, plugin in pm.list_name_plugin():
        builtin = plugin_name in DEFAULT_PLUGINS
        if builtin and not include_builtins:
            continue
        package, version = distribution_of(plugin_name)
        hooks = tuple(sorted(caller.name for caller in pm.get_hookcallers(plugin) or ()))
        names = [f"{e.kind}:{e.name}" for e in registry.entries() if e.plugin == plugin_name]
        names += extra.get(plugin_name, [])
        rows.append(PluginInfo(plugin_name, package or "(not installed)", version or "", hooks, tuple(names), builtin))
    return sorted(rows, key=lambda row: (row.builtin, row.package, row.name))
