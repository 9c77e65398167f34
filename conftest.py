"""Repo-wide pytest setup: one torch thread; tests marked ``gpu`` are skipped without CUDA.

The test tensors are tiny; on a 2-core machine several intra-op threads only contend (the conformance kit
ran 50x slower with two threads under load).  Subprocesses started by tests keep torch's own default.
"""

import pytest
import torch

torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` need a CUDA device: without one they are skipped, saying so (CI is CPU-only)."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (torch.cuda.is_available() is False)")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)
