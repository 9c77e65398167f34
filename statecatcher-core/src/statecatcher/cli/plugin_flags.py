"""Flags for the options of the plugins a command line chooses: ``statecatcher run --encoder xlstm --help``
shows ``--xlstm-pattern``, ``--xlstm-hidden-dim``, ...

:class:`PluginOptionsCommand` peeks at the plugin choices in the arguments (``--encoder``, ``--loss``,
``--tokenizer``, ``--data``, ``--tracker``, ``--label-filters``, and a ``--config`` file) before click parses
them, falling back to the run config's defaults, and adds one flag per option of each chosen plugin (see
:mod:`statecatcher.options`).  A given flag lands where the run config keeps that plugin's options
(``--xlstm-pattern m,s`` is ``[encoder_options] pattern = "m,s"``).  A flag that would shadow another one is
left out; the generic ``--encoder-opt KEY=VALUE`` still reaches that option.
"""

from __future__ import annotations

from typing import Any

import click

from ..options import SLOTS, PluginOption, Slot, chosen_plugins, options_of, parse_value

PLUGIN_VALUES = "statecatcher.plugin_option_values"  # ctx.meta key: [(slot, option, value), ...]


class PluginValue(click.ParamType):
    """A value read as a TOML literal (``[1, 2]``, ``true``), a bare word being a string."""

    name = "value"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return parse_value(value) if isinstance(value, str) else value


class PluginOptionsCommand(click.Command):
    """A click command whose options also include those of the plugins its arguments choose."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.base_params = list(self.params)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        taken = {opt for param in self.base_params for opt in (*param.opts, *param.secondary_opts)}
        self.params = [*self.base_params, *plugin_flags(self.chosen(args), taken)]
        return super().parse_args(ctx, args)

    def chosen(self, args: list[str]) -> dict[str, Any]:
        """The plugin choices: run-config defaults <- the ``--config`` file <- flags in ``args``."""
        from ..configfile import tomllib
        from ..train.config import RunConfig

        values = RunConfig().to_dict()
        by_name = {param.name: param for param in self.base_params if isinstance(param, click.Option)}
        config_paths = peek(args, by_name["config_path"].opts) if "config_path" in by_name else []
        if config_paths:
            try:
                with open(config_paths[-1], "rb") as file:
                    values.update(tomllib.load(file))
            except (OSError, tomllib.TOMLDecodeError):
                pass  # reported, naming the file, when the command runs
        for name in (slot.selector for slot in SLOTS if slot.selector in by_name):
            given = peek(args, by_name[name].opts)
            if given:
                values[name] = given if by_name[name].multiple else given[-1]
        return values


def peek(args: list[str], opts: list[str]) -> list[str]:
    """Every value given to one of ``opts`` in ``args`` (``--encoder xlstm`` or ``--encoder=xlstm``)."""
    found = []
    for i, arg in enumerate(args):
        for opt in opts:
            if arg == opt and i + 1 < len(args):
                found.append(args[i + 1])
            elif arg.startswith(opt + "="):
                found.append(arg[len(opt) + 1:])
    return found


def plugin_flags(values: dict[str, Any], taken: set[str]) -> list[click.Option]:
    """One click option per option of every plugin ``values`` choose, skipping flags already in ``taken``."""
    from ..plugins import get
    from ..registry import PluginError, UnknownNameError

    flags = []
    for slot, name in chosen_plugins(values):
        try:
            plugin = options_of(get(slot.kind, name))
        except (UnknownNameError, PluginError):
            continue  # an unknown or broken plugin is reported, with the alternatives, when the command runs
        for option in plugin.options.values():
            if option.flag not in taken:
                taken.add(option.flag)
                flags.append(click_option(slot, option))
    return flags


def click_option(slot: Slot, option: PluginOption) -> click.Option:
    default = "" if option.default in (None, "", ()) or option.secret else f"  [default: {option.default}]"
    secret = "  [secret: redacted in config.toml, checkpoints and logs]" if option.secret else ""
    help_text = f"[{option.plugin}] {option.help or option.name.replace('_', ' ')}{default}{secret}"
    store = _store(slot, option)
    name = f"plugin__{slot.kind}__{option.plugin}__{option.name}"
    if option.type is bool:
        return click.Option([f"{option.flag}/--no-{option.flag[2:]}", name], default=None, help=help_text,
                            callback=store, expose_value=False)
    return click.Option([option.flag, name], type=option.type or PluginValue(), default=None, help=help_text,
                        callback=store, expose_value=False)


def _store(slot: Slot, option: PluginOption):
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is not None:
            ctx.meta.setdefault(PLUGIN_VALUES, []).append((slot, option, value))
        return value

    return callback


def plugin_overrides(ctx: click.Context) -> dict[str, dict[str, Any]]:
    """The given plugin flags as run-config overrides: ``{"encoder_options": {"pattern": "m,s"}, ...}``."""
    out: dict[str, dict[str, Any]] = {}
    for slot, option, value in ctx.meta.get(PLUGIN_VALUES, []):
        target = out.setdefault(slot.options, {})
        if slot.per_name:
            target = target.setdefault(option.plugin, {})
        target[option.name] = value
    return out
