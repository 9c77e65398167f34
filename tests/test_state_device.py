"""``init_state(batch)`` without a device puts the state where the module is, for every encoder and loss.

Found on the first GPU run: the RNN-T loss's stateless predictor (and CTC's head) made their state on the
CPU when no device was given, and a model on the GPU then failed in ``torch.cat`` ("Expected all tensors to
be on the same device").  ``Model.init_state`` always passes a device, so training never saw it; callers of a
loss or encoder alone (the GPU run's loss timing) did.  The ``meta`` device stands in for a GPU here: a
leaf that lands on the CPU is the bug.
"""

from __future__ import annotations

import pytest

import statecatcher
from statecatcher.plugins import get_registry
from statecatcher.state import leaves

LOSS_OPTIONS = [("ctc", {}), ("rnnt", {}), ("rnnt", {"predictor": "lstm"})]


@pytest.mark.parametrize("name", get_registry().names("encoder"))
def test_encoder_state_follows_the_module_device(name):
    encoder = statecatcher.get_encoder(name, 80).to("meta")
    devices = {leaf.device.type for leaf in leaves(encoder.init_state(2))}
    assert devices == {"meta"}, f"{name}: init_state(2) without a device made leaves on {devices}"


@pytest.mark.parametrize(("name", "options"), LOSS_OPTIONS, ids=["ctc", "rnnt-stateless", "rnnt-lstm"])
def test_loss_state_follows_the_module_device(name, options):
    loss = statecatcher.get_loss(name, 32, 16, 0, **options).to("meta")
    devices = {leaf.device.type for leaf in leaves(loss.init_state(2))}
    assert devices == {"meta"}, f"{name} {options}: init_state(2) without a device made leaves on {devices}"


def test_every_registered_loss_is_covered():
    assert {name for name, _ in LOSS_OPTIONS} == set(get_registry().names("loss"))
