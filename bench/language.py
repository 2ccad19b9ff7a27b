"""Language benchmark: labdeck's default char-level recipe under a training budget, against nanoGPT's CPU
configuration (the peer, bench/nanogpt.py) and the pytorch/examples word_language_model recipe (the baseline),
each trained for the same wall-clock budget on the same characters in the same run, plus generation speed.

Run: ``python bench/language.py --data ../shared/data/wikitext-2/test.txt [--budget 300] [--set model=gru]``.
The recipe was tuned on wikitext-2's valid.txt only; test.txt is the unseen corpus the goal is measured on.
The corpus is split 90/10 (``split=0.9``), the last 10% being validation; losses are nats per character.
In one process, one after the other:

1. ``labdeck run language --set corpus=file:DATA --set split=0.9 --train-budget B --json`` (a fresh store), and once
   more for each ``--model`` given (e.g. ``--model gru transformer``), so that each choice has its own line;
2. the peer: nanoGPT's CPU configuration (4 layers, 4 heads, 128 wide, context 64, batch 12), scored on every
   validation character with at least 32 characters of context;
3. the baseline: word_language_model's recipe (embedding and hidden 200, 2 LSTM layers, dropout 0.2, SGD lr 20
   divided by 4 when validation stops improving, clip 0.25, bptt 35, batch 20, uniform init 0.1);
4. generation: 500 characters from the labdeck run's checkpoint, through the engine API (time to the first
   character including loading the checkpoint, then characters per second) and through ``labdeck generate``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch
from common import cpu_features, trained_steps  # beside this script
from torch import nn

from labdeck import engine
from labdeck.engine.experiments.language import data as D

GOAL = 1.40  # nats/char on the unseen corpus in 300 s (issue 20)
GEN_FIRST, GEN_RATE = 0.100, 1000  # generation: first character within 100 ms, then >= 1,000 chars/s


class BaselineModel(nn.Module):
    """pytorch/examples/word_language_model RNNModel (LSTM), unchanged in substance."""

    def __init__(self, ntoken, ninp=200, nhid=200, nlayers=2, dropout=0.2):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -0.1, 0.1)

    def forward(self, x, hidden):
        output, hidden = self.rnn(self.drop(self.encoder(x)), hidden)
        return self.decoder(self.drop(output)), hidden


def baseline(text: str, budget: float, split: float = 0.9) -> dict:
    torch.manual_seed(1111)
    vocab = sorted(set(text[: int(len(text) * split)]))
    stoi = {c: i for i, c in enumerate(vocab)}
    ids = torch.tensor([stoi.get(c, 0) for c in text])
    cut = int(len(ids) * split)

    def batchify(data, bsz):
        n = len(data) // bsz
        return data[: n * bsz].view(bsz, -1).t().contiguous()  # (time, batch), as in the example

    train, val = batchify(ids[:cut], 20), batchify(ids[cut:], 10)
    model, bptt, lr, clip = BaselineModel(len(vocab)), 35, 20.0, 0.25
    crit = nn.CrossEntropyLoss()

    def evaluate() -> float:
        model.eval()
        total, count, hidden = 0.0, 0, None
        with torch.no_grad():
            for i in range(0, val.size(0) - 1, bptt):
                n = min(bptt, val.size(0) - 1 - i)
                out, hidden = model(val[i: i + n], hidden)
                total += crit(out.view(-1, len(vocab)), val[i + 1: i + 1 + n].reshape(-1)).item() * n * val.size(1)
                count += n * val.size(1)
        return total / count

    spent, best, chars, epochs = 0.0, float("inf"), 0, 0
    while spent < budget:
        model.train()
        hidden = None
        for i in range(0, train.size(0) - 1, bptt):
            t0 = time.perf_counter()
            n = min(bptt, train.size(0) - 1 - i)
            if hidden is not None:
                hidden = tuple(h.detach() for h in hidden)
            model.zero_grad()
            out, hidden = model(train[i: i + n], hidden)
            loss = crit(out.view(-1, len(vocab)), train[i + 1: i + 1 + n].reshape(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
            spent += time.perf_counter() - t0
            chars += n * train.size(1)
            if spent >= budget:
                break
        epochs += 1
        val_loss = evaluate()
        if val_loss < best:
            best = val_loss
        else:
            lr /= 4.0
    return {"val_loss": evaluate(), "best_val_loss": best, "train_seconds": spent, "chars_per_s": chars / spent,
            "epochs": epochs}


def labdeck(path: str, budget: float, home: str, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "labdeck.engine", "--home", home, "run", "language", "--set", f"corpus=file:{path}",
           "--set", "split=0.9", "--train-budget", str(budget), "--json", *extra]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"labdeck failed: {out.stderr.strip() or out.stdout[-500:]}")
    result = json.loads(out.stdout.splitlines()[-1])
    store = engine.Store(home)
    info = store.get(result["run_id"])
    tokens = trained_steps(store, info.id) * info.params["batch_size"] * info.params["bptt"]
    return {**result["metrics"], "run_id": result["run_id"], "train_seconds": result["train_seconds"],
            "epochs": result["epochs"], "device": info.device,
            "chars_per_s": tokens / max(result["train_seconds"], 1e-9)}


def generation(home: str, run_id: str, n: int = 500) -> dict:
    t0 = time.perf_counter()
    gen = engine.generator(engine.Store(home), run_id)
    first = None
    count = 0
    for _ in gen.stream("The ", tokens=n, temperature=0.8, seed=0):
        count += 1
        if first is None:
            first = time.perf_counter() - t0
    total = time.perf_counter() - t0
    cmd = [sys.executable, "-m", "labdeck.engine", "--home", home, "generate", run_id, "--prompt", "The ",
           "--tokens", str(n)]
    c0 = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    child.stdout.read(1)
    cli_first = time.perf_counter() - c0
    child.stdout.read()
    child.wait()
    return {"first_s": first, "chars_per_s": (count - 1) / max(total - first, 1e-9), "cli_first_s": cli_first,
            "cli_total_s": time.perf_counter() - c0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="an English text of about 1 MB the recipe was not tuned on")
    ap.add_argument("--budget", type=float, default=300)
    ap.add_argument("--model", nargs="*", default=[], help="also labdeck with model=M (a line each)")
    ap.add_argument("--skip-peer", action="store_true", help="no nanoGPT line")
    ap.add_argument("--skip-baseline", action="store_true", help="no word_language_model line")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra labdeck hyperparameters")
    a = ap.parse_args()
    extra = [x for kv in a.set for x in ("--set", kv)]
    import nanogpt  # beside this script

    print(f"machine: {cpu_features()}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"budget {a.budget:g}s; corpus {a.data}", flush=True)
    text = D.read_text_file(a.data)
    with tempfile.TemporaryDirectory() as home:
        os.environ["XDG_CACHE_HOME"] = os.environ.get("XDG_CACHE_HOME", os.path.join(home, "cache"))
        ours = labdeck(a.data, a.budget, home, extra)
        verdict = "met" if ours["val_loss"] <= GOAL else "NOT met"
        print(f"labdeck default (LSTM): val_loss {ours['val_loss']:.3f} nats/char (bpc {ours['val_bpc']:.3f}, "
              f"ppl {ours['val_ppl']:.2f}) after {ours['epochs']} epochs, {ours['train_seconds']:.0f}s; train "
              f"{ours['chars_per_s']:,.0f} chars/s on {ours['device']}; goal <= {GOAL}: {verdict}", flush=True)
        for model in a.model:
            other = labdeck(a.data, a.budget, home, [*extra, "--set", f"model={model}"])
            print(f"labdeck model={model}: val_loss {other['val_loss']:.3f} nats/char after {other['epochs']} "
                  f"epochs, {other['train_seconds']:.0f}s; train {other['chars_per_s']:,.0f} chars/s on "
                  f"{other['device']}", flush=True)
        if not a.skip_peer:
            peer = nanogpt.train(text, a.budget)
            print(f"peer nanoGPT CPU config (4x4x128, context 64, batch 12; {peer['params']:,} parameters): val_loss "
                  f"{peer['val_loss']:.3f} nats/char after {peer['iterations']:,} iterations, "
                  f"{peer['train_seconds']:.0f}s; train {peer['chars_per_s']:,.0f} chars/s; labdeck "
                  f"{ours['val_loss'] - peer['val_loss']:+.3f} nats/char vs the peer", flush=True)
        if not a.skip_baseline:
            base = baseline(text, a.budget)
            print(f"baseline (word_language_model recipe, char tokens): val_loss {base['val_loss']:.3f} nats/char "
                  f"(best {base['best_val_loss']:.3f}) after {base['epochs']} epochs, {base['train_seconds']:.0f}s; "
                  f"train {base['chars_per_s']:,.0f} chars/s; labdeck/baseline val_loss "
                  f"{ours['val_loss'] / base['val_loss']:.2f}x, "
                  f"chars/s {ours['chars_per_s'] / base['chars_per_s']:.2f}x", flush=True)
        g = generation(home, ours["run_id"])
        met = g["first_s"] <= GEN_FIRST and g["chars_per_s"] >= GEN_RATE
        print(f"generation of 500 chars: first char after {g['first_s'] * 1e3:.0f} ms (checkpoint load included), "
              f"then {g['chars_per_s']:,.0f} chars/s (goal <= {GEN_FIRST * 1e3:.0f} ms and >= {GEN_RATE:,} chars/s: "
              f"{'met' if met else 'NOT met'}); via 'labdeck generate': first char after {g['cli_first_s']:.2f}s "
              f"(Python and torch start included), {g['cli_total_s']:.2f}s in all", flush=True)


if __name__ == "__main__":
    main()
