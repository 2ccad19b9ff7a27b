"""What a Ray trial forwards from its node's staging store to the sweep's store (no Ray needed: a mailbox stand-in)."""

from __future__ import annotations

import os
import sys
import types

from labdeck.engine import ray_relay
from labdeck.engine.events import EpochMetrics, RunEnded
from labdeck.engine.store import Store


class Mailbox:
    """Holds what the trial put, as the mailbox actor does (``put.remote`` returns what ``ray.get`` waits on)."""

    def __init__(self):
        self.entries: list[tuple] = []
        self.put = types.SimpleNamespace(remote=lambda run_id, entries: self.entries.extend(entries))


def test_a_trial_never_forwards_a_row_ahead_of_the_records_it_sent(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", types.SimpleNamespace(get=lambda ref: ref))
    staging = Store(tmp_path / "staging")
    run_id = staging.create_run("sequence", {"epochs": 6})
    staging.claim(run_id, os.getpid(), None)

    def epoch(n: int) -> None:
        m = {"train_loss": 1.0 / n}
        staging.log_epoch(run_id, n, m, EpochMetrics(run_id, n, 6, m, 0.1, 0.0, n / 6))

    epoch(1)
    # the run trains on between the forwarder's reads: here, right after it reads the records, to its end
    read = staging.records

    def records_then_the_run_goes_on(*args, **kwargs):
        out = read(*args, **kwargs)
        if staging.get(run_id).status == "running":
            for n in range(2, 7):
                epoch(n)
            staging.emit(RunEnded(run_id, "finished", {"train_loss": 1 / 6}, 1.0, 6))
            staging.finish(run_id, "finished", {"train_loss": 1 / 6}, 1.0, 6)
        return out

    monkeypatch.setattr(staging, "records", records_then_the_run_goes_on)
    mailbox = Mailbox()
    forwarder = ray_relay.Forwarder(staging, run_id, mailbox)
    fields = dict(zip(Store.PROCESS_FIELDS, range(len(Store.PROCESS_FIELDS))))

    def consistent() -> bool:
        """Every row sent so far counts no more epochs than were sent, and says finished only after the end."""
        sent = 0
        ended = False
        for entry in mailbox.entries:
            sent += entry[0] == "epoch"
            ended |= entry[0] == "event" and entry[1] == "RunEnded"
            if entry[0] == "row":
                row = entry[1]
                if row[fields["epochs"]] > sent or (row[fields["status"]] == "finished" and not ended):
                    return False
        return True

    assert [e["epoch"] for e in forwarder.forward()] == [1]
    assert consistent()  # a trial stopped here leaves its run at one epoch, running, in the sweep's store
    assert [e["epoch"] for e in forwarder.forward(ended=True)] == [2, 3, 4, 5, 6]
    assert consistent()
    rows = [e[1] for e in mailbox.entries if e[0] == "row"]
    assert rows[-1][fields["status"]] == "finished" and rows[-1][fields["epochs"]] == 6
