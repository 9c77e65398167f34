"""Checks of what ``statecatcher serve`` is sent: every path parameter, query parameter and JSON body.

A bad value raises :class:`BadRequest` naming the field; the server answers it with HTTP 400 and
``{"success": false, "error": "<field>: <why>"}``, never a 500.  Ids are ASCII digits of bounded length
(``str.isdigit`` would take ``²``, ``١`` and ``１``); JSON bodies are objects of plain values, parsed whatever
the Content-Type (as speechcatcher-data does); an empty body means no options; bodies are size-bounded by the
app (``MAX_BODY_BYTES``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

MAX_BODY_BYTES = 64 * 1024
MAX_ID_DIGITS = 18  # fits SQLite's signed 64-bit INTEGER
MAX_BATCH_SIZE = 1_000_000
MAX_TEXT = 10_000  # characters of a logged message
_DIGITS = re.compile(rf"[0-9]{{1,{MAX_ID_DIGITS}}}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class BadRequest(ValueError):
    """A request value the server refuses: ``field`` names it, the message says what is expected."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def ascii_id(text: str, field: str) -> int:
    """``text`` as a non-negative integer of 1 to ``MAX_ID_DIGITS`` ASCII digits."""
    if not _DIGITS.fullmatch(text):
        raise BadRequest(field, f"must be 1 to {MAX_ID_DIGITS} ASCII digits, got {text[:40]!r}")
    return int(text)


def path_text(text: str, field: str) -> str:
    """``text`` (a path parameter), refused when it holds a NUL or another control character."""
    if _CONTROL.search(text):
        raise BadRequest(field, "must not contain NUL or other control characters")
    return text


def json_object(raw: bytes, field: str = "body") -> dict[str, Any]:
    """The JSON object in ``raw`` (``{}`` when empty); lists, strings, numbers, invalid or deeply nested JSON
    are refused."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise BadRequest(field, f"not valid JSON ({str(error)[:120]})") from None
    if not isinstance(value, dict):
        raise BadRequest(field, f"must be a JSON object, got a JSON {type(value).__name__}")
    return value


def _text(body: dict, field: str, default: str, limit: int) -> str:
    value = body.get(field)
    if value is None:
        return default
    if not isinstance(value, str) or len(value) > limit:
        raise BadRequest(field, f"must be a string of at most {limit} characters")
    return value


def _seconds(body: dict, field: str, default: float) -> float:
    value = body.get(field)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise BadRequest(field, f"must be a finite number of seconds >= 0 or null, got {value!r:.40}")
    return float(value)


@dataclass(frozen=True)
class SessionOptions:
    """What ``start_training_session`` takes; missing or null fields get these defaults."""

    order: str = "asc"
    batch_size: int = 16
    language: str = ""
    min_duration: float = 0.0
    max_duration: float = math.inf


def session_options(body: dict[str, Any]) -> SessionOptions:
    """The checked options of a ``start_training_session`` body (unknown fields are ignored)."""
    order = _text(body, "order", "asc", 8)
    if order not in ("asc", "desc"):
        raise BadRequest("order", f"must be 'asc' or 'desc', got {order!r}")
    batch_size = body.get("batch_size")
    if batch_size is None:
        batch_size = SessionOptions.batch_size
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise BadRequest("batch_size", f"must be an integer from 1 to {MAX_BATCH_SIZE}, got {batch_size!r:.40}")
    return SessionOptions(order, batch_size, _text(body, "language", "", 64), _seconds(body, "min_duration", 0.0),
                          _seconds(body, "max_duration", math.inf))


def log_entry(body: dict[str, Any]) -> tuple[str, str]:
    """``(level, message)`` of a ``log`` body; the message is cut at ``MAX_TEXT`` characters."""
    message = body.get("message")
    if message is not None and not isinstance(message, str):
        raise BadRequest("message", "must be a string")
    return _text(body, "level", "info", 32), (message or "")[:MAX_TEXT]
