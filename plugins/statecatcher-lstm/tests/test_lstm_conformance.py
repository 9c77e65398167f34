from statecatcher.testing import EncoderConformance
from statecatcher_lstm.encoder import LSTMEncoder


class TestLSTMConformance(EncoderConformance):
    registered_name = "lstm"

    def make_encoder(self):
        return LSTMEncoder(input_dim=6, hidden_dim=8, num_layers=2, output_dim=5, subsampling=4)


class TestClippedLSTMConformance(EncoderConformance):
    """Cell clipping on, with clip points every 3 output frames and a bound that random weights exceed: the
    kit's chunkings cut streams between clip points, so it proves the clips follow the stream, not the calls."""

    def make_encoder(self):
        return LSTMEncoder(input_dim=6, hidden_dim=8, num_layers=2, output_dim=5, subsampling=2,
                           cell_clip=0.05, clip_every=3)
