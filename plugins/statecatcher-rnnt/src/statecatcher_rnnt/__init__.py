"""statecatcher plugin: the ``rnnt`` loss (entry-point module: registers names only, imports no torch)."""

from statecatcher import hookimpl


@hookimpl
def register_losses(register):
    register("rnnt", "statecatcher_rnnt.loss:RNNTLoss",
             description="RNN-T: stateless or LSTM predictor carried across segments, pruned option, "
                         "backends warp-rnnt / torchaudio / warprnnt_numba / pure PyTorch, greedy streaming decode",
             options={"predictor": "stateless (embedding + conv over context_size tokens) or lstm",
                      "context_size": "tokens the stateless predictor looks back on",
                      "pred_dim": "predictor width", "joiner_dim": "joiner width",
                      "pred_layers": "LSTM predictor layers",
                      "backend": "full-lattice loss: auto, torch, numba, torchaudio or warp",
                      "pruned": "pruned RNN-T (the joiner runs on prune_range symbols per frame)",
                      "prune_range": "symbols per frame the pruned joiner sees (>= 2)",
                      "simple_loss_scale": "weight of the simple (trivial-joiner) loss when pruned",
                      "lm_scale": "LM smoothing of the simple loss (k2/icefall)",
                      "am_scale": "AM smoothing of the simple loss (k2/icefall)",
                      "max_symbols_per_frame": "greedy decoding emits at most this many tokens per frame",
                      "topology": "standard (any number of symbols per frame) or modified (at most one per frame)",
                      "ctc_loss_scale": "weight of an auxiliary CTC loss on the encoder output (0: none)"})
