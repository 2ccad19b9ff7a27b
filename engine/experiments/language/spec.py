"""Language experiment spec: hyperparameters and input checks (no torch here)."""

from __future__ import annotations

from typing import Any

from ...errors import ParamError
from ...params import Param, ParamSpec
from ...spec import Spec, common_params

BUILTIN = ("stdlib", "tinyshakespeare", "wikitext2")


CHECK_BYTES = 64 * 2**20


def check_corpus(value: str) -> None:
    if value in BUILTIN:
        return
    if not value.startswith("file:") or len(value) <= len("file:"):
        raise ParamError("must be stdlib (needs no download), tinyshakespeare, wikitext2 or file:PATH")


def check(p: dict[str, Any]) -> None:
    if p["tie"] and p["embedding"] != p["hidden"]:  # the parameters first: reading a file costs more
        raise ParamError(f"tie: needs embedding == hidden (got {p['embedding']} and {p['hidden']})")
    from .data import Vocab, read_text_file, split_point  # no torch

    if p["corpus"].startswith("file:"):  # the file is checked before a run is created
        # as much as the run will read (up to 64 MiB here): bad bytes deep in the file are exit 2, not a failed run
        text = read_text_file(p["corpus"][len("file:"):], limit=min(p["max_chars"] * 4, CHECK_BYTES))
        tokens = len(Vocab([], p["tokens"]).tokenize(text[: p["max_chars"]]))
    else:  # a built-in corpus is longer than max_chars: at most max_chars tokens
        tokens = p["max_chars"]
    split_point(tokens, p["split"], p["bptt"], p["batch_size"])


SPEC = Spec(
    name="language",
    title="Language",
    summary="an LSTM (or GRU) language model learns a text and writes more of it",
    params=ParamSpec([
        Param("corpus", "str", "stdlib", "stdlib (this Python's own source, no download), tinyshakespeare, "
              "wikitext2 (downloaded once) or file:PATH (UTF-8 text)", check=check_corpus),
        Param("max_chars", "int", 2_000_000, "use at most this many characters of the corpus", low=1000,
              high=2_000_000_000),
        Param("tokens", "str", "char", "characters, or words (with an unknown token past the vocabulary cap)",
              choices=("char", "word")),
        Param("vocab", "int", 10_000, "word vocabulary cap (tokens=word)", low=2, high=1_000_000),
        Param("split", "float", 0.7, "contiguous train fraction; validation is the rest, from the end",
              low=0.1, high=0.99),
        Param("model", "str", "lstm", "the recurrent cell: lstm (the lab's) or gru (fewer gates, faster steps)",
              choices=("lstm", "gru")),
        Param("embedding", "int", 128, "embedding size", low=1, high=4096),
        Param("hidden", "int", 384, "recurrent units per layer", low=1, high=8192),
        Param("layers", "int", 1, "stacked recurrent layers", low=1, high=8),
        Param("dropout", "float", 0.0, "dropout on embeddings, between layers and before the output", low=0.0,
              high=0.9),
        Param("tie", "bool", False, "share the input embedding and output weights (needs embedding == hidden)"),
        Param("bptt", "int", 64, "time steps per truncated backpropagation segment; the state carries over",
              low=2, high=10_000),
        Param("sample_tokens", "int", 200, "tokens of generated text logged after each epoch", low=0, high=10_000),
        # measured on 1 MB of English in 300 s: 1x384 beat 1x512 at batch 32 / bptt 128 (more, smaller steps) and 2x384
        *common_params(lr=0.004, batch_size=16, epochs=10, optimizer="adamw", clip=1.0, weight_decay=0.01),
    ]),
    target="val_loss",
    target_mode="min",
    trainer="labdeck.engine.experiments.language.experiment:Language",
    check=check,
    key_params=("corpus", "tokens", "model", "hidden", "layers", "bptt", "lr"),
    unit="tok",
    offline=("corpus", "stdlib"),
    new_input="text",
)
