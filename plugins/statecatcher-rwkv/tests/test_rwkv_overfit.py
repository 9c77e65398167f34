"""A tiny RWKV-7 with a linear CTC head memorises a fixed toy task while its state is carried."""

import time

import torch
import torch.nn.functional as F

from statecatcher.state import detach
from statecatcher_rwkv.encoder import make_rwkv7

LANES, SEGMENTS, FRAMES, TOKENS, VOCAB = 2, 3, 64, 4, 6  # VOCAB includes blank 0


def test_tiny_rwkv7_ctc_overfits_with_carried_state():
    started = time.process_time()  # CPU seconds: wall time on a shared machine is noise
    torch.manual_seed(0)
    encoder = make_rwkv7(input_dim=8, hidden_dim=32, num_layers=2, head_size=8, chunk_len=8, backend="torch")
    head = torch.nn.Linear(encoder.output_dim, VOCAB)
    feats = torch.randn(SEGMENTS, LANES, FRAMES, 8)
    targets = torch.randint(1, VOCAB, (SEGMENTS, LANES, TOKENS))
    lengths, target_lengths = torch.full((LANES,), FRAMES), torch.full((LANES,), TOKENS)
    optimizer = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=1e-2)

    losses = []
    for _ in range(40):
        state, total = encoder.init_state(LANES), 0.0
        for segment in range(SEGMENTS):  # consecutive segments of the same recordings
            out, out_lengths, state = encoder(feats[segment], lengths, state)
            log_probs = head(out).log_softmax(-1).transpose(0, 1)               # [T', B, V]
            loss = F.ctc_loss(log_probs, targets[segment], out_lengths, target_lengths, reduction="sum")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            state = detach(state)                                                 # truncated BPTT
            total += loss.item()
        losses.append(total)

    assert losses[-1] < 0.2 * losses[0], losses
    assert time.process_time() - started < 20
