"""The serve protocol's messages as JSON lines: the feed's updates and the answers to calls, both ways.

Version ``PROTOCOL``; a peer speaking another one is told so in its first line (``hello``) and the link stops.
Every value is plain JSON: events as (kind, payload), runs as ``RunInfo.to_json``, alerts as their fields.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from .events import EVENT_TYPES, EpochTable, Event, MetricSeries, from_record, to_record
from .feed import AlertsUpdate, EventsUpdate, RunsUpdate, Update
from .hosts import qualify
from .store import AlertRecord, RunInfo

PROTOCOL = 1
_WIRE_EVENTS: dict[str, type[Event]] = {**EVENT_TYPES, "EpochTable": EpochTable, "MetricSeries": MetricSeries}


class WireError(ValueError):
    """A line that is not this protocol's."""


def dumps(message: dict[str, Any]) -> str:
    """One line. NaN and infinities travel as Python's json writes them (both ends are labdeck): a NaN loss is
    news, not null."""
    return json.dumps(message, separators=(",", ":")) + "\n"


def loads(line: str | bytes) -> dict[str, Any]:
    try:
        message = json.loads(line)
    except ValueError as exc:
        raise WireError(f"not a JSON line: {str(line)[:80]!r}") from exc
    if not isinstance(message, dict) or not isinstance(message.get("t"), str):
        raise WireError(f"not a message: {str(line)[:80]!r}")
    return message


# -- events ----------------------------------------------------------------------------------------------------
def event_out(event: Event) -> list[Any]:
    kind, payload = to_record(event)
    return [kind, payload]


def event_in(run_id: str, record: Any) -> Event:
    if not (isinstance(record, list) and len(record) == 2 and record[0] in _WIRE_EVENTS):
        raise WireError(f"not an event: {str(record)[:80]}")
    kind, payload = record[0], record[1]
    if kind == "EpochTable":
        return EpochTable(run_id, tuple(payload["epochs"]), tuple(payload["steps"]),
                          {k: tuple(v) for k, v in payload["metrics"].items()})
    if kind == "MetricSeries":
        return MetricSeries(run_id, {k: (tuple(xs), tuple(ys)) for k, (xs, ys) in payload["series"].items()},
                            dict(payload["counts"]), bool(payload.get("append", False)))
    return from_record(run_id, kind, payload)


# -- runs and alerts -------------------------------------------------------------------------------------------
_INFO_FIELDS = {f.name for f in dataclasses.fields(RunInfo)}


def info_out(info: RunInfo) -> dict[str, Any]:
    out = info.to_json()
    out["control"] = info.control
    return out


def info_in(record: dict[str, Any], where: str = "") -> RunInfo:
    """A host's run as this side's ``RunInfo``: its id and sweep qualified by ``where`` (``gpu1:RUN``)."""
    record = dict(record)
    record["id"] = qualify(where, record.pop("run_id"))
    if record.get("sweep"):
        record["sweep"] = qualify(where, record["sweep"])
    record.setdefault("control", "")
    return RunInfo(**{k: v for k, v in record.items() if k in _INFO_FIELDS}, where=where)


def alert_out(alert: AlertRecord) -> dict[str, Any]:
    return dataclasses.asdict(alert)


def alert_in(record: dict[str, Any], where: str = "") -> AlertRecord:
    record = dict(record)
    record["run_id"] = qualify(where, record["run_id"])
    return AlertRecord(**record)


# -- the feed's updates ----------------------------------------------------------------------------------------
def update_out(update: Update) -> dict[str, Any]:
    if isinstance(update, RunsUpdate):
        return {"t": "runs", "changed": [info_out(i) for i in update.changed], "removed": update.removed,
                "full": update.full}
    if isinstance(update, EventsUpdate):
        return {"t": "events", "run": update.run_id, "cursor": update.cursor, "reset": update.reset,
                "counts": update.counts, "events": [event_out(e) for e in update.events]}
    return {"t": "alerts", "alerts": [alert_out(a) for a in update.alerts], "fresh": update.fresh}


def update_in(message: dict[str, Any], where: str) -> Update:
    """A feed's update from a host, its run ids qualified by ``where``."""
    try:
        if message["t"] == "runs":
            return RunsUpdate([info_in(i, where) for i in message["changed"]],
                              [qualify(where, r) for r in message["removed"]], bool(message.get("full")))
        if message["t"] == "events":
            run_id = qualify(where, message["run"])
            return EventsUpdate(run_id, [event_in(run_id, e) for e in message["events"]], int(message["cursor"]),
                                bool(message.get("reset")), dict(message.get("counts") or {}))
        if message["t"] == "alerts":
            return AlertsUpdate([alert_in(a, where) for a in message["alerts"]], bool(message.get("fresh")))
    except (KeyError, TypeError, ValueError) as exc:
        raise WireError(f"a {message.get('t')} message that does not parse: {exc}") from exc
    raise WireError(f"not an update: {message.get('t')}")
