"""A run's status (what the store says of it) and stage (what its process is doing now), as the words the store,
the events, the CLI and the dashboard share."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    QUEUED = "queued"  # created, its process not started yet (or a sweep's trial waiting for its turn)
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"
    FAILED = "failed"
    STOPPED = "stopped"  # asked to stop: it checkpointed first, and can be resumed
    INTERRUPTED = "interrupted"  # its process died without saying so: resumable from its last checkpoint


ACTIVE = (Status.QUEUED, Status.RUNNING, Status.PAUSED)
STATUSES = tuple(Status)
RESUMABLE = (Status.STOPPED, Status.INTERRUPTED, Status.FAILED)


class Stage(StrEnum):
    """What a run's process is doing between training steps (``Phase`` events), and the dashboard's words for it."""

    LOADING_DATA = "loading data"
    MEASURING_SPEED = "measuring speed"
    TRAINING = "training"
    EVALUATING = "evaluating"
    MEASURING_EVALUATION = "measuring evaluation"
    FINAL_EVALUATION = "final evaluation"
    SAVING_CHECKPOINT = "saving checkpoint"
