"""The conformance kit itself: the reference encoder passes every check, and each deliberately broken
encoder fails exactly the check written for its flaw (so every check is proven able to fail)."""

from __future__ import annotations

import pytest
import torch

from statecatcher.testing import ConformanceError, EncoderConformance, broken
from statecatcher.testing.checks import CHECKS, run_all_checks

# Broken encoder -> the checks its flaw must fail (every other check must pass).
EXPECTED_FAILURES: dict[type, set[str]] = {
    broken.IgnoresStateEncoder: {"chunk_invariance"},
    broken.ForgetsConvCacheEncoder: {"chunk_invariance"},
    broken.LeaksPaddingEncoder: {"padding_invariance"},
    broken.MixesLanesEncoder: {"lane_independence"},
    # A [1, B, H] leaf has no leading lane axis, so the kit cannot attribute its differences to a lane and
    # counts them against every lane: lane independence fails along with reset (see the class docstring).
    broken.GRULayoutStateEncoder: {"reset", "lane_independence"},
    broken.InPlaceStateEncoder: {"detached_state"},
    broken.HiddenStateEncoder: {"state_roundtrip"},
    broken.UnboundedStateEncoder: {"long_context_stability"},
}
MESSAGE_PREFIX = {
    "chunk_invariance": "chunk invariance: ",
    "padding_invariance": "padding invariance: ",
    "lane_independence": "lane independence: ",
    "reset": "reset: ",
    "detached_state": "carried state: ",
    "state_roundtrip": "state roundtrip: ",
    "long_context_stability": "long context: ",
}
# The long-context check for an encoder expected to *pass* it: 20 chunks keep the suite fast.
SHORT_OPTIONS = {"long_context_stability": {"chunks": 20}}


def _ids(cls: type) -> str:
    return cls.__name__


class TestTinyGRUConformance(EncoderConformance):
    """The reference encoder through the pytest suite every plugin subclasses."""

    def make_encoder(self):
        return broken.TinyGRUEncoder()


def test_reference_encoder_passes_every_check_in_float32_too():
    results = run_all_checks(broken.TinyGRUEncoder, dtype=torch.float32, atol=1e-4, long_context=False)
    assert results == {name: None for name in CHECKS if name != "long_context_stability"}


def test_every_check_has_a_broken_encoder_that_fails_it():
    caught = set().union(*EXPECTED_FAILURES.values())
    assert caught == set(CHECKS)


@pytest.mark.parametrize("encoder_cls", list(EXPECTED_FAILURES), ids=_ids)
def test_broken_encoder_fails_its_own_check(encoder_cls):
    for name in EXPECTED_FAILURES[encoder_cls]:
        with pytest.raises(ConformanceError, match=f"^{MESSAGE_PREFIX[name]}"):
            CHECKS[name](encoder_cls)


@pytest.mark.parametrize("encoder_cls", list(EXPECTED_FAILURES), ids=_ids)
def test_broken_encoder_passes_the_other_checks(encoder_cls):
    for name, check in CHECKS.items():
        if name not in EXPECTED_FAILURES[encoder_cls]:
            check(encoder_cls, **SHORT_OPTIONS.get(name, {}))


def test_failure_message_names_diff_lane_and_chunking():
    with pytest.raises(ConformanceError, match=r"max abs [0-9.e+-]+ > atol 1e-05.*lane lengths \[.*chunking \["):
        CHECKS["chunk_invariance"](broken.ForgetsConvCacheEncoder)
    with pytest.raises(ConformanceError, match=r"lane \d+ .*padding filled with"):
        CHECKS["padding_invariance"](broken.LeaksPaddingEncoder)


def test_run_all_checks_reports_failures_instead_of_raising():
    results = run_all_checks(broken.IgnoresStateEncoder, long_context=False)
    assert [name for name, failure in results.items() if failure] == ["chunk_invariance"]
    assert "chunk invariance" in results["chunk_invariance"]


def test_checks_catch_a_diff_just_above_atol_but_not_below():
    class Nudged(broken.TinyGRUEncoder):
        """Adds `nudge` to the outputs of every call after the first: a tiny chunking-dependent error."""

        nudge = 0.0

        def forward(self, feats, lengths, state):
            out, out_lengths, new_state = super().forward(feats, lengths, state)
            offset = self.nudge if getattr(self, "_called", False) else 0.0
            self._called = True
            return out + offset, out_lengths, new_state

    Nudged.nudge = 5e-6
    CHECKS["chunk_invariance"](Nudged, atol=1e-5)
    Nudged.nudge = 2e-5
    with pytest.raises(ConformanceError, match="outputs of lane"):
        CHECKS["chunk_invariance"](Nudged, atol=1e-5)


def test_suite_base_class_requires_make_encoder():
    with pytest.raises(NotImplementedError, match="make_encoder"):
        EncoderConformance().make_encoder()


def test_registration_check_fails_for_an_unregistered_name():
    from statecatcher.registry import UnknownNameError

    class Unregistered(TestTinyGRUConformance):
        registered_name = "no-such-encoder"

    with pytest.raises(UnknownNameError, match="no-such-encoder"):
        Unregistered().test_is_registered_under_entry_point()
