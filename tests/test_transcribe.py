"""Streaming transcription of a trained (overfitted) tiny model: chunk-size invariance, reset, CLI, eval."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from statecatcher.data.local import LocalDataSource
from statecatcher.decode.evaluate import evaluate_recordings, evaluate_segments
from statecatcher.decode.pack import load_model
from statecatcher.decode.streaming import Transcriber, transcribe_waveform


@pytest.fixture(scope="module")
def transcriber(overfit_run):
    return Transcriber.from_checkpoint(overfit_run[1])


@pytest.fixture(scope="module")
def train_recording(tiny_corpus):
    return next(iter(LocalDataSource(str(tiny_corpus)).recordings("train")))


@pytest.mark.slow
def test_transcript_does_not_depend_on_chunk_size(transcriber, train_recording):
    audio = train_recording.load_audio()[: 16_000 * 40]
    results = [transcribe_waveform(transcriber, audio, seconds) for seconds in (0.32, 1.0, 16.0)]
    assert results[0].text, "the overfitted model should produce text"
    assert results[0].text == results[1].text == results[2].text
    assert [t.id for t in results[0].tokens] == [t.id for t in results[2].tokens]
    assert [t.time for t in results[0].tokens] == [t.time for t in results[2].tokens]


@pytest.mark.slow
def test_reset_forgets_encoder_and_decoder_state(transcriber, train_recording):
    audio = train_recording.load_audio()[: 16_000 * 12]
    fresh = transcribe_waveform(transcriber, audio, 1.0).text
    transcriber.reset()
    transcriber.feed(audio[: 16_000 * 5])            # leave state behind ...
    transcriber.reset()                               # ... and forget it
    for begin in range(0, audio.numel(), 16_000):
        transcriber.feed(audio[begin:begin + 16_000])
    transcriber.finish()
    assert transcriber.text == fresh
    assert transcriber.state["encoder"] is not None


@pytest.mark.slow
def test_overfitted_model_transcribes_its_training_recording(overfit_run, tiny_corpus):
    loaded = load_model(overfit_run[1])
    source = LocalDataSource(str(tiny_corpus))
    report = evaluate_recordings(loaded, source, split="train")
    segments = evaluate_segments(loaded, source, split="train", batch_size=2)
    assert report.words.ref_words > 50
    assert report.wer < 0.6 and segments.wer < 0.6, (report.wer, segments.wer)


@pytest.mark.slow
def test_pack_and_cli_transcribe_write_json(overfit_run, tiny_corpus, tmp_path, train_recording):
    pack = tmp_path / "model.pt"
    subprocess.run([sys.executable, "-m", "statecatcher", "pack", str(overfit_run[1]), str(pack)], check=True)
    assert torch.load(pack, weights_only=False).keys() >= {"model", "config", "tokenizer", "normalizer"}
    audio_path = tiny_corpus / f"{train_recording.id}.flac"
    out = tmp_path / "out.json"
    result = subprocess.run([sys.executable, "-m", "statecatcher", "transcribe", str(pack), str(audio_path),
                             "--chunk-seconds", "2", "--json", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    expected = transcribe_waveform(Transcriber.from_checkpoint(pack), train_recording.load_audio(), 2.0)
    assert data["text"] == expected.text
    times = [t["time"] for t in data["tokens"]]
    assert times == sorted(times) and times[-1] <= data["duration"] + 0.1


def test_undecodable_audio_is_a_clear_error(overfit_run, tmp_path):
    bad = tmp_path / "bad.flac"
    bad.write_bytes(b"not audio at all")
    result = subprocess.run([sys.executable, "-m", "statecatcher", "transcribe", str(overfit_run[1]), str(bad)],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "bad.flac" in result.stderr


_PEAK_RSS = r"""
import re, sys
from statecatcher.decode.audio_stream import iter_audio_chunks
from statecatcher.decode.streaming import Transcriber
t = Transcriber.from_checkpoint(sys.argv[1])
for chunk in iter_audio_chunks(sys.argv[2], 1.0):
    t.feed(chunk)
t.finish()
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the (pytest) parent across fork + exec
print(re.search(r"VmHWM:\s+(\d+) kB", open("/proc/self/status").read()).group(1))
"""


@pytest.mark.slow
def test_memory_does_not_grow_with_a_10x_longer_file(overfit_run, tmp_path):
    import numpy as np
    import soundfile

    rng = np.random.default_rng(0)
    peaks = {}
    for minutes in (1, 10):
        path = tmp_path / f"noise{minutes}.flac"
        soundfile.write(path, (rng.standard_normal(16_000 * 60 * minutes) * 0.05).astype("float32"), 16_000)
        out = subprocess.run([sys.executable, "-c", _PEAK_RSS, str(overfit_run[1]), str(path)],
                             capture_output=True, text=True, check=True)
        peaks[minutes] = int(out.stdout.split()[-1]) / 1024  # MiB
    # the 10-minute waveform alone is 37 MiB as float32; streaming must not hold it
    assert peaks[10] - peaks[1] < 15, peaks


@pytest.mark.slow
def test_speechcatcher_interface_matches_the_transcriber(overfit_run, train_recording):
    from statecatcher.decode.speechcatcher import SpeechcatcherStream

    audio = train_recording.load_audio()[: 16_000 * 10].numpy()
    asr = SpeechcatcherStream.from_checkpoint(overfit_run[1])
    chunks = [audio[i:i + 8000] for i in range(0, len(audio), 8000)]
    for i, chunk in enumerate(chunks):
        text, tokens, token_ids, positions, hypothesis = asr(chunk, is_final=i == len(chunks) - 1)
    expected = transcribe_waveform(Transcriber.from_checkpoint(overfit_run[1]), torch.from_numpy(audio), 0.5)
    assert text == expected.text and token_ids == [t.id for t in expected.tokens]
    assert [round((p + 1) * asr.frame_seconds, 6) for p in positions] == [round(t.time, 6) for t in expected.tokens]
    asr.reset()
    assert asr.transcriber.text == "" and asr.transcriber.token_ids == []


@pytest.mark.parametrize(("flag", "expected"), [([], [1]), (["--threads", "3"], [3]), (["--threads", "0"], [])])
def test_transcribe_threads_sets_torchs_thread_count(overfit_run, tiny_corpus, train_recording, monkeypatch, flag,
                                                    expected):
    from click.testing import CliRunner

    from statecatcher.cli import cli

    calls: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    audio_path = tiny_corpus / f"{train_recording.id}.flac"
    result = CliRunner().invoke(cli, ["transcribe", str(overfit_run[1]), str(audio_path), "--chunk-seconds", "4",
                                      *flag])
    assert result.exit_code == 0, result.output
    assert calls == expected
