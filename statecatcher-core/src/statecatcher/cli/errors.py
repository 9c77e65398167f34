"""One clear line instead of a traceback: how every ``statecatcher`` command reports an error it did not expect.

Commands raise click errors for what they check themselves (a bad flag: exit 2).  Anything else that
escapes a command (a data source that cannot be reached, a file that is not a checkpoint, a full disk, a
run stopped by a guard) is shown as ``Error: <message>`` on one line, exit 1, with known secrets scrubbed;
``statecatcher --debug ...`` (or ``STATECATCHER_DEBUG=1``, which ranks started by ``--nproc`` inherit) lets
the exception through with its traceback.
"""

from __future__ import annotations

import os
import sys

import click

DEBUG_ENV = "STATECATCHER_DEBUG"
DEBUG_META = "statecatcher.debug"  # ctx.meta key: --debug was given
API_KEY_ENV = "STATECATCHER_API_KEY"
# exceptions whose message says it all; any other type is named in front of its message
_PLAIN = ("RunStopped", "ConfigError", "DiskFullError", "ValueError", "FileNotFoundError", "NotADirectoryError",
          "PermissionError")


def debugging(ctx: click.Context | None = None) -> bool:
    """``--debug`` was given (to this command line, or to the one that started this rank) or
    ``STATECATCHER_DEBUG`` is set."""
    return bool(ctx and ctx.meta.get(DEBUG_META)) or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def one_line(error: BaseException) -> str:
    """``error`` as one line: its message (its type first, unless it is one of the self-explaining ones), with
    every known secret (``STATECATCHER_API_KEY``, the value of ``--api-key`` or
    ``--speechcatcher-api-key``) replaced by ``***``."""
    from ..secrets import scrub

    message = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    name = type(error).__name__
    if not message:
        message = name
    elif name not in _PLAIN:
        message = f"{name}: {message}"
    return scrub(message, _known_secrets())


def _known_secrets() -> list[str]:
    argv = sys.argv
    flags = [arg for arg in argv if arg.startswith("--")]  # --api-key, --speechcatcher-api-key
    given = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg in flags and arg.endswith("api-key")]
    given += [arg.partition("=")[2] for arg in flags if arg.partition("=")[0].endswith("api-key") and "=" in arg]
    return [os.environ.get(API_KEY_ENV, ""), *given]


def as_click_error(error: Exception) -> click.ClickException:
    """The click error that prints ``error`` on one line (exit 1)."""
    return click.ClickException(one_line(error) + ("" if type(error).__name__ in _PLAIN else
                                                   "  (statecatcher --debug ... shows the traceback)"))
