import json

import pytest
import soundfile
import torch

from statecatcher.data.local import LocalDataSource, hash_split
from statecatcher.data.transcripts import TranscriptError, read_transcript
from statecatcher.testing import DataSourceConformance
from statecatcher.testing.dummies import make_recording, make_recordings, write_local_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_local_corpus(tmp_path_factory.mktemp("corpus"), make_recordings(7, min_duration=1.0,
                                                                                  max_duration=3.0))


class TestLocalDataSourceConformance(DataSourceConformance):
    @pytest.fixture(autouse=True)
    def _corpus(self, corpus):
        self.corpus = corpus

    def make_source(self):
        return LocalDataSource(str(self.corpus), seed=3)


class TestLocalDataSourceWithoutManifestConformance(TestLocalDataSourceConformance):
    def make_source(self):
        return LocalDataSource(str(self.corpus / "nomanifest"), seed=3, dev_fraction=0, test_fraction=0)

    @pytest.fixture(autouse=True)
    def _corpus(self, corpus):
        folder = corpus / "nomanifest"
        if not folder.exists():
            folder.mkdir()
            for path in corpus.glob("rec-*"):
                (folder / path.name).write_bytes(path.read_bytes())
        self.corpus = corpus


def test_recordings_come_back_as_written(corpus):
    originals = {r.id: r for r in make_recordings(7, min_duration=1.0, max_duration=3.0)}
    source = LocalDataSource(str(corpus), shuffle=False)
    listed = list(source.recordings("train"))
    assert [r.id for r in listed] == sorted(originals)  # manifest order
    for rec in listed:
        original = originals[rec.id]
        assert rec.segments is None and rec.duration == original.duration  # listed: the transcript is not read
        assert rec.load_segments() == original.segments and rec.loaded().segments == original.segments
        assert rec.meta["split"] == "train" and rec.meta["transcript"] == str(corpus / f"{rec.id}.json")
        torch.testing.assert_close(rec.load_audio(), original.load_audio(), atol=1 / 32768, rtol=0)
    assert source.describe()["recordings"] == {"train": 7}


def test_shuffled_order_depends_on_seed_and_epoch(corpus):
    ids = lambda source, epoch: [r.id for r in source.recordings("train", epoch=epoch)]
    source = LocalDataSource(str(corpus), seed=1)
    assert sorted(ids(source, 0)) == sorted(ids(source, 1))
    assert len({tuple(ids(LocalDataSource(str(corpus), seed=s), e)) for s in range(3) for e in range(3)}) > 3


def test_whisper_json_as_is_and_jsonl_without_manifest(tmp_path):
    rec = make_recording("talk", duration=3.0, seed=5)
    soundfile.write(tmp_path / "talk.wav", rec.load_audio().numpy(), 16000)
    whisper = {"text": " Hello there. Bye.", "language": "en", "segments": [
        {"id": 0, "seek": 0, "start": 2.0, "end": 3.4, "text": " Bye.", "tokens": [1, 2], "temperature": 0.0,
         "avg_logprob": -0.2, "compression_ratio": 1.1, "no_speech_prob": 0.1, "speaker": "SPEAKER_01"},
        {"id": 1, "seek": 0, "start": 0.5, "end": 1.5, "text": " Hello there.", "tokens": [3]}]}
    (tmp_path / "talk.json").write_text(json.dumps(whisper))
    (tmp_path / "sub").mkdir()
    soundfile.write(tmp_path / "sub" / "chat.flac", rec.load_audio().numpy()[:16000], 16000)
    (tmp_path / "sub" / "chat.jsonl").write_text('{"start": 0.1, "end": 0.4, "text": "hi"}\n\n')
    (tmp_path / "orphan.wav").write_bytes((tmp_path / "talk.wav").read_bytes())
    with pytest.warns(UserWarning, match="orphan.wav"):
        source = LocalDataSource(str(tmp_path), dev_fraction=0, test_fraction=0)
    talk, chat = sorted((r.loaded() for r in source.recordings("train")), key=lambda r: r.id, reverse=True)
    assert (talk.id, chat.id) == ("talk", "sub/chat") and talk.duration == 3.0 and chat.duration == 1.0
    assert [(s.start, s.end, s.text) for s in talk.segments] == [(0.5, 1.5, " Hello there."), (2.0, 3.0, " Bye.")]
    assert talk.segments[1].speaker == "SPEAKER_01" and talk.segments[1].no_speech_prob == 0.1
    assert chat.segments[0].text == "hi" and len(chat.load_audio()) == 16000


def test_split_by_hash_is_stable_and_follows_the_fractions():
    assert hash_split("abc", 0.0, 0.0) == "train" and hash_split("abc", 1.0, 0.0) == "dev"
    assert hash_split("abc", 0.0, 1.0) == "test"
    splits = [hash_split(f"id{i}", 0.2, 0.1) for i in range(2000)]
    assert abs(splits.count("dev") / 2000 - 0.2) < 0.03 and abs(splits.count("test") / 2000 - 0.1) < 0.03


@pytest.mark.parametrize("segment, message", [
    ({"start": 1.0, "text": "x"}, r"bad\.json, segment 0: field 'end'"),
    ({"start": "1", "end": 2.0, "text": "x"}, r"segment 0: field 'start' must be a finite number"),
    ({"start": 2.0, "end": 1.0, "text": "x"}, r"segment 0: field 'end' \(1.0\) is before 'start'"),
    ({"start": 1.0, "end": 2.0, "text": None}, r"segment 0: field 'text' must be a string"),
])
def test_malformed_transcripts_name_the_file_segment_and_field(tmp_path, segment, message):
    soundfile.write(tmp_path / "bad.wav", torch.zeros(16000).numpy(), 16000)
    (tmp_path / "bad.json").write_text(json.dumps({"segments": [segment]}))
    with pytest.raises(TranscriptError, match=message):
        read_transcript(tmp_path / "bad.json")
    source = LocalDataSource(str(tmp_path), dev_fraction=0, test_fraction=0)
    [bad] = source.recordings("train")  # listed like any other: the transcript is read when it is loaded
    assert bad.duration == 1.0 and "problem" not in bad.meta
    with pytest.raises(OSError, match=message):  # what the lane planner skips and reports
        bad.load_segments()


def test_malformed_manifests_and_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="is not a folder"):
        LocalDataSource(str(tmp_path / "nope"))
    (tmp_path / "manifest.jsonl").write_text('{"id": "a", "audio": "a.wav", "transcript": "a.json"}\n{"id": "a"}\n')
    with pytest.raises(ValueError, match=r"manifest.jsonl, line 2: field 'audio'"):
        LocalDataSource(str(tmp_path))
    (tmp_path / "manifest.jsonl").write_text('{"id": "a", "audio": "a.wav", "transcript": "a.json"}\n{oops\n')
    with pytest.raises(ValueError, match=r"line 2: invalid JSON"):
        LocalDataSource(str(tmp_path))
    (tmp_path / "manifest.jsonl").write_text('{"id": "a", "audio": "a.wav", "transcript": "a.json", "split": "x"}\n')
    source = LocalDataSource(str(tmp_path))
    assert list(source.recordings("train")) == []
    with pytest.raises(ValueError, match=r"unknown split 'valid'.*'x'"):
        source.recordings("valid")
    with pytest.raises(ValueError, match="rank"):
        source.recordings("x", rank=2, world_size=2)


def test_is_registered_as_the_local_data_source(corpus, monkeypatch):
    from statecatcher.plugins import get

    monkeypatch.setenv("STATECATCHER_LOAD_PLUGINS", "")
    source = get("data_source", "local").create(str(corpus))
    assert isinstance(source, LocalDataSource) and source.describe()["recordings"] == {"train": 7}
