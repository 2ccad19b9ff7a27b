import multiprocessing as mp
import os

from labdeck.engine.events import EpochMetrics, LogLine
from labdeck.engine.store import Store


def _writer(home: str, n: int) -> None:
    store = Store(home)
    run_id = store.create_run("sequence", {"i": n})
    store.claim(run_id, os.getpid(), None)
    for epoch in range(1, 31):
        m = {"train_loss": 1.0 / epoch}
        store.log_epoch(run_id, epoch, m, EpochMetrics(run_id, epoch, 30, m, 0.1, 0.0, epoch / 30))
        store.emit(LogLine(run_id, f"epoch {epoch}"))
    store.finish(run_id, "finished", {"train_loss": 1 / 30}, 1.0, 30)


def test_several_processes_write_at_once(tmp_path):
    home = str(tmp_path)
    Store(home)  # create the schema once
    procs = [mp.get_context("spawn").Process(target=_writer, args=(home, i)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = Store(home)
    infos = store.runs()
    assert len(infos) == 4 and {i.status for i in infos} == {"finished"}
    for info in infos:
        assert store.history(info.id)["epoch"] == [float(e) for e in range(1, 31)]
        assert len(store.events(info.id)) == 60


def test_dead_owner_reads_as_interrupted(tmp_path):
    store = Store(tmp_path)
    run_id = store.create_run("sequence", {})
    store.claim(run_id, 2**22 + 12345, 1.0)  # no such process
    assert store.get(run_id).status == "interrupted"
    store.claim(run_id, os.getpid(), None)
    assert store.get(run_id).status == "running"


def test_truncate_after_epoch_keeps_an_unbroken_history(tmp_path):
    from labdeck.engine.events import CheckpointSaved

    store = Store(tmp_path)
    run_id = store.create_run("sequence", {})
    for epoch in range(1, 6):
        m = {"loss": float(epoch)}
        store.log_epoch(run_id, epoch, m, EpochMetrics(run_id, epoch, 5, m, 0.1, 0.0, 0.0))
        if epoch <= 3:
            store.emit(CheckpointSaved(run_id, epoch, "x"))
    store.truncate_after_epoch(run_id, 3)
    assert store.history(run_id)["epoch"] == [1.0, 2.0, 3.0]
    kinds = [type(e).__name__ for _, e in store.events(run_id)]
    assert kinds.count("EpochMetrics") == 3 and kinds[-1] == "CheckpointSaved"


def test_short_id_prefix_and_delete(tmp_path):
    store = Store(tmp_path)
    run_id = store.create_run("sequence", {})
    assert store.get(run_id[:-2]).id == run_id
    store.delete_run(run_id)
    assert store.runs() == [] and not store.run_dir(run_id).exists()


def test_runs_created_in_the_same_second_never_collide(tmp_path, monkeypatch):
    import secrets

    store = Store(tmp_path)
    draws = iter(["beef", "beef", "beef", "cafe"])  # the second draw hits a taken id, as 300 trials in a second do
    monkeypatch.setattr(secrets, "token_hex", lambda n: next(draws))
    first = store.create_run("sequence", {}, created=1_764_000_000.0)
    second = store.create_run("sequence", {}, created=1_764_000_000.0)
    assert first.endswith("-beef") and second.endswith("-cafe")
    assert len({info.id for info in store.runs()}) == 2


def test_the_file_system_of_a_path_is_its_deepest_mount():
    from pathlib import Path

    from labdeck.engine.filesystems import is_network, mounted_type

    mounts = [("/", "ext4"), ("/home", "nfs4"), ("/home/me/scratch", "xfs"), ("/home2", "tmpfs")]
    assert mounted_type(Path("/home/me/labdeck/runs/x"), mounts) == "nfs4"  # not there yet: its parents are
    assert mounted_type(Path("/home/me/scratch/labdeck"), mounts) == "xfs"
    assert mounted_type(Path("/home2"), mounts) == "tmpfs"  # "/home" is no prefix of "/home2"
    assert [is_network(t) for t in ("nfs4", "cifs", "lustre", "fuse.sshfs", "fuse.lxcfs", "ext4", "fuseblk")] == [
        True, True, True, True, False, False, False]


def _mounted_on(monkeypatch, path, fstype):
    from types import SimpleNamespace

    import psutil

    real = psutil.disk_partitions
    monkeypatch.setattr(psutil, "disk_partitions", lambda all=False: [
        *real(all), SimpleNamespace(device="server:/export", mountpoint=str(path), fstype=fstype, opts="rw")])


def test_a_store_on_a_network_file_system_says_so_and_does_not_use_wal(tmp_path, monkeypatch, capsys):
    from labdeck.engine.cli import main

    local = Store(tmp_path / "local")
    assert local.warning == "" and local.journal_mode == "wal"
    _mounted_on(monkeypatch, tmp_path / "nfs", "nfs4")
    store = Store(tmp_path / "nfs" / "labdeck")
    assert store.journal_mode == "delete"
    assert "network file system (nfs4): using SQLite's rollback journal, not WAL" in store.warning
    # a store made on a local disk and moved to one: its journal changes once no other process has it open
    monkeypatch.setenv("LABDECK_HOME", str(tmp_path / "local"))
    _mounted_on(monkeypatch, tmp_path / "local", "fuse.sshfs")
    moved = Store()  # closed, not left to the collector: a sqlite3 connection is part of a reference cycle
    assert "(fuse.sshfs): using WAL still, as another process has it open" in moved.warning
    moved.close()
    local.close()
    assert main(["runs"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("labdeck: warning: the run store ") and "(fuse.sshfs)" in err[0]
    assert Store()._read("PRAGMA journal_mode") == [("delete",)]


def test_a_staging_store_forwards_the_params_its_run_filled_in(tmp_path):
    head = Store(tmp_path / "head")
    run_id = head.create_run("vision", {"width": 0, "lr": 0.4})
    staging = Store(tmp_path / "staging")
    staging.adopt(head.get(run_id).to_json())
    staging.set_params(run_id, {"width": 32, "lr": 0.4})  # what the recipe picked, in the trial's own store
    head.append(run_id, [("row", staging.process_row(run_id))])
    assert head.get(run_id).params == {"width": 32, "lr": 0.4}


def test_a_pause_asked_while_a_run_starts_outlives_its_second_claim_but_not_a_restart(home):
    """The worker claims its run as it starts, then again with its device once the data is loaded: a pause asked
    for in between (a dashboard's p as the run appears) is kept; a new worker (a restart) starts unpaused."""
    store = Store(home)
    run_id = store.create_run("sequence", {"epochs": 1})
    store.claim(run_id, os.getpid(), None)
    store.request(run_id, "pause")
    store.claim(run_id, os.getpid(), None, "cpu")
    assert store.control(run_id) == "pause"
    store.request(run_id, "stop")
    store.claim(run_id, os.getpid(), None, "cpu")
    assert store.control(run_id) == "stop"
    store.request(run_id, "pause")
    store.set_status(run_id, "interrupted")
    store.claim(run_id, os.getpid() + 1, None)
    assert store.control(run_id) == "run"
