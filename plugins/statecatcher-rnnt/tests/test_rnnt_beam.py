"""Modified beam search: beam 1 is greedy decoding with one symbol per frame; chunking never changes the beam;
hypotheses with the same tokens merge; LM weight 0 is no LM."""

from __future__ import annotations

import math

import pytest
import torch

from statecatcher.decode.beam import BeamOptions, best, logaddexp
from statecatcher.decode.lm_fusion import WordLMFusion
from statecatcher.decode.ngram import NgramLM
from statecatcher_rnnt.loss import RNNTLoss

VOCAB, DIM = 6, 16


def random_head(predictor: str, seed: int = 0) -> RNNTLoss:
    torch.manual_seed(seed)
    return RNNTLoss(DIM, VOCAB, predictor=predictor, pred_dim=16, joiner_dim=16, max_symbols_per_frame=1).eval()


def beam_decode(head: RNNTLoss, enc_out: torch.Tensor, chunks=(None,), fusion=None, **options):
    search = head.beam_search(BeamOptions(**options), fusion)
    state, start = search.init_state(), 0
    for size in chunks:
        end = enc_out.shape[0] if size is None else start + size
        state = search.step(enc_out[start:end], state)
        start = end
    return search.finish(state)


@pytest.mark.parametrize("predictor", ["stateless", "lstm"])
def test_beam_one_is_greedy_with_one_symbol_per_frame(predictor):
    head = random_head(predictor)
    enc_out = torch.randn(1, 60, DIM) * 3
    tokens, frames, _ = head.decode_step(enc_out, torch.tensor([60]), head.init_state(1))
    state = beam_decode(head, enc_out[0], beam_size=1)
    assert len(tokens[0]) > 10  # random weights emit plenty, so the comparison means something
    assert list(best(state).tokens) == tokens[0] and list(best(state).frames) == frames[0]


@pytest.mark.parametrize("predictor", ["stateless", "lstm"])
def test_chunking_never_changes_the_beam(predictor):
    head = random_head(predictor, seed=1)
    enc_out = torch.randn(45, DIM) * 3
    whole = beam_decode(head, enc_out, beam_size=4)
    for chunks in [(1,) * 45, (7, 1, 30, 7)]:
        chunked = beam_decode(head, enc_out, chunks, beam_size=4)
        assert [(h.tokens, h.frames) for h in chunked.hyps] == [(h.tokens, h.frames) for h in whole.hyps]
        # float32 projections of differently shaped chunks differ in the last bits, hence the tolerance
        assert [h.score for h in chunked.hyps] == pytest.approx([h.score for h in whole.hyps], abs=1e-5)


@torch.no_grad()
def test_hypotheses_with_the_same_tokens_merge():
    # two frames, one hypothesis; "a" is reached by (a, blank) and by (blank, a): its log-prob is their log-sum
    head = random_head("stateless", seed=2)
    enc_out = torch.randn(2, DIM) * 3
    search = head.beam_search(BeamOptions(beam_size=VOCAB * VOCAB, token_prune=VOCAB))
    state = search.step(enc_out, search.init_state())
    first = head.joiner.join(head.joiner.enc_proj(enc_out[0]), search.init_state().hyps[0].pred_out).log_softmax(-1)
    hyps = {h.tokens: h for h in state.hyps}
    a = max(range(1, VOCAB), key=lambda v: hyps[(v,)].acoustic)
    after_a = next(h for h in state.hyps if h.tokens == (a,))  # its predictor state has consumed a
    second_blank = head.joiner.join(head.joiner.enc_proj(enc_out[1]), after_a.pred_out).log_softmax(-1)[0]
    start_second = head.joiner.join(head.joiner.enc_proj(enc_out[1]),
                                    search.init_state().hyps[0].pred_out).log_softmax(-1)
    expected = logaddexp(float(first[a] + second_blank), float(first[0] + start_second[a]))
    assert hyps[(a,)].acoustic == pytest.approx(expected, abs=1e-6)
    assert len(state.hyps) == len(set(hyps))  # no duplicates survive


def test_lm_weight_zero_is_no_lm():
    head = random_head("stateless", seed=3)
    enc_out = torch.randn(40, DIM) * 3
    pieces = ["", "\u2581a", "\u2581b", "c", "\u2581d", "e"]
    lm = NgramLM.estimate([s.split() for s in ["a b", "b dc a", "a ae"]], order=2)
    plain = beam_decode(head, enc_out, beam_size=4)
    fused = beam_decode(head, enc_out, fusion=WordLMFusion(lm, pieces, weight=0.0), beam_size=4)
    assert [(h.tokens, h.frames, h.score) for h in fused.hyps] == [(h.tokens, h.frames, h.score) for h in plain.hyps]
    assert not math.isclose(beam_decode(head, enc_out, fusion=WordLMFusion(lm, pieces, weight=2.0),
                                        beam_size=4).hyps[0].score, plain.hyps[0].score)
