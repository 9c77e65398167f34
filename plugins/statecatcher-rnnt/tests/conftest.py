"""One torch thread per test: the lattice recursion runs many small ops, which extra threads only slow down
(badly so on a shared 2-core machine)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
