"""Reading JSON-lines files written by statecatcher (metrics, filter reports), and trimming them on resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .files import write_atomically


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


def drop_rows_after(path: Path, step: int) -> None:
    """Rewrite ``path`` (if it exists) without its rows whose ``"step"`` is past ``step`` and without lines
    that are not JSON (the last one, cut by a kill): what a resumed run does to the rows a killed run wrote
    after the checkpoint it resumes from, since it writes them again."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if row.get("step", 0) <= step:
            kept.append(line + "\n")
    write_atomically(path, "".join(kept))
