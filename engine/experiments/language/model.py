"""A recurrent (LSTM or GRU) language model and token-by-token sampling (temperature, top-k, top-p)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeAlias

import torch
from torch import nn

State: TypeAlias = tuple[torch.Tensor, ...] | torch.Tensor  # an LSTM's (h, c) pair, or a GRU's h


class LanguageModel(nn.Module):
    def __init__(self, vocab: int, embedding: int, hidden: int, layers: int, dropout: float, tie: bool,
                 cell: str = "lstm"):
        super().__init__()
        self.embed = nn.Embedding(vocab, embedding)
        self.drop = nn.Dropout(dropout)
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell](embedding, hidden, layers, batch_first=True,
                                                     dropout=dropout if layers > 1 else 0.0)
        self.cell = cell
        setattr(self, cell, rnn)  # the attribute names the weights in checkpoints: lstm.* or gru.*
        self.out = nn.Linear(hidden, vocab)
        if tie:
            self.out.weight = self.embed.weight

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        h, state = getattr(self, self.cell)(self.drop(self.embed(x)), state)
        return self.out(self.drop(h)), state


def detach(state: State | None) -> State | None:
    """The recurrent state cut from the graph: an LSTM's (h, c) pair, or a GRU's h."""
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def filter_logits(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """Mask all but the ``top_k`` most likely tokens and the smallest set whose probability reaches ``top_p``."""
    if top_k > 0 and top_k < logits.shape[-1]:
        kth = logits.topk(top_k).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if 0 < top_p < 1:
        sorted_logits, order = logits.sort(descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        drop = cumulative - sorted_logits.softmax(-1) >= top_p  # keep the token that crosses top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


@torch.no_grad()
def sample(model: LanguageModel, prompt: list[int], n: int, temperature: float = 0.8, top_k: int = 0,
           top_p: float = 1.0, seed: int = 0) -> Iterator[int]:
    """Yield ``n`` token ids one at a time after ``prompt`` (greedy when temperature is 0)."""
    model.eval()
    g = torch.Generator().manual_seed(seed)  # on the CPU: the same seed gives the same text on any device
    device = next(model.parameters()).device
    x = torch.tensor([prompt], dtype=torch.long, device=device)
    state = None
    for _ in range(n):
        logits, state = model(x, state)
        logits = logits[0, -1].float().cpu()
        if temperature <= 0:
            token = int(logits.argmax())
        else:
            probs = filter_logits(logits / temperature, top_k, top_p).softmax(-1)
            token = int(torch.multinomial(probs, 1, generator=g))
        yield token
        x = torch.tensor([[token]], dtype=torch.long, device=device)
