"""The run store's SQLite schema, and the migrations that bring an older store up to it.

``PRAGMA user_version`` says which migrations a store has had: each one runs once, in its own transaction, the
first time a newer labdeck opens the store for writing. A store newer than this labdeck is refused.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING

from .errors import StoreError

if TYPE_CHECKING:
    import numpy as np

# version 0: runs, metrics (one row a value) and events, as the first releases wrote them
BASE = """
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
    budget REAL
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

# version 1: metric series in chunks (see series.py), what reproduces a script's run, and a revision counter that
# lets a reader list only the runs changed since it last looked (10,000 runs listed every second cost a core)
SERIES = """
CREATE TABLE series (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    start INTEGER NOT NULL,
    n INTEGER NOT NULL,
    first_step INTEGER NOT NULL,
    last_step INTEGER NOT NULL,
    lo REAL,
    hi REAL,
    summary BLOB NOT NULL,  -- before the points: a plot reads it without walking their overflow pages
    steps BLOB,
    vals BLOB NOT NULL
);
CREATE UNIQUE INDEX series_key ON series(run_id, key, start);
CREATE TABLE clock (id INTEGER PRIMARY KEY CHECK (id = 0), rev INTEGER NOT NULL, removed INTEGER NOT NULL);
INSERT INTO clock VALUES (0, 0, 0);
ALTER TABLE runs ADD COLUMN points INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN meta TEXT NOT NULL DEFAULT '{}';
ALTER TABLE runs ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
CREATE INDEX runs_rev ON runs(rev);
CREATE INDEX runs_status ON runs(status);
CREATE TRIGGER runs_inserted AFTER INSERT ON runs BEGIN
    UPDATE clock SET rev = rev + 1;
    UPDATE runs SET rev = (SELECT rev FROM clock) WHERE id = NEW.id;
END;
CREATE TRIGGER runs_updated AFTER UPDATE ON runs WHEN NEW.rev = OLD.rev BEGIN
    UPDATE clock SET rev = rev + 1;
    UPDATE runs SET rev = (SELECT rev FROM clock) WHERE id = NEW.id;
END;
CREATE TRIGGER runs_deleted AFTER DELETE ON runs BEGIN
    UPDATE clock SET rev = rev + 1, removed = removed + 1;
END;
"""


def _host(db: sqlite3.Connection) -> None:
    if "host" not in {row[1] for row in db.execute("PRAGMA table_info(runs)")}:  # a store from 0.1
        db.execute("ALTER TABLE runs ADD COLUMN host TEXT NOT NULL DEFAULT ''")


def statements(script: str) -> list[str]:
    """A script's statements one by one (``executescript`` would commit the migration's transaction)."""
    out, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    return out


def _series(db: sqlite3.Connection) -> None:
    for statement in statements(SERIES):
        db.execute(statement)
    # every value of the old table, as chunks; its rows had one epoch a value, so steps ascend by key
    rows = db.execute("SELECT run_id, key, epoch, value FROM metrics ORDER BY run_id, key, epoch")
    import numpy as np

    current: tuple[str, str] | None = None
    steps: list[int] = []
    values: list[float] = []

    def flush() -> None:
        if current is None or not steps:
            return
        write_chunks(db, current[0], current[1], 0, np.array(steps, np.int64),
                     np.array([np.nan if v is None else v for v in values], np.float64))
        db.execute("UPDATE runs SET points = points + ? WHERE id = ?", (len(steps), current[0]))

    for run_id, key, epoch, value in rows.fetchall():
        if (run_id, key) != current:
            flush()
            current, steps, values = (run_id, key), [], []
        steps.append(int(epoch))
        values.append(value)
    flush()
    db.execute("DROP TABLE metrics")


def write_chunks(db: sqlite3.Connection, run_id: str, key: str, start: int, steps: np.ndarray, values: np.ndarray
                 ) -> None:
    """Insert points as rows of at most CHUNK points, the first at point index ``start``."""
    from . import series  # NumPy: not imported until a store reads or writes metrics

    db.executemany("INSERT INTO series (run_id, key, start, n, first_step, last_step, lo, hi, summary, steps, vals) "
                   "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                   [(run_id, key, start + i * series.CHUNK, row["n"], row["first_step"], row["last_step"], row["lo"],
                     row["hi"], row["summary"], row["steps"], row["vals"])
                    for i, row in enumerate(series.encode(steps, values))])


def _budget_kind(db: sqlite3.Connection) -> None:
    """A budget is the whole run's wall clock now; the runs before this version were budgeted in training time."""
    db.execute("ALTER TABLE runs ADD COLUMN budget_kind TEXT NOT NULL DEFAULT 'wall'")
    db.execute("UPDATE runs SET budget_kind='train' WHERE budget IS NOT NULL")


# version 3: what the watchdog told (engine/alerts.py): one alert per run and rule, and how its delivery went
ALERTS = """
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    rule TEXT NOT NULL,
    message TEXT NOT NULL,
    action TEXT NOT NULL DEFAULT 'notify',
    t REAL NOT NULL,
    delivered TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX alerts_once ON alerts(run_id, rule);
"""


def _alerts(db: sqlite3.Connection) -> None:
    for statement in statements(ALERTS):
        db.execute(statement)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_series, _budget_kind, _alerts]
VERSION = len(MIGRATIONS)


def migrate(db: sqlite3.Connection, where: str) -> None:
    """Create the tables, or bring an older store's up to this version (each step in its own transaction)."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > VERSION:
        raise StoreError(f"the run store at {where} was written by a newer labdeck (schema {version}, this one "
                         f"reads up to {VERSION}): upgrade labdeck, or set LABDECK_HOME to another folder")
    if version == VERSION:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]  # another process may have migrated meanwhile
        if version == 0:
            for statement in statements(BASE):
                db.execute(statement)
            _host(db)
        for step in range(version, VERSION):
            MIGRATIONS[step](db)
        db.execute(f"PRAGMA user_version = {VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def check_readable(db: sqlite3.Connection, where: str) -> int:
    """The schema version of a store opened read-only (it cannot be migrated); newer than this labdeck fails."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > VERSION:
        raise StoreError(f"the run store at {where} was written by a newer labdeck (schema {version}): upgrade "
                         "labdeck to read it")
    return int(version)
