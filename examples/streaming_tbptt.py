"""Stream a long sequence in chunks with truncated backpropagation through time.

Feeding chunks with the carried state gives exactly the outputs of one whole call; `detach`
cuts the graph between chunks so memory stays bounded by the chunk length.

    .venv/bin/python examples/streaming_tbptt.py
"""

import torch

from rnnkit import Recurrent, detach

torch.manual_seed(0)
rnn = Recurrent("lstm", 4, 32, peephole=True, norm="layer")
head = torch.nn.Linear(32, 1)
opt = torch.optim.Adam([*rnn.parameters(), *head.parameters()], lr=1e-2)

stream = torch.randn(8, 1000, 4)  # (B, T, D): 8 long sequences
target = torch.roll(stream[..., :1], shifts=5, dims=1)  # the first feature, 5 steps ago

# Chunked inference equals the whole sequence.
with torch.no_grad():
    whole, _ = rnn(stream)
    state, parts = None, []
    for chunk in stream.split(100, dim=1):
        out, state = rnn(chunk, state)
        parts.append(out)
    print("max |chunked - whole| =", (torch.cat(parts, 1) - whole).abs().max().item())

# Truncated BPTT: backpropagate through 50 steps at a time, carry the state forward.
for epoch in range(5):
    state, losses = None, []
    for x, y in zip(stream.split(50, 1), target.split(50, 1), strict=True):
        out, state = rnn(x, state)
        loss = torch.nn.functional.mse_loss(head(out), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        state = detach(state)  # the next chunk starts from these values, without their history
        losses.append(loss.item())
    print(f"epoch {epoch}: mean loss {sum(losses) / len(losses):.4f} (predicting 0 scores ~1.0)")
