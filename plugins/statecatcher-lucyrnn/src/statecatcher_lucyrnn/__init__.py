"""statecatcher-lucyrnn: the LucyRNN stateful encoder (a gated, diagonal linear recurrence).

Only hook implementations live here; the factory is imported when an encoder is built.
"""

from statecatcher import hookimpl


@hookimpl
def register_encoders(register):
    register("lucyrnn", "statecatcher_lucyrnn.encoder:LucyRNNEncoder",
             description="LucyRNN: gated diagonal linear recurrence (h, s), chunkwise-parallel training, "
                         "exact state carry",
             options={"hidden_dim": "layer width H (also the encoder's output size)",
                      "num_layers": "LucyRNN layers per track (LayerNorm between them)",
                      "num_tracks": "independent stacks over the same front end, concatenated and merged by a "
                                    "Linear (1: no merge)",
                      "kv_norm": "normalisation of (k, v): rms (one RMS over the frame's 2H channels) or none",
                      "mode": "chunkwise (parallel scans, training) or recurrent (frame by frame)",
                      "chunk_len": "chunkwise mode: output frames per chunk of the parallel scans",
                      "subsampling": "frame-rate reduction of the causal front end (4: 10 ms -> 40 ms)",
                      "conv_kernel": "kernel of the front end's causal conv, in frames",
                      "freq_channels": "channels of a front-end conv along the mel axis (0: none)",
                      "cmn_frames": "front end: remove a running mean per mel bin, time constant in frames (0: off)"})
