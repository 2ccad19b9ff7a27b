"""The CLI's commands on another machine's runs: ``runs --host gpu1``, and ``show``, ``watch``, ``pause``,
``resume``, ``stop``, ``delete``, ``report`` of ``gpu1:RUN``. Each opens one link (``remote``), does its work
through the host's ``serve`` and closes it: run names travel as data, never in a shell line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from . import hosts, jsonout, paths, settings, wire
from .errors import LabdeckError
from .events import BatchMetrics, EpochTable, Event, MetricSeries, RunEnded, to_record
from .feed import EventsUpdate, RunsUpdate, Update
from .formatting import fmt, format_event, run_line
from .names import printable
from .remote import Link, State, unpack_report
from .status import ACTIVE, Status
from .store import RunInfo

LINK_SECONDS = 30.0  # for a host's first answer


class HostDown(LabdeckError):
    """A host that could not be linked: its status line, exit 1."""


def configured() -> dict[str, hosts.Host]:
    """The hosts of the settings file; a wrong entry is said on stderr and left out."""
    chosen = settings.load(paths.settings())
    if chosen.problem:
        print(f"labdeck: warning: {chosen.problem}", file=sys.stderr)
    return chosen.hosts


def _link(host: hosts.Host, on_update: Any = lambda update: None) -> Link:
    link = Link(host, on_update).start()
    status = link.wait_live(LINK_SECONDS)
    if status.state != State.LIVE:
        link.close()
        raise HostDown(status.detail or f"{host.name} is {status.state}")
    return link


def main(a: argparse.Namespace) -> int:
    if a.command == "runs":
        return _runs(a)
    name, run_id = hosts.split(a.run)
    (host,) = hosts.chosen([name], configured())
    if a.command == "watch":
        return _watch(host, run_id, a.json)
    link = _link(host)
    try:
        if a.command == "show":
            return _print_cli(link.call("cli", argv=["show", run_id, *(["--json"] if a.json else [])]))
        if a.command == "report":
            return _report(link, host, run_id, a)
        done = link.call(a.command, run=run_id)
        qualified = hosts.qualify(host.name, done)
        print(jsonout.dumps({"action": a.command, "run_id": qualified}) if a.json else f"{a.command}: {qualified}")
        return 0
    finally:
        link.close()


def _print_cli(result: dict[str, Any]) -> int:
    sys.stdout.write(str(result.get("stdout", "")))
    sys.stderr.write(str(result.get("stderr", "")))
    return int(result.get("code", 1))


def _runs(a: argparse.Namespace) -> int:
    """Each host's runs, newest first, as ``labdeck runs`` lists this machine's, with ids as HOST:RUN."""
    chosen = hosts.chosen(a.host, configured())
    listed: list[RunInfo] = []
    worst = 0
    for host in chosen:
        try:
            link = _link(host)
        except HostDown as exc:
            print(f"labdeck: {exc}", file=sys.stderr)
            worst = 1
            continue
        try:
            argv = ["runs", *(["--experiment", a.experiment] if a.experiment else []), "--json"]
            result = link.call("cli", argv=argv)
        finally:
            link.close()
        if result["code"] != 0:
            sys.stderr.write(str(result.get("stderr", "")))
            worst = max(worst, int(result["code"]))
            continue
        listed += [wire.info_in(run, host.name) for run in json.loads(result["stdout"] or "[]")]
    listed.sort(key=lambda i: i.created, reverse=True)  # newest first, whichever host
    if a.json:
        print(jsonout.dumps([{**i.to_json(), "run_id": i.id, "host": i.where} for i in listed]))
    elif not listed and not worst:
        print(f"no runs on {', '.join(h.name for h in chosen)}")
    for info in [] if a.json else listed:
        print(run_line(info))
    return worst


def _watch(host: hosts.Host, run_id: str, as_json: bool) -> int:
    """Follow a host's run to its end: its events as they come, then its status (exit 1 if it failed)."""
    import queue

    updates: queue.Queue[Update] = queue.Queue()
    link = _link(host, updates.put)
    status = ""
    printer = _Printer(as_json)
    try:
        link.follow(run_id)
        qualified = hosts.qualify(host.name, run_id)
        while True:
            update = updates.get()
            if isinstance(update, RunsUpdate):
                info = next((i for i in update.changed if i.id == qualified), None)
                if info is not None:
                    status = info.status
                elif update.full and qualified not in {i.id for i in update.changed}:
                    raise LabdeckError(f"no run {run_id} on {host.name}")
            elif isinstance(update, EventsUpdate) and update.run_id == qualified:
                for event in update.events:
                    printer(event)
                    if isinstance(event, RunEnded):
                        status = event.status
            if status and status not in ACTIVE:
                break
    finally:
        link.close()
    print(jsonout.dumps({"kind": "result", "run_id": qualified, "status": status}) if as_json
          else f"run {qualified} is {status}")
    return 1 if status in (Status.FAILED, Status.INTERRUPTED) else 0


PROGRESS_SECONDS = 1.0  # a script's run: its last step and values, at most this often (as the local watch)


class _Printer:
    """A host's run's events as ``labdeck watch`` prints a local one's: lines (or JSON lines), and for a script's
    run a progress line of its last step and values each second it logged something."""

    def __init__(self, as_json: bool):
        self.as_json, self.next_progress = as_json, 0.0

    def __call__(self, event: Event) -> None:
        if isinstance(event, MetricSeries):
            self._progress(event)
        elif isinstance(event, EpochTable):
            return  # a long history's older epochs: the last ones follow as events
        elif self.as_json:
            kind, payload = to_record(event)
            print(jsonout.dumps({"kind": kind, "run_id": event.run_id, **payload}), flush=True)
        elif not isinstance(event, BatchMetrics) and (line := format_event(event, False)):
            print(line, flush=True)

    def _progress(self, series: MetricSeries) -> None:
        now = time.monotonic()
        last = {k: ys[-1] for k, (xs, ys) in series.series.items() if ys and k != "train_seconds"}
        if now < self.next_progress or not last:
            return
        self.next_progress = now + PROGRESS_SECONDS
        step = int(max(xs[-1] for xs, _ in series.series.values() if xs))
        if self.as_json:
            print(jsonout.dumps({"kind": "progress", "run_id": series.run_id, "step": step, "metrics": last}),
                  flush=True)
        else:
            print(f"step {step}  " + "  ".join(f"{printable(k, 40)} {fmt(v)}" for k, v in last.items()), flush=True)


def _report(link: Link, host: hosts.Host, run_id: str, a: argparse.Namespace) -> int:
    """Written on the host (in its home's reports folder) and copied back into ``--out``."""
    done = link.call("report", timeout=600, target=run_id, copy=True)
    path = unpack_report(done["files"], Path(a.out))
    print(jsonout.dumps({"report": str(path), "written": hosts.qualify(host.name, done["path"])}) if a.json else path)
    return 0
