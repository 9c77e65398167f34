"""The ``lhotse`` data source on manifests built with lhotse's own API from generated audio files."""

from pathlib import Path

import numpy as np
import pytest
import soundfile
from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet

from statecatcher.plugins import get
from statecatcher.records import Segment
from statecatcher.testing import DataSourceConformance
from statecatcher_lhotse.source import LhotseDataSource

DURATIONS = [3.0, 4.5, 2.0, 5.0, 3.5, 4.0]  # seconds


def write_corpus(folder: Path, sample_rate: int = 16_000) -> tuple[RecordingSet, SupervisionSet]:
    """Six noise recordings, each with two supervisions (the second one starting first in the manifest)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    recordings, supervisions = [], []
    for index, duration in enumerate(DURATIONS):
        path = folder / f"rec{index}.wav"
        soundfile.write(path, rng.uniform(-0.5, 0.5, int(duration * sample_rate)), sample_rate, subtype="FLOAT")
        recordings.append(Recording.from_file(path, recording_id=f"rec{index}"))
        supervisions += [
            SupervisionSegment(f"rec{index}-b", f"rec{index}", start=1.5, duration=duration - 1.5,
                               text=f"second of {index}", speaker="B"),
            SupervisionSegment(f"rec{index}-a", f"rec{index}", start=0.25, duration=1.0, text=f"first of {index}",
                               speaker="A"),
        ]
    return RecordingSet.from_recordings(recordings), SupervisionSet.from_segments(supervisions)


@pytest.fixture(scope="module")
def manifests(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lhotse")
    recordings, supervisions = write_corpus(root / "audio")
    paths = {"recordings": root / "recordings.jsonl.gz", "supervisions": root / "supervisions.jsonl.gz",
             "cuts": root / "cuts.jsonl.gz"}
    recordings.to_file(paths["recordings"])
    supervisions.to_file(paths["supervisions"])
    CutSet.from_manifests(recordings=recordings, supervisions=supervisions).to_file(paths["cuts"])
    return paths


class TestCutSetConformance(DataSourceConformance):
    @pytest.fixture(autouse=True)
    def _manifests(self, manifests):
        self.manifests = manifests

    def make_source(self):
        return LhotseDataSource(f"train={self.manifests['cuts']}", seed=5)


class TestRecordingsAndSupervisionsConformance(TestCutSetConformance):
    def make_source(self):
        return LhotseDataSource(f"train={self.manifests['supervisions']},train={self.manifests['recordings']}",
                                seed=5)


def test_supervisions_become_sorted_timed_segments_of_the_whole_recording(manifests):
    source = get("data_source", "lhotse").create(f"train={manifests['cuts']}", seed=0, shuffle=False)
    recordings = list(source.recordings("train"))
    assert [r.id for r in recordings] == [f"rec{i}" for i in range(6)]
    assert [r.duration for r in recordings] == DURATIONS
    assert recordings[1].segments is None  # listed: segments are built when loaded
    assert recordings[1].load_segments() == (Segment(0.25, 1.25, "first of 1", "A"),
                                             Segment(1.5, 4.5, "second of 1", "B"))
    assert recordings[1].meta == {"split": "train", "lhotse_cut": recordings[1].meta["lhotse_cut"],
                                  "lhotse_recording": "rec1"}


def test_both_manifest_forms_give_the_same_recordings_and_audio(manifests):
    cuts = LhotseDataSource(str(manifests["cuts"]), seed=1)
    pair = LhotseDataSource(f"{manifests['recordings']},{manifests['supervisions']}", seed=1)
    for split in ("train", "dev", "test"):
        assert list(cuts.recordings(split)) == list(pair.recordings(split))
    first = next(cuts.recordings("train"))
    audio, _ = soundfile.read(manifests["recordings"].parent / "audio" / f"{first.id}.wav", dtype="float32")
    assert np.array_equal(first.load_audio().numpy(), audio)


def test_split_from_the_cut_custom_field_else_by_recording_hash(manifests, tmp_path):
    cuts = CutSet.from_file(manifests["cuts"])
    marked = CutSet.from_cuts(cut.with_custom("split", "dev" if cut.recording_id == "rec2" else "train")
                              for cut in cuts)
    marked.to_file(tmp_path / "marked.jsonl.gz")
    source = LhotseDataSource(str(tmp_path / "marked.jsonl.gz"), shuffle=False)
    assert [r.id for r in source.recordings("dev")] == ["rec2"]
    assert len(list(source.recordings("train"))) == 5
    everything_test = LhotseDataSource(str(manifests["cuts"]), dev_fraction=0.0, test_fraction=1.0)
    assert len(list(everything_test.recordings("test"))) == 6 and not list(everything_test.recordings("train"))


def test_audio_at_another_rate_is_resampled_to_16k(tmp_path):
    recordings, supervisions = write_corpus(tmp_path / "audio8k", sample_rate=8_000)
    recordings.to_file(tmp_path / "recordings.jsonl.gz")
    supervisions.to_file(tmp_path / "supervisions.jsonl.gz")
    source = LhotseDataSource(f"{tmp_path / 'recordings.jsonl.gz'},{tmp_path / 'supervisions.jsonl.gz'}")
    recording = next(source.recordings("train"))
    audio = recording.load_audio()
    assert recording.sample_rate == 8_000 and audio.dtype.is_floating_point and audio.dim() == 1
    assert len(audio) == round(recording.duration * 16_000)


@pytest.mark.parametrize("spec, message", [
    ("", "give a manifest"),
    ("missing.jsonl.gz", "manifest missing.jsonl.gz does not exist"),
    (".", "is a folder (Lhotse Shar is not supported yet)"),
])
def test_bad_specs_are_one_clear_error(spec, message):
    with pytest.raises(ValueError, match="lhotse data source: .*" + message.replace("(", r"\(").replace(")", r"\)")):
        LhotseDataSource(spec)


def test_supervisions_without_recordings_are_refused(manifests):
    with pytest.raises(ValueError, match="a SupervisionSet needs its RecordingSet"):
        LhotseDataSource(str(manifests["supervisions"]))
