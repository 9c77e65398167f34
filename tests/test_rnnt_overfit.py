"""lstm + rnnt through the real trainer: a tiny model overfits one synthetic episode, and greedy streaming
decoding of the whole recording gives its words back (the RNN-T plugin's end-to-end check).

The recipe is the one in plugins/statecatcher-rnnt/README.md: one symbol per frame (``topology="modified"``),
an auxiliary CTC head and a one-token predictor context.  With the standard topology the same model reaches a
lower loss yet decodes at ~80% WER (it learns to emit the memorised text anywhere; see that README).
"""

from __future__ import annotations

import pytest

pytest.importorskip("statecatcher_rnnt")
pytest.importorskip("statecatcher_lstm")
pytest.importorskip("statecatcher_synth")

from statecatcher.data.local import LocalDataSource  # noqa: E402
from statecatcher.decode.evaluate import evaluate_recordings  # noqa: E402
from statecatcher.decode.pack import load_model  # noqa: E402
from statecatcher.train.loop import train  # noqa: E402

RECIPE = {"topology": "modified", "ctc_loss_scale": 0.5, "context_size": 1, "pred_dim": 64, "joiner_dim": 128}


@pytest.mark.slow
def test_tiny_lstm_rnnt_overfits_and_streams_its_training_recording_back(tiny_corpus, tiny_run_config, tmp_path):
    run_dir = tmp_path / "run"
    summary = train(tiny_run_config(tiny_corpus, run_dir, loss="rnnt", loss_options=RECIPE, lr=2e-3,
                                    encoder_options={"hidden_dim": 128, "num_layers": 2}, max_steps=2000,
                                    threads=1, log_every=10, checkpoint_every=100_000))
    first, last = sum(summary.losses[:5]) / 5, sum(summary.losses[-5:]) / 5
    assert last < 0.05 * first, (first, last)
    report = evaluate_recordings(load_model(run_dir), LocalDataSource(str(tiny_corpus)), split="train")
    assert report.words.ref_words > 100
    assert report.wer < 0.2, report.wer
