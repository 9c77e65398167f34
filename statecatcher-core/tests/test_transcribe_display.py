"""``statecatcher transcribe``'s live view in a terminal: the newest words stay on screen, whatever the length."""

from __future__ import annotations

import io
import re

from rich.console import Console

from statecatcher.cli.transcribe_cmd import _Display, screen_tail

WIDTH, HEIGHT = 40, 8


def test_the_live_view_shows_the_newest_words_of_a_long_transcript_and_the_whole_text_at_the_end():
    console = Console(file=io.StringIO(), force_terminal=True, width=WIDTH, height=HEIGHT, color_system=None)
    display = _Display(True, console)
    words = [f"w{i}" for i in range(2000)]
    full = ""
    for begin in range(0, len(words), 50):
        new = " ".join(words[begin:begin + 50])
        full += " " + new
        display.show(new, full, begin / 10)
        shown = display.screen
        assert 0 < len(shown) <= HEIGHT - 1 and all(len(line) <= WIDTH for line in shown)  # fits the screen
        assert shown[-1].split()[-1] == words[begin + 49]  # and ends with the newest word
        assert " ".join(shown) in full  # whole words, in order
        display.live.refresh()
        assert console.file.getvalue().rstrip().endswith(shown[-1])  # what the terminal got
    printed_before = len(console.file.getvalue())
    display.close(full)
    assert display.live is None
    after = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", console.file.getvalue()[printed_before:])
    # the live view's last frame (erased: transient), then the whole transcript
    assert " ".join(after.split()).endswith(" ".join(words))


def test_screen_tail_keeps_the_last_lines_that_fit_and_reads_a_bounded_window():
    text = " ".join(f"word{i}" for i in range(5000))
    lines = screen_tail(text, WIDTH, HEIGHT)
    assert len(lines) == HEIGHT - 1 and lines[-1].endswith("word4999")
    assert all(len(line) <= WIDTH for line in lines) and " ".join(lines) in text
    assert screen_tail("a few words", WIDTH, HEIGHT) == ["a few words"]
    assert screen_tail("", WIDTH, HEIGHT) == []
