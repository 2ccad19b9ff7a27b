"""PyTorch Lightning, watched in labdeck: the LabdeckLogger (pip install 'labdeck[lightning]').

    python examples/lightning_module.py [--epochs 5]

The same sine regression as plain_loop.py, as a LightningModule; Lightning logs through labdeck, and the
dashboard's stop ends the fit after the current batch.
"""

from __future__ import annotations

import argparse

import lightning
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from labdeck.lightning import LabdeckLogger, StopFromDashboard


class SineNet(lightning.LightningModule):
    def __init__(self, hidden: int = 64, lr: float = 3e-3):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def training_step(self, batch, _):
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        self.log("loss", loss)
        return loss

    def validation_step(self, batch, _):
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.hparams.lr)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--home", help="labdeck home (default: LABDECK_HOME or your data directory)")
    a = ap.parse_args()
    torch.manual_seed(0)
    x = torch.rand(2048, 1) * 4 - 2
    y = torch.sin(3 * x) + 0.1 * torch.randn_like(x)
    train = DataLoader(TensorDataset(x[256:], y[256:]), batch_size=64, shuffle=True)
    val = DataLoader(TensorDataset(x[:256], y[:256]), batch_size=256)
    logger = LabdeckLogger("sine-lightning", home=a.home)
    trainer = lightning.Trainer(max_epochs=a.epochs, logger=logger, callbacks=[StopFromDashboard()],
                                log_every_n_steps=5, enable_progress_bar=False, enable_checkpointing=False,
                                enable_model_summary=False, accelerator="cpu", devices=1)
    trainer.fit(SineNet(), train, val)
    print(f"run {logger.version}")


if __name__ == "__main__":
    main()
