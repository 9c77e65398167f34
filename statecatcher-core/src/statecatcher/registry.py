"""Names -> factories, with the package that registered each name.

Every plugin's ``register_*`` implementation is called on its own, so each :class:`Entry` knows its plugin,
distribution and version; a name registered twice for one kind is an error naming both packages.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# kind -> hook name
KINDS: dict[str, str] = {
    "encoder": "register_encoders",
    "loss": "register_losses",
    "tokenizer": "register_tokenizers",
    "data_source": "register_data_sources",
    "tracker": "register_trackers",
    "label_filter": "register_label_filters",
    "task": "register_tasks",
}


class PluginError(RuntimeError):
    """A plugin is broken or two plugins collide."""


class UnknownNameError(LookupError):
    """No plugin registered this name; the message lists what is available."""


@dataclass(frozen=True)
class Entry:
    """``kind:name`` -> ``factory``, with the plugin (and its distribution) that registered it."""

    kind: str
    name: str
    factory: Callable[..., Any] | str = field(repr=False)
    plugin: str
    distribution: str | None = None
    version: str | None = None
    description: str = ""
    options: Mapping[str, str] = field(default_factory=dict, hash=False)  # help per option (statecatcher.options)
    secrets: frozenset[str] = frozenset()  # options holding a secret (API keys): redacted, never shown

    @property
    def origin(self) -> str:
        """``"statecatcher-lstm 0.1.0"``, or ``"plugin 'name'"`` for one registered by hand (tests)."""
        if self.distribution:
            return f"{self.distribution} {self.version or ''}".strip()
        return f"plugin {self.plugin!r}"

    def load(self) -> Callable[..., Any]:
        """The factory, importing ``"module:attr"`` strings now (and only now)."""
        if callable(self.factory):
            return self.factory
        module, _, attr = self.factory.partition(":")
        try:
            obj: Any = importlib.import_module(module)
            for part in attr.split(".") if attr else []:
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise PluginError(
                f"{self.kind} {self.name!r} from {self.origin}: cannot import factory {self.factory!r}: {exc}"
            ) from exc
        return obj

    def create(self, *args: Any, **kwargs: Any) -> Any:
        return self.load()(*args, **kwargs)


class Registry:
    """Every registered :class:`Entry`, keyed by ``(kind, name)``; a second registration is an error."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], Entry] = {}

    def add(self, entry: Entry) -> None:
        key = (entry.kind, entry.name)
        if key in self._entries:
            first = self._entries[key]
            raise PluginError(
                f"{entry.kind} {entry.name!r} is registered twice: by {first.origin} and by {entry.origin}. "
                "Uninstall one of them, or choose which plugins load with "
                "STATECATCHER_LOAD_PLUGINS=dist-a,dist-b."
            )
        self._entries[key] = entry

    def entries(self, kind: str | None = None) -> list[Entry]:
        return sorted((e for e in self._entries.values() if kind in (None, e.kind)), key=lambda e: (e.kind, e.name))

    def names(self, kind: str) -> list[str]:
        return [e.name for e in self.entries(kind)]

    def get(self, kind: str, name: str) -> Entry:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}")
        try:
            return self._entries[(kind, name)]
        except KeyError:
            raise UnknownNameError(unknown_name_message(kind, name, self.entries(kind))) from None


def unknown_name_message(kind: str, name: str, available: list[Entry]) -> str:
    listing = ", ".join(f"{e.name} ({e.origin})" for e in available) or "none installed"
    return f"unknown {kind} {name!r}. Available: {listing}"
