"""Weight averaging as airbench does it ("lookahead"): every few steps the weights move to an exponential moving
average of themselves, with a decay that grows towards the end of training, so the last steps average over a
longer stretch of the trajectory."""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import get_ema_multi_avg_fn


class Lookahead:
    def __init__(self, model: nn.Module, every: int = 5, decay: float = 0.95):
        self.every, self.decay = every, decay
        self.average = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}
        self._pairs: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None

    def decay_at(self, progress: float) -> float:
        return self.decay ** self.every * progress ** 3

    @torch.no_grad()
    def _pull(self, model: nn.Module, decay: float) -> None:
        if self._pairs is None:  # at the first pull the model is on its device: pair each average with its tensor
            state = model.state_dict()  # views of the live weights and buffers, updated in place from then on
            for key in self.average:
                self.average[key] = self.average[key].to(state[key].device)
            self._pairs = (list(self.average.values()), [state[key] for key in self.average])
        averages, values = self._pairs
        get_ema_multi_avg_fn(decay)(averages, values, None)  # one foreach kernel for all tensors
        for value, average in zip(values, averages, strict=True):
            value.copy_(average)

    def step(self, model: nn.Module, step: int, progress: float) -> None:
        if step % self.every == 0:
            self._pull(model, self.decay_at(progress))

    def finish(self, model: nn.Module) -> None:
        """The trained model is the average."""
        self._pull(model, 1.0)

    def state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu() for k, v in self.average.items()}

    def load(self, state: dict[str, torch.Tensor]) -> None:
        for key, value in state.items():
            if key in self.average:
                self.average[key].copy_(value)
