"""The headless command line: ``labdeck run|params|runs|show|watch|pause|resume|stop|predict|generate|delete``.

Bad input exits with status 2 and one line naming what is wrong; no traceback, no run created.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from . import registry, runs
from .errors import DataError, LabdeckError, ParamError, RunNotFound
from .events import BatchMetrics, Event, Progress
from .formatting import fmt as _fmt, format_event
from .params import parse_assignments
from .store import ACTIVE, Store

EXIT_BAD_INPUT = 2


class UsageError(LabdeckError):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, like every other bad input
        raise UsageError(message)


class _Printer:
    def __init__(self, stream=sys.stdout):
        self.stream = stream
        self.tty = stream.isatty()
        self._transient = False

    def __call__(self, event: Event) -> None:
        line = format_event(event, self.tty)
        if line is None:
            return
        if isinstance(event, (BatchMetrics, Progress)) and self.tty:
            self.stream.write("\r\033[K" + line)
            self._transient = True
        else:
            if self._transient:
                self.stream.write("\r\033[K")
                self._transient = False
            self.stream.write(line + "\n")
        self.stream.flush()


def _result_json(store: Store, run_id: str) -> dict[str, Any]:
    info = store.get(run_id)
    return {"run_id": info.id, "experiment": info.experiment, "status": info.status, "params": info.params,
            "metrics": info.metrics, "train_seconds": info.train_seconds, "epochs": info.epochs,
            "message": info.message}


# -- commands ---------------------------------------------------------------------------------------
def cmd_run(store: Store, a: argparse.Namespace) -> int:
    run_id = runs.create(store, a.experiment, parse_assignments(a.set or []), a.budget)
    if a.detach:
        runs.spawn(store, run_id)
        print(json.dumps({"run_id": run_id, "status": "queued"}) if a.json else run_id)
        return 0
    ended = runs.run_here(store, run_id, on_event=_Printer())
    if a.json:
        print(json.dumps(_result_json(store, run_id)))
    return 1 if ended.status == "failed" else 0


def cmd_params(store: Store | None, a: argparse.Namespace) -> int:
    spec = registry.get(a.experiment)
    if a.json:
        print(json.dumps([{"name": p.name, "type": p.type, "default": p.default, "allowed": p.allowed(),
                           "low": p.low, "high": p.high, "choices": list(p.choices), "help": p.help}
                          for p in spec.params]))
        return 0
    print(f"{spec.name}: {spec.summary}")
    rows = [(p.name, p.type, _fmt(p.default), p.allowed(), p.help) for p in spec.params]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4])
    return 0


def _age(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def cmd_runs(store: Store, a: argparse.Namespace) -> int:
    infos = store.runs(a.experiment)
    if a.json:
        print(json.dumps([i.to_json() for i in infos]))
        return 0
    if not infos:
        print(f"no runs in {store.home}")
        return 0
    for i in infos:
        spec = registry.get(i.experiment) if i.experiment in registry.names() else None
        target = spec.target if spec else ""
        score = f"{target} {_fmt(i.metrics[target])}" if target in i.metrics else ""
        print(f"{i.id}  {i.experiment:<9} {i.status:<11} {_age(i.created)}  {i.epochs:>4} ep  {score}")
    return 0


def cmd_show(store: Store, a: argparse.Namespace) -> int:
    info = store.get(a.run, history=True)
    if a.json:
        print(json.dumps(info.to_json()))
        return 0
    print(f"run {info.id}  {info.experiment}  {info.status}" + (f"  pid {info.pid}" if info.status in ACTIVE else ""))
    if info.message:
        print(f"message: {info.message}")
    print(f"created {_age(info.created)}  device {info.device or '-'}  epochs {info.epochs}  "
          f"train {info.train_seconds:.1f}s" + (f"  budget {info.budget:g}s" if info.budget else ""))
    print("params: " + "  ".join(f"{k}={_fmt(v)}" for k, v in info.params.items()))
    if info.metrics:
        print("metrics: " + "  ".join(f"{k} {_fmt(v)}" for k, v in info.metrics.items()))
    hist = info.history
    if hist.get("epoch"):
        keys = [k for k in hist if k != "epoch"]
        print("epoch  " + "  ".join(f"{k:>12}" for k in keys))
        for j, e in enumerate(hist["epoch"]):
            print(f"{int(e):>5}  " + "  ".join(f"{_fmt(hist[k][j]):>12}" for k in keys))
    return 0


def cmd_watch(store: Store, a: argparse.Namespace) -> int:
    printer = _Printer()
    info = store.get(a.run)
    for event in store.iter_new_events(info.id):
        printer(event)
    print(f"run {info.id} is {store.get(info.id).status}")
    return 0


def cmd_control(store: Store, a: argparse.Namespace) -> int:
    action = {"pause": runs.pause, "resume": runs.resume, "stop": runs.stop}[a.command]
    run_id = action(store, a.run)
    print(f"{a.command}: {run_id}")
    return 0


def cmd_delete(store: Store, a: argparse.Namespace) -> int:
    info = store.get(a.run)
    if info.status in ACTIVE:
        raise LabdeckError(f"run {info.id} is {info.status}; stop it before deleting it")
    store.delete_run(info.id)
    print(f"deleted {info.id}")
    return 0


def cmd_predict(store: Store, a: argparse.Namespace) -> int:
    from .predict import predict  # imports torch

    info = store.get(a.run)
    result = predict(store, info, a.inputs, csv=a.csv, steps=a.steps)
    if a.json:
        print(json.dumps(result))
    else:
        for line in result.get("lines", []):
            print(line)
    return 0


def cmd_generate(store: Store, a: argparse.Namespace) -> int:
    from .predict import generator  # imports torch

    gen = generator(store, store.get(a.run))
    out = sys.stdout
    for piece in gen.stream(a.prompt, a.tokens, a.temperature, a.top_k, a.top_p, a.seed):
        out.write(piece)
        out.flush()  # stream: each token as soon as it exists
    out.write("\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    home_help = "run store folder (default: $LABDECK_HOME or the user data dir)"
    # Accepted before or after the command; SUPPRESS keeps a subcommand from resetting a --home given before it.
    common = _Parser(add_help=False)
    common.add_argument("--home", default=argparse.SUPPRESS, help=home_help)
    ap = _Parser(prog="labdeck", description="Run and watch deep-learning lab experiments.")
    ap.add_argument("--home", default=None, help=home_help)
    sub = ap.add_subparsers(dest="command", required=True, parser_class=_Parser)
    names = ", ".join(registry.names())

    p = sub.add_parser("run", parents=[common], help="train an experiment")
    p.add_argument("experiment", help=names)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="hyperparameter (repeatable)")
    p.add_argument("--budget", type=float, metavar="SECONDS", help="training wall-clock budget; epochs is ignored")
    p.add_argument("--detach", action="store_true", help="run in the background, print the run id, return")
    p.add_argument("--json", action="store_true", help="end with one JSON line of the result")

    p = sub.add_parser("params", parents=[common], help="list an experiment's hyperparameters")
    p.add_argument("experiment", help=names)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("runs", parents=[common], help="list runs")
    p.add_argument("--experiment")
    p.add_argument("--json", action="store_true")

    for name, what in (("show", "a run's status, parameters and metric history"),
                       ("watch", "follow a run's progress until it ends")):
        p = sub.add_parser(name, parents=[common], help=what)
        p.add_argument("run")
        p.add_argument("--json", action="store_true")
    for name, what in (("pause", "pause a running run"), ("resume", "resume a paused, stopped or interrupted run"),
                       ("stop", "stop a run (it checkpoints first)"), ("delete", "delete a finished run")):
        p = sub.add_parser(name, parents=[common], help=what)
        p.add_argument("run")

    p = sub.add_parser("predict", parents=[common], help="use a trained run on new data")
    p.add_argument("run")
    p.add_argument("inputs", nargs="*", help="sequence: the last values of a series (numbers); vision: image files")
    p.add_argument("--csv", metavar="PATH[:COLUMN]", help="sequence: read the series from a CSV column")
    p.add_argument("--steps", type=int, default=20, help="sequence: values to forecast")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("generate", parents=[common], help="stream text from a language run (finished or running)")
    p.add_argument("run")
    p.add_argument("--prompt", default="", help="text to continue")
    p.add_argument("--tokens", type=int, default=200, help="tokens to generate")
    p.add_argument("--temperature", type=float, default=0.8, help="0 = always the most likely token")
    p.add_argument("--top-k", type=int, default=0, help="sample among the k most likely tokens (0 = all)")
    p.add_argument("--top-p", type=float, default=1.0, help="sample among the most likely tokens of this mass")
    p.add_argument("--seed", type=int, default=0)
    return ap


COMMANDS = {"run": cmd_run, "params": cmd_params, "runs": cmd_runs, "show": cmd_show, "watch": cmd_watch,
            "pause": cmd_control, "resume": cmd_control, "stop": cmd_control, "delete": cmd_delete,
            "predict": cmd_predict, "generate": cmd_generate}


def main(argv: list[str] | None = None) -> int:
    try:
        a = build_parser().parse_args(argv)
        store = Store(a.home) if a.command != "params" else None
        return COMMANDS[a.command](store, a)
    except LabdeckError as exc:
        print(f"labdeck: {exc}", file=sys.stderr)
        bad_input = isinstance(exc, (ParamError, UsageError, DataError, RunNotFound))
        return EXIT_BAD_INPUT if bad_input else 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
