"""Transcription stays linear in the stream's length: finished words are decoded once, and the streamed
transcript is exactly the whole-file decode (greedy and beam search, on a long input)."""

from __future__ import annotations

import random

import pytest
import torch

import statecatcher
from statecatcher.data.fbank import FeatureConfig
from statecatcher.decode.beam import BeamOptions
from statecatcher.decode.incremental import IncrementalText
from statecatcher.decode.pack import LoadedModel
from statecatcher.decode.streaming import Transcriber, transcribe_waveform
from statecatcher.model import build_model
from statecatcher.testing.dummies import make_recordings
from statecatcher.text import TextNormalizer

LONG_SECONDS = 120.0
SHARPEN = {"ctc": 10.0, "rnnt": 1.0}


class CountingTokenizer:
    """A tokenizer that counts the ids it is asked to decode (the work the transcriber repeats per chunk)."""

    def __init__(self, tokenizer):
        self._tokenizer, self.decoded = tokenizer, 0

    def __getattr__(self, name):
        return getattr(self._tokenizer, name)

    def decode(self, ids):
        ids = list(ids)
        self.decoded += len(ids)
        return self._tokenizer.decode(ids)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    normalizer = TextNormalizer()
    texts = [normalizer(s.text) for r in make_recordings(20, seed=5) for s in r.segments]
    tokenizer = statecatcher.get_tokenizer("sentencepiece")
    tokenizer.train(texts, 32, tmp_path_factory.mktemp("tok"))
    return tokenizer


@pytest.fixture(scope="module")
def long_audio():
    """Two minutes of noise: a random-weight model emits a token at most output frames (> 1,000 tokens)."""
    return torch.randn(int(LONG_SECONDS * 16_000), generator=torch.Generator().manual_seed(3)) * 0.05


def random_model(tokenizer, loss: str = "ctc") -> LoadedModel:
    torch.manual_seed(0)
    model = build_model(encoder="lstm", loss=loss, vocab_size=tokenizer.vocab_size,
                        encoder_options={"hidden_dim": 64, "num_layers": 1}).eval()
    output = [p for p in model.head.parameters() if p.shape[0] == tokenizer.vocab_size][-2]  # the last weight
    with torch.no_grad():  # sharper outputs: the best token changes often (greedy CTC merges repeats)
        output *= SHARPEN[loss]
    return LoadedModel(model=model, tokenizer=tokenizer, normalizer=TextNormalizer(), features=FeatureConfig(),
                       config={"encoder": "lstm", "loss": loss})


def view(transcript):
    return transcript.text, [t.id for t in transcript.tokens], [t.time for t in transcript.tokens]


def test_incremental_text_equals_one_whole_decode_for_random_ids(tokenizer):
    rng = random.Random(0)
    words = IncrementalText(tokenizer)
    assert words.word_starts, "sentencepiece pieces that start a word must be known"
    for _ in range(300):
        ids = [rng.randrange(1, tokenizer.vocab_size) for _ in range(rng.randrange(0, 40))]  # <unk> included
        words.reset()
        done = 0
        while done < len(ids):
            step = rng.randrange(0, 6)
            words.append(ids[done:done + step])
            done += step
            tail = ids[done:done + rng.randrange(0, 4)]
            assert words.text + words.render(tail) == tokenizer.decode(ids[:done] + tail), ids
        assert words.text + words.render() == tokenizer.decode(ids)


@pytest.mark.parametrize("loss", ["ctc", "rnnt"])
def test_long_greedy_stream_equals_the_whole_file_and_decodes_each_token_a_bounded_number_of_times(
        tokenizer, long_audio, loss):
    counting = CountingTokenizer(tokenizer)
    transcriber = Transcriber(random_model(counting, loss))
    chunked, per_chunk = stream_counting(transcriber, counting, long_audio, 0.5)
    whole = transcribe_waveform(transcriber, long_audio, LONG_SECONDS)
    tokens = len(chunked.tokens)
    assert tokens > 800, tokens
    assert view(chunked) == view(whole)
    assert chunked.text == tokenizer.decode([t.id for t in chunked.tokens])
    # the old transcriber decoded the whole list on every chunk: > 500,000 ids here, up to `tokens` per chunk
    assert max(per_chunk) < 100 and sum(per_chunk) < 8 * tokens, (max(per_chunk), sum(per_chunk), tokens)


@pytest.mark.parametrize("loss", ["ctc", "rnnt"])
def test_long_beam_stream_equals_the_whole_file_and_walks_only_the_unsettled_tail(tokenizer, long_audio, loss):
    counting = CountingTokenizer(tokenizer)
    loaded = random_model(counting, loss)
    transcriber = Transcriber(loaded, search=loaded.model.head.beam_search(BeamOptions(beam_size=4), None))
    audio = long_audio[: 16_000 * 60]
    chunked, per_chunk = stream_counting(transcriber, counting, audio, 0.5)
    walked = transcriber.walked_tokens
    whole = transcribe_waveform(transcriber, audio, 60.0)
    tokens = len(chunked.tokens)
    assert tokens > 300, tokens
    assert view(chunked) == view(whole)
    assert chunked.text == tokenizer.decode([t.id for t in chunked.tokens])
    # the hypotheses may disagree for a while (nothing settles), but the stream's second half costs what the
    # first did: the old transcriber decoded every token of the best hypothesis on every chunk
    late = max(per_chunk[len(per_chunk) // 2:])
    assert late < 200 and sum(per_chunk) < 10 * tokens, (late, sum(per_chunk), tokens)
    assert walked < 10 * tokens, (walked, tokens)


def stream_counting(transcriber: Transcriber, counting: CountingTokenizer, audio: torch.Tensor, seconds: float):
    """Stream ``audio`` in chunks; the transcript and the ids decoded for each chunk."""
    transcriber.reset()
    step, per_chunk = int(seconds * 16_000), []
    for begin in range(0, audio.numel(), step):
        before = counting.decoded
        transcriber.feed(audio[begin:begin + step])
        per_chunk.append(counting.decoded - before)
    transcriber.finish()
    return transcriber.transcript(), per_chunk
