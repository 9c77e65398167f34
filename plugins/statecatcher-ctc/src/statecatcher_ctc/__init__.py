"""statecatcher plugin: the ``ctc`` loss (entry-point module: registers names only, imports no torch)."""

from statecatcher import hookimpl


@hookimpl
def register_losses(register):
    register("ctc", "statecatcher_ctc.loss:CTCLoss",
             description="CTC (torch ctc_loss, blank 0, zero_infinity) with a streaming greedy decoder",
             options={"dropout": "dropout on the encoder output before the projection"})
