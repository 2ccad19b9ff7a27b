"""Language: a recurrent (LSTM or GRU) language model on a text corpus.

Reads like the lab: data (read, inspect, tokenize, split contiguously) -> model (embedding, LSTM, output)
-> train (the shared loop; truncated backpropagation through time with the state carried across batches)
-> evaluate (validation loss, perplexity, bits per character, a generated sample) -> predict (generate text).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from ...errors import ParamError
from ...events import Evaluation, Event
from ...experiment import Context, Experiment, Task
from ...status import Stage
from . import data as D
from .model import LanguageModel, State, detach, sample
from .spec import SPEC

EVAL_STREAMS = 16


MAX_TOKENS = 1_000_000  # one generation; more is a typo, not a wish


def streams(ids: torch.Tensor, n: int) -> torch.Tensor:
    """Cut a token sequence into ``n`` contiguous streams (rows), dropping the remainder."""
    length = len(ids) // n
    return ids[: n * length].view(n, length)


class LanguageTask(Task):
    model: LanguageModel

    def __init__(self, p: dict[str, Any], ctx: Context):
        self.p, self.ctx = p, ctx
        self.device = ctx.plan.device
        # -- data --------------------------------------------------------------------------
        text, self.name = D.load_text(p, ctx.data_dir, ctx.progress)
        self.text = text
        tokens = D.Vocab([], p["tokens"]).tokenize(text)
        cut = D.split_point(len(tokens), p["split"], p["bptt"], p["batch_size"])
        self.vocab, self.counts = D.build_vocab(tokens[:cut], p["tokens"], p["vocab"])
        if p["tokens"] == "char":  # characters only in the validation part map to the most common one
            common = self.vocab.stoi[self.counts.most_common(1)[0][0]]
            ids = [self.vocab.stoi.get(t, common) for t in tokens]
            self.unseen = sum(1 for t in tokens[cut:] if t not in self.vocab.stoi)
        else:
            unk = self.vocab.stoi[D.UNK]
            ids = [self.vocab.stoi.get(t, unk) for t in tokens]
            self.unseen = sum(1 for i in ids if i == unk)
        ids_t = torch.tensor(ids, dtype=torch.long)
        self.n_tokens, self.cut = len(ids), cut
        batch = p["batch_size"]
        self.train_streams = streams(ids_t[:cut], batch).to(self.device)
        self.val_streams = streams(ids_t[cut:], min(EVAL_STREAMS, max(1, (len(ids) - cut) // (p["bptt"] + 1)))
                                   ).to(self.device)
        # -- model -------------------------------------------------------------------------
        self.model = LanguageModel(len(self.vocab.itos), p["embedding"], p["hidden"], p["layers"], p["dropout"],
                                   p["tie"], p["model"])
        decay = [q for n, q in self.model.named_parameters() if q.dim() > 1]
        rest = [q for n, q in self.model.named_parameters() if q.dim() <= 1]
        groups = [dict(params=decay, weight_decay=p["weight_decay"]), dict(params=rest, weight_decay=0.0)]
        if p["optimizer"] == "sgd":
            self.optimizer = torch.optim.SGD(groups, lr=p["lr"])
        else:
            cls = torch.optim.AdamW if p["optimizer"] == "adamw" else torch.optim.Adam
            self.optimizer = cls(groups, lr=p["lr"])
        self.clip, self.warmup = p["clip"], p["warmup"]
        self.state_h: State | None = None

    def summary(self) -> dict[str, Any]:
        lines = self.text.splitlines()[:10]
        top = self.counts.most_common(15)
        shown = lambda t: repr(t)[1:-1] if self.p["tokens"] == "char" else t  # noqa: E731  (show "\n", " ")
        notes = [f"corpus: {self.name}, {len(self.text):,} characters, {len(lines)} first lines below",
                 f"vocabulary: {len(self.vocab.itos)} {self.p['tokens']} tokens"
                 + (f", {self.unseen} validation tokens unseen in training" if self.unseen else ""),
                 f"split contiguously: first {self.p['split']:g} train, the rest validation",
                 "most frequent: " + "  ".join(f"{shown(t)} {c}" for t, c in top[:10])]
        return dict(columns=["line", "text"], head=[[i + 1, line[:120]] for i, line in enumerate(lines)],
                    stats={"tokens": {"count": len(self.counts), "top share": top[0][1] / max(1, self.cut)}},
                    missing={},
                    sizes={"characters": len(self.text), "tokens": self.n_tokens, "train_tokens": self.cut,
                           "val_tokens": self.n_tokens - self.cut, "vocabulary": len(self.vocab.itos)},
                    notes=notes)

    # -- train ---------------------------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        return int((self.train_streams.shape[1] - 1) // self.p["bptt"])

    def batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.state_h = None  # each epoch starts from a fresh state; within it the state carries over
        bptt, data = self.p["bptt"], self.train_streams
        for i in range(0, data.shape[1] - 1 - bptt + 1, bptt):
            yield data[:, i: i + bptt], data[:, i + 1: i + 1 + bptt]

    def loss(self, batch: Any) -> tuple[torch.Tensor, int]:
        x, y = batch
        logits, state = self.model(x, self.state_h)
        self.state_h = detach(state)
        return nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1)), y.numel()

    # -- evaluate ------------------------------------------------------------------------------
    def eval_size(self) -> int:
        return int(self.val_streams.numel())

    def evaluate(self, limit: int | None = None, stage: str = Stage.EVALUATING) -> dict[str, float]:
        data, bptt = self.val_streams, self.p["bptt"]
        if limit is not None and limit < data.numel():  # each stream's first part: the state carries along it
            data = data[:, : max(bptt + 1, limit // data.shape[0])]
        total, count, state = 0.0, 0, None
        ends = data.shape[1] - 1
        for i in range(0, ends, bptt):
            x, y = data[:, i: i + bptt], data[:, i + 1: i + 1 + bptt]
            x = x[:, : y.shape[1]]
            logits, state = self.model(x, state)
            total += nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1),
                                                 reduction="sum").item()
            count += y.numel()
            self.ctx.progress(stage, (min(i + bptt, ends) + 1) * data.shape[0], data.numel())
        loss = total / max(1, count)
        out = {"val_loss": loss, "val_ppl": math.exp(min(loss, 50))}
        if self.p["tokens"] == "char":
            out["val_bpc"] = loss / math.log(2)
        if self.p["sample_tokens"] and stage == Stage.EVALUATING:  # an epoch's: what the model writes by now
            self.ctx.log("sample: " + self.sample_text())
        return out

    def sample_text(self) -> str:
        prompt = self.vocab.encode(self.text[self.cut_chars(): self.cut_chars() + 40])[:20] or [0]
        model = self.model
        with torch.autocast(self.device.type, enabled=False):
            ids = list(sample(model, prompt, self.p["sample_tokens"], temperature=0.8, seed=self.p["seed"]))
        return "".join(self.vocab.decode_one(i) for i in ids)

    def cut_chars(self) -> int:
        return int(len(self.text) * self.p["split"])

    def report(self, run_id: str) -> tuple[dict[str, float], list[Event]]:
        with torch.no_grad(), self.ctx.plan.autocast():
            self.model.eval()
            metrics = self.evaluate(stage=Stage.FINAL_EVALUATION)
            text = self.sample_text() if self.p["sample_tokens"] else ""
        if text:  # the last epoch's metrics are these, so its sample is this one
            self.ctx.log("sample: " + text)
        return metrics, [Evaluation(run_id, metrics, {"vocabulary": len(self.vocab.itos), "tokens": self.p["tokens"],
                                                      "sample": text})]

    def state(self) -> dict[str, Any]:
        return {"itos": self.vocab.itos, "mode": self.vocab.mode}


class Language(Experiment):
    spec = SPEC

    def build(self, p: dict[str, Any], ctx: Context) -> Task:
        return LanguageTask(p, ctx)

    def model_key(self, p: dict[str, Any]) -> str:
        cell = "" if p["model"] == "lstm" else f"{p['model']}/"
        return f"language/{cell}{p['embedding']}-{p['hidden']}x{p['layers']}/b{p['batch_size']}/t{p['bptt']}"


# -- generate ---------------------------------------------------------------------------------------
class Generator:
    """A trained run's model, loaded once, that streams text for prompts."""

    def __init__(self, checkpoint: dict[str, Any]):
        p, extra = checkpoint["params"], checkpoint["extra"]
        self.vocab = D.Vocab(extra["itos"], extra["mode"])
        self.model = LanguageModel(len(self.vocab.itos), p["embedding"], p["hidden"], p["layers"], 0.0, p["tie"],
                                   p.get("model", "lstm"))
        self.model.load_state_dict(checkpoint["model"])
        self.model.eval()
        self.epoch = checkpoint.get("epoch", 0)

    def stream(self, prompt: str, tokens: int = 200, temperature: float = 0.8, top_k: int = 0, top_p: float = 1.0,
               seed: int = 0) -> Iterator[str]:
        if not 1 <= tokens <= MAX_TOKENS:
            raise ParamError(f"tokens: must be an integer from 1 to {MAX_TOKENS:,} (got {tokens})")
        if not (0 <= temperature < float("inf")):  # nan too
            raise ParamError(f"temperature: must be a number >= 0 (got {temperature:g})")
        if top_k < 0:
            raise ParamError(f"top-k: must be >= 0 (got {top_k})")
        if not 0 < top_p <= 1:
            raise ParamError(f"top-p: must be in (0, 1] (got {top_p:g})")
        if not 0 <= seed < 2**63:  # torch's generator takes 64 bits
            raise ParamError(f"seed: must be an integer from 0 to 2**63-1 (got {seed})")
        ids = self.vocab.encode(prompt) or [self.vocab.stoi.get("\n", 0)]
        for i in sample(self.model, ids, tokens, temperature, top_k, top_p, seed):
            yield self.vocab.decode_one(i)
