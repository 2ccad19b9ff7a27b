"""The run store: SQLite (WAL) for runs, parameters, metrics and events, plus a folder per run for files.

Many processes may write at once (each run is its own process); every write is a short transaction, so a
``kill -9`` at any moment loses nothing that was committed before it.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from . import faults, jsonout, paths, schema
from .errors import RunBusy, RunNotFound, StoreError, StoreMissing
from .events import EpochTable, Event, MetricSeries, from_record, to_record
from .filesystems import is_network, mounted_type
from .procs import process_alive
from .status import ACTIVE, RESUMABLE, Status

if TYPE_CHECKING:
    import numpy as np

CHECKPOINT = "checkpoint.pt"

HOST = socket.gethostname()


def is_local(host: str) -> bool:
    """Whether a process recorded on ``host`` is one of this machine's ("": a run from before hosts were recorded)."""
    return host in ("", HOST)


T = TypeVar("T")


def _series_table() -> ModuleType:
    from . import series_table  # NumPy: the dashboard's first frame does not wait for it

    return series_table


def _json_dict(text: str) -> dict[str, Any]:
    """A JSON object from the store; a damaged cell reads as empty rather than failing every listing."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _private_dir(path: Path) -> None:
    """Create ``path`` (and its parents) readable by this user only, whatever the umask."""
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path, 0o700)  # mkdir's mode is masked by the umask


def _why(home: Path, exc: Exception) -> str:
    """What a failed open or write of the store means for the user: a read-only or full file system says so
    (SQLite says only "unable to open database file" or "disk I/O error")."""
    code = getattr(exc, "errno", None)
    path = home
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        fs = os.statvfs(path)
    except OSError:
        fs = None
    if code == errno.EROFS or (fs is not None and fs.f_flag & os.ST_RDONLY):
        return f"its file system is read-only ({exc})"
    if code in (errno.ENOSPC, errno.EDQUOT) or (fs is not None and fs.f_bavail * fs.f_frsize < _FULL):
        return f"its disk is full ({exc})"
    if _damaged(exc):
        return DAMAGED.format(db=home / "labdeck.db", exc=exc)
    return str(exc)


DAMAGED = ("its file is damaged ({exc}): nothing more is written to it; copy {db} aside and recover what it holds "
           "with: sqlite3 {db} .recover | sqlite3 recovered.db (or set LABDECK_HOME to a new folder)")


def _damaged(exc: Exception) -> bool:
    """Whether SQLite found the store's file corrupt (bytes changed under it)."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.DatabaseError) and ("malformed" in text or "not a database" in text
                                                       or "corrupt" in text)


_FULL = 1 << 20  # less free space than this is a full disk: SQLite cannot even write its journal


def default_home() -> Path:
    """``$LABDECK_HOME`` or the user's data directory."""
    return paths.home()


@dataclass(frozen=True)
class AlertRecord:
    """What the watchdog told about a run (plain values: the dashboard and ``labdeck alerts`` show it)."""

    id: int
    run_id: str
    rule: str
    message: str
    action: str
    t: float
    delivered: str  # "" not yet, "sent", "none" (no target configured), or why it failed


@dataclass(frozen=True)
class RunInfo:
    id: str
    experiment: str
    status: str
    params: dict[str, Any]
    created: float
    ended: float | None
    pid: int | None
    message: str
    metrics: dict[str, float]
    train_seconds: float
    epochs: int
    device: str
    control: str
    sweep: str | None = None
    budget: float | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    host: str = ""  # the machine whose process ``pid`` is (a Ray trial may train on another node)
    name: str = ""  # a script's name for its run (``labdeck.init(name=...)``)
    budget_kind: str = "wall"  # what ``budget`` counts: the whole run's seconds, or its training's (``budget.py``)
    meta: dict[str, Any] = field(default_factory=dict)  # what reproduces a script's run: command, commit, versions
    points: int = 0  # metric points stored
    where: str = ""  # the labdeck host whose store holds the run ("" this machine's; see engine/hosts.py)

    @property
    def asked(self) -> dict[str, Any]:
        """The parameters as the user gave them: ``params`` holds what trained (a recipe fills in ``width=0``)."""
        asked = self.meta.get("asked")
        return asked if isinstance(asked, dict) else self.params

    @property
    def local(self) -> bool:
        """Whether ``pid`` is a process of this machine (it can be checked and signalled from here)."""
        return not self.where and is_local(self.host)

    def to_json(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in (
            "id", "experiment", "status", "params", "created", "ended", "pid", "message", "metrics",
            "train_seconds", "epochs", "device", "sweep", "budget", "budget_kind", "host", "name", "meta", "points")}
        out["run_id"] = out.pop("id")
        if out["status"] not in ACTIVE:
            out["pid"] = None
        out["history"] = self.history
        return out


class Store:
    """Access to one labdeck home: ``home/labdeck.db`` and ``home/runs/<id>/``."""

    def __init__(self, home: str | os.PathLike[str] | None = None, read_only: bool = False):
        """``read_only``: open an existing store without writing anything (a read-only or full file system)."""
        self.home = Path(home) if home else default_home()
        self.read_only = read_only
        self.warning = ""  # what the user should know about this store (it is on a network file system)
        self._lock = threading.RLock()  # a snapshot's body reads through the same methods
        self._runners: dict[str, tuple[float, bool]] = {}  # sweep id -> (when looked up, its runner alive)
        self._ray_sweeps: dict[str, bool] = {}  # sweep id -> its trials run on Ray
        self._memory: sqlite3.Connection | None = None  # an old read-only store, brought up to date in memory
        self._uri = f"{(self.home / 'labdeck.db').resolve().as_uri()}?mode=ro"  # how a second reader opens it
        if read_only:
            self._db = self._open_read_only()
            return
        try:
            _private_dir(self.home)
            _private_dir(self.home / "runs")
            db = self.home / "labdeck.db"
            if not db.exists():
                os.close(os.open(db, os.O_CREAT | os.O_WRONLY, 0o600))  # private whatever the umask
            self._db = sqlite3.connect(db, timeout=30, isolation_level=None, check_same_thread=False)
            self.warning = self._journal()
            # every commit on the disk before it returns: a power loss loses no epoch that was reported
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            # a damaged page is found as it is read, before a write builds on it
            self._db.execute("PRAGMA cell_size_check=ON")
            schema.migrate(self._db, str(self.home))
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the run store at {self.home}: {_why(self.home, exc)}") from None

    def _journal(self) -> str:
        """WAL on a local disk; SQLite's rollback journal on a network file system, where WAL is unsafe (its
        readers and writers on different hosts can corrupt the store). Returns a warning for the user, or ""."""
        fstype = mounted_type(self.home)
        if not is_network(fstype):
            self._db.execute("PRAGMA journal_mode=WAL")
            # a burst of writes (a million-step run) grows the WAL; after each checkpoint it shrinks back to this
            self._db.execute(f"PRAGMA journal_size_limit={16 << 20}")
            return ""
        try:
            mode = self._db.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
        except sqlite3.OperationalError:  # leaving WAL needs the store to itself
            mode = self._db.execute("PRAGMA journal_mode").fetchone()[0]
        how = ("SQLite's rollback journal, not WAL" if mode == "delete" else
               "WAL still, as another process has it open: close the other labdeck processes")
        return (f"the run store {self.home} is on a network file system ({fstype}): using {how}, which is slower; "
                "set LABDECK_HOME to a local disk (Ray sweeps need no shared home)")

    @classmethod
    def for_reading(cls, home: str | os.PathLike[str] | None = None, must_exist: bool = False) -> Store:
        """The store, opened for writing if it can be, else read-only: listing and showing runs work on a
        read-only or full home too (writes then fail with one line). ``must_exist``: a home without a store is an
        error (StoreMissing), not a new empty store (a mistyped --home)."""
        if must_exist:
            where = Path(home) if home else default_home()
            if not (where / "labdeck.db").is_file():
                raise StoreMissing(f"no labdeck store at {where} (nothing has run there; check --home or "
                                   "LABDECK_HOME)")
        try:
            return cls(home)
        except StoreError:
            return cls(home, read_only=True)

    def _open_read_only(self) -> sqlite3.Connection:
        db = self.home / "labdeck.db"
        if not db.is_file():
            raise StoreError(f"cannot open the run store at {self.home}: no labdeck.db there")
        last: Exception | None = None
        # mode=ro still needs the WAL index (-shm) to be there or creatable; immutable=1 reads the file as it is
        for query in ("mode=ro", "mode=ro&immutable=1"):
            try:
                self._uri = f"{db.resolve().as_uri()}?{query}"
                conn = sqlite3.connect(self._uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False)
                conn.execute("SELECT COUNT(*) FROM runs").fetchone()
                if schema.check_readable(conn, str(self.home)) < schema.VERSION:
                    # an older store it may not change: read from a copy in memory, brought up to this version
                    copy = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
                    conn.backup(copy)
                    conn.close()
                    schema.migrate(copy, str(self.home))
                    conn = self._memory = copy
                return conn
            except sqlite3.Error as exc:
                last = exc
        raise StoreError(f"cannot open the run store at {self.home}: {last}")

    def close(self) -> None:
        self._db.close()

    # -- low level -------------------------------------------------------------------------
    def _writable(self) -> None:
        if self.read_only:
            raise StoreError(f"the run store at {self.home} is read-only here (a read-only or full file system): "
                             "listing and showing runs work, changing them does not")

    def _write(self, sql: str, args: tuple[Any, ...] = (), many: list[tuple[Any, ...]] | None = None) -> sqlite3.Cursor:
        self._writable()
        with self._lock:
            try:
                if many is not None:
                    return self._db.executemany(sql, many)
                return self._db.execute(sql, args)
            except sqlite3.Error as exc:
                raise StoreError(f"run store write failed ({self.home}): {_why(self.home, exc)}") from None

    def _tx(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Run several writes atomically."""
        def body(db: sqlite3.Connection) -> None:
            for sql, args in statements:
                db.execute(sql, args)
                faults.point("store-transaction")

        self._atomic(body)

    def _atomic(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``body(db)`` in one write transaction (other processes wait): a check and the write it allows."""
        self._writable()
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    result = body(self._db)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
                return result
            except sqlite3.Error as exc:
                raise StoreError(f"run store write failed ({self.home}): {_why(self.home, exc)}") from None

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"run store read failed ({self.home}): {_why(self.home, exc)}") from None

    @property
    def journal_mode(self) -> str:
        """"wal", or "delete" where the file system cannot share WAL's memory map safely (a network one)."""
        return str(self._read("PRAGMA journal_mode")[0][0])

    def check(self) -> str:
        """SQLite's quick check of the whole file: "" when sound, else what a user should know and do."""
        try:
            found = [r for (r,) in self._read("PRAGMA quick_check(5)")]
        except StoreError as exc:
            return str(exc)
        if found == ["ok"]:
            return ""
        said = " ".join("; ".join(found).split())  # SQLite's findings, on one line
        said = said if len(said) <= 160 else said[:159] + "…"
        return f"the run store at {self.home}: " + DAMAGED.format(db=self.home / "labdeck.db", exc=said)

    # -- runs --------------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        return self.home / "runs" / run_id

    def checkpoint_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / CHECKPOINT

    def create_run(self, experiment: str, params: dict[str, Any], budget: float | None = None,
                   sweep: str | None = None, run_id: str | None = None, created: float | None = None,
                   name: str = "", budget_kind: str = "wall") -> str:
        """Record a queued run; ``run_id`` and ``created`` are for imports and reproducible fixtures."""
        created = time.time() if created is None else created
        chosen = run_id
        for _ in range(100):
            # the second it was created and 4 random hex digits: a sweep's trials created in one second can draw
            # the same digits (a 1 in 10 chance for 100 trials), so a taken id is drawn again
            run_id = chosen or time.strftime("%y%m%d-%H%M%S", time.localtime(created)) + "-" + secrets.token_hex(2)
            inserted = self._write("INSERT OR IGNORE INTO runs (id, experiment, status, params, created, sweep, "
                                   "budget, name, budget_kind) VALUES (?,?,?,?,?,?,?,?,?)",
                                   (run_id, experiment, Status.QUEUED, jsonout.dumps(params), created, sweep, budget,
                                    name, budget_kind))
            if inserted.rowcount == 1:
                break
            if chosen:
                raise StoreError(f"a run {run_id!r} is already in {self.home}")
        else:
            raise StoreError(f"no free run id for {time.ctime(created)} in {self.home}")
        _private_dir(self.run_dir(run_id))
        return run_id

    def claim(self, run_id: str, pid: int, pid_start: float | None, device: str = "") -> None:
        """Mark the run as running in process ``pid`` of this machine; refused (RunBusy) while another live process
        has it, so that two workers never train one run."""
        def body(db: sqlite3.Connection) -> None:
            row = db.execute("SELECT status, pid, pid_start, host FROM runs WHERE id=?", (run_id,)).fetchone()
            if row and row[0] in (Status.RUNNING, Status.PAUSED) and row[1] not in (None, pid) and is_local(row[3]) \
                    and process_alive(row[1], row[2]):
                raise RunBusy(f"run {run_id} is already {row[0]} in process {row[1]}")
            # a stop asked for before the worker got here stays asked for; a pause does not outlive a restart, but
            # does outlive the worker's own second claim (with its device, once the data is loaded)
            db.execute("UPDATE runs SET status='running', pid=?, pid_start=?, host=?, message='', ended=NULL, "
                       "device=?, control=CASE WHEN control='stop' THEN 'stop' "
                       "WHEN control='pause' AND pid=? AND host=? THEN 'pause' ELSE 'run' END WHERE id=?",
                       (pid, pid_start, HOST, device, pid, HOST, run_id))

        self._atomic(body)

    def requeue(self, run_id: str) -> str | None:
        """Queue an ended run again (a resume), unless it is active: in one transaction, so that of two resumes at
        once one wins. Returns None, or the status that refused it."""
        def body(db: sqlite3.Connection) -> str | None:
            row = db.execute(f"SELECT {self._COLS} FROM runs WHERE id=?", (run_id,)).fetchone()
            status = self._info(row).status if row else "deleted"
            if status not in RESUMABLE:
                return status
            db.execute("UPDATE runs SET status='queued', pid=NULL, pid_start=NULL, message='', control='run' "
                       "WHERE id=?", (run_id,))
            return None

        return self._atomic(body)

    def set_process(self, run_id: str, pid: int, pid_start: float | None) -> None:
        self._write("UPDATE runs SET pid=?, pid_start=?, host=? WHERE id=?", (pid, pid_start, HOST, run_id))

    def set_status(self, run_id: str, status: str, message: str | None = None) -> None:
        if message is None:
            self._write("UPDATE runs SET status=? WHERE id=?", (status, run_id))
        else:
            self._write("UPDATE runs SET status=?, message=? WHERE id=?", (status, message, run_id))

    def finish(self, run_id: str, status: str, metrics: dict[str, float], train_seconds: float,
               epochs: int, message: str = "") -> None:
        self._write("UPDATE runs SET status=?, metrics=?, train_seconds=?, epochs=?, message=?, ended=?, "
                    "control='run' WHERE id=?",
                    (status, jsonout.dumps(metrics), train_seconds, epochs, message, time.time(), run_id))

    def request(self, run_id: str, control: str) -> None:
        """Ask a live run to ``pause``, ``stop`` or ``run`` (resume); the run polls this."""
        self._write("UPDATE runs SET control=? WHERE id=?", (control, run_id))

    def control(self, run_id: str) -> str:
        rows = self._read("SELECT control FROM runs WHERE id=?", (run_id,))
        return rows[0][0] if rows else "stop"

    def delete_run(self, run_id: str) -> None:
        self.get(run_id)
        self._tx([("DELETE FROM events WHERE run_id=?", (run_id,)),
                  ("DELETE FROM series WHERE run_id=?", (run_id,)),
                  ("DELETE FROM alerts WHERE run_id=?", (run_id,)),
                  ("DELETE FROM runs WHERE id=?", (run_id,))])
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)

    # -- alerts (engine/alerts.py) -------------------------------------------------------------------------------
    def add_alert(self, run_id: str, rule: str, message: str, action: str = "notify") -> AlertRecord | None:
        """Record that ``rule`` fired for a run; None if it had already (each rule tells once per run)."""
        now = time.time()
        cur = self._write("INSERT OR IGNORE INTO alerts (run_id, rule, message, action, t) VALUES (?,?,?,?,?)",
                          (run_id, rule, message, action, now))
        if cur.rowcount != 1 or cur.lastrowid is None:
            return None
        return AlertRecord(cur.lastrowid, run_id, rule, message, action, now, "")

    def alerts(self, after: int = 0, run_id: str | None = None, limit: int = 1000, undelivered: bool = False
               ) -> list[AlertRecord]:
        """Alerts recorded after alert id ``after`` (of one run, or all; only those not yet delivered off the
        machine), oldest first."""
        where, args = ("AND run_id=?", (run_id,)) if run_id else ("", ())
        if undelivered:
            where += " AND delivered=''"
        rows = self._read(f"SELECT id, run_id, rule, message, action, t, delivered FROM alerts WHERE id>? {where} "
                          "ORDER BY id LIMIT ?", (after, *args, limit))
        return [AlertRecord(*row) for row in rows]

    def last_alert(self) -> int:
        """The newest alert's id (0: none): where a follower that wants only new ones starts."""
        return int(self._read("SELECT COALESCE(MAX(id), 0) FROM alerts")[0][0])

    def set_delivered(self, alert_id: int, how: str) -> None:
        """How the alert's delivery off the machine went ("sent", or why not)."""
        self._write("UPDATE alerts SET delivered=? WHERE id=?", (how, alert_id))

    _COLS = ("id, experiment, status, params, created, ended, pid, pid_start, message, metrics, "
             "train_seconds, epochs, device, control, sweep, budget, host, name, meta, points, budget_kind")

    def _info(self, row: tuple[Any, ...], history: dict[str, list[float]] | None = None) -> RunInfo:
        (rid, exp, status, params, created, ended, pid, pid_start, message, metrics, secs, epochs, device,
         control, sweep, budget, host, name, meta, points, budget_kind) = row
        # A queued run without a process yet (a sweep's later trial) waits; one whose process died is interrupted.
        # A Ray trial's row is its driver's to keep: the process it names, on any node, is a staging store's and
        # ends a moment before the driver hears how, so its status stands while the driver lives and no longer.
        if status in ACTIVE and sweep and self._relayed(sweep):
            if not self._sweep_runner_alive(sweep):
                status = Status.INTERRUPTED
        elif (status in ACTIVE and not (status == Status.QUEUED and pid is None) and is_local(host)
                and not process_alive(pid, pid_start)):
            status = Status.INTERRUPTED
        elif status == Status.QUEUED and pid is None and sweep and not self._sweep_runner_alive(sweep):
            status = Status.INTERRUPTED  # a trial whose sweep's runner died: nothing will ever start it
        return RunInfo(rid, exp, status, _json_dict(params), created, ended, pid, message, _json_dict(metrics),
                       secs, epochs, device, control, sweep, budget, history or {}, host, name, budget_kind,
                       _json_dict(meta), points)

    def set_sweep_options(self, sweep: str, options: dict[str, Any]) -> None:
        (self.home / f"{sweep}.options").write_text(json.dumps(options))

    def sweep_options(self, sweep: str) -> dict[str, Any]:
        """How the sweep was asked to run (empty for a local sweep of an older version)."""
        try:
            saved = json.loads((self.home / f"{sweep}.options").read_text())
        except (OSError, ValueError):
            return {}
        return saved if isinstance(saved, dict) else {}

    def _relayed(self, sweep: str) -> bool:
        """Whether the sweep's trials run on Ray, their records carried here by its driver."""
        if (relayed := self._ray_sweeps.get(sweep)) is None:
            options = self.sweep_options(sweep)
            relayed = options.get("backend") == "ray"
            if options:  # written just after the trials: until then, asked again
                self._ray_sweeps[sweep] = relayed
        return relayed

    def _sweep_runner_alive(self, sweep: str) -> bool:
        """Whether the process that starts a sweep's trials is alive (looked up at most once a second)."""
        now = time.monotonic()
        cached = self._runners.get(sweep)
        if cached is not None and now - cached[0] < 1.0:
            return cached[1]
        try:
            pid, start = json.loads((self.home / f"{sweep}.runner").read_text())
            alive = process_alive(pid, start)
        except (OSError, ValueError, TypeError):
            alive = False
        self._runners[sweep] = (now, alive)
        return alive

    def get(self, run_id: str, history: bool = False) -> RunInfo:
        rows = self._read(f"SELECT {self._COLS} FROM runs WHERE id=?", (run_id,))
        if not rows:
            # Allow an unambiguous prefix, as people type short ids.
            # a plain prefix: LIKE would read "%" and "_" in what the user typed as wildcards
            rows = self._read(f"SELECT {self._COLS} FROM runs WHERE substr(id, 1, ?) = ?", (len(run_id), run_id))
            if len(rows) != 1:
                raise RunNotFound(f"no run {run_id!r} in {self.home}" if not rows else
                                  f"{run_id!r} matches {len(rows)} runs; type more of the id")
        info = self._info(rows[0])
        if history:
            info = self._info(rows[0], self.history(info.id))
        return info

    def changed_since(self, rev: int) -> tuple[int, int, list[RunInfo]]:
        """The runs changed (or added) since revision ``rev``: (the store's revision now, runs deleted ever, those
        runs), read in one snapshot. A reader that keeps the revision lists only what changed."""
        def body(db: sqlite3.Connection) -> tuple[int, int, list[RunInfo]]:
            now, removed = db.execute("SELECT rev, removed FROM clock").fetchone()
            rows = db.execute(f"SELECT {self._COLS} FROM runs WHERE rev > ? ORDER BY rev", (rev,)).fetchall()
            return now, removed, [self._info(r) for r in rows]

        return self._snapshot(body)

    def some(self, run_ids: list[str]) -> list[RunInfo]:
        """These runs as they are now (those that still exist)."""
        out: list[RunInfo] = []
        for i in range(0, len(run_ids), 500):
            part = run_ids[i:i + 500]
            out += [self._info(r) for r in self._read(
                f"SELECT {self._COLS} FROM runs WHERE id IN ({','.join('?' * len(part))})", tuple(part))]
        return out

    def run_ids(self) -> set[str]:
        return {r for (r,) in self._read("SELECT id FROM runs")}

    def runs(self, experiment: str | None = None) -> list[RunInfo]:
        if experiment:
            rows = self._read(f"SELECT {self._COLS} FROM runs WHERE experiment=? ORDER BY created", (experiment,))
        else:
            rows = self._read(f"SELECT {self._COLS} FROM runs ORDER BY created")
        return [self._info(r) for r in rows]

    # -- metrics and events -----------------------------------------------------------------
    def log_epoch(self, run_id: str, epoch: int, metrics: dict[str, float], event: Event) -> None:
        kind, payload = to_record(event)
        self._atomic(lambda db: self._epoch(db, run_id, epoch, metrics, (kind, json.dumps(payload), time.time())))

    @staticmethod
    def _epoch(db: sqlite3.Connection, run_id: str, epoch: int, metrics: dict[str, float],
               record: tuple[str, str, float]) -> None:
        import numpy as np

        added = 0
        for key, value in metrics.items():
            added += _series_table().append(db, run_id, key, np.array([epoch], np.int64), np.array([float(value)]))
            faults.point("store-transaction")
        db.execute("INSERT INTO events (run_id, kind, payload, t) VALUES (?,?,?,?)", (run_id, *record))
        # the run's row counts epochs as they arrive: `labdeck runs` and `show` are live, not only at the end
        db.execute("UPDATE runs SET epochs=?, train_seconds=?, points=points+? WHERE id=?",
                   (epoch, float(metrics.get("train_seconds", 0.0)), added, run_id))

    def append_points(self, run_id: str, points: dict[str, tuple[Any, ...]], last_step: int,
                      train_seconds: float) -> None:
        """Add metric points, ``{key: (steps, values)}`` as NumPy arrays (steps non-decreasing), in one
        transaction with the run's row (its last step and training time)."""
        def body(db: sqlite3.Connection) -> None:
            table = _series_table()
            added = sum(table.append(db, run_id, key, steps, values) for key, (steps, values) in points.items())
            db.execute("UPDATE runs SET epochs=MAX(epochs, ?), train_seconds=?, points=points+? WHERE id=?",
                       (last_step, train_seconds, added, run_id))

        self._atomic(body)

    def emit(self, event: Event) -> int:
        kind, payload = to_record(event)
        cur = self._write("INSERT INTO events (run_id, kind, payload, t) VALUES (?,?,?,?)",
                          (event.run_id, kind, json.dumps(payload), time.time()))
        return cur.lastrowid or 0

    def history(self, run_id: str) -> dict[str, list[float]]:
        """A short run's metrics side by side: ``{"epoch": [1, 2, ...], "train_loss": [...], ...}`` (NaN where a
        metric has no value at that step). A long run's are read in blocks (:meth:`blocks`) or decimated."""
        keys = list(self.series_keys(run_id))
        out: dict[str, list[float]] = {"epoch": [], **{k: [] for k in keys}}
        for steps, columns in self.blocks(run_id, keys):
            out["epoch"] += steps.astype(float).tolist()
            for key, (values, _present) in columns.items():
                out[key] += values.tolist()
        return out

    def series_keys(self, run_id: str) -> dict[str, dict[str, Any]]:
        """Each metric of a run, in the order first logged: points, first and last step, min, max, last value."""
        with self._lock:
            try:
                keys: dict[str, dict[str, Any]] = _series_table().keys(self._db, run_id)
                return keys
            except sqlite3.Error as exc:
                raise StoreError(f"run store read failed ({self.home}): {exc}") from None

    def points(self, run_id: str, key: str, after: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """A metric's points from point index ``after`` on: (steps, values) NumPy arrays."""
        with self._lock:
            try:
                points: tuple[np.ndarray, np.ndarray] = _series_table().read(self._db, run_id, key, after)
                return points
            except sqlite3.Error as exc:
                raise StoreError(f"run store read failed ({self.home}): {exc}") from None

    def decimated(self, run_id: str, keys: list[str] | None = None, buckets: int = 1000
                  ) -> dict[str, tuple[Any, Any, int]]:
        """Metrics ready to plot, however long the run: ``{key: (steps, values, points it stands for)}`` with a
        min and a max per bucket (spikes kept) and NaN where a bucket held a gap; read in one snapshot."""
        def body(db: sqlite3.Connection) -> dict[str, tuple[Any, Any, int]]:
            names = keys if keys is not None else [k for (k,) in db.execute(
                "SELECT key FROM series WHERE run_id=? GROUP BY key ORDER BY MIN(rowid)", (run_id,))]
            return {k: _series_table().decimated(db, run_id, k, buckets) for k in names}

        return self._snapshot(body)

    def blocks(self, run_id: str, keys: list[str]
               ) -> Iterator[tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]]:
        """A run's metrics side by side in step order, a block at a time (``_series_table().blocks``): an export of a
        million steps in flat memory. Reads a snapshot: points logged meanwhile are not in it."""
        conn = self._reader()
        try:
            conn.execute("BEGIN")
            yield from _series_table().blocks(conn, run_id, keys)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"run store read failed ({self.home}): {exc}") from None
        finally:
            if conn is not self._memory:
                conn.close()

    def _reader(self) -> sqlite3.Connection:
        """A connection of its own, for a long read beside this one's writes (the copy, for an old read-only
        store read from memory)."""
        if self._memory is not None:
            return self._memory
        return sqlite3.connect(self._uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False)

    def _snapshot(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``body(db)`` inside one read transaction: what it reads is one moment of the store (inside another
        snapshot, that one's moment)."""
        with self._lock:
            try:
                if not self._db.in_transaction:
                    self._db.execute("BEGIN")
                    try:
                        return body(self._db)
                    finally:
                        self._db.execute("COMMIT")
                return body(self._db)
            except sqlite3.Error as exc:
                raise StoreError(f"run store read failed ({self.home}): {exc}") from None

    def events(self, run_id: str | None = None, after: int = 0, limit: int = 10_000) -> list[tuple[int, Event]]:
        """Events with id > ``after`` in order, for one run or all runs."""
        sql = "SELECT id, run_id, kind, payload FROM events WHERE id > ?"
        args: list[Any] = [after]
        if run_id:
            sql += " AND run_id = ?"
            args.append(run_id)
        sql += " ORDER BY id LIMIT ?"
        args.append(limit)
        return [(i, from_record(r, k, json.loads(p))) for i, r, k, p in self._read(sql, tuple(args))]

    PLOT_BUCKETS = 1000  # columns a replayed series is decimated to: wider than any terminal, in dots

    def replay(self, run_id: str, batches: int = 4000, logs: int = 500, epochs: int = 500, series: bool = False
               ) -> tuple[int, list[Event]]:
        """What a viewer needs of a run's history (see ``_replay``), read in one snapshot; with ``series`` (a
        script's run, whose metrics are points, not epoch events), its metrics as a :class:`MetricSeries` last."""
        def body(db: sqlite3.Connection) -> tuple[int, list[Event]]:
            last, events = self._replay(run_id, batches, logs, epochs)
            if series:
                events.append(self.metric_series(run_id))
            return last, events

        return self._snapshot(body)

    def metric_series(self, run_id: str, counts: dict[str, int] | None = None) -> MetricSeries:
        """A run's metrics decimated to plot (``counts`` None), or its points after ``counts`` (an append)."""
        if counts is None:
            decimated = self.decimated(run_id, buckets=self.PLOT_BUCKETS)
            return MetricSeries(run_id, {k: (tuple(xs.tolist()), tuple(ys.tolist())) for k, (xs, ys, _) in
                                         decimated.items()}, {k: n for k, (_, _, n) in decimated.items()})

        def body(db: sqlite3.Connection) -> MetricSeries:
            table = _series_table()
            series, now = {}, {}
            for (key,) in db.execute("SELECT DISTINCT key FROM series WHERE run_id=?", (run_id,)).fetchall():
                now[key] = table.count(db, run_id, key)
                if now[key] > counts.get(key, 0):
                    steps, values = table.read(db, run_id, key, counts.get(key, 0))
                    series[key] = (tuple(steps.astype(float).tolist()), tuple(values.tolist()))
            return MetricSeries(run_id, series, now, append=True)

        return self._snapshot(body)

    def progress_marks(self, run_ids: list[str]) -> dict[str, tuple[int, int, int]]:
        """What moves while a run makes progress: its stored points, epochs and newest event (a stall is none of
        them moving)."""
        if not run_ids:
            return {}
        marks = ",".join("?" * len(run_ids))
        rows = self._read(f"SELECT r.id, r.points, r.epochs, (SELECT MAX(e.id) FROM events e WHERE e.run_id = r.id) "
                          f"FROM runs r WHERE r.id IN ({marks})", tuple(run_ids))
        return {rid: (points, epochs, last or 0) for rid, points, epochs, last in rows}

    def points_counts(self, run_ids: list[str]) -> dict[str, int]:
        """How many metric points each run has stored (a viewer reads new ones only when this changes)."""
        if not run_ids:
            return {}
        marks = ",".join("?" * len(run_ids))
        return dict(self._read(f"SELECT id, points FROM runs WHERE id IN ({marks})", tuple(run_ids)))

    def _replay(self, run_id: str, batches: int = 4000, logs: int = 500, epochs: int = 500
                ) -> tuple[int, list[Event]]:
        """What a viewer needs of a run's history, however long it is: every event that says something about the
        run as a whole, the last ``epochs`` epochs, ``batches`` batch points and ``logs`` log lines as events, and
        the phase/checkpoint notes since the last epoch; the epochs before those come as one :class:`EpochTable`,
        in the event's place. Returns (the run's last event id, those events in order)."""
        def nth_last(kind: str, n: int) -> int:
            row = self._read("SELECT id FROM events WHERE run_id=? AND kind=? ORDER BY id DESC LIMIT 1 OFFSET ?",
                             (run_id, kind, max(0, n - 1)))
            return row[0][0] if row else 0

        last = self._read("SELECT COALESCE(MAX(id), 0) FROM events WHERE run_id=?", (run_id,))[0][0]
        since_epoch = self._read("SELECT COALESCE(MAX(id), 0) FROM events WHERE run_id=? "
                                 "AND kind IN ('EpochMetrics', 'RunStarted')", (run_id,))[0][0]
        first_epoch_event = nth_last("EpochMetrics", epochs)
        table, damaged = self._epoch_table(run_id, first_epoch_event) if first_epoch_event else (None, [])
        if table is None:
            first_epoch_event = 0
        # each part on the kind index (for the union's ORDER BY, SQLite would rather scan the whole run)
        pick = "SELECT id, kind, payload FROM events INDEXED BY events_run_kind WHERE run_id=? AND id<=? AND "
        rows = self._read(
            pick + "kind IN ('RunStarted', 'DataSummary', 'Evaluation', 'Predictions', 'StatusChanged', "
            "'RunEnded') UNION ALL " + pick + "kind='EpochMetrics' AND id>=? UNION ALL "
            + pick + "kind='BatchMetrics' AND id>=? UNION ALL " + pick + "kind='LogLine' AND id>=? UNION ALL "
            + pick + "kind IN ('Phase', 'Progress', 'CheckpointSaved') AND id>? ORDER BY id",
            (run_id, last, run_id, last, first_epoch_event, run_id, last, nth_last("BatchMetrics", batches),
             run_id, last, nth_last("LogLine", logs), run_id, last, since_epoch))
        if damaged:  # epochs the table could not hold: read as events, in their place
            marks = ",".join("?" * len(damaged))
            rows = sorted(rows + self._read(f"SELECT id, kind, payload FROM events WHERE id IN ({marks})",
                                            tuple(damaged)))
        events: list[Event] = []
        for event_id, kind, payload in rows:
            if table is not None and event_id >= first_epoch_event:
                events.append(table)  # where the epochs before the last ones would have been
                table = None
            try:
                events.append(from_record(run_id, kind, json.loads(payload)))
            except (ValueError, KeyError, TypeError):
                continue  # a damaged record: the rest of the history still shows
        if table is not None:
            events.append(table)
        return last, events

    def _epoch_table(self, run_id: str, before: int) -> tuple[EpochTable | None, list[int]]:
        """The run's epochs logged before event ``before``, read as columns by SQLite's JSON functions, and the
        ids of the records among them that are not strict JSON (Python writes a NaN loss as ``NaN``): those are
        read as events. (None, []) when a metric's name cannot be written as a JSON path: every epoch is then
        read as an event."""
        keys = [k for (k,) in self._read("SELECT DISTINCT key FROM series WHERE run_id=?", (run_id,))]
        if any(not k.isprintable() or '"' in k or "\\" in k for k in keys):
            return None, []
        columns = "".join(", iif(ok, json_extract(payload, ?), NULL)" for _ in keys)
        rows = self._read("SELECT id, ok, iif(ok, json_extract(payload, '$.epoch'), NULL), "
                          f"iif(ok, json_extract(payload, '$.step'), NULL){columns} FROM "
                          "(SELECT id, payload, json_valid(payload) AS ok FROM events "
                          "WHERE run_id=? AND kind='EpochMetrics' AND id<?) ORDER BY id",
                          # an epoch's training time is a field of its event, not one of its metrics
                          (*[f'$.metrics."{k}"' if k != "train_seconds" else "$.train_seconds" for k in keys],
                           run_id, before))
        damaged = [row[0] for row in rows if not row[1] or row[2] is None]
        if damaged:
            rows = [row for row in rows if row[1] and row[2] is not None]
        if not rows:
            return None, []
        columns_ = list(zip(*rows))
        nan = float("nan")
        metrics = {}
        for key, values in zip(keys, columns_[4:]):
            if any(v is not None for v in values):  # the metrics table also holds keys no event reports
                metrics[key] = tuple(nan if v is None else float(v) for v in values)
        return EpochTable(run_id, tuple(int(e) for e in columns_[2]),
                          tuple(float(s or 0) for s in columns_[3]), metrics), damaged

    # -- carrying a run between stores (a Ray trial's staging store on its node -> the sweep's store) ----------
    # what a run's own process writes into its row (params too: a recipe may fill in what was left to it)
    PROCESS_FIELDS = ("status", "message", "metrics", "train_seconds", "epochs", "ended", "device", "pid",
                      "pid_start", "host", "params")

    def adopt(self, info: dict[str, Any]) -> None:
        """Hold a copy of another store's run record (``RunInfo.to_json()``), queued, without its history."""
        run_id = info["run_id"]
        self._tx([("DELETE FROM events WHERE run_id=?", (run_id,)),
                  ("DELETE FROM series WHERE run_id=?", (run_id,)),
                  ("DELETE FROM alerts WHERE run_id=?", (run_id,)),
                  ("DELETE FROM runs WHERE id=?", (run_id,)),
                  ("INSERT INTO runs (id, experiment, status, params, created, sweep, budget, budget_kind) "
                   "VALUES (?,?,'queued',?,?,?,?,?)",
                   (run_id, info["experiment"], json.dumps(info["params"]), info["created"], info["sweep"],
                    info["budget"], info.get("budget_kind", "wall")))])
        _private_dir(self.run_dir(run_id))

    def set_params(self, run_id: str, params: dict[str, Any]) -> None:
        """A script's run: its parameters, known only after it started (a trainer logs them late)."""
        self._write("UPDATE runs SET params=? WHERE id=?", (jsonout.dumps(params), run_id))

    def set_meta(self, run_id: str, meta: dict[str, Any]) -> None:
        """What reproduces a script's run (its command, git commit, versions)."""
        self._write("UPDATE runs SET meta=? WHERE id=?", (jsonout.dumps(meta), run_id))

    def process_row(self, run_id: str) -> tuple[Any, ...]:
        """The run's row as its process wrote it (no liveness applied): what a staging store forwards."""
        rows = self._read(f"SELECT {', '.join(self.PROCESS_FIELDS)} FROM runs WHERE id=?", (run_id,))
        if not rows:
            raise RunNotFound(f"no run {run_id!r} in {self.home}")
        return rows[0]

    def records(self, run_id: str, after: int = 0, limit: int = 10_000) -> list[tuple[int, str, str, float]]:
        """Stored events as they are: (id, kind, payload JSON, time)."""
        return self._read("SELECT id, kind, payload, t FROM events WHERE run_id=? AND id>? ORDER BY id LIMIT ?",
                          (run_id, after, limit))

    def epoch_values(self, run_id: str, epoch: int) -> dict[str, float]:
        with self._lock:
            values: dict[str, float] = _series_table().step_values(self._db, run_id, epoch)
            return values

    def append(self, run_id: str, entries: list[tuple[Any, ...]]) -> None:
        """Write what another store recorded of ``run_id``, in one transaction: ``("event", kind, payload, t)``,
        ``("epoch", epoch, metrics, kind, payload, t)`` and ``("row", PROCESS_FIELDS values)``."""
        def body(db: sqlite3.Connection) -> None:
            for entry in entries:
                if entry[0] == "event":
                    db.execute("INSERT INTO events (run_id, kind, payload, t) VALUES (?,?,?,?)", (run_id, *entry[1:]))
                elif entry[0] == "epoch":
                    self._epoch(db, run_id, entry[1], entry[2], tuple(entry[3:]))
                elif entry[0] == "row":
                    sets = ", ".join(f"{name}=?" for name in self.PROCESS_FIELDS)
                    db.execute(f"UPDATE runs SET {sets} WHERE id=?", (*entry[1], run_id))
                faults.point("store-transaction")

        self._atomic(body)

    def last_event_id(self) -> int:
        return int(self._read("SELECT COALESCE(MAX(id), 0) FROM events")[0][0])

    def truncate_after_epoch(self, run_id: str, epoch: int) -> None:
        """Forget what a run logged after ``epoch`` (resume from that epoch's checkpoint)."""
        # The checkpoint's own event, or (a kill between the checkpoint's rename and its event) that epoch's metrics;
        # for a checkpoint of epoch 0 (stopped in the first epoch), the start of the attempt that wrote it.
        keep = self._read("SELECT MAX(id) FROM events WHERE run_id=? AND ("
                          "(kind IN ('CheckpointSaved', 'EpochMetrics') AND json_extract(payload, '$.epoch') = ?) "
                          "OR (? = 0 AND kind = 'RunStarted'))", (run_id, epoch, epoch))[0][0] or 0
        def body(db: sqlite3.Connection) -> None:
            dropped = sum(_series_table().truncate(db, run_id, key, epoch) for (key,) in db.execute(
                "SELECT DISTINCT key FROM series WHERE run_id=?", (run_id,)).fetchall())
            db.execute("UPDATE runs SET epochs=MIN(epochs, ?), points=points-? WHERE id=?", (epoch, dropped, run_id))
            db.execute("DELETE FROM events WHERE run_id=? AND id>?", (run_id, keep))

        self._atomic(body)
