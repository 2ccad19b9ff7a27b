"""Ray trials' records, carried to the sweep's store on its own host.

Only processes on the store's host write it: SQLite's WAL is unsafe across hosts, and a cluster need not share a
file system. A trial trains its run into a staging store in its node's temporary space and forwards what the run
records (events, epochs, its status row, each checkpoint) through a mailbox actor to the sweep's driver, which
writes them into the store. Pause and stop requests go the other way. Nothing needs labdeck's home to be shared.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from functools import partial
from typing import Any

from . import checkpoint, durable
from .errors import LabdeckError
from .status import ACTIVE, Status
from .store import HOST, Store
from .tmp import user_tmp

NAMESPACE = "labdeck"
DRAIN_SECONDS = 0.25
RECORDS_AT_ONCE = 10_000  # a trial forwards at most this many of its run's records at a time


class Mailbox:
    """A Ray actor between the driver and its trials: the runs to start, their records, their controls."""

    def __init__(self, starts: dict[str, tuple[dict[str, Any], bytes | None]]):
        self._starts = starts  # run id -> (its record, its checkpoint to resume from)
        self._inbox: list[tuple[str, list[tuple[Any, ...]]]] = []
        self._controls: dict[str, str] = {}

    def start(self, run_id: str) -> tuple[dict[str, Any], bytes | None]:
        return self._starts[run_id]

    def put(self, run_id: str, entries: list[tuple[Any, ...]]) -> None:
        self._inbox.append((run_id, entries))

    def take(self) -> list[tuple[str, list[tuple[Any, ...]]]]:
        out, self._inbox = self._inbox, []
        return out

    def set_controls(self, controls: dict[str, str]) -> None:
        self._controls.update(controls)

    def control(self, run_id: str) -> str:
        return self._controls.get(run_id, "run")


def _write_bytes(data: bytes, f: Any) -> None:
    f.write(data)


def mailbox_name(sweep_id: str) -> str:
    return f"labdeck-{sweep_id}-{os.getpid()}"  # a resumed sweep's driver must not find the last one's


def starts(store: Store, todo: list[str]) -> dict[str, tuple[dict[str, Any], bytes | None]]:
    """What each trial starts from. A run with a checkpoint resumes from it: its history after the checkpoint's
    epoch is dropped here, as a local resume drops it (an unreadable checkpoint fails the run in its trial)."""
    out = {}
    for run_id in todo:
        info = store.get(run_id)
        path = store.checkpoint_path(run_id)
        data = path.read_bytes() if info.status in (Status.STOPPED, Status.INTERRUPTED) and path.exists() else None
        if data is not None and (epoch := checkpoint.epoch_of(data)) is not None:
            store.truncate_after_epoch(run_id, epoch)
        out[run_id] = (info.to_json(), data)
    return out


class Relay:
    """The driver's side: writes what trials forward into the store, and tells them of pause and stop requests."""

    def __init__(self, store: Store, mailbox: Any, run_ids: list[str]):
        self.store, self.mailbox, self.run_ids = store, mailbox, run_ids
        self._closed: set[str] = set()  # runs whose end the driver recorded itself: later records are stale
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._warned = False
        self.drain()  # trials ask for their controls first
        self._thread = threading.Thread(target=self._loop, name="labdeck-relay", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._done.wait(DRAIN_SECONDS):
            try:
                self.drain()
            except Exception as exc:  # the cluster going away ends the sweep elsewhere; say it once here
                if not self._warned:
                    self._warned = True
                    print(f"labdeck: trial records not carried to the store: {exc}", file=sys.stderr)

    def drain(self) -> None:
        """Write everything trials have forwarded so far, then pass on the store's controls."""
        import ray

        with self._lock:
            for run_id, entries in ray.get(self.mailbox.take.remote()):
                if run_id not in self._closed:
                    self._write(run_id, entries)
            controls = {r: "stop" if r in self._closed else self.store.control(r) for r in self.run_ids}
            ray.get(self.mailbox.set_controls.remote(controls))

    def close_run(self, run_id: str) -> None:
        """The driver recorded this run's end itself (its trial was stopped early): ignore what comes later."""
        with self._lock:
            self._closed.add(run_id)

    def _write(self, run_id: str, entries: list[tuple[Any, ...]]) -> None:
        batch: list[tuple[Any, ...]] = []
        for entry in entries:
            if entry[0] == "checkpoint":  # before the CheckpointSaved event that follows it
                self.store.append(run_id, batch)
                batch = []
                durable.replace(self.store.checkpoint_path(run_id), partial(_write_bytes, entry[1]))
            elif entry[0] == "event" and entry[1] == "CheckpointSaved":
                payload = json.loads(entry[2])
                payload["path"] = str(self.store.checkpoint_path(run_id))  # this host's copy
                batch.append(("event", entry[1], json.dumps(payload), entry[3]))
            else:
                batch.append(entry)
        self.store.append(run_id, batch)

    def close(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)
        try:
            self.drain()
        except Exception:
            pass


def staging_store(head: str) -> Store:
    """This node's staging store for the trials of the store at ``head`` (node-local: never a shared file)."""
    key = hashlib.sha256(head.encode()).hexdigest()[:12]
    return Store(user_tmp() / "staging" / f"{HOST}-{key}")


class Forwarder:
    """A trial's side: reads what its run recorded in the staging store and forwards the new part."""

    def __init__(self, staging: Store, run_id: str, mailbox: Any):
        self.staging, self.run_id, self.mailbox = staging, run_id, mailbox
        self._after = 0
        self._row: tuple[Any, ...] | None = None

    def forward(self, ended: bool = False) -> list[dict[str, Any]]:
        """Forward what is new (and wait until the mailbox holds it); returns the new epochs' payloads.
        ``ended``: the run's process has exited; one that did not record its end is recorded as interrupted."""
        import ray

        entries: list[tuple[Any, ...]] = []
        epochs = []
        if ended and self.staging.get(self.run_id).status in (*ACTIVE, Status.INTERRUPTED):
            self.staging.set_status(self.run_id, Status.INTERRUPTED, "its process ended without recording how")
        # the row before the records: read after them, it could count epochs (or an end) whose records the run
        # wrote in between, and a trial ended before its next forward would leave the sweep's store saying so
        row = self.staging.process_row(self.run_id)
        records = self.staging.records(self.run_id, self._after, RECORDS_AT_ONCE)
        for event_id, kind, payload, t in records:
            self._after = event_id
            if kind == "EpochMetrics":
                fields = json.loads(payload)
                epochs.append(fields)
                entries.append(("epoch", fields["epoch"], self.staging.epoch_values(self.run_id, fields["epoch"]),
                                kind, payload, t))
                continue
            if kind == "CheckpointSaved":
                entries += self._checkpoint(json.loads(payload)["epoch"])
            entries.append(("event", kind, payload, t))
        if row != self._row and len(records) < RECORDS_AT_ONCE:  # with records left over, the row waits for them
            entries.append(("row", row))
            self._row = row
        if entries:
            ray.get(self.mailbox.put.remote(self.run_id, entries))
        return epochs

    def _checkpoint(self, epoch: int) -> list[tuple[Any, ...]]:
        """The checkpoint the event announces, if the file still is that one (a later epoch's replaces it, and
        comes with its own event)."""
        try:
            data = self.staging.checkpoint_path(self.run_id).read_bytes()
        except OSError:
            return []
        return [("checkpoint", data)] if checkpoint.epoch_of(data) == epoch else []


def open_staging(head: str, info: dict[str, Any], resume_from: bytes | None) -> Store:
    """The trial's staging store, holding a fresh copy of the run's record (and the checkpoint it resumes from)."""
    staging = staging_store(head)
    staging.adopt(info)
    if resume_from is not None:
        durable.replace(staging.checkpoint_path(info["run_id"]), lambda f: f.write(resume_from))
    return staging


def drop_staging(staging: Store, run_id: str) -> None:
    """Drop the staging copy: everything it held is in the sweep's store."""
    try:
        staging.delete_run(run_id)
    except (LabdeckError, OSError):
        pass
