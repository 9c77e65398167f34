"""Repo-wide pytest setup: one torch thread.

The test tensors are tiny; on a 2-core machine several intra-op threads only contend (the conformance kit
ran 50x slower with two threads under load).  Subprocesses started by tests keep torch's own default.
"""

import torch

torch.set_num_threads(1)
