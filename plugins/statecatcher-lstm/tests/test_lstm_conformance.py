from statecatcher.testing import EncoderConformance
from statecatcher_lstm.encoder import LSTMEncoder


class TestLSTMConformance(EncoderConformance):
    registered_name = "lstm"

    def make_encoder(self):
        return LSTMEncoder(input_dim=6, hidden_dim=8, num_layers=2, output_dim=5, subsampling=4)
