"""The core conformance kit (the hour-long check included) in both forms, and with tracks and no kv norm."""

from statecatcher.testing import EncoderConformance
from statecatcher_lucyrnn.encoder import LucyRNNEncoder

# chunk_len=3: the kit's chunkings cut through and across the scans' chunks
TINY = {"input_dim": 8, "hidden_dim": 16, "num_layers": 2, "chunk_len": 3}


class TestLucyRNN(EncoderConformance):
    registered_name = "lucyrnn"

    def make_encoder(self):
        return LucyRNNEncoder(**TINY)


class TestLucyRNNRecurrent(EncoderConformance):
    registered_name = "lucyrnn"

    def make_encoder(self):
        return LucyRNNEncoder(**TINY, mode="recurrent")


class TestLucyRNNTracks(EncoderConformance):
    registered_name = "lucyrnn"

    def make_encoder(self):
        return LucyRNNEncoder(**TINY, num_tracks=2, kv_norm="none")
