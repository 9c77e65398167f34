"""Turn a name given on the command line into a registered :class:`~statecatcher.registry.Entry`."""

from __future__ import annotations

import click

from ..registry import Entry, PluginError, UnknownNameError


def resolve(kind: str, name: str, param_hint: str) -> Entry:
    """The entry registered as ``kind:name``.

    Raises ``click.BadParameter`` for ``param_hint`` (e.g. ``"--encoder"``) listing every available name and
    the plugin that provides it, or ``click.ClickException`` when the plugins themselves are broken.
    """
    from ..plugins import get

    try:
        return get(kind, name)
    except UnknownNameError as exc:
        raise click.BadParameter(str(exc), param_hint=param_hint) from None
    except PluginError as exc:
        raise click.ClickException(str(exc)) from exc
