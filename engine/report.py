"""Lab reports: a Markdown file with matplotlib figures and CSV files of every metric, for a run or a sweep."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from . import durable, names, registry
from .errors import LabdeckError
from .events import Evaluation, LogLine, Predictions
from .export import write_csv
from .formatting import fmt
from .store import RunInfo, Store


# -- figures --------------------------------------------------------------------------------------
def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a server
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> str | None:
    """Write the figure; None where it cannot be drawn (values near float's limit break matplotlib's ticks)."""
    try:
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    except (ValueError, OverflowError, FloatingPointError):
        return None
    finally:
        _pyplot().close(fig)
    return path.name


def _curves(hist: dict[str, list[float]], keys: list[str], title: str, path: Path, log: bool = False,
            x: str = "epoch") -> str | None:
    keys = [k for k in keys if k in hist]
    if not keys or not hist.get("epoch"):
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for k in keys:
        ys = [math.nan if v is None else v for v in hist[k]]  # a value logged as NaN is stored as NULL
        ax.plot(hist["epoch"], ys, marker="o" if len(ys) <= 200 else None, markersize=3, label=k)
    ax.set_xlabel(x)
    ax.set_title(title)
    if log and all(v > 0 for k in keys for v in hist[k] if v is not None and not math.isnan(v)):
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def save_curves(series: dict[str, tuple[list[float], list[float]]], path: Path, title: str,
                log: bool = False) -> Path:
    """Save lines (label -> (steps, values)), such as a plot on the dashboard, as a PNG file."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for label, (xs, ys) in series.items():
        ax.plot(xs, ys, marker="o", markersize=2, label=label)
    ax.set_xlabel("step")
    ax.set_title(title)
    if log and all(v > 0 for _, ys in series.values() for v in ys if not math.isnan(v)):
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _save(fig, path)
    except OSError as exc:
        raise LabdeckError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def _confusion(tables: dict[str, Any], path: Path) -> str | None:
    import numpy as np

    plt = _pyplot()
    classes, matrix = tables["classes"], np.array(tables["confusion"])
    n = len(classes)
    size = min(12.0, 3 + 0.45 * n)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    im = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    if n <= 20:
        ax.set_xticks(range(n), classes, rotation=45, ha="right")
        ax.set_yticks(range(n), classes)
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if shares[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix (colour: share of the true class)")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _save(fig, path)


def _waves(series: dict[str, list[float]], path: Path) -> str | None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    shown = min(len(series["true"]), len(series["forecast"]) + 100)
    ax.plot(series["true"][:shown], label="true", linewidth=2)
    ax.plot(series["predicted"][:shown], label="one-step predicted", linestyle="--")
    ax.plot(series["forecast"], label="free-running forecast", linestyle=":")
    ax.set_xlabel("t (0 = start of the test part)")
    ax.set_title("true vs predicted vs forecast")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def _grads(grads: list[float], path: Path) -> str | None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    ax.semilogy(range(len(grads)), [max(g, 1e-30) for g in grads], marker="o", markersize=3)
    ax.set_xlabel("time step in the input window")
    ax.set_ylabel("|d loss / d x_t|")
    ax.set_title("gradient reach")
    ax.grid(alpha=0.3)
    return _save(fig, path)


# -- reports --------------------------------------------------------------------------------------
def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return lines


MAX_FIGURES = 12  # of a script's metrics, in a report (metrics.csv has them all)


def run_report(store: Store, info: RunInfo, out: Path, prefix: str = "") -> list[str]:
    """Write a run's figures and CSV into ``out``; return its Markdown lines."""
    own = registry.is_own(info.experiment)  # else a run a script logged through labdeck.init
    # labdeck's own runs have tens of epochs: their history whole; a script's may have a million steps: plot-ready
    info = store.get(info.id, history=own)
    title = registry.get(info.experiment).title if own else f"{info.experiment} (logged by a script)"
    unit = "epochs" if own else "steps"
    hist = info.history
    evaluation = predictions = None
    samples = []
    for _, event in store.events(info.id, limit=1_000_000):
        if isinstance(event, Evaluation):
            evaluation = event
        elif isinstance(event, Predictions):
            predictions = event
        elif isinstance(event, LogLine) and event.text.startswith("sample: "):
            samples.append(event.text[len("sample: "):])
    p = prefix or ""
    with open(out / f"{p}metrics.csv", "w", encoding="utf-8") as f:
        write_csv(store, info.id, f)
    md = [f"## Run {info.id}: {title}", "",
          f"Status **{info.status}** after {info.epochs} {unit}, {info.train_seconds:.1f} s of training on "
          f"{info.device or 'an unknown device'}." + (f" Message: {info.message}" if info.message else ""), ""]
    params = [[k, v] for k, v in info.params.items()]
    if info.budget:  # the budget decided how long it trained, not the epochs parameter
        params = [[k, f"{info.epochs} run (a {info.budget:g} s budget decided; the parameter was {v})"
                   if k == "epochs" else v] for k, v in params]
        params.append(["budget", f"{info.budget:g} s"])
    md += ["### Parameters", "", *_table(["parameter", "value"], params), ""]
    if info.metrics:
        md += ["### Final metrics", "", *_table(["metric", "value"], [[k, v] for k, v in info.metrics.items()]), ""]
    figures = [("Loss over epochs", _curves(hist, ["train_loss", "test_loss", "val_loss"], "loss",
                                            out / f"{p}loss.png", log=True))] if own else []
    if not own:  # each metric the script logged, over its steps, decimated (spikes and gaps kept)
        keys = [k for k in names.ordered(store.series_keys(info.id))][:MAX_FIGURES]
        series = store.decimated(info.id, keys, buckets=1000)
        figures += [(f"{k} over steps", _curves({"epoch": series[k][0].tolist(), k: series[k][1].tolist()}, [k],
                                                k, out / f"{p}metric-{i}.png", x="step"))
                    for i, k in enumerate(keys)]
    if info.experiment == "vision":
        figures.append(("Accuracy over epochs", _curves(hist, ["test_accuracy", "test_top5"], "accuracy",
                                                        out / f"{p}accuracy.png")))
        if evaluation is not None and "confusion" in evaluation.tables:
            figures.append(("Confusion matrix", _confusion(evaluation.tables, out / f"{p}confusion.png")))
    if info.experiment == "sequence":
        if predictions is not None:
            figures.append(("True vs predicted vs forecast", _waves(predictions.series, out / f"{p}waves.png")))
        if evaluation is not None and "grad_norms" in evaluation.tables:
            figures.append(("Gradient norm per time step", _grads(evaluation.tables["grad_norms"],
                                                                  out / f"{p}gradients.png")))
    if info.experiment == "language":
        figures.append(("Validation perplexity", _curves(hist, ["val_ppl"], "perplexity", out / f"{p}ppl.png")))
    for title, name in figures:
        if name:
            md += [f"### {title}", "", f"![{title}]({name})", ""]
    if evaluation is not None and "per_class" in evaluation.tables:
        t = evaluation.tables
        rows = [[c, t["per_class"]["precision"][i], t["per_class"]["recall"][i], t["per_class"]["f1"][i],
                 t["per_class"]["support"][i]] for i, c in enumerate(t["classes"])]
        md += ["### Per-class metrics", "", *_table(["class", "precision", "recall", "F1", "support"], rows), ""]
    if samples:
        md += ["### Generated samples (one per epoch)", ""]
        for i, text in enumerate(samples[-5:]):
            md += [f"Epoch {len(samples) - min(5, len(samples)) + i + 1}:", "", "```", text, "```", ""]
    md += [f"Every metric per {unit[:-1]}: [{p}metrics.csv]({p}metrics.csv)", ""]
    return md


def sweep_report(store: Store, sweep_id: str, trials: list[RunInfo], out: Path) -> list[str]:
    from .sweep import swept_keys

    spec = registry.get(trials[0].experiment)
    target, best_first = spec.target, spec.target_mode == "max"
    keys = swept_keys(trials)
    scored = sorted(trials, key=lambda r: (target not in r.metrics,
                                           -r.metrics.get(target, 0) if best_first else r.metrics.get(target, 0)))
    rows = [[r.id, r.status, *[r.params.get(k) for k in keys], r.metrics.get(target, float("nan"))] for r in scored]
    with open(out / "trials.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["run_id", "status", *keys, target])
        writer.writerows(rows)
    md = [f"# Sweep {sweep_id}: {spec.title}", "", f"{len(trials)} trials, scored by `{target}` "
          f"({'higher' if best_first else 'lower'} is better). Best first:", "",
          *_table(["run", "status", *keys, target], rows), "", "All trials: [trials.csv](trials.csv)", ""]
    plt = _pyplot()
    for key in keys:
        xs = [r.params[key] for r in trials if target in r.metrics]
        ys = [r.metrics[target] for r in trials if target in r.metrics]
        if not xs:
            continue
        fig, ax = plt.subplots(figsize=(5.5, 3.4))
        numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
        ax.scatter(xs if numeric else [str(x) for x in xs], ys)
        if numeric and min(xs) > 0 and max(xs) / min(xs) >= 20:
            ax.set_xscale("log")
        ax.set_xlabel(key)
        ax.set_ylabel(target)
        ax.set_title(f"{target} against {key}")
        ax.grid(alpha=0.3)
        name = _save(fig, out / f"sweep-{key}.png")
        md += [f"![{target} against {key}]({name})", ""]
    best = scored[0]
    md += run_report(store, best, out, prefix=f"best-{best.id}-")
    return md


def write_report(store: Store, target: str, out: str | Path) -> Path:
    """Write ``report.md`` (and its figures and CSV files) for a run id or a sweep id into ``out``."""
    out = Path(out).expanduser()
    trials = [r for r in store.runs() if r.sweep == target]
    info = None if trials else store.get(target)  # a target that is not there creates no folder
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LabdeckError(f"cannot create {out}: {exc.strerror or exc}") from None
    try:
        if info is None:
            md = sweep_report(store, target, trials, out)
        else:
            md = [f"# labdeck report: run {info.id}", "", *run_report(store, info, out)]
        path = out / "report.md"
        durable.write_text(path, "\n".join(md))  # whoever waits for report.md to appear never reads half of it
    except OSError as exc:
        raise LabdeckError(f"cannot write the report into {out}: {exc.strerror or exc}") from None
    return path
