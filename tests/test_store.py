import multiprocessing as mp
import os

from engine.events import EpochMetrics, LogLine
from engine.store import Store


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
    from engine.events import CheckpointSaved

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
