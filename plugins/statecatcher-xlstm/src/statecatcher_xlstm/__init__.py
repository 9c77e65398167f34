"""statecatcher plugin: the ``xlstm`` encoder (entry-point module: registers names only, imports no torch)."""

from statecatcher import hookimpl


@hookimpl
def register_encoders(register):
    register("xlstm", "statecatcher_xlstm.encoder:XLSTMEncoder",
             description="xLSTM blocks (mLSTM via mlstm_kernels chunkwise, sLSTM via xlstm), exact state carry")
