"""rnnt through the real trainer: a tiny model overfits one synthetic episode, and greedy streaming decoding
of the whole recording gives its words back (the RNN-T plugin's end-to-end check).

The loss recipe is the one in plugins/statecatcher-rnnt/README.md: one symbol per frame
(``topology="modified"``), an auxiliary CTC head and a one-token predictor context.  With the standard topology
an LSTM reaches a lower loss yet decodes at ~80% WER (it learns to emit the memorised text anywhere; see that
README).  The encoder is an RWKV-7 64 x 2 (``cpu-demo``'s until 2026-12-04): it memorises the episode in 300
steps (WER 3.8 %, loss / 5 %), where the LSTM 128 x 2 of the README needed 2,000 (about 260 s of the suite's 17
minutes).
"""

from __future__ import annotations

import pytest

pytest.importorskip("statecatcher_rnnt")
pytest.importorskip("statecatcher_rwkv")
pytest.importorskip("statecatcher_synth")

from statecatcher.data.local import LocalDataSource  # noqa: E402
from statecatcher.decode.evaluate import evaluate_recordings  # noqa: E402
from statecatcher.decode.pack import load_model  # noqa: E402
from statecatcher.train.loop import train  # noqa: E402

RECIPE = {"topology": "modified", "ctc_loss_scale": 0.5, "context_size": 1, "pred_dim": 64, "joiner_dim": 128}


@pytest.mark.slow
def test_tiny_rnnt_model_overfits_and_streams_its_training_recording_back(tiny_corpus, tiny_run_config, tmp_path):
    run_dir = tmp_path / "run"
    summary = train(tiny_run_config(tiny_corpus, run_dir, loss="rnnt", loss_options=RECIPE, lr=5e-3,
                                    schedule="cosine", encoder="rwkv7",
                                    encoder_options={"hidden_dim": 64, "num_layers": 2, "chunk_len": 16},
                                    max_steps=300, threads=1, log_every=10, checkpoint_every=100_000))
    first, last = sum(summary.losses[:5]) / 5, sum(summary.losses[-5:]) / 5
    assert last < 0.05 * first, (first, last)
    report = evaluate_recordings(load_model(run_dir), LocalDataSource(str(tiny_corpus)), split="train")
    assert report.words.ref_words > 100
    assert report.wer < 0.2, report.wer
