"""Which ``Range`` header of an audio request ``statecatcher serve`` honours (RFC 9110 §14).

Only one ``bytes=`` range is honoured: ``bytes=first-[last]`` or a suffix ``bytes=-length`` shorter than the
file.  Every other header is ignored and the whole file is served (200): other units (``items=0-10``), a
malformed spec (``bytes=abc``, ``bytes=5-3``), several ranges, and a suffix as long as the file or longer
(it selects the whole file).  So a satisfiable request never gets 416; only ``bytes=first-`` with ``first``
past the end does, as it should.
"""

from __future__ import annotations

import re

_SINGLE = re.compile(r"bytes=([0-9]{0,18})-([0-9]{0,18})")


def usable_range(header: str | None, size: int) -> str | None:
    """The ``Range`` header to honour for a file of ``size`` bytes, or ``None``: serve the whole file."""
    match = _SINGLE.fullmatch(header.strip()) if header else None
    if match is None:
        return None
    first, last = match.groups()
    if not first:  # a suffix: the last `last` bytes
        return header if last and 0 < int(last) < size else None
    if last and int(last) < int(first):
        return None
    return f"bytes={first}-{last}"
