"""Plugin options: a factory's keyword parameters ARE its options.

``XLSTMEncoder(input_dim=80, hidden_dim=256, pattern="m,m,s,m", ...)`` gives the encoder ``xlstm`` the options
``hidden_dim``, ``pattern``, ...: their names, defaults and types come from the factory's signature
(:func:`inspect.signature`), their help text from the one declaration ``register(..., options={"pattern":
"block pattern"})``, which must cover every option and name no other (:func:`declaration_problems`); options
holding a secret are named there too (``register(..., secrets=("api_key",))``): their flags never show a value
and every saved config and log redacts them.
Parameters the trainer fills itself (:data:`SUPPLIED_BY_CORE`, e.g. an encoder's ``input_dim``) are not options.

Where a run config keeps them (:data:`SLOTS`): ``encoder_options`` for the chosen ``encoder``, and so on;
``tracker_options`` and ``filter_options`` are keyed by plugin name, because several trackers and label filters
can be chosen at once.  ``statecatcher run`` turns each option into a flag ``--<plugin>-<param>``
(``--xlstm-pattern``), and :func:`check_plugin_options` refuses unknown names and wrong types before any
data is fetched.  A factory that also takes ``**kwargs`` accepts further names unchecked.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .configfile import ConfigError, tomllib
from .registry import Entry

SCALARS = (bool, int, float, str)

# keyword parameters the trainer passes itself, per kind: never options
SUPPLIED_BY_CORE: dict[str, frozenset[str]] = {
    "encoder": frozenset({"input_dim"}),
    "loss": frozenset({"input_dim", "vocab_size", "blank_id"}),
    "tokenizer": frozenset(),
    "data_source": frozenset({"spec", "seed"}),
    "tracker": frozenset({"run_dir"}),
    "label_filter": frozenset(),
}


class PluginOptionError(ConfigError):
    """A plugin option is unknown or has the wrong type; the message names the option and the plugin."""


@dataclass(frozen=True)
class Slot:
    """Which run-config key chooses plugins of ``kind`` and which key holds their options."""

    kind: str
    selector: str      # RunConfig key naming the plugin: "encoder", "data" (NAME:SPEC) or a list ("trackers")
    options: str       # RunConfig key holding the options: "encoder_options", ...
    per_name: bool     # options keyed by plugin name (trackers, label filters)


SLOTS: tuple[Slot, ...] = (
    Slot("encoder", "encoder", "encoder_options", per_name=False),
    Slot("loss", "loss", "loss_options", per_name=False),
    Slot("tokenizer", "tokenizer", "tokenizer_options", per_name=False),
    Slot("data_source", "data", "data_options", per_name=False),
    Slot("tracker", "trackers", "tracker_options", per_name=True),
    Slot("label_filter", "label_filters", "filter_options", per_name=True),
)


@dataclass(frozen=True)
class PluginOption:
    """One keyword parameter of a plugin's factory.  ``type`` is bool, int, float or str, or ``None`` when
    the parameter takes anything else (its value is then read as a TOML literal, a bare word being a string)."""

    plugin: str
    name: str
    type: type | None
    default: Any
    help: str = ""
    secret: bool = False  # declared secret (an API key): redacted when saved or logged, never shown

    @property
    def flag(self) -> str:
        """``--xlstm-pattern``: plugin name and parameter, dashed."""
        return f"--{self.plugin}-{self.name}".replace("_", "-")

    def accepts(self, value: Any) -> bool:
        if self.type is None:
            return True
        if self.type is float:
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        if self.type is int:
            return isinstance(value, int) and not isinstance(value, bool)
        return isinstance(value, self.type)


@dataclass(frozen=True)
class PluginOptions:
    """The options of one registered plugin; ``open_ended`` when its factory also takes ``**kwargs``."""

    entry: Entry
    options: dict[str, PluginOption]
    open_ended: bool


def options_of(entry: Entry) -> PluginOptions:
    """The options of ``entry``'s factory (imports the factory, so usually torch)."""
    factory = entry.load()
    bound = set(factory.keywords) if isinstance(factory, functools.partial) else set()
    skip = SUPPLIED_BY_CORE.get(entry.kind, frozenset()) | bound
    options, open_ended = {}, False
    for param in _signature(factory).parameters.values():
        if param.kind is param.VAR_KEYWORD:
            open_ended = True
        elif (param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY) and param.name not in skip
              and param.default is not param.empty):
            options[param.name] = PluginOption(entry.name, param.name, _scalar_type(param), param.default,
                                               entry.options.get(param.name, ""), param.name in entry.secrets)
    return PluginOptions(entry, options, open_ended)


def declaration_problems(plugin: PluginOptions) -> list[str]:
    """What is wrong with a plugin's option declaration: options without help text, help for a name that is
    no option, secrets naming no option, and secrets that a saved config would not redact.  ``[]`` when sound."""
    from .secrets import is_secret_name

    entry, names = plugin.entry, set(plugin.options)
    where = f"{entry.kind} {entry.name!r} ({entry.origin})"
    problems = [f"{where}: option {n!r} has no help text in register(options=...)"
                for n in sorted(names) if not plugin.options[n].help]
    problems += [f"{where}: register(options=...) documents {n!r}, which is no option of its factory"
                 for n in sorted(set(entry.options) - names)]
    problems += [f"{where}: register(secrets=...) names {n!r}, which is no option of its factory"
                 for n in sorted(entry.secrets - names)]
    problems += [f"{where}: secret option {n!r} would be saved unredacted (statecatcher.secrets.is_secret_name)"
                 for n in sorted(entry.secrets & names) if not is_secret_name(n)]
    return problems


def _signature(factory: Any) -> inspect.Signature:
    try:
        return inspect.signature(factory, eval_str=True)
    except (NameError, TypeError, SyntaxError):  # an annotation naming something imported only for type checkers
        return inspect.signature(factory)


def _scalar_type(param: inspect.Parameter) -> type | None:
    """bool/int/float/str from the annotation (``int | None`` counts as int), else from the default."""
    annotation = param.annotation
    if annotation is param.empty or isinstance(annotation, str):
        return type(param.default) if type(param.default) in SCALARS else None
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    members = [t for t in (typing.get_args(annotation) if union else (annotation,)) if t is not type(None)]
    return members[0] if len(members) == 1 and members[0] in SCALARS else None


def parse_value(raw: str) -> Any:
    """A command-line value as a TOML literal (``256``, ``true``, ``[1, 2]``); a bare word stays a string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def check_options(plugin: PluginOptions, values: Mapping[str, Any], where: str) -> None:
    """Refuse option names the factory does not take and values of the wrong type.

    ``where`` names the config key the values came from (``encoder_options``, ``tracker_options.aim``).
    """
    entry = plugin.entry
    for name, value in values.items():
        option = plugin.options.get(name)
        if option is None and not plugin.open_ended:
            close = difflib.get_close_matches(name, plugin.options, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise PluginOptionError(
                f"{where}: {entry.kind} {entry.name!r} ({entry.origin}) has no option {name!r}{hint}. "
                f"Its options: {', '.join(sorted(plugin.options)) or 'none'}")
        if option is not None and not option.accepts(value):
            raise PluginOptionError(
                f"{where}: option {name!r} of {entry.kind} {entry.name!r} must be {option.type.__name__}, "
                f"got {type(value).__name__} {value!r}")


def chosen_plugins(values: Mapping[str, Any]) -> Iterator[tuple[Slot, str]]:
    """``(slot, plugin name)`` for every plugin a run config (as a dict) chooses."""
    for slot in SLOTS:
        chosen = values.get(slot.selector)
        if slot.selector == "data" and isinstance(chosen, str):
            chosen = chosen.partition(":")[0]
        for name in chosen if isinstance(chosen, list) else [chosen]:
            if isinstance(name, str) and name:  # a wrong type is the config check's to report
                yield slot, name


def check_plugin_options(config: Any) -> None:
    """Check every chosen plugin's options in ``config`` (a :class:`~statecatcher.train.config.RunConfig`)
    against its factory's signature; raises :class:`PluginOptionError`.  Call it before fetching data."""
    from .plugins import get

    chosen = list(chosen_plugins(config.to_dict()))
    for slot in (slot for slot in SLOTS if slot.per_name):
        names = [name for chosen_slot, name in chosen if chosen_slot is slot]
        unused = sorted(set(getattr(config, slot.options)) - set(names))
        if unused:
            raise PluginOptionError(f"{slot.options}: options given for {', '.join(map(repr, unused))}, which is "
                                    f"not among the {slot.selector} {names}")
    for slot, name in chosen:
        given = getattr(config, slot.options)
        where = f"{slot.options}.{name}" if slot.per_name else slot.options
        check_options(options_of(get(slot.kind, name)), given.get(name, {}) if slot.per_name else given, where)
