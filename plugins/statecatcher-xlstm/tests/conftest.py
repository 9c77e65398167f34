import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The sLSTM cell steps frame by frame through tiny matrices: on a shared CPU one thread is many times
    faster than several (measured: 0.19 s vs 11 s for the kit's chunking test)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
