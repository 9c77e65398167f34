"""WebVTT <-> timed transcript segments (the transcripts a speechcatcher-data server serves).

Parsing follows the W3C WebVTT cue syntax as far as transcripts need it: an optional ``WEBVTT`` header
block, ``NOTE`` / ``STYLE`` / ``REGION`` blocks (skipped), cues with an optional identifier line, a timing line
``[hh:]mm:ss.ttt --> [hh:]mm:ss.ttt [settings]`` and one or more text lines (joined with a space).  Tags
(``<v Speaker>``, ``<c.red>``, ``<00:00:01.000>``, ``<b>``) are stripped, the speaker of a leading ``<v>``
tag is kept, HTML entities are decoded.  Cues come back sorted by start; overlapping cues are kept as they
are (the segmenter merges overlaps and never cuts inside them).  Times are seconds.
"""

from __future__ import annotations

import html
import re

from statecatcher.records import Segment

_TIMESTAMP = r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{3})"
_TIMING = re.compile(rf"^\s*{_TIMESTAMP}\s+-->\s+{_TIMESTAMP}(?:\s+.*)?$")
_TAG = re.compile(r"<[^>]*>")
_VOICE = re.compile(r"^\s*<v(?:\.[^\s>]*)?\s+([^>]+)>")


class VTTError(ValueError):
    """A WebVTT document is malformed; the message names the document and the cue (line number)."""


def _seconds(hours: str | None, minutes: str, seconds: str, millis: str) -> float:
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000


def cue_text(lines: list[str]) -> tuple[str, str | None]:
    """``(plain text, speaker)`` of a cue's text lines: tags stripped, entities decoded, lines joined."""
    voice = _VOICE.match(lines[0]) if lines else None
    text = " ".join(html.unescape(_TAG.sub("", line)).strip() for line in lines)
    return " ".join(text.split()), (voice.group(1).strip() if voice else None)


def parse_vtt(document: str, name: str = "WebVTT") -> tuple[Segment, ...]:
    """The cues of ``document`` as segments sorted by ``(start, end)``; ``name`` (file or URL) names errors.

    Raises :class:`VTTError` on a missing ``WEBVTT`` signature, a timing line that does not parse or a cue
    that ends before it starts.  Cues with empty text are dropped (they carry no label).
    """
    lines = document.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not lines[0].startswith("WEBVTT") or lines[0][6:7] not in ("", " ", "\t"):
        raise VTTError(f"{name}: not a WebVTT document (the first line must start with 'WEBVTT')")
    segments, block, first_line = [], [], 1
    for number, line in enumerate(lines[1:] + [""], start=2):
        if line.strip():
            if not block:
                first_line = number
            block.append(line)
            continue
        if block:
            cue = _cue(block, f"{name}, line {first_line}", first_line == 2)
            if cue is not None:
                segments.append(cue)
            block = []
    return tuple(sorted(segments, key=lambda s: (s.start, s.end)))


def _cue(block: list[str], where: str, right_after_header: bool) -> Segment | None:
    head = block[0].split()[0] if block[0].split() else ""
    if head in ("NOTE", "STYLE", "REGION"):
        return None
    timing_at = 0 if "-->" in block[0] else 1
    if timing_at >= len(block) or "-->" not in block[timing_at]:
        if right_after_header:  # header lines (e.g. "Kind: captions") directly below WEBVTT
            return None
        raise VTTError(f"{where}: expected a cue timing line 'hh:mm:ss.ttt --> hh:mm:ss.ttt'")
    match = _TIMING.match(block[timing_at])
    if match is None:
        raise VTTError(f"{where}: malformed cue timing {block[timing_at].strip()!r}")
    start, end = _seconds(*match.groups()[:4]), _seconds(*match.groups()[4:])
    if end < start:
        raise VTTError(f"{where}: cue ends ({end:.3f} s) before it starts ({start:.3f} s)")
    text, speaker = cue_text(block[timing_at + 1:])
    return Segment(start, end, text, speaker=speaker) if text else None


def _timestamp(seconds: float) -> str:
    millis = round(max(seconds, 0.0) * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    return f"{hours:02d}:{minutes:02d}:{millis // 1000:02d}.{millis % 1000:03d}"


def format_vtt(segments: list[Segment] | tuple[Segment, ...]) -> str:
    """A WebVTT document with one cue per segment (speaker as a ``<v>`` tag, ``<``/``>``/``&`` escaped)."""
    cues = ["WEBVTT", ""]
    for number, segment in enumerate(segments, start=1):
        text = html.escape(" ".join(segment.text.split()), quote=False)
        if segment.speaker:
            text = f"<v {html.escape(segment.speaker, quote=False)}>{text}"
        cues += [str(number), f"{_timestamp(segment.start)} --> {_timestamp(segment.end)}", text, ""]
    return "\n".join(cues)
