"""A recurrent regressor: RNN, LSTM or GRU over a window, a linear head on the last hidden state."""

from __future__ import annotations

import torch
from torch import nn

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class Recurrent(nn.Module):
    def __init__(self, cell: str, hidden: int, layers: int, dropout: float):
        super().__init__()
        self.rnn = CELLS[cell](input_size=1, hidden_size=hidden, num_layers=layers, batch_first=True,
                               dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (batch, window) -> next value (batch,)."""
        out, _ = self.rnn(x.unsqueeze(-1))
        return self.head(out[:, -1]).squeeze(-1)


@torch.no_grad()
def forecast(model: nn.Module, context: torch.Tensor, steps: int) -> torch.Tensor:
    """Free-running forecast: the model feeds on its own outputs for ``steps`` steps after ``context``."""
    window = context.clone().unsqueeze(0)
    out = torch.empty(steps, dtype=context.dtype)
    for i in range(steps):
        nxt = model(window)[0].float()
        out[i] = nxt
        window = torch.cat([window[:, 1:], nxt.view(1, 1).to(window.dtype)], dim=1)
    return out


def input_gradient_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Mean |d loss / d x_t| at each time step of the window: how far back the model's gradient reaches."""
    x = x.clone().requires_grad_(True)
    # cuDNN computes RNN backward only in training mode; the plain kernels do it in eval mode too.
    with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
        loss = nn.functional.mse_loss(model(x), y)
        (grad,) = torch.autograd.grad(loss, x)
    reach: list[float] = grad.abs().mean(0).tolist()
    return reach
