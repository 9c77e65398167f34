"""Reading timed transcripts: Whisper's JSON output as is, or JSONL with one segment per line.

Each segment needs ``start`` and ``end`` (seconds, numbers, ``start <= end``) and ``text`` (a string);
``speaker`` and ``no_speech_prob`` are kept when present; every other key (Whisper's ``tokens``,
``avg_logprob``, ...) is ignored.  Errors name the file, the segment (or line) and the field.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from statecatcher.records import Segment


class TranscriptError(ValueError):
    """A transcript file is malformed; the message names the file, the segment or line, and the field."""


def read_transcript(path: str | Path) -> tuple[tuple[Segment, ...], dict[str, Any]]:
    """``(segments sorted by start, facts)`` from a Whisper ``.json`` or a ``.jsonl`` file.

    ``facts`` holds the JSON's top-level ``language`` when present.
    """
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TranscriptError(f"{path}: cannot read transcript ({error})") from error
    if path.suffix.lower() == ".jsonl":
        items = [(f"line {n}", _json(line, f"{path}, line {n}"))
                 for n, line in enumerate(raw.splitlines(), start=1) if line.strip()]
        facts: dict[str, Any] = {}
    else:
        document = _json(raw, str(path))
        if not isinstance(document, dict) or not isinstance(document.get("segments"), list):
            raise TranscriptError(f"{path}: expected Whisper JSON, an object with a 'segments' list")
        items = [(f"segment {n}", item) for n, item in enumerate(document["segments"])]
        facts = {"language": document["language"]} if "language" in document else {}
    segments = [_segment(item, f"{path}, {where}") for where, item in items]
    return tuple(sorted(segments, key=lambda s: (s.start, s.end))), facts


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise TranscriptError(f"{where}: invalid JSON ({error})") from error


def _segment(item: Any, where: str) -> Segment:
    if not isinstance(item, dict):
        raise TranscriptError(f"{where}: expected an object with 'start', 'end' and 'text'")
    times = {}
    for field in ("start", "end"):
        value = item.get(field)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise TranscriptError(f"{where}: field '{field}' must be a finite number of seconds, got {value!r}")
        times[field] = float(value)
    if times["end"] < times["start"]:
        raise TranscriptError(f"{where}: field 'end' ({times['end']}) is before 'start' ({times['start']})")
    if not isinstance(item.get("text"), str):
        raise TranscriptError(f"{where}: field 'text' must be a string, got {item.get('text')!r}")
    speaker, no_speech = item.get("speaker"), item.get("no_speech_prob")
    return Segment(times["start"], times["end"], item["text"],
                   speaker=None if speaker is None else str(speaker),
                   no_speech_prob=None if no_speech is None else float(no_speech))
