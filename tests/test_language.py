"""The Language experiment on a tiny text: training, metrics, bad corpora, and streaming generation."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch

from labdeck.engine import runs
from labdeck.engine.errors import DataError, ParamError
from labdeck.engine.events import DataSummary, EpochMetrics, Evaluation, LogLine
from labdeck.engine.experiments.language.model import filter_logits
from labdeck.engine.predict import generator
from labdeck.engine.store import Store

from .conftest import cli, set_args
from .conftest import tiny as tiny_sequence

TEXT = "the cat sat on the mat. the dog sat on the log. " * 60


def tiny(corpus, **over) -> dict[str, str]:
    p = {"corpus": f"file:{corpus}", "hidden": "32", "embedding": "16", "bptt": "16", "batch_size": "4",
         "epochs": "2", "sample_tokens": "20", "lr": "0.01", "precision": "fp32"}
    return {**p, **{k: str(v) for k, v in over.items()}}


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT)
    return path


def train(store, corpus, **over):
    run_id = runs.create(store, "language", tiny(corpus, **over))
    seen = []
    return run_id, runs.run_here(store, run_id, on_event=seen.append), seen


def test_char_model_learns_and_reports_perplexity_and_bits_per_char(home, corpus):
    store = Store()
    run_id, ended, seen = train(store, corpus, epochs=3)
    assert ended.status == "finished", ended.message
    epochs = [e for e in seen if isinstance(e, EpochMetrics)]
    assert [e.epoch for e in epochs] == [1, 2, 3]
    m = ended.metrics
    assert m["val_ppl"] == pytest.approx(math.exp(m["val_loss"]), rel=1e-6)
    assert m["val_bpc"] == pytest.approx(m["val_loss"] / math.log(2), rel=1e-6)
    assert epochs[-1].metrics["val_loss"] < epochs[0].metrics["val_loss"]
    vocab = len(set(TEXT))
    assert m["val_loss"] < math.log(vocab)  # better than uniform guessing
    summary = next(e for e in seen if isinstance(e, DataSummary))
    assert summary.sizes["characters"] == len(TEXT) and summary.sizes["vocabulary"] == vocab
    assert summary.sizes["train_tokens"] == int(len(TEXT) * 0.7)  # contiguous 70/30
    assert summary.head[0][1].startswith("the cat sat")
    assert any("most frequent" in n for n in summary.notes)
    samples = [e.text for e in seen if isinstance(e, LogLine) and e.text.startswith("sample: ")]
    assert len(samples) == 3 and all(len(s) == len("sample: ") + 20 for s in samples)
    assert len(next(e for e in seen if isinstance(e, Evaluation)).tables["sample"]) == 20


def test_word_tokens_with_a_vocabulary_cap(home, corpus):
    _, ended, seen = train(Store(), corpus, tokens="word", vocab=6, bptt=4, batch_size=2)
    assert ended.status == "finished", ended.message
    assert "val_bpc" not in ended.metrics
    summary = next(e for e in seen if isinstance(e, DataSummary))
    assert summary.sizes["vocabulary"] == 6  # five words and <unk>


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"), (b"   \n\n", "is empty"), (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
    (b"caf\xe9 latin-1 text", "not UTF-8"),
])
def test_bad_text_files_are_refused_with_one_line(home, tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        runs.create(Store(), "language", tiny(path))
    proc = cli("run", "language", "--set", f"corpus=file:{path}")
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert Store().runs() == []


def test_too_short_corpus_and_untied_sizes_are_refused(home, tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("tiny text")
    with pytest.raises(ParamError, match="tie"):
        runs.create(Store(), "language", tiny(path, tie="true"))
    with pytest.raises(DataError, match="too few"):  # refused before a run exists, not a failed run
        runs.create(Store(), "language", tiny(path))
    assert Store().runs() == []


def test_filter_logits_keeps_top_k_and_top_p():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    assert torch.isfinite(filter_logits(logits, 2, 1.0)).tolist() == [True, True, False, False]
    assert torch.isfinite(filter_logits(logits, 0, 0.7)).tolist() == [True, True, False, False]
    assert torch.isfinite(filter_logits(logits, 0, 0.4)).tolist() == [True, False, False, False]
    assert torch.isfinite(filter_logits(logits, 0, 1.0)).all()


def test_generation_streams_is_seeded_and_checks_its_options(home, corpus):
    store = Store()
    run_id, ended, _ = train(store, corpus)
    gen = generator(store, store.get(run_id))
    pieces = list(gen.stream("the ", tokens=30, seed=1))
    assert len(pieces) == 30 and all(len(p) == 1 for p in pieces)
    assert pieces == list(gen.stream("the ", tokens=30, seed=1))
    greedy = "".join(gen.stream("the ", tokens=30, temperature=0))
    assert greedy == "".join(gen.stream("the ", tokens=30, temperature=0, seed=7))
    with pytest.raises(ParamError, match="top-p"):
        next(gen.stream("x", top_p=0))


@pytest.mark.slow
def test_cli_generate_streams_to_stdout(home, corpus, capsys):
    proc = cli("run", "language", *set_args(tiny(corpus)), "--json", check=True)
    run_id = json.loads(proc.stdout.splitlines()[-1])["run_id"]
    out = cli("generate", run_id, "--prompt", "the ", "--tokens", "40", "--seed", "3", check=True).stdout
    assert out.startswith("the ") and len(out.rstrip("\n")) == len("the ") + 40  # the prompt, then the text
    # tokens reach stdout one by one, before the command ends
    child = subprocess.Popen([sys.executable, "-m", "labdeck.engine", "generate", run_id, "--tokens", "3000"],
                             stdout=subprocess.PIPE)
    first = child.stdout.read(5)
    assert len(first) == 5 and child.poll() is None
    child.kill()
    child.wait()
    proc = cli("generate", run_id, "--top-p", "2")
    assert proc.returncode == 2 and "top-p" in proc.stderr
    from labdeck.engine.cli import main  # in-process: one line and exit 2, never a traceback

    for args, fragment in ((["--temperature", "nan"], "temperature"), (["--seed", "9" * 20], "seed"),
                           (["--tokens", "10000000000"], "tokens")):
        assert main(["generate", run_id, *args]) == 2
        err = capsys.readouterr().err
        assert fragment in err and err.count("\n") == 1, err
    seq = cli("run", "sequence", *set_args(tiny_sequence(epochs=1)), "--json", check=True)
    seq_id = json.loads(seq.stdout.splitlines()[-1])["run_id"]
    proc = cli("generate", seq_id)
    assert proc.returncode == 1 and "needs a language run" in proc.stderr


def test_generate_from_a_running_runs_latest_checkpoint(home, corpus):
    from .conftest import wait_for

    run_id = cli("run", "language", *set_args(tiny(corpus, epochs=100000)), "--detach", check=True).stdout.strip()
    try:
        store = Store()
        wait_for(lambda: store.checkpoint_path(run_id).exists(), timeout=120, what="first checkpoint")
        out = cli("generate", run_id, "--tokens", "25", check=True).stdout
        assert len(out.rstrip("\n")) == 25
        assert store.get(run_id).status == "running"
    finally:
        cli("stop", run_id)
        wait_for(lambda: Store().get(run_id).status == "stopped", timeout=60, what="stopped")


def test_failed_corpus_download_says_what_to_do(tmp_path, monkeypatch):
    import urllib.error

    from torchvision.datasets import utils

    from labdeck.engine.experiments.language import data as D

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(utils, "_urlretrieve", offline)
    for name in ("tinyshakespeare", "wikitext2"):
        with pytest.raises(DataError) as err:
            D.download_text(name, tmp_path / name, lambda *a: None)
        text = str(err.value)
        assert f"cannot download {name}" in text and "corpus=stdlib" in text and "\n" not in text


def test_a_gru_language_model_learns_and_generates_from_its_checkpoint(home, corpus):
    store = Store()
    run_id, ended, seen = train(store, corpus, model="gru", epochs=3)
    assert ended.status == "finished", ended.message
    losses = [e.metrics["val_loss"] for e in seen if isinstance(e, EpochMetrics)]
    assert losses[-1] < losses[0]
    gen = generator(store, store.get(run_id))
    assert isinstance(gen.model.gru, torch.nn.GRU) and not hasattr(gen.model, "lstm")
    assert len(list(gen.stream("the ", tokens=10, seed=1))) == 10


def test_generate_echoes_the_prompt_and_says_when_the_model_is_barely_trained(home):
    from labdeck.engine import Store

    from .conftest import cli

    store = Store()
    done = cli("run", "language", "--set", "corpus=stdlib", "--set", "epochs=1", "--set", "hidden=16",
               "--set", "embedding=8", "--set", "max_chars=5000", "--set", "bptt=16", "--json")
    assert done.returncode == 0, done.stderr
    (info,) = store.runs()
    out = cli("generate", info.id, "--prompt", "def ", "--tokens", "20", check=True)
    assert out.stdout.startswith("def ") and len(out.stdout) >= len("def ") + 20
    assert "barely trained" in out.stderr  # an epoch on 5,000 characters: it says so, once
    bad = cli("generate", info.id, "--prompt", "def ", "--tokens", "0")
    assert bad.returncode == 2 and bad.stdout == ""  # a bad option is said before any text
