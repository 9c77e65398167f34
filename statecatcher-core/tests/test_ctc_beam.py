"""CTC prefix beam search on hand-made posteriors: the hand-computed best prefix, exactness against brute
force, chunk invariance, pruning options, and LM fusion (weight 0 is no LM; a real LM fixes a word)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from statecatcher.decode.beam import BeamOptions, Prefix, best, logaddexp, stable_length
from statecatcher.decode.ctc_beam import CTCPrefixBeamSearch
from statecatcher.decode.lm_fusion import WordLMFusion
from statecatcher.decode.ngram import NgramLM


def search_over(log_probs: torch.Tensor, chunks=(None,), fusion=None, **options) -> CTCPrefixBeamSearch:
    """Run a search whose 'encoder output' is the log-posterior matrix itself, fed in ``chunks`` frames."""
    search = CTCPrefixBeamSearch(lambda x: x, blank_id=0, options=BeamOptions(**options), fusion=fusion)
    state, start = search.init_state(), 0
    for size in chunks:
        end = log_probs.shape[0] if size is None else start + size
        state = search.step(log_probs[start:end], state)
        start = end
    return search, search.finish(state)


def view(state) -> list[tuple]:
    """Everything a beam holds, as plain values (hypotheses share prefix-tree nodes, compared by identity)."""
    return [(h.tokens, h.frames, h.acoustic, h.score, h.blank, h.nonblank, h.lm) for h in state.hyps]


def posteriors(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64).log()


def collapse(path) -> tuple[int, ...]:
    return tuple(t for i, t in enumerate(path) if t != 0 and (i == 0 or path[i - 1] != t))


def brute_force(log_probs: torch.Tensor) -> dict[tuple[int, ...], float]:
    """ln P(prefix) summed over every alignment (V ** T paths)."""
    frames, vocab = log_probs.shape
    totals: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(vocab), repeat=frames):
        lp = sum(log_probs[t, s].item() for t, s in enumerate(path))
        totals[collapse(path)] = logaddexp(totals.get(collapse(path), -math.inf), lp)
    return totals


def test_best_prefix_beats_best_path_on_a_hand_made_matrix():
    # two frames, P(blank) = 0.6, P(a) = 0.4 each: the best path is "blank blank" (0.36, text ""), but the
    # prefix "a" sums a-a, a-blank, blank-a = 0.16 + 0.24 + 0.24 = 0.64
    log_probs = posteriors([[0.6, 0.4], [0.6, 0.4]])
    _, state = search_over(log_probs, beam_size=2)
    assert best(state).tokens == (1,)
    assert best(state).acoustic == pytest.approx(math.log(0.64), abs=1e-12)
    assert best(state).frames == (0,)  # emitted first at frame 0
    assert state.hyps[1].tokens == () and state.hyps[1].acoustic == pytest.approx(math.log(0.36), abs=1e-12)
    _, narrow = search_over(log_probs, beam_size=1)  # beam 1 keeps "" after frame 0 and never finds "a"
    assert best(narrow).tokens == ()


def greedy(log_probs: torch.Tensor) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Best path, collapsed: tokens and the frame each was first emitted at."""
    path = log_probs.argmax(-1).tolist()
    emitted = [t for t, s in enumerate(path) if s != 0 and (t == 0 or path[t - 1] != s)]
    return tuple(path[t] for t in emitted), tuple(emitted)


@pytest.mark.parametrize("seed", range(20))
def test_beam_one_with_max_merge_is_greedy(seed):
    torch.manual_seed(seed)
    log_probs = (torch.randn(50, 5, dtype=torch.float64) * 2).log_softmax(-1)
    _, state = search_over(log_probs, (17, 33), beam_size=1, merge="max")
    assert (best(state).tokens, best(state).frames) == greedy(log_probs)
    assert best(state).acoustic == pytest.approx(log_probs.max(-1).values.sum().item(), abs=1e-9)


def test_beam_one_with_summed_prefixes_is_not_always_greedy():
    # frame 1: P(a) = 0.4 beats blank (0.35) and the repeat of "b" (0.25), so greedy emits "a"; but staying
    # on "b" (0.35 + 0.25 = 0.6) outweighs it when a prefix's alignments are summed
    log_probs = posteriors([[0.0, 0.0, 1.0], [0.35, 0.4, 0.25]]).nan_to_num(neginf=-1e9)
    assert greedy(log_probs)[0] == (2, 1)
    _, state = search_over(log_probs, beam_size=1)
    assert best(state).tokens == (2,)


def test_repeats_need_a_blank_between_them():
    # frames: a, blank, a  vs  a, a, a:  "a a" (two tokens) only through the blank
    log_probs = posteriors([[0.1, 0.9], [0.8, 0.2], [0.1, 0.9]])
    _, state = search_over(log_probs, beam_size=4)
    reference = brute_force(log_probs)
    assert best(state).tokens == max(reference, key=reference.get) == (1, 1)
    assert best(state).frames == (0, 2)
    for hyp in state.hyps:
        assert hyp.acoustic == pytest.approx(reference[hyp.tokens], abs=1e-12)


def test_a_wide_beam_is_exact_against_every_alignment():
    torch.manual_seed(0)
    log_probs = torch.randn(5, 3, dtype=torch.float64).log_softmax(-1)
    reference = brute_force(log_probs)
    _, state = search_over(log_probs, beam_size=len(reference))
    assert {h.tokens for h in state.hyps} == set(reference)
    for hyp in state.hyps:
        assert hyp.acoustic == pytest.approx(reference[hyp.tokens], abs=1e-10)


@pytest.mark.parametrize("chunks", [(1,) * 40, (3, 7, 1, 29), (13, 13, 14)])
def test_chunking_never_changes_the_beam(chunks):
    torch.manual_seed(1)
    log_probs = (torch.randn(40, 6, dtype=torch.float64) * 3).log_softmax(-1)
    _, whole = search_over(log_probs, beam_size=5)
    _, chunked = search_over(log_probs, chunks, beam_size=5)
    assert view(chunked) == view(whole) and chunked.frames_done == whole.frames_done == 40


def test_token_prune_and_blank_skip_limit_the_candidates():
    log_probs = posteriors([[0.5, 0.3, 0.2], [0.999, 0.0005, 0.0005]])
    _, pruned = search_over(log_probs, beam_size=8, token_prune=2)  # token 2 is never the top-2 of frame 0
    assert all(2 not in h.tokens for h in pruned.hyps)
    _, skipped = search_over(log_probs, beam_size=8, blank_skip=0.99)  # frame 1 starts no token
    assert max(len(h.tokens) for h in skipped.hyps) == 1
    assert {h.tokens for h in skipped.hyps} == {(), (1,), (2,)}
    _, unlikely = search_over(log_probs, beam_size=8, token_min_logp=math.log(0.25))  # only "1" at frame 0
    assert {h.tokens for h in unlikely.hyps} == {(), (1,)}
    with pytest.raises(ValueError, match="beam_size=0"):
        BeamOptions(beam_size=0)


def test_stable_length_is_the_prefix_every_hypothesis_shares():
    log_probs = posteriors([[0.01, 0.98, 0.01], [0.98, 0.01, 0.01], [0.4, 0.3, 0.3]])
    _, state = search_over(log_probs, beam_size=3)
    assert all(h.tokens[:1] == (1,) for h in state.hyps) and stable_length(state) == 1


# ---------------------------------------------------------------------------------------------- LM fusion
PIECES = ["", "\u2581the", "\u2581cat", "\u2581hat", "\u2581sat"]


def lm_fusion(weight: float, word_bonus: float = 0.0) -> WordLMFusion:
    lm = NgramLM.estimate([s.split() for s in ["the cat sat", "the cat", "a hat"]], order=3)
    return WordLMFusion(lm, PIECES, weight=weight, word_bonus=word_bonus)


def ambiguous_posteriors() -> torch.Tensor:
    """"the" then "hat" slightly more likely than "cat" (0.45 vs 0.40) then "sat"."""
    return posteriors([[0.05, 0.9, 0.02, 0.02, 0.01], [0.9, 0.025, 0.025, 0.025, 0.025],
                       [0.1, 0.02, 0.40, 0.45, 0.03], [0.9, 0.025, 0.025, 0.025, 0.025],
                       [0.05, 0.01, 0.02, 0.02, 0.9]])


def test_lm_weight_zero_is_no_lm():
    torch.manual_seed(2)
    log_probs = (torch.randn(30, 5, dtype=torch.float64) * 2).log_softmax(-1)
    _, plain = search_over(log_probs, beam_size=4)
    _, fused = search_over(log_probs, fusion=lm_fusion(0.0), beam_size=4)
    assert [v[:6] for v in view(fused)] == [v[:6] for v in view(plain)]


def test_the_lm_picks_the_word_it_has_seen():
    _, plain = search_over(ambiguous_posteriors(), beam_size=4)
    _, fused = search_over(ambiguous_posteriors(), fusion=lm_fusion(1.0), beam_size=4)
    assert best(plain).tokens == (1, 3, 4)  # "the hat sat": acoustics alone
    assert best(fused).tokens == (1, 2, 4)  # "the cat sat": the 3-gram knows it
    lm = lm_fusion(1.0).lm
    expected = sum(lm.log_prob(ctx, w) for ctx, w in [(("<s>",), "the"), (("<s>", "the"), "cat"),
                                                        (("the", "cat"), "sat"), (("cat", "sat"), "</s>")])
    assert best(fused).lm.log_prob == pytest.approx(expected) and best(fused).lm.words == 3
    assert best(fused).score == pytest.approx(best(fused).acoustic + expected)


def test_a_word_that_cannot_become_an_lm_word_already_scores_as_unknown():
    fusion = WordLMFusion(lm_fusion(1.0).lm, ["", "\u2581c", "a", "x", "t"], weight=2.0, word_bonus=0.5)
    spelled = fusion.extend(fusion.extend(fusion.initial(), 1), 2)  # "ca": a prefix of "cat"
    assert spelled.partial == "ca" and fusion.score(spelled) == 0.0
    run_on = fusion.extend(spelled, 3)  # "cax": no LM word starts so
    assert fusion.score(run_on) == pytest.approx(2.0 * fusion.lm.log_prob((), "<unk>")) and fusion.score(run_on) < -5
    done = fusion.finish(fusion.extend(spelled, 4))  # "cat" </s>
    expected = fusion.lm.log_prob(("<s>",), "cat") + fusion.lm.log_prob(("<s>", "cat"), "</s>")
    assert fusion.score(done) == pytest.approx(2.0 * expected + 0.5)


def test_prefix_nodes_are_unique_per_live_sequence_and_cheap_to_extend():
    root = Prefix()
    ab = root.child(1).child(2)
    assert ab is root.child(1).child(2) and ab.tokens() == (1, 2) and ab.last == 2 and root.last is None
    ac = root.child(1).child(3)
    assert ab.shared_length(ac) == 1 and ab.shared_length(ab) == 2 and ab.shared_length(root) == 0
    assert ab < ac and not ac < ab
    del ab, ac  # nothing holds "1 2" any more: a new node stands for it, still unique
    again = root.child(1).child(2)
    assert again is root.child(1).child(2) and again.tokens() == (1, 2)
    node = root
    for i in range(100_000):  # an hour of tokens: each extension is O(1), with no tuple copy
        node = node.child(i % 7)
    assert node.length == 100_000 and node.shared_length(node.parent) == 99_999
