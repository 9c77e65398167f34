"""statecatcher plugin: the ``lstm`` encoder.  Cheap to import: the factory is a ``"module:attr"`` string."""

from statecatcher import hookimpl


@hookimpl
def register_encoders(register):
    register("lstm", "statecatcher_lstm.encoder:LSTMEncoder",
             description="causal conv subsampling + nn.LSTM (a dense staircase over lane lengths), "
                         "state = (h, c) + front-end cache",
             options={"hidden_dim": "LSTM width", "num_layers": "stacked LSTM layers",
                      "output_dim": "encoder output size (default: hidden_dim, no projection)",
                      "subsampling": "frame-rate reduction of the causal front end (4: 10 ms -> 40 ms)",
                      "conv_kernel": "kernel of the front end's causal conv, in frames",
                      "dropout": "dropout between LSTM layers",
                      "cell_clip": "bound on the cell state for long streams (0: off; e.g. 10)",
                      "clip_every": "output frames between cell clips, counted along the stream",
                      "freq_channels": "channels of a front-end conv along the mel axis (0: none)",
                      "cmn_frames": "front end: remove a running mean per mel bin, time constant in frames (0: off)"})
