"""Plugin loading (in the manner of llm/plugins.py): entry points first, then the built-ins.

* Third-party plugins are modules named by entry points in the group ``statecatcher``.
* ``STATECATCHER_LOAD_PLUGINS="dist-a,dist-b"`` loads only those distributions; ``""`` loads none.
* ``STATECATCHER_TRACE_PLUGINS=1`` prints every hook call (datasette style) to stderr.
* Built-ins (:data:`DEFAULT_PLUGINS`) register through the very same hooks.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections import defaultdict
from importlib import metadata

import pluggy

from . import hookspecs
from .registry import KINDS, Entry, PluginError, Registry

ENTRY_POINT_GROUP = "statecatcher"
DEFAULT_PLUGINS: tuple[str, ...] = (
    "statecatcher.default_plugins.console",
    "statecatcher.default_plugins.jsonl",
    "statecatcher.default_plugins.local_data",
)

pm = pluggy.PluginManager("statecatcher")
pm.add_hookspecs(hookspecs)

_loaded = False
_registry: Registry | None = None
# plugin name (as registered with pm) -> (distribution, version); built-ins are absent
plugin_distributions: dict[str, tuple[str, str]] = {}


def _selected_distributions() -> set[str] | None:
    raw = os.environ.get("STATECATCHER_LOAD_PLUGINS")
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def _entry_points() -> list[metadata.EntryPoint]:
    eps = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    by_name: dict[str, set[str]] = defaultdict(set)
    for ep in eps:
        by_name[ep.name].add(ep.dist.name if ep.dist else "?")
    clashes = {name: dists for name, dists in by_name.items() if len(dists) > 1}
    if clashes:
        name, dists = sorted(clashes.items())[0]
        raise PluginError(
            f"entry point {name!r} in group {ENTRY_POINT_GROUP!r} is declared by several distributions: "
            f"{', '.join(sorted(dists))}. Uninstall one, or pick with STATECATCHER_LOAD_PLUGINS."
        )
    return eps


def load_plugins() -> pluggy.PluginManager:
    """Load entry-point plugins and built-ins once; fail loudly on a misspelt hook implementation."""
    global _loaded
    if _loaded:
        return pm
    _loaded = True
    if os.environ.get("STATECATCHER_TRACE_PLUGINS"):
        _enable_tracing()
    selected = _selected_distributions()
    seen_dists: set[str] = set()
    for ep in _entry_points():
        dist = ep.dist.name if ep.dist else None
        if selected is not None and dist not in selected:
            continue
        if dist in seen_dists and pm.get_plugin(ep.name) is not None:
            continue
        module = ep.load()
        pm.register(module, name=ep.name)
        if dist:
            seen_dists.add(dist)
            plugin_distributions[ep.name] = (dist, ep.dist.version)
    for module_name in DEFAULT_PLUGINS:
        module = importlib.import_module(module_name)
        if pm.get_plugin(module_name) is None:
            pm.register(module, name=module_name)
    pm.check_pending()
    return pm


def _enable_tracing() -> None:
    def before(hook_name, hook_impls, kwargs):
        print(f"[statecatcher] {hook_name} -> {[impl.plugin_name for impl in hook_impls]}", file=sys.stderr)

    pm.add_hookcall_monitoring(before, lambda *a: None)


def build_registry() -> Registry:
    """Call every plugin's ``register_*`` implementations, one plugin at a time."""
    load_plugins()
    registry = Registry()
    for kind, hook_name in KINDS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            dist, version = plugin_distributions.get(impl.plugin_name, (None, None))

            def register(name, factory, *, description="", _plugin=impl.plugin_name, _d=dist, _v=version, _k=kind):
                registry.add(Entry(_k, name, factory, _plugin, _d, _v, description))

            impl.function(register=register)
    return registry


def get_registry(refresh: bool = False) -> Registry:
    global _registry
    if _registry is None or refresh:
        _registry = build_registry()
    return _registry


def get(kind: str, name: str) -> Entry:
    return get_registry().get(kind, name)
