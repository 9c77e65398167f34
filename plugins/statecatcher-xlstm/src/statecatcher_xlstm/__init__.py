"""statecatcher plugin: the ``xlstm`` encoder (entry-point module: registers names only, imports no torch)."""

from statecatcher import hookimpl


@hookimpl
def register_encoders(register):
    register("xlstm", "statecatcher_xlstm.encoder:XLSTMEncoder",
             description="xLSTM blocks (mLSTM via mlstm_kernels chunkwise, sLSTM via xlstm), exact state carry",
             options={"hidden_dim": "model width D (also the encoder's output size)",
                      "pattern": "block pattern, comma-separated: m = mLSTM block, s = sLSTM block, "
                                 "l = xLSTM-7B mLSTM block (no up-projection or conv, SwiGLU FFN)",
                      "num_heads": "heads per block (hidden_dim must divide by it)",
                      "conv_kernel": "causal conv kernel inside each block, in frames",
                      "subsampling": "frame-rate reduction of the causal front end (4: 10 ms -> 40 ms)",
                      "freq_channels": "channels of a front-end conv along the mel axis (0: none)",
                      "cmn_frames": "front end: remove a running mean per mel bin, time constant in frames (0: off)",
                      "chunk_size": "mLSTM chunkwise-kernel chunk length, in output frames",
                      "backend": "mLSTM kernel: auto (triton on CUDA, else native), native, triton, "
                                 "triton_limit_chunk",
                      "slstm_backend": "sLSTM cell: auto (cuda on CUDA, else vanilla), vanilla or cuda",
                      "dropout": "dropout after every block"})
