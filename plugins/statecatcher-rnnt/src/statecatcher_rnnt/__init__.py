"""statecatcher plugin: the ``rnnt`` loss (entry-point module: registers names only, imports no torch)."""

from statecatcher import hookimpl


@hookimpl
def register_losses(register):
    register("rnnt", "statecatcher_rnnt.loss:RNNTLoss",
             description="RNN-T: stateless or LSTM predictor carried across segments, pruned option, "
                         "backends warp-rnnt / torchaudio / warprnnt_numba / pure PyTorch, greedy streaming decode")
