"""``EncoderConformance``: the pytest suite every encoder plugin runs (hydra's ``LauncherTestSuite`` style).

A plugin's test file is three lines::

    from statecatcher.testing import EncoderConformance
    from statecatcher_lstm.encoder import LSTMEncoder

    class TestLSTMConformance(EncoderConformance):
        registered_name = "lstm"

        def make_encoder(self):
            return LSTMEncoder(input_dim=8, hidden_dim=16, num_layers=2)

Keep the encoder tiny: the whole suite should take seconds.  Encoders whose kernels lack float64 set
``dtype = torch.float32`` and ``atol = 1e-4``; ``long_context_max_abs`` bounds outputs and state over an hour.
Each test calls one function of :mod:`statecatcher.testing.checks`, whose
:class:`~statecatcher.testing.checks.ConformanceError` names the max-abs diff, the lane and the chunking.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from . import checks
from ._discovery import assert_registered


class EncoderConformance:
    """Subclass it (the subclass's name starts with ``Test``) and implement :meth:`make_encoder`."""

    dtype: torch.dtype = torch.float64
    atol: float = 1e-5
    registered_name: str | None = None
    long_context_max_abs: float = 1e4  # bound on outputs and float state leaves over an hour of features

    def make_encoder(self) -> Any:
        """A fresh, small encoder (the checks seed torch and move it to :attr:`dtype`)."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_encoder(self)")

    def test_chunked_equals_whole(self) -> None:
        checks.check_chunk_invariance(self.make_encoder, dtype=self.dtype, atol=self.atol)

    def test_padding_never_touches_state_or_output(self) -> None:
        checks.check_padding_invariance(self.make_encoder, dtype=self.dtype, atol=self.atol)

    def test_lanes_are_independent(self) -> None:
        checks.check_lane_independence(self.make_encoder, dtype=self.dtype, atol=self.atol)

    def test_reset_lanes_restores_init_state_only_for_masked_lanes(self) -> None:
        checks.check_reset(self.make_encoder, dtype=self.dtype)

    def test_carried_state_has_no_graph(self) -> None:
        checks.check_detached_state(self.make_encoder, dtype=self.dtype)

    def test_state_roundtrips_through_save_load(self) -> None:
        checks.check_state_roundtrip(self.make_encoder, dtype=self.dtype, atol=self.atol)

    @pytest.mark.slow
    def test_long_context_state_stays_finite(self) -> None:
        checks.check_long_context_stability(self.make_encoder, max_abs=self.long_context_max_abs)

    def test_is_registered_under_entry_point(self) -> None:
        import statecatcher

        local = self.make_encoder() if self.registered_name else None
        built = assert_registered("encoder", self.registered_name,
                                  lambda: statecatcher.get_encoder(self.registered_name, input_dim=local.input_dim),
                                  local)
        assert built.input_dim == local.input_dim
