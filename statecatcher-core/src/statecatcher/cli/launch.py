"""``statecatcher run --nproc N``: hand this command line over to torchrun without putting a secret on it.

Secrets (every secret-named option of the resolved config, ``--api-key`` included; see
:mod:`statecatcher.secrets`) leave the ranks' command lines, which any user can read with ``ps``; they travel
in the environment variable :data:`SECRETS_ENV` (JSON option tables), which only the user can read, and
:func:`secret_overrides` puts them back into each rank's config.  The echoed command is redacted too.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import click

from ..secrets import is_secret_name, scrub
from .errors import DEBUG_ENV, debugging

SECRETS_ENV = "STATECATCHER_SECRET_OPTIONS"


def secret_options(values: Mapping[str, Any]) -> dict[str, Any]:
    """The secret-named, non-empty values of nested ``values``, keeping their tables:
    ``{"data_options": {"api_key": "K"}}``."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            inner = secret_options(value)
            if inner:
                out[key] = inner
        elif is_secret_name(key) and value not in (None, ""):
            out[key] = value
    return out


def _leaves(values: Mapping[str, Any]) -> list[str]:
    return [leaf for value in values.values()
            for leaf in (_leaves(value) if isinstance(value, Mapping) else [str(value)])]


def without_secret_args(args: Sequence[str], secrets: Sequence[str]) -> list[str]:
    """``args`` without every argument holding one of ``secrets`` (``--api-key=K``, ``api_key=K``) and, for
    a separate value (``--api-key K``, ``--data-opt api_key=K``), the option before it."""
    out: list[str] = []
    for arg in args:
        if any(secret and secret in arg for secret in secrets):
            if out and out[-1].startswith("--") and "=" not in out[-1] and not arg.startswith("--"):
                out.pop()
            continue
        out.append(arg)
    return out


def secret_overrides() -> dict[str, Any]:
    """The secret options a ``--nproc`` parent handed to this rank (empty elsewhere)."""
    raw = os.environ.get(SECRETS_ENV)
    if not raw:
        return {}
    try:
        values = json.loads(raw)
    except json.JSONDecodeError as error:
        raise click.UsageError(f"environment variable {SECRETS_ENV} is not JSON: {error.msg}") from None
    return values if isinstance(values, dict) else {}


def launch_torchrun(nproc: int, config: Any) -> None:
    """Replace this process by ``torchrun --standalone --nproc-per-node NPROC -m statecatcher run ARGS``, the
    secrets of ``config`` (a RunConfig) moved from ``ARGS`` to the environment."""
    from ..train.distributed import torchrun_command, without_option

    if "WORLD_SIZE" in os.environ:
        raise click.UsageError("--nproc: already running under torchrun (WORLD_SIZE is set); drop --nproc")
    secrets = secret_options(dataclasses.asdict(config))
    args = without_option(sys.argv[sys.argv.index("run") + 1:], "--nproc")
    args = without_secret_args(without_option(args, "--api-key"), _leaves(secrets))
    command = torchrun_command(nproc, args)
    env = dict(os.environ)
    if secrets:
        env[SECRETS_ENV] = json.dumps(secrets)
    if debugging(click.get_current_context(silent=True)):
        env[DEBUG_ENV] = "1"
    click.echo(f"starting {nproc} ranks: {scrub(' '.join(command), _leaves(secrets))}", err=True)
    sys.stderr.flush()
    os.execve(command[0], command, env)
