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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import faults
from .errors import RunBusy, RunNotFound, StoreError
from .events import EpochTable, Event, from_record, to_record
from .filesystems import is_network, mounted_type
from .procs import process_alive

CHECKPOINT = "checkpoint.pt"
ACTIVE = ("queued", "running", "paused")
STATUSES = (*ACTIVE, "finished", "failed", "stopped", "interrupted")

HOST = socket.gethostname()


def is_local(host: str) -> bool:
    """Whether a process recorded on ``host`` is one of this machine's ("": a run from before hosts were recorded)."""
    return host in ("", HOST)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    experiment TEXT NOT NULL,
    status TEXT NOT NULL,
    params TEXT NOT NULL,
    created REAL NOT NULL,
    ended REAL,
    pid INTEGER,
    pid_start REAL,
    control TEXT NOT NULL DEFAULT 'run',
    message TEXT NOT NULL DEFAULT '',
    metrics TEXT NOT NULL DEFAULT '{}',
    train_seconds REAL NOT NULL DEFAULT 0,
    epochs INTEGER NOT NULL DEFAULT 0,
    device TEXT NOT NULL DEFAULT '',
    sweep TEXT,
    budget REAL,
    host TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    key TEXT NOT NULL,
    value REAL,
    PRIMARY KEY (run_id, epoch, key)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    t REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_run ON events(run_id, id);
CREATE INDEX IF NOT EXISTS events_run_kind ON events(run_id, kind, id);
"""


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
    return str(exc)


_FULL = 1 << 20  # less free space than this is a full disk: SQLite cannot even write its journal


def default_home() -> Path:
    """``$LABDECK_HOME`` or the user's data directory."""
    env = os.environ.get("LABDECK_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("labdeck", appauthor=False))


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

    @property
    def local(self) -> bool:
        """Whether ``pid`` is a process of this machine (it can be checked and signalled from here)."""
        return is_local(self.host)

    def to_json(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in (
            "id", "experiment", "status", "params", "created", "ended", "pid", "message", "metrics",
            "train_seconds", "epochs", "device", "sweep", "budget", "host")}
        out["run_id"] = out.pop("id")
        if out["status"] not in ACTIVE:
            out["pid"] = None
        out["history"] = self.history
        return out


class Store:
    """Access to one labdeck home: ``home/labdeck.db`` and ``home/runs/<id>/``."""

    def __init__(self, home: str | os.PathLike | None = None, read_only: bool = False):
        """``read_only``: open an existing store without writing anything (a read-only or full file system)."""
        self.home = Path(home) if home else default_home()
        self.read_only = read_only
        self.warning = ""  # what the user should know about this store (it is on a network file system)
        self._lock = threading.Lock()
        self._runners: dict[str, tuple[float, bool]] = {}  # sweep id -> (when looked up, its runner alive)
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
            self._db.executescript(_SCHEMA)
            if "host" not in {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}:  # a store from 0.1
                self._db.execute("ALTER TABLE runs ADD COLUMN host TEXT NOT NULL DEFAULT ''")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the run store at {self.home}: {_why(self.home, exc)}") from None

    def _journal(self) -> str:
        """WAL on a local disk; SQLite's rollback journal on a network file system, where WAL is unsafe (its
        readers and writers on different hosts can corrupt the store). Returns a warning for the user, or ""."""
        fstype = mounted_type(self.home)
        if not is_network(fstype):
            self._db.execute("PRAGMA journal_mode=WAL")
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
    def for_reading(cls, home: str | os.PathLike | None = None) -> Store:
        """The store, opened for writing if it can be, else read-only: listing and showing runs work on a
        read-only or full home too (writes then fail with one line)."""
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
                conn = sqlite3.connect(f"{db.resolve().as_uri()}?{query}", uri=True, timeout=30,
                                       isolation_level=None, check_same_thread=False)
                conn.execute("SELECT COUNT(*) FROM runs").fetchone()
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

    def _write(self, sql: str, args: tuple = (), many: list[tuple] | None = None) -> sqlite3.Cursor:
        self._writable()
        with self._lock:
            try:
                if many is not None:
                    return self._db.executemany(sql, many)
                return self._db.execute(sql, args)
            except sqlite3.Error as exc:
                raise StoreError(f"run store write failed ({self.home}): {_why(self.home, exc)}") from None

    def _tx(self, statements: list[tuple[str, tuple]]) -> None:
        """Run several writes atomically."""
        def body(db: sqlite3.Connection) -> None:
            for sql, args in statements:
                db.execute(sql, args)
                faults.point("store-transaction")

        self._atomic(body)

    def _atomic(self, body):
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

    def _read(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"run store read failed ({self.home}): {exc}") from None

    # -- runs --------------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        return self.home / "runs" / run_id

    def checkpoint_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / CHECKPOINT

    def create_run(self, experiment: str, params: dict[str, Any], budget: float | None = None,
                   sweep: str | None = None, run_id: str | None = None, created: float | None = None) -> str:
        """Record a queued run; ``run_id`` and ``created`` are for imports and reproducible fixtures."""
        created = time.time() if created is None else created
        chosen = run_id
        for _ in range(100):
            # the second it was created and 4 random hex digits: a sweep's trials created in one second can draw
            # the same digits (a 1 in 10 chance for 100 trials), so a taken id is drawn again
            run_id = chosen or time.strftime("%y%m%d-%H%M%S", time.localtime(created)) + "-" + secrets.token_hex(2)
            inserted = self._write("INSERT OR IGNORE INTO runs (id, experiment, status, params, created, sweep, "
                                   "budget) VALUES (?,?,?,?,?,?,?)",
                                   (run_id, experiment, "queued", json.dumps(params), created, sweep, budget))
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
            if row and row[0] in ("running", "paused") and row[1] not in (None, pid) and is_local(row[3]) \
                    and process_alive(row[1], row[2]):
                raise RunBusy(f"run {run_id} is already {row[0]} in process {row[1]}")
            # a stop asked for before the worker got here stays asked for (a pause does not outlive a restart)
            db.execute("UPDATE runs SET status='running', pid=?, pid_start=?, host=?, message='', ended=NULL, "
                       "device=?, control=CASE WHEN control='stop' THEN 'stop' ELSE 'run' END WHERE id=?",
                       (pid, pid_start, HOST, device, run_id))

        self._atomic(body)

    def requeue(self, run_id: str) -> str | None:
        """Queue an ended run again (a resume), unless it is active: in one transaction, so that of two resumes at
        once one wins. Returns None, or the status that refused it."""
        def body(db: sqlite3.Connection) -> str | None:
            row = db.execute(f"SELECT {self._COLS} FROM runs WHERE id=?", (run_id,)).fetchone()
            status = self._info(row).status if row else "deleted"
            if status not in ("stopped", "interrupted", "failed"):
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
                    (status, json.dumps(metrics), train_seconds, epochs, message, time.time(), run_id))

    def request(self, run_id: str, control: str) -> None:
        """Ask a live run to ``pause``, ``stop`` or ``run`` (resume); the run polls this."""
        self._write("UPDATE runs SET control=? WHERE id=?", (control, run_id))

    def control(self, run_id: str) -> str:
        rows = self._read("SELECT control FROM runs WHERE id=?", (run_id,))
        return rows[0][0] if rows else "stop"

    def delete_run(self, run_id: str) -> None:
        self.get(run_id)
        self._tx([("DELETE FROM events WHERE run_id=?", (run_id,)),
                  ("DELETE FROM metrics WHERE run_id=?", (run_id,)),
                  ("DELETE FROM runs WHERE id=?", (run_id,))])
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)

    _COLS = ("id, experiment, status, params, created, ended, pid, pid_start, message, metrics, "
             "train_seconds, epochs, device, control, sweep, budget, host")

    def _info(self, row: tuple, history: dict[str, list[float]] | None = None) -> RunInfo:
        (rid, exp, status, params, created, ended, pid, pid_start, message, metrics, secs, epochs, device,
         control, sweep, budget, host) = row
        # A queued run without a process yet (a sweep's later trial) waits; one whose process died is interrupted.
        # A process on another machine (a Ray trial on another node) cannot be checked from here: its status
        # stands until it ends or the Ray driver records why it did not.
        if (status in ACTIVE and not (status == "queued" and pid is None) and is_local(host)
                and not process_alive(pid, pid_start)):
            status = "interrupted"
        elif status == "queued" and pid is None and sweep and not self._sweep_runner_alive(sweep):
            status = "interrupted"  # a trial whose sweep's runner died: nothing will ever start it
        return RunInfo(rid, exp, status, _json_dict(params), created, ended, pid, message, _json_dict(metrics),
                       secs, epochs, device, control, sweep, budget, history or {}, host)

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

    def runs(self, experiment: str | None = None) -> list[RunInfo]:
        if experiment:
            rows = self._read(f"SELECT {self._COLS} FROM runs WHERE experiment=? ORDER BY created", (experiment,))
        else:
            rows = self._read(f"SELECT {self._COLS} FROM runs ORDER BY created")
        return [self._info(r) for r in rows]

    # -- metrics and events -----------------------------------------------------------------
    def log_epoch(self, run_id: str, epoch: int, metrics: dict[str, float], event: Event) -> None:
        kind, payload = to_record(event)
        self._tx(self._epoch_statements(run_id, epoch, metrics, (kind, json.dumps(payload), time.time())))

    @staticmethod
    def _epoch_statements(run_id: str, epoch: int, metrics: dict[str, float], record: tuple[str, str, float]
                          ) -> list[tuple[str, tuple]]:
        stmts = [("INSERT OR REPLACE INTO metrics (run_id, epoch, key, value) VALUES (?,?,?,?)",
                  (run_id, epoch, k, float(v))) for k, v in metrics.items()]
        stmts.append(("INSERT INTO events (run_id, kind, payload, t) VALUES (?,?,?,?)", (run_id, *record)))
        # the run's row counts epochs as they arrive: `labdeck runs` and `show` are live, not only at the end
        stmts.append(("UPDATE runs SET epochs=?, train_seconds=? WHERE id=?",
                      (epoch, float(metrics.get("train_seconds", 0.0)), run_id)))
        return stmts

    def emit(self, event: Event) -> int:
        kind, payload = to_record(event)
        cur = self._write("INSERT INTO events (run_id, kind, payload, t) VALUES (?,?,?,?)",
                          (event.run_id, kind, json.dumps(payload), time.time()))
        return cur.lastrowid

    def history(self, run_id: str) -> dict[str, list[float]]:
        """Per-epoch metric history: ``{"epoch": [1, 2, ...], "train_loss": [...], ...}``."""
        rows = self._read("SELECT epoch, key, value FROM metrics WHERE run_id=? ORDER BY epoch", (run_id,))
        epochs = sorted({r[0] for r in rows})
        index = {e: i for i, e in enumerate(epochs)}
        out: dict[str, list[float]] = {"epoch": [float(e) for e in epochs]}
        for epoch, key, value in rows:
            out.setdefault(key, [float("nan")] * len(epochs))[index[epoch]] = value
        return out

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

    def replay(self, run_id: str, batches: int = 4000, logs: int = 500, epochs: int = 500
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
        keys = [k for (k,) in self._read("SELECT DISTINCT key FROM metrics WHERE run_id=?", (run_id,))]
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
                  ("DELETE FROM metrics WHERE run_id=?", (run_id,)),
                  ("DELETE FROM runs WHERE id=?", (run_id,)),
                  ("INSERT INTO runs (id, experiment, status, params, created, sweep, budget) "
                   "VALUES (?,?,'queued',?,?,?,?)",
                   (run_id, info["experiment"], json.dumps(info["params"]), info["created"], info["sweep"],
                    info["budget"]))])
        _private_dir(self.run_dir(run_id))

    def set_params(self, run_id: str, params: dict[str, Any]) -> None:
        """A script's run: its parameters, known only after it started (a trainer logs them late)."""
        self._write("UPDATE runs SET params=? WHERE id=?", (json.dumps(params), run_id))

    def process_row(self, run_id: str) -> tuple:
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
        return dict(self._read("SELECT key, value FROM metrics WHERE run_id=? AND epoch=?", (run_id, epoch)))

    def append(self, run_id: str, entries: list[tuple]) -> None:
        """Write what another store recorded of ``run_id``, in one transaction: ``("event", kind, payload, t)``,
        ``("epoch", epoch, metrics, kind, payload, t)`` and ``("row", PROCESS_FIELDS values)``."""
        stmts: list[tuple[str, tuple]] = []
        for entry in entries:
            if entry[0] == "event":
                stmts.append(("INSERT INTO events (run_id, kind, payload, t) VALUES (?,?,?,?)", (run_id, *entry[1:])))
            elif entry[0] == "epoch":
                stmts += self._epoch_statements(run_id, entry[1], entry[2], tuple(entry[3:]))
            elif entry[0] == "row":
                sets = ", ".join(f"{name}=?" for name in self.PROCESS_FIELDS)
                stmts.append((f"UPDATE runs SET {sets} WHERE id=?", (*entry[1], run_id)))
        self._tx(stmts)

    def last_event_id(self) -> int:
        return self._read("SELECT COALESCE(MAX(id), 0) FROM events")[0][0]

    def truncate_after_epoch(self, run_id: str, epoch: int) -> None:
        """Forget what a run logged after ``epoch`` (resume from that epoch's checkpoint)."""
        # The checkpoint's own event, or (a kill between the checkpoint's rename and its event) that epoch's metrics;
        # for a checkpoint of epoch 0 (stopped in the first epoch), the start of the attempt that wrote it.
        keep = self._read("SELECT MAX(id) FROM events WHERE run_id=? AND ("
                          "(kind IN ('CheckpointSaved', 'EpochMetrics') AND json_extract(payload, '$.epoch') = ?) "
                          "OR (? = 0 AND kind = 'RunStarted'))", (run_id, epoch, epoch))[0][0] or 0
        self._tx([("DELETE FROM metrics WHERE run_id=? AND epoch>?", (run_id, epoch)),
                  ("UPDATE runs SET epochs=MIN(epochs, ?) WHERE id=?", (epoch, run_id)),
                  ("DELETE FROM events WHERE run_id=? AND id>?",
                   (run_id, keep))])

    def iter_new_events(self, run_id: str, poll: float = 0.2) -> Iterator[Event]:
        """Follow a run's events until it is no longer active (used by ``labdeck watch``)."""
        after = 0
        while True:
            batch = self.events(run_id, after)
            for i, event in batch:
                after = i
                yield event
            if not batch and self.get(run_id).status not in ACTIVE:
                return
            if not batch:
                time.sleep(poll)
