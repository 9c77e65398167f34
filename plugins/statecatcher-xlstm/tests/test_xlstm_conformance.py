"""The core conformance kit, run on a tiny xLSTM (one mLSTM and one sLSTM block) in float64 on CPU."""

from statecatcher.testing import EncoderConformance
from statecatcher_xlstm.encoder import XLSTMEncoder


class TestXLSTMConformance(EncoderConformance):
    registered_name = "xlstm"

    def make_encoder(self):
        # chunk_size=4: the kit's chunkings then cut through and across the kernel's internal chunks
        return XLSTMEncoder(input_dim=8, hidden_dim=32, pattern="m,s", num_heads=2, conv_kernel=3,
                            subsampling=4, chunk_size=4)


class TestXLSTMLargeBlockConformance(EncoderConformance):
    """Pattern ``l`` (the xLSTM-7B mLSTM block) stacked with the package's mLSTM block."""

    registered_name = "xlstm"

    def make_encoder(self):
        return XLSTMEncoder(input_dim=8, hidden_dim=32, pattern="l,m", num_heads=2, conv_kernel=3,
                            subsampling=4, chunk_size=4)
