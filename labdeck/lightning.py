"""A PyTorch Lightning logger that writes into labdeck (the optional extra ``labdeck[lightning]``).

    from labdeck.lightning import LabdeckLogger
    trainer = lightning.Trainer(logger=LabdeckLogger("my-model"), callbacks=[StopFromDashboard()], ...)

Lightning calls it on rank 0 only. The run ends with the fit: finished, failed or stopped as Lightning says.
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Sequence
from typing import Any

from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only

from labdeck.engine.status import Status

from .run import RESERVED, Run, init


class LabdeckLogger(Logger):
    def __init__(self, experiment: str, home: str | None = None, alerts: Sequence[str] = ()):
        """``alerts``: the watchdog's rules for the run, as ``labdeck.init`` takes them (``"val_loss>2@10m"``);
        a rule's stop ends the fit after the current batch (``StopFromDashboard``)."""
        super().__init__()
        self._experiment_name, self._home, self._alerts = experiment, home, list(alerts)
        self._run: Run | None = None
        self._params: dict[str, Any] = {}

    @property
    def name(self) -> str:
        return self._experiment_name

    @property
    def version(self) -> str:
        return self.experiment.id

    @property
    def experiment(self) -> Run:
        """The labdeck run, started on first use (after the hyperparameters, when Lightning logs them first)."""
        if self._run is None:
            self._run = init(self._experiment_name, self._params, home=self._home, alerts=self._alerts)
        return self._run

    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any) -> None:
        self._params.update(vars(params) if isinstance(params, Namespace) else dict(params))
        if self._run is not None:  # started already (Lightning asked for its version first)
            self._run.set_params(self._params)

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        # Lightning logs the epoch as a metric: named as labdeck would name it, without the warning
        self.experiment.log({f"{k}_" if k in RESERVED else k: v for k, v in metrics.items()}, step=step)

    @rank_zero_only
    def should_stop(self) -> bool:
        """Whether the dashboard (or ``labdeck stop``) asked the run to stop."""
        return self._run is not None and self._run.should_stop()

    def finalize(self, status: str) -> None:
        if self._run is not None:
            # Lightning's statuses; a fit it ended because labdeck asked (a stop, a rule's stop) is stopped, not done:
            # the run decides between the two (None)
            ours = {"failed": Status.FAILED, "interrupted": Status.STOPPED}
            self._run.finish(ours.get(status))


class StopFromDashboard(Callback):
    """Ends the fit after the current batch when the dashboard (or ``labdeck stop``) stops the run."""

    def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
        if any(isinstance(lg, LabdeckLogger) and lg.should_stop() for lg in trainer.loggers):
            trainer.should_stop = True
