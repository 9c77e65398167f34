"""A tiny xLSTM + linear CTC head memorises a 2-utterance toy task, trained statefully (state carried)."""

import pytest
import torch
import torch.nn.functional as F_

from statecatcher.state import detach
from statecatcher_xlstm.encoder import XLSTMEncoder


@pytest.mark.parametrize("pattern", ["m,s", "l,l"])
def test_tiny_xlstm_ctc_overfits_two_utterances_with_carried_state(pattern):
    torch.manual_seed(0)
    vocab, segments, frames = 6, 2, 32                    # 2 lanes x 2 segments of 32 frames (8 outputs each)
    feats = torch.randn(2, segments * frames, 8)
    targets = torch.randint(1, vocab, (2, segments, 3))   # 3 tokens per segment, blank = 0
    encoder = XLSTMEncoder(input_dim=8, hidden_dim=32, pattern=pattern, num_heads=2, subsampling=4, chunk_size=4)
    head = torch.nn.Linear(32, vocab)
    optimizer = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=1e-2)

    losses = []
    for _ in range(40):
        state, total = encoder.init_state(2), 0.0
        for k in range(segments):
            out, out_lengths, state = encoder(feats[:, k * frames:(k + 1) * frames], torch.tensor([frames] * 2), state)
            log_probs = F_.log_softmax(head(out), dim=-1).transpose(0, 1)   # [T', B, V]
            loss = F_.ctc_loss(log_probs, targets[:, k], out_lengths, torch.tensor([3, 3]), reduction="sum")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            state = detach(state)
            total += loss.item()
        losses.append(total)
    print(f"ctc loss {losses[0]:.2f} -> {losses[-1]:.2f}")
    assert losses[-1] < 0.2 * losses[0], f"loss {losses[0]:.2f} -> {losses[-1]:.2f}"
