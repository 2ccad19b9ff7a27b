"""labdeck: a terminal dashboard for deep-learning runs, and the logging API that puts your own runs in it.

    import labdeck

    with labdeck.init(experiment="my-cnn", params={"lr": 3e-4}) as run:
        for step in range(1000):
            ...
            run.log({"loss": loss.item()}, step=step)

or, as with wandb and Trackio: ``labdeck.init(project=..., config=...)``, ``labdeck.log({...})``,
``labdeck.config.lr``, ``labdeck.finish()``.

The lab's experiments, the run store and the CLI are in ``labdeck.engine``; the dashboard is ``labdeck.tui``.
Importing labdeck imports neither torch nor Textual.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .current import config, finish, log
from .run import LabdeckWarning, Run, init

try:
    __version__ = version("labdeck")
except PackageNotFoundError:  # a checkout that is not installed
    __version__ = "0+unknown"

__all__ = ["LabdeckWarning", "Run", "__version__", "config", "finish", "init", "log"]
