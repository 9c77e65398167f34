"""Keeping secrets (API keys, tokens, passwords) out of saved configs, logs and error messages.

A key is secret when its name, lower-cased, is ``api_key`` / ``apikey`` or has ``token``, ``secret`` or
``password`` as one of its ``_``/``-``-separated words (``hf_token`` is secret, ``tokenizer`` is not).
:func:`redact` replaces such values with :data:`REDACTED` anywhere in a nested config;
:func:`scrub` removes known secret strings from free text (URLs that carry the key as a path segment);
:func:`scrub_logger` does it for every record of a logger (e.g. urllib3's, which logs request paths).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "***"
_SECRET_NAMES = ("api_key", "apikey", "api-key")
_SECRET_PARTS = ("token", "secret", "password")


def is_secret_name(name: str) -> bool:
    """Whether a config key of this name holds a secret (``api_key``, ``hf_token``, ``client_secret``...)."""
    lowered = str(name).lower()
    return lowered in _SECRET_NAMES or any(word in _SECRET_PARTS for word in re.split(r"[_\-.]", lowered))


def redact(value: Any) -> Any:
    """A copy of ``value`` (dicts, lists, tuples nested) with every non-empty secret-named value replaced."""
    if isinstance(value, Mapping):
        return {key: REDACTED if is_secret_name(key) and item not in (None, "") else redact(item)
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(item) for item in value)
    return value


def without_secrets(value: Any) -> Any:
    """A copy of ``value`` (dicts nested) without its secret-named keys: what a saved config holds."""
    if isinstance(value, Mapping):
        return {key: without_secrets(item) for key, item in value.items() if not is_secret_name(key)}
    return value


def without_redacted(value: Any) -> Any:
    """A copy of ``value`` (dicts nested) without secret-named keys whose value is the :data:`REDACTED`
    placeholder (a config saved by an older version): the placeholder must never be used as a key."""
    if isinstance(value, Mapping):
        return {key: without_redacted(item) for key, item in value.items()
                if not (is_secret_name(key) and item == REDACTED)}
    return value


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every occurrence of each (non-empty) secret replaced by :data:`REDACTED`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


class ScrubFilter(logging.Filter):
    """A logging filter that rewrites each record (see :func:`scrub_record`) without the secrets in
    ``self.secrets``."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            scrub_record(record, self.secrets)
        return True


def scrub_record(record: logging.LogRecord, secrets: Iterable[str | None]) -> None:
    """Rewrites ``record`` in place without ``secrets``: its message, its exception's text (the traceback is
    formatted now into ``exc_text``, which every ``logging.Formatter`` prints; ``exc_info`` is dropped when the
    text held a secret) and its stack."""
    secrets = tuple(secrets)
    message = record.getMessage()
    scrubbed = scrub(message, secrets)
    if scrubbed != message:
        record.msg, record.args = scrubbed, None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        scrubbed = scrub(record.exc_text, secrets)
        if scrubbed != record.exc_text:
            record.exc_text, record.exc_info = scrubbed, None
    if record.stack_info:
        record.stack_info = scrub(record.stack_info, secrets)


_FILTERS: dict[str, ScrubFilter] = {}


def scrub_logger(name: str, secrets: Iterable[str | None]) -> None:
    """From now on, records logged to logger ``name`` (not its children) never show any of ``secrets``."""
    if name not in _FILTERS:
        _FILTERS[name] = ScrubFilter()
        logging.getLogger(name).addFilter(_FILTERS[name])
    _FILTERS[name].secrets |= {secret for secret in secrets if secret}
