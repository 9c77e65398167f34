"""statecatcher plugin: the ``lstm`` encoder.  Cheap to import: the factory is a ``"module:attr"`` string."""

from statecatcher import hookimpl


@hookimpl
def register_encoders(register):
    register("lstm", "statecatcher_lstm.encoder:LSTMEncoder",
             description="causal conv subsampling + nn.LSTM (packed sequences), state = (h, c) + front-end cache")
