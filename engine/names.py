"""What a name or a step may be: metric names (from the logging API, CSV columns, TensorBoard tags), experiment
names, user text echoed in a message, and the range of steps. One set of rules for every way they come in."""

from __future__ import annotations

from collections.abc import Iterable

from .errors import ParamError

AXES = ("step", "epoch", "train_seconds")  # a run's step and time axes: no metric takes these names
MAX_METRIC = 200  # characters of a metric name
MAX_EXPERIMENT = 100
MAX_STEP = 2**53  # the highest step: a float64 plot axis holds every integer up to it exactly


def printable(text: object, limit: int = 200) -> str:
    """``text`` safe to print on a terminal: control characters (escape sequences, newlines) become ``_``, and a
    long text ends in ``…``."""
    clean = "".join(c if c.isprintable() else "_" for c in str(text))
    return clean if len(clean) <= limit else clean[:limit - 1] + "…"


def metric(name: object) -> tuple[str, str]:
    """The name a metric is stored under, and why it differs from ``name`` ("" when it does not)."""
    text = str(name)
    clean = "".join(c if c.isprintable() else "_" for c in text).strip()[:MAX_METRIC] or "_"
    shown = repr(text if len(text) <= 60 else text[:60] + "…")  # repr: control characters escaped
    if clean in AXES:
        return clean + "_", f"metric {shown} is stored as {clean + '_'!r}: labdeck keeps {clean!r} for a run's axis"
    if clean == text:
        return clean, ""
    if len(text) > MAX_METRIC:
        return clean, f"metric name {shown} is stored as its first {MAX_METRIC} printable characters"
    return clean, f"metric name {shown} is stored as {clean!r} (printable characters only)"


def experiment(name: object, what: str = "experiment") -> str:
    """An experiment's name as given, if it is one: 1 to 100 printable characters."""
    text = str(name).strip()
    if not text or len(text) > MAX_EXPERIMENT or not text.isprintable():
        raise ParamError(f"{what}: give a printable name of 1 to {MAX_EXPERIMENT} characters "
                         f"(got {printable(name, 60)!r})")
    return text


LOSSES = ("train_loss", "test_loss", "val_loss")  # the losses labdeck's own experiments report
SYSTEM = "sys/"  # the prefix of what a script's process is sampled for (CPU, memory, GPUs)


def loss_like(key: str) -> bool:
    """Whether a metric is a loss, to be shown first and on a log axis."""
    return "loss" in key.lower()


def ordered(keys: Iterable[str]) -> list[str]:
    """Metrics in the order a view lists them: losses, then the run's other metrics, then the process's samples;
    the time axis is none of them."""
    keys = [k for k in keys if k != "train_seconds"]
    return sorted(keys, key=lambda k: (k.startswith(SYSTEM), not loss_like(k), k.lower()))
