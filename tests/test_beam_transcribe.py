"""Beam search on the trained (overfitted) tiny LSTM + CTC model: beam 1 is greedy, chunk-size invariance,
reset, the LM command, LM weight 0, the CLI, the model pack and the speechcatcher stream."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import torch

from statecatcher.data.local import LocalDataSource
from statecatcher.decode.beam import BeamOptions
from statecatcher.decode.decoder import DecoderConfig
from statecatcher.decode.ngram import NgramLM
from statecatcher.decode.streaming import Transcriber, transcribe_waveform

BEAM8 = DecoderConfig("beam", BeamOptions(beam_size=8), lm="none")


@pytest.fixture(scope="module")
def train_audio(tiny_corpus):
    return next(iter(LocalDataSource(str(tiny_corpus)).recordings("train"))).load_audio()[: 16_000 * 40]


@pytest.fixture(scope="module")
def lm_run(overfit_run, tmp_path_factory):
    """A copy of the overfitted run directory with a 3-gram LM trained by the CLI beside its checkpoints."""
    run_dir = tmp_path_factory.mktemp("lm") / "run"
    shutil.copytree(overfit_run[1], run_dir)
    done = subprocess.run([sys.executable, "-m", "statecatcher", "lm", "train", str(run_dir), "--order", "3"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"wrote {run_dir / 'lm.arpa'}: 3-gram from" in done.stdout
    return run_dir


def token_view(transcript):
    return transcript.text, [t.id for t in transcript.tokens], [t.time for t in transcript.tokens]


@pytest.mark.slow
def test_beam_width_one_is_greedy_on_the_trained_model(overfit_run, train_audio):
    # with merge="max" (a prefix scored by its best alignment); the summed prefix score of CTC prefix beam
    # search can beat greedy's path even at width 1 (see test_ctc_beam.py), so it is not compared here
    greedy = transcribe_waveform(Transcriber.from_checkpoint(overfit_run[1]), train_audio, 1.0)
    beam1 = DecoderConfig("beam", BeamOptions(beam_size=1, merge="max"), lm="none")
    beam = transcribe_waveform(Transcriber.from_checkpoint(overfit_run[1], decoder=beam1), train_audio, 1.0)
    assert len(greedy.tokens) > 50
    assert token_view(beam) == token_view(greedy)


@pytest.mark.slow
def test_beam_transcript_does_not_depend_on_chunk_size(overfit_run, train_audio):
    transcriber = Transcriber.from_checkpoint(overfit_run[1], decoder=BEAM8)
    results = [token_view(transcribe_waveform(transcriber, train_audio, seconds)) for seconds in (0.32, 1.0, 16.0)]
    assert results[0][0], "the overfitted model should produce text"
    assert results[0] == results[1] == results[2]


@pytest.mark.slow
def test_reset_forgets_the_hypotheses(overfit_run, train_audio):
    transcriber = Transcriber.from_checkpoint(overfit_run[1], decoder=BEAM8)
    audio = train_audio[: 16_000 * 12]
    fresh = transcribe_waveform(transcriber, audio, 1.0).text
    transcriber.reset()
    transcriber.feed(audio[: 16_000 * 5])
    transcriber.reset()
    beam = transcriber.state["head"]
    assert beam.frames_done == 0 and [(h.tokens, h.acoustic) for h in beam.hyps] == [((), 0.0)]
    stable = "".join(transcriber.feed(audio[i:i + 16_000]) for i in range(0, audio.numel(), 16_000))
    stable += transcriber.finish()
    assert transcriber.text == fresh and stable == fresh  # the stable pieces add up to the final text


@pytest.mark.slow
def test_lm_command_trains_on_the_run_transcripts_and_weight_zero_is_no_lm(lm_run, tiny_corpus, train_audio):
    lm = NgramLM.read_arpa(lm_run / "lm.arpa")
    source = LocalDataSource(str(tiny_corpus))
    words = {w for r in source.recordings("train") for s in r.load_segments() for w in s.text.lower().split()}
    assert lm.order == 3 and len([g for g in lm.probs if len(g) == 1]) > 0.5 * len(words)
    no_lm = transcribe_waveform(Transcriber.from_checkpoint(lm_run, decoder=BEAM8), train_audio, 1.0)
    weight0 = DecoderConfig("beam", BeamOptions(beam_size=8, lm_weight=0.0), lm=None)  # the run's own lm.arpa
    fused = Transcriber.from_checkpoint(lm_run, decoder=weight0)
    assert fused.search.fusion is not None
    assert token_view(transcribe_waveform(fused, train_audio, 1.0)) == token_view(no_lm)


@pytest.mark.slow
def test_cli_beam_with_lm_matches_the_library_and_the_pack_carries_the_lm(lm_run, tiny_corpus, tmp_path):
    pack = tmp_path / "model.pt"
    subprocess.run([sys.executable, "-m", "statecatcher", "pack", str(lm_run), str(pack)], check=True)
    assert torch.load(pack, weights_only=False)["lm"] == (lm_run / "lm.arpa").read_text()
    recording = next(iter(LocalDataSource(str(tiny_corpus)).recordings("train")))
    out = tmp_path / "out.json"
    result = subprocess.run([sys.executable, "-m", "statecatcher", "transcribe", str(pack),
                             str(tiny_corpus / f"{recording.id}.flac"), "--chunk-seconds", "2", "--json", str(out),
                             "--decoder", "beam", "--beam-size", "4", "--lm-weight", "0.8"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "decoder: beam search, beam 4, LM the model's LM (weight 0.8, word bonus 0)" in result.stderr
    config = DecoderConfig("beam", BeamOptions(beam_size=4, lm_weight=0.8))
    expected = transcribe_waveform(Transcriber.from_checkpoint(pack, decoder=config), recording.load_audio(), 2.0)
    assert json.loads(out.read_text())["text"] == expected.text and expected.text


def test_decoder_flags_give_one_line_errors(overfit_run, tmp_path):
    audio = tmp_path / "a.flac"
    cases = [(["--lm", str(tmp_path / "missing.arpa"), "--decoder", "beam"], "missing.arpa: no such LM file"),
             (["--lm", str(tmp_path / "missing.arpa")], "an LM needs --decoder beam"),
             (["--decoder", "beam", "--beam-size", "0"], "--beam-size")]
    import numpy as np
    import soundfile

    soundfile.write(audio, np.zeros(16_000, dtype="float32"), 16_000)
    for flags, message in cases:
        result = subprocess.run([sys.executable, "-m", "statecatcher", "transcribe", str(overfit_run[1]), str(audio),
                                 *flags], capture_output=True, text=True)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, flags


@pytest.mark.slow
def test_speechcatcher_stream_with_beam_matches_the_transcriber(overfit_run, train_audio):
    from statecatcher.decode.speechcatcher import SpeechcatcherStream

    audio = train_audio[: 16_000 * 10].numpy()
    asr = SpeechcatcherStream.from_checkpoint(overfit_run[1], decoder=BEAM8)
    chunks = [audio[i:i + 8000] for i in range(0, len(audio), 8000)]
    for i, chunk in enumerate(chunks):
        text, _, token_ids, _, _ = asr(chunk, is_final=i == len(chunks) - 1)
    expected = transcribe_waveform(Transcriber.from_checkpoint(overfit_run[1], decoder=BEAM8),
                                   torch.from_numpy(audio), 0.5)
    assert text == expected.text and token_ids == [t.id for t in expected.tokens]


@pytest.mark.slow
def test_eval_with_beam_one_max_merge_scores_exactly_as_greedy(overfit_run, tiny_corpus):
    from statecatcher.decode.decoder import build_search
    from statecatcher.decode.evaluate import evaluate_recordings, evaluate_segments
    from statecatcher.decode.pack import load_model

    loaded = load_model(overfit_run[1])
    source = LocalDataSource(str(tiny_corpus))
    search = build_search(loaded, DecoderConfig("beam", BeamOptions(beam_size=1, merge="max"), lm="none"))
    for evaluate in (evaluate_segments, evaluate_recordings):
        greedy, beam = evaluate(loaded, source, split="train"), evaluate(loaded, source, split="train", search=search)
        assert beam.words.ref_words > 50 and beam.to_dict() == greedy.to_dict()
