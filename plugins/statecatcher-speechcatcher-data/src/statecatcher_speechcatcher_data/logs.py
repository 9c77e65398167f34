"""Logging for ``statecatcher serve`` that never shows the key and cannot be forged through a URL.

:func:`protect_logs` puts one filter on every logger the server stack writes to (the app's, its access and
index logs, werkzeug, waitress, gunicorn): each record is scrubbed of the secrets (message, exception
traceback, stack; see :func:`statecatcher.secrets.scrub_record`) and control characters in its message are
escaped (``%0a`` in a URL shows as ``\\x0a``, so it cannot start a new log line).  ``statecatcher serve`` also
puts the filter on the root logger's handlers, which covers records of any other logger.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from statecatcher.secrets import ScrubFilter

SERVER_LOGGERS = ("statecatcher_speechcatcher_data", "statecatcher_speechcatcher_data.access",
                  "statecatcher_speechcatcher_data.index", "werkzeug", "waitress", "waitress.queue",
                  "gunicorn.error", "gunicorn.access")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str) -> str:
    """``text`` with control characters (and Unicode line separators) written as ``\\xNN`` / ``\\uNNNN``."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)


class ServerLogFilter(ScrubFilter):
    """Scrubs the secrets from a record, then escapes the control characters of its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        super().filter(record)
        message = record.getMessage()
        escaped = printable(message)
        if escaped != message:
            record.msg, record.args = escaped, None
        return True


_FILTER = ServerLogFilter()


def protect_logs(secrets: Iterable[str | None], *, root_handlers: bool = False) -> None:
    """From now on every record of :data:`SERVER_LOGGERS` (and, with ``root_handlers``, every record the root
    logger's current handlers emit) is scrubbed of ``secrets`` and has its control characters escaped."""
    _FILTER.secrets |= {secret for secret in secrets if secret}
    targets = [logging.getLogger(name) for name in SERVER_LOGGERS]
    if root_handlers:
        targets += logging.getLogger().handlers
    for target in targets:
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)
