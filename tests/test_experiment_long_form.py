"""experiments/long_form.py: the hour is cut where asked, pieces point at their audio, tokens land in their piece."""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch

from experiments.long_form import SAMPLE_RATE, build_stream, state_rms, texts_by_piece


def _episode(name: str, seconds: float, starts: list[float]):
    samples = torch.arange(int(seconds * SAMPLE_RATE), dtype=torch.float32)
    segments = [SimpleNamespace(start=s, end=s + 1.0, text=f"{name}{i}") for i, s in enumerate(starts)]
    return name, samples, segments


def test_the_stream_repeats_the_episodes_cuts_at_the_target_and_keeps_only_whole_pieces():
    episodes = [_episode("a", 10.0, [0.5, 4.0]), _episode("b", 5.0, [1.0])]
    samples, pieces = build_stream(episodes, minutes=27 / 60)  # a, b (15 s), a (25 s), 2 s of b
    assert [p.key for p in pieces] == ["a/0", "a/1", "b/0", "a/0", "a/1"]  # b/0 at 26 s would end after 27 s
    assert samples.numel() == 25 * SAMPLE_RATE  # cut where the last whole piece (a/1 of the 2nd a) ends
    assert [p.offset for p in pieces] == [0.5, 4.0, 11.0, 15.5, 19.0]
    for piece in pieces:  # the stream holds exactly the piece's episode audio at its offset
        source = dict((e[0], e[1]) for e in episodes)[piece.key.split("/")[0]][piece.begin:piece.end]
        start = round(piece.offset * SAMPLE_RATE)
        assert torch.equal(samples[start:start + source.numel()], source)
    assert (pieces[0].begin, pieces[0].end) == (8_000, 64_000)  # to the next segment's start
    assert (pieces[1].begin, pieces[1].end) == (64_000, 160_000)  # the last one to the episode's end


def test_tokens_go_to_the_piece_whose_span_holds_their_time():
    pieces = [SimpleNamespace(offset=o) for o in (0.5, 4.0, 11.0)]
    tokens = [SimpleNamespace(id=i, time=t) for i, t in enumerate([0.2, 1.0, 3.99, 4.0, 10.0, 30.0])]
    tokenizer = SimpleNamespace(decode=lambda ids: ",".join(map(str, ids)))
    assert texts_by_piece(tokens, pieces, tokenizer) == ["0,1,2", "3,4", "5"]


def test_state_rms_covers_every_floating_leaf_and_ignores_integer_ones():
    state = {"h": torch.full((2, 3), 3.0), "c": torch.full((2, 1), -3.0), "position": torch.tensor([7, 9])}
    assert math.isclose(state_rms(state), 3.0)
    assert math.isclose(state_rms({"a": torch.tensor([3.0, 4.0])}), math.sqrt(12.5))
