"""The core's ``local`` data source reads the corpus as written (segments, speakers, splits, durations)."""

from __future__ import annotations

import pytest


def test_local_data_source_reads_every_episode(tiny_corpus, tiny_episodes):
    local = pytest.importorskip("statecatcher.data.local")
    source = local.LocalDataSource(str(tiny_corpus), shuffle=False)
    for row, transcript, _ in tiny_episodes:
        (recording,) = [r for r in source.recordings(row["split"]) if r.id == row["id"]]
        assert recording.duration == pytest.approx(row["duration"])
        assert [(s.start, s.end, s.text, s.speaker) for s in recording.load_segments()] == [
            (s["start"], s["end"], s["text"], s["speaker"]) for s in transcript["segments"]]
