"""WebVTT parsing on hand-written edge cases, and the writer the server uses (round trip)."""

from __future__ import annotations

import re

import pytest

from statecatcher.records import Segment
from statecatcher_speechcatcher_data.vtt import VTTError, format_vtt, parse_vtt

EDGE_CASES = """\ufeffWEBVTT - podcast transcript
Kind: captions
Language: en

NOTE this note spans
two lines --> and has an arrow

STYLE
::cue { color: red }

intro-1
00:00:01.500 --> 00:00:03.000 align:start position:10%
<v Ann Lee>Hello &amp; welcome
to the <b>show</b>!

01:02:03.004 --> 01:02:04.000
<c.yellow>Late</c> cue &lt;3 &nbsp;bye

00:02.000 --> 00:04.250
<00:00:02.500>karaoke <i>style</i>

00:00:00.000 --> 00:00:00.500
\t \t

2
00:00:01.000 --> 00:00:05.000
overlapping,   extra    spaces
"""


def test_edge_cases_parse_to_sorted_clean_segments():
    segments = parse_vtt(EDGE_CASES.replace("\n", "\r\n"))
    assert segments == (
        Segment(1.0, 5.0, "overlapping, extra spaces"),
        Segment(1.5, 3.0, "Hello & welcome to the show!", speaker="Ann Lee"),
        Segment(2.0, 4.25, "karaoke style"),
        Segment(3723.004, 3724.0, "Late cue <3 bye"),
    )


@pytest.mark.parametrize("document, message", [
    ("WEBVTTX\n\n00:01.000 --> 00:02.000\nhi\n", "not a WebVTT document"),
    ("<html>502 Bad Gateway</html>", "not a WebVTT document"),
    ("WEBVTT\n\n00:01.000 --> soon\nhi\n", "malformed cue timing"),
    ("WEBVTT\n\n00:03.000 --> 00:02.000\nhi\n", "ends (2.000 s) before it starts"),
    ("WEBVTT\n\nfirst\n\nsecond line without timing\nhi\n", "expected a cue timing line"),
])
def test_malformed_documents_raise_naming_the_line(document, message):
    with pytest.raises(VTTError, match=re.escape(message)) as error:
        parse_vtt(document, name="ep.vtt")
    assert str(error.value).startswith("ep.vtt")


def test_empty_document_has_no_segments():
    assert parse_vtt("WEBVTT\n") == ()


def test_writer_round_trips_through_the_parser():
    segments = (Segment(0.0, 1.2345, "A <tag> & more"), Segment(1.5, 3661.5, " two\nlines ", speaker="B"),
                Segment(2.0, 2.0, "zero length"))
    parsed = parse_vtt(format_vtt(segments))
    assert [(s.start, s.end, s.text, s.speaker) for s in parsed] == [
        (0.0, 1.234, "A <tag> & more", None), (1.5, 3661.5, "two lines", "B"), (2.0, 2.0, "zero length", None)]
