"""What ``statecatcher run`` trains on when the user names no data: ``./corpus``, else the embedded corpus.

The embedded corpus is a data source named ``synth`` that a plugin registers (statecatcher-synth: it
synthesises the corpus once into the user cache); core only looks the name up in the registry, so it never
imports the plugin.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..registry import UnknownNameError

EMBEDDED_SOURCE = "synth"
DEFAULT_DATA = "local:corpus"  # RunConfig.data's default


def user_cache_dir() -> Path:
    """``$STATECATCHER_CACHE_DIR``, else ``~/.cache/statecatcher``."""
    return Path(os.environ.get("STATECATCHER_CACHE_DIR") or Path.home() / ".cache" / "statecatcher").expanduser()


def fall_back_to_embedded(data: str, *, data_given: bool) -> str:
    """``data`` itself, unless it is the untouched default and ``./corpus`` is no folder: then
    ``"synth:CACHE/corpus-VERSION"`` (``VERSION`` of the plugin registering ``synth``), so the saved config
    and the run summary say where the corpus lives.

    Raises ``click.UsageError`` (one line) when no plugin registers the ``synth`` data source.
    """
    if data_given or data != DEFAULT_DATA or Path("corpus").is_dir():
        return data
    from ..plugins import get

    try:
        entry = get("data_source", EMBEDDED_SOURCE)
    except UnknownNameError:
        raise click.UsageError("no training data: pass --data NAME:SPEC (e.g. --data local:path/to/corpus) or "
                               "pip install statecatcher-synth to train on the embedded synthetic corpus") from None
    cache = user_cache_dir() / f"corpus-{entry.version or 'dev'}"
    click.echo(f"no --data and no ./corpus folder: training on the embedded synthetic corpus of {entry.origin} "
               f"in {cache}", err=True)
    return f"{EMBEDDED_SOURCE}:{cache}"
