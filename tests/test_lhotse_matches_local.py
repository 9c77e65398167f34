"""A lhotse manifest of the synthetic corpus, built with lhotse's own API, is the same training data as the
``local`` folder it came from: same recordings, segments and texts, same audio, same training run."""

import json
from pathlib import Path

import numpy as np
import pytest

from statecatcher.data.local import LocalDataSource
from statecatcher.data.segmenter import SegmenterConfig, segment_recording

lhotse = pytest.importorskip("lhotse")


@pytest.fixture(scope="module")
def lhotse_cuts(tiny_corpus, tmp_path_factory) -> Path:
    """``cuts.jsonl.gz``: one cut per episode (the whole recording), one supervision per transcript segment,
    the episode's split in ``cut.custom["split"]``."""
    recordings, supervisions, splits = [], [], {}
    for line in (tiny_corpus / "manifest.jsonl").read_text().splitlines():
        row = json.loads(line)
        splits[row["id"]] = row["split"]
        recordings.append(lhotse.Recording.from_file(tiny_corpus / row["audio"], recording_id=row["id"]))
        transcript = json.loads((tiny_corpus / row["transcript"]).read_text())
        supervisions += [lhotse.SupervisionSegment(f"{row['id']}-{n}", row["id"], start=seg["start"],
                                                   duration=seg["end"] - seg["start"], text=seg["text"],
                                                   speaker=seg["speaker"])
                         for n, seg in enumerate(transcript["segments"])]
    cuts = lhotse.CutSet.from_manifests(recordings=lhotse.RecordingSet.from_recordings(recordings),
                                        supervisions=lhotse.SupervisionSet.from_segments(supervisions))
    path = tmp_path_factory.mktemp("lhotse") / "cuts.jsonl.gz"
    lhotse.CutSet.from_cuts(cut.with_custom("split", splits[cut.recording_id]) for cut in cuts).to_file(path)
    return path


def visited(source, split: str) -> set[tuple[str, float, float, str]]:
    """Every (recording, segment start, segment end, text) the trainer's segmenter makes of ``split``."""
    config = SegmenterConfig(segment_seconds=5.0, min_seconds=2.0, max_seconds=10.0)
    return {(recording.id, segment.start, segment.end, segment.text)
            for recording in source.recordings(split) for segment in segment_recording(recording, config)}


def test_lhotse_source_visits_the_same_recordings_segments_and_texts_as_local(tiny_corpus, lhotse_cuts):
    from statecatcher_lhotse.source import LhotseDataSource

    local, from_lhotse = LocalDataSource(str(tiny_corpus), seed=3), LhotseDataSource(str(lhotse_cuts), seed=3)
    for split in ("train", "test"):
        ours = [r.loaded() for r in local.recordings(split)]
        theirs = [r.loaded() for r in from_lhotse.recordings(split)]
        assert [(r.id, r.duration) for r in theirs] == [(r.id, r.duration) for r in ours]
        assert [[(s.start, s.end, s.text, s.speaker) for s in r.segments] for r in theirs] == \
               [[(s.start, s.end, s.text, s.speaker) for s in r.segments] for r in ours]
        assert visited(from_lhotse, split) == visited(local, split) and visited(local, split)
    assert np.array_equal(next(from_lhotse.recordings("test")).load_audio().numpy(),
                          next(local.recordings("test")).load_audio().numpy())


@pytest.mark.slow
def test_training_on_the_lhotse_manifest_is_the_same_run_as_on_the_folder(tiny_corpus, lhotse_cuts, tmp_path,
                                                                       tiny_run_config):
    from statecatcher.train.loop import train

    runs = {name: train(tiny_run_config(tiny_corpus, tmp_path / name, data=data, max_steps=4, num_workers=0))
            for name, data in (("local", f"local:{tiny_corpus}"), ("lhotse", f"lhotse:{lhotse_cuts}"))}
    assert runs["lhotse"].audio_seconds == runs["local"].audio_seconds > 0
    assert runs["lhotse"].losses == runs["local"].losses and len(runs["local"].losses) == 4
