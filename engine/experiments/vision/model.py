"""Vision models: the lab's LeNet, and a speed-run style network (after airbench: a frozen whitening layer,
conv-pool-batchnorm blocks, a scaled linear head)."""

from __future__ import annotations

import torch
from torch import nn


class LeNet(nn.Module):
    """The PyTorch CIFAR-10 tutorial's network: conv 6 / conv 16, FC 120-84."""

    def __init__(self, classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(5),  # the tutorial's 5x5 at 32 px; other sizes pool to it
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                                  nn.Linear(84, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class BatchNorm(nn.BatchNorm2d):
    """Batch norm with a fixed scale (only the shift learns) and fast-moving statistics, as in airbench."""

    def __init__(self, channels: int):
        super().__init__(channels, momentum=0.4, eps=1e-12)
        self.weight.requires_grad = False


class ConvGroup(nn.Module):
    def __init__(self, c_in: int, c_out: int, depth: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.MaxPool2d(2),
                                   BatchNorm(c_out), nn.GELU()]
        for _ in range(depth - 1):
            layers += [nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), BatchNorm(c_out), nn.GELU()]
        self.body = nn.Sequential(*layers)
        for m in self.body:
            if isinstance(m, nn.Conv2d):  # identity-like start (dirac) keeps early training stable
                nn.init.dirac_(m.weight[: min(m.in_channels, m.out_channels)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class FastNet(nn.Module):
    def __init__(self, classes: int, width: int = 64, depth: int = 2, whiten_width: int = 24):
        super().__init__()
        widths = (width, 4 * width, 4 * width)
        self.whiten = nn.Conv2d(3, whiten_width, 2, padding=0, bias=True)
        self.whiten.weight.requires_grad = False
        self.body = nn.Sequential(
            nn.GELU(),
            ConvGroup(whiten_width, widths[0], depth),
            ConvGroup(widths[0], widths[1], depth),
            ConvGroup(widths[1], widths[2], depth),
            nn.AdaptiveMaxPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(widths[2], classes, bias=False)
        self.scale = 1 / 9

    def init_whitening(self, x: torch.Tensor, eps: float = 5e-4) -> None:
        """Set the first layer to whiten 2x2 patches of ``x`` (normalised training images, N,3,H,W)."""
        c, (h, w) = x.shape[1], self.whiten.weight.shape[2:]
        patches = x.unfold(2, h, 1).unfold(3, w, 1).transpose(1, 3).reshape(-1, c, h, w).float()
        flat = patches.reshape(len(patches), -1)
        cov = flat.T @ flat / len(flat)
        values, vectors = torch.linalg.eigh(cov)
        values, vectors = values.flip(0).view(-1, 1, 1, 1), vectors.T.reshape(c * h * w, c, h, w).flip(0)
        scaled = vectors / torch.sqrt(values + eps)
        with torch.no_grad():
            self.whiten.weight.copy_(torch.cat((scaled, -scaled))[: self.whiten.out_channels])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.whiten(x))) * self.scale


def build(model: str, classes: int, width: int, depth: int) -> nn.Module:
    if model == "lenet":
        return LeNet(classes)
    return FastNet(classes, width, depth)
