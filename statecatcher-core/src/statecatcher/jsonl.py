"""Reading JSON-lines files written by statecatcher (metrics, filter reports)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_jsonl(path: Path, missing_hint: str) -> list[dict[str, Any]]:
    """Every non-blank line of ``path`` as a dict; ``FileNotFoundError`` with ``missing_hint`` if absent,
    ``ValueError`` naming the file and line for a line that is not JSON."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {missing_hint}")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not a JSON line: {exc}") from exc
    return rows
