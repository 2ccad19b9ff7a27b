"""The headless command line: ``labdeck run|sweep|params|runs|show|watch|pause|resume|stop|predict|generate|
report|export|delete``.

Bad input exits with status 2 and one line naming what is wrong; no traceback, no run created.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from . import jsonout, paths, presets, registry, runs, sweep
from .alerts import split_rules
from .errors import DataError, LabdeckError, ParamError, RunNotFound, StoreMissing
from .events import BatchMetrics, Event, Phase, Progress, to_record
from .formatting import fmt as _fmt
from .formatting import format_event, run_line
from .hosts import HostError, wanted
from .names import printable
from .notify import terminal_notification
from .params import parse_assignments
from .status import ACTIVE, Status
from .store import AlertRecord, Store
from .version import version

if TYPE_CHECKING:
    from .store import RunInfo

EXIT_BAD_INPUT = 2
READING = ("runs", "show", "watch", "export", "predict", "generate", "report")  # commands that change no run


class UsageError(LabdeckError):
    pass


class Terminated(BaseException):
    """SIGTERM reached the CLI: it stops what it started, as for Ctrl+C, and exits 143."""


SIGNAL_EXIT = {"SIGINT": 130, "SIGTERM": 143}  # 128 + the signal's number, as a shell reports it


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, like every other bad input
        raise UsageError(message)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        """Each argument that names a run, sweep, experiment, setting or preset completes in the shell
        (argcomplete's documented ``add_argument(...).completer``); sub-commands' parsers are of this class too."""
        action = super().add_argument(*args, **kwargs)
        if (completer := _COMPLETERS.get(action.dest)) is not None:
            action.completer = completer  # type: ignore[attr-defined]  # argcomplete's documented attribute
        return action


class _Printer:
    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout  # looked up now: sys.stdout may have been replaced since import
        self.tty = self.stream.isatty()
        self._transient = False

    def __call__(self, event: Event) -> None:
        line = format_event(event, self.tty)
        if line is None:
            return
        if isinstance(event, (BatchMetrics, Phase, Progress)) and self.tty:
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


def _overrides(a: argparse.Namespace) -> tuple[dict[str, Any], float | None, str]:
    """The --preset's values (if any) with each --set on top, the budget (--budget or --train-budget, else the
    preset's) and what it counts."""
    registry.get(a.experiment)  # an unknown experiment is named as such, not as a missing preset file
    values = dict(presets.get(a.experiment, a.preset)) if a.preset else {}
    budget = values.pop("budget", None)  # a preset saved from the dashboard's form keeps its budget row ...
    if rules := split_rules(values.pop("alerts", "")):  # ... and its alerts row
        a.alert = [*rules, *(a.alert or [])]
    if a.budget is not None and a.train_budget is not None:
        raise UsageError("--budget (the whole run) and --train-budget (its training) are two ways to say one "
                         "thing: give one")
    if a.train_budget is not None:
        return {**values, **parse_assignments(a.set or [])}, a.train_budget, "train"
    values.update(parse_assignments(a.set or []))
    return values, a.budget if a.budget is not None else budget, "wall"


# -- commands ---------------------------------------------------------------------------------------
def cmd_run(store: Store, a: argparse.Namespace) -> int:
    values, budget, kind = _overrides(a)
    run_id = runs.create(store, a.experiment, values, budget, budget_kind=kind, alerts=a.alert or [])
    if a.detach:
        runs.spawn(store, run_id)
        print(jsonout.dumps({"run_id": run_id, "status": Status.QUEUED}) if a.json else run_id)
        return 0
    # with --json, standard output is the one JSON document: the progress lines go to standard error
    ended = runs.run_here(store, run_id, on_event=_Printer(sys.stderr if a.json else sys.stdout), since=a.started)
    if a.json:
        print(jsonout.dumps(_result_json(store, run_id)))
    if ended.status == Status.STOPPED and ended.reason in SIGNAL_EXIT:  # `labdeck run ... && next` must not go on
        return SIGNAL_EXIT[ended.reason]
    return 1 if ended.status == Status.FAILED else 0


def cmd_params(store: Store | None, a: argparse.Namespace) -> int:
    spec = registry.get(a.experiment)
    if a.json:
        print(jsonout.dumps([{"name": p.name, "type": p.type, "default": p.default, "allowed": p.allowed(),
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
    infos = store.runs(a.experiment)[::-1]  # newest first, as the dashboard lists them
    if a.json:
        print(jsonout.dumps([i.to_json() for i in infos]))
        return 0
    if not infos:
        print(f"no runs in {store.home}")
        return 0
    for i in infos:
        print(run_line(i))
    return 0


SHOW_ROWS = 100  # a history this short is printed whole by show; a longer one as each metric's summary
JSON_HISTORY = 10_000  # steps of history in show --json; past that, "history" is null (export streams it all)


def cmd_show(store: Store, a: argparse.Namespace) -> int:
    info = store.get(a.run)
    keys = store.series_keys(info.id)
    steps = max((k["points"] for k in keys.values()), default=0)
    if a.json:
        out = info.to_json()
        out["series"] = keys
        out["history"] = store.history(info.id) if steps <= JSON_HISTORY else None
        print(jsonout.dumps(out))
        return 0
    unit = "epochs" if registry.is_own(info.experiment) else "last step"
    print(f"run {info.id}  {printable(info.experiment)}  {info.status}" + (f"  {printable(info.name)!r}" if info.name
                                                                           else "")
          + (f"  pid {info.pid}" if info.status in ACTIVE else ""))
    if info.message:
        print(f"message: {printable(info.message, 500)}")
    print(f"created {_age(info.created)}  device {info.device or '-'}  {unit} {info.epochs}  "
          f"train {info.train_seconds:.1f}s"
          + (f"  budget {info.budget:g}s ({'whole run' if info.budget_kind == 'wall' else 'training'})"
             if info.budget else ""))
    print("params: " + "  ".join(f"{printable(k)}={printable(_fmt(v))}" for k, v in info.params.items()))
    if info.meta:
        git = info.meta.get("git") or {}
        print("command: " + printable(" ".join(map(str, info.meta.get("command", []))), 500)
              + (f"  (git {str(git.get('commit', ''))[:12]}{' with uncommitted changes' if git.get('dirty') else ''})"
                 if git else ""))
    if info.metrics:
        print("metrics: " + "  ".join(f"{printable(k)} {_fmt(v)}" for k, v in info.metrics.items()))
    if not keys:
        return 0
    if steps <= SHOW_ROWS:
        hist = store.history(info.id)
        names = [k for k in hist if k != "epoch"]
        axis = "epoch" if registry.is_own(info.experiment) else "step"
        print(f"{axis:>5}  " + "  ".join(f"{printable(k, 12):>12}" for k in names))
        for j, e in enumerate(hist["epoch"]):
            print(f"{int(e):>5}  " + "  ".join(f"{_fmt(hist[k][j]):>12}" for k in names))
        return 0
    width = min(40, max(len(k) for k in keys))
    print(f"{'metric':<{width}}  {'points':>9}  {'steps':>17}  {'last':>10}  {'min':>10}  {'max':>10}")
    for key, k in keys.items():
        steps = f"{k['first_step']}-{k['last_step']}"
        print(f"{printable(key, width):<{width}}  {k['points']:>9}  {steps:>17}  {_fmt(k['last']):>10}  "
              f"{_fmt(k['min']):>10}  {_fmt(k['max']):>10}")
    print(f"every point: labdeck export {info.id} [--format csv|json|tensorboard]")
    return 0


WATCH_POLL = 0.2  # seconds between reads of a followed run's new events
PROGRESS_SECONDS = 1.0  # a script's run: its last step and values, at most this often (it has no epoch events)


def cmd_watch(store: Store, a: argparse.Namespace) -> int:
    """Follow a run to its end; with --json, one JSON object per event (JSON Lines), then one with the result. A
    script's run, whose steps are points rather than events, gets a line of its last step and values each second
    it logged something (``{"kind": "progress", ...}`` with --json)."""
    info = store.get(a.run)
    if a.json:
        def printer(event: Event) -> None:
            kind, payload = to_record(event)
            print(jsonout.dumps({"kind": kind, "run_id": event.run_id, **payload}), flush=True)
    else:
        printer = _Printer()
    script = not registry.is_own(info.experiment)
    after, points, next_progress = 0, 0, 0.0
    while True:
        batch = store.events(info.id, after)
        for _, event in batch:
            printer(event)
        after = batch[-1][0] if batch else after
        now = time.monotonic()
        if script and now >= next_progress:
            next_progress = now + PROGRESS_SECONDS
            if (count := store.points_counts([info.id]).get(info.id, 0)) != points:
                points = count
                _progress(store, info.id, a.json)
        if not batch and store.get(info.id).status not in ACTIVE:
            break
        if not batch:
            time.sleep(WATCH_POLL)
    status = store.get(info.id).status
    if a.json:
        print(jsonout.dumps({"kind": "result", **_result_json(store, info.id)}))
    else:
        print(f"run {info.id} is {status}")
    return 1 if status in (Status.FAILED, Status.INTERRUPTED) else 0


def _progress(store: Store, run_id: str, as_json: bool) -> None:
    keys = {k: v for k, v in store.series_keys(run_id).items() if k != "train_seconds"}
    step = max((v["last_step"] for v in keys.values()), default=0)
    last = {k: v["last"] for k, v in keys.items()}
    if as_json:
        print(jsonout.dumps({"kind": "progress", "run_id": run_id, "step": step, "metrics": last}), flush=True)
    else:
        print(f"step {step}  " + "  ".join(f"{printable(k, 40)} {_fmt(v)}" for k, v in last.items()), flush=True)


def cmd_control(store: Store, a: argparse.Namespace) -> int:
    if sweep.is_sweep(a.run) and a.command in ("stop", "resume"):
        return cmd_sweep_control(store, a)
    action = {"pause": runs.pause, "resume": runs.resume, "stop": runs.stop}[a.command]
    run_id = action(store, a.run)
    if a.json:
        print(jsonout.dumps({"action": a.command, "run_id": run_id, "status": store.get(run_id).status}))
    else:
        print(f"{a.command}: {run_id}")
    return 0


def cmd_delete(store: Store, a: argparse.Namespace) -> int:
    run_id = runs.delete(store, a.run)
    print(jsonout.dumps({"action": "delete", "run_id": run_id}) if a.json else f"deleted {run_id}")
    return 0


def cmd_predict(store: Store, a: argparse.Namespace) -> int:
    from .predict import predict  # imports torch

    info = store.get(a.run)
    result = predict(store, info, a.inputs, csv=a.csv, steps=a.steps)
    if a.json:
        print(jsonout.dumps(result))
    else:
        for line in result.get("lines", []):
            print(line)
    return 0


def cmd_generate(store: Store, a: argparse.Namespace) -> int:
    from .predict import barely_trained, generator  # imports torch

    info = store.get(a.run)
    gen = generator(store, info)
    if note := barely_trained(info):
        print(f"labdeck: note: {note}", file=sys.stderr)
    out = sys.stdout
    pieces = gen.stream(a.prompt, a.tokens, a.temperature, a.top_k, a.top_p, a.seed)
    out.write(a.prompt + next(pieces, ""))  # the text goes on from the prompt (a bad option is said before either)
    out.flush()
    for piece in pieces:
        out.write(piece)
        out.flush()  # stream: each token as soon as it exists
    out.write("\n")
    return 0


def _trial_line(info: RunInfo) -> str:
    spec = registry.get(info.experiment)
    score = f"{spec.target} {_fmt(info.metrics[spec.target])}" if spec.target in info.metrics else ""
    tail = f": {info.message}" if info.message else ""
    return f"trial {info.id} {info.status}  {score}{tail}"


def _sweep_result(store: Store, sweep_id: str, a: argparse.Namespace) -> int:
    infos = sweep.trials(store, sweep_id)
    keys = sweep.swept_keys(infos)
    top = sweep.best(infos)
    # a failed trial is the sweep's failure for a script (exit 1), the others' results still printed
    status = 1 if any(i.status in (Status.FAILED, Status.INTERRUPTED) for i in infos) else 0
    if a.json:
        print(jsonout.dumps({"sweep_id": sweep_id, "experiment": infos[0].experiment, "swept": keys,
                          "best": top.id if top else None,
                          "trials": [{"run_id": i.id, "status": i.status, "params": {k: i.params[k] for k in keys},
                                      "metrics": i.metrics, "message": i.message} for i in infos]}))
        return status
    spec = registry.get(infos[0].experiment)
    print(f"sweep {sweep_id}: {len(infos)} trials, best by {spec.target}: {top.id if top else 'none finished'}")
    for i in sweep.ranked(infos):
        params = "  ".join(f"{k}={_fmt(i.params[k])}" for k in keys)
        score = _fmt(i.metrics[spec.target]) if spec.target in i.metrics else "-"
        print(f"{'*' if top and i.id == top.id else ' '} {i.id}  {i.status:<9} {spec.target} {score:<10} {params}")
    return status


def _run_sweep(store: Store, sweep_id: str, parallel: int, a: argparse.Namespace) -> int:
    show = (lambda info: None) if a.json else (lambda info: print(_trial_line(info), flush=True))
    try:
        sweep.run(store, sweep_id, parallel, on_trial=show)
    except (KeyboardInterrupt, Terminated) as exc:
        sweep.stop(store, sweep_id)
        print(f"sweep {sweep_id} stopped; 'labdeck resume {sweep_id}' continues it", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    return _sweep_result(store, sweep_id, a)


def cmd_sweep(store: Store, a: argparse.Namespace) -> int:
    grid = sweep.parse_grid(a.grid or [])
    ranges = sweep.parse_ranges(a.range or [], a.experiment)
    values, budget, kind = _overrides(a)
    sweep.check_options(a.parallel, budget, a.backend, a.asha, a.gpus_per_trial, a.address, a.per_gpu)
    trials = sweep.plan(a.experiment, values, grid, a.random, ranges, a.seed)
    options = {"parallel": a.parallel, "backend": a.backend}
    if a.per_gpu:
        options["per_gpu"] = a.per_gpu
    if a.backend == "ray":
        options.update(address=a.address, asha=a.asha, gpus_per_trial=a.gpus_per_trial)
    sweep_id = sweep.create(store, a.experiment, trials, budget, options, budget_kind=kind, alerts=a.alert or [])
    if a.detach:
        sweep.spawn(store, sweep_id, a.parallel)
        print(jsonout.dumps({"sweep_id": sweep_id, "trials": len(trials)}) if a.json else sweep_id)
        return 0
    if not a.json:
        where = f" on Ray ({a.address or 'local instance'}{', ASHA' if a.asha else ''})" if a.backend == "ray" else ""
        print(f"sweep {sweep_id}: {len(trials)} trials of {a.experiment}, {a.parallel} at a time{where}", flush=True)
    return _run_sweep(store, sweep_id, a.parallel, a)


def cmd_sweep_run(store: Store, a: argparse.Namespace) -> int:
    return _run_sweep(store, a.sweep, a.parallel, a)


def cmd_sweep_control(store: Store, a: argparse.Namespace) -> int:
    sweep_id = sweep.full_id(sweep.trials(store, a.run))
    if a.command == "stop":
        stopped = sweep.stop(store, sweep_id)
        print(jsonout.dumps({"action": "stop", "sweep_id": sweep_id, "stopped": stopped}) if a.json
              else f"stop: sweep {sweep_id} ({len(stopped)} trials stopped)")
        return 0
    sweep.resume(store, sweep_id)
    parallel = store.sweep_options(sweep_id).get("parallel", 1)
    print(jsonout.dumps({"action": "resume", "sweep_id": sweep_id, "parallel": parallel}) if a.json
          else f"resume: sweep {sweep_id} (unfinished trials continue in the background, {parallel} at a time)")
    return 0


def cmd_report(store: Store, a: argparse.Namespace) -> int:
    from .report import write_report

    path = write_report(store, a.run, a.out)
    print(jsonout.dumps({"report": str(path)}) if a.json else path)
    return 0


def cmd_export(store: Store, a: argparse.Namespace) -> int:
    from . import export

    if a.format == "tensorboard":
        from . import interchange

        if not a.out:
            raise UsageError("--format tensorboard writes files: give the folder with --out DIR")
        out = interchange.export(store, a.run, Path(a.out))
        shown = printable(out)
        print(f"TensorBoard files in {shown}: tensorboard --logdir {shown}", file=sys.stderr)
        return 0
    if a.out:
        raise UsageError("--out is for --format tensorboard; csv and json go to standard output")
    (export.write_json if a.format == "json" else export.write_csv)(store, a.run, sys.stdout)
    return 0


def cmd_import(store: Store, a: argparse.Namespace) -> int:
    from . import interchange

    ids = interchange.import_path(store, Path(a.path), a.experiment)
    if a.json:
        print(jsonout.dumps({"run_ids": ids}))
    else:
        for run_id in ids:
            print(run_id)
    return 0


def build_parser() -> argparse.ArgumentParser:
    home_help = "run store folder (default: $LABDECK_HOME or the user data dir)"
    # Accepted before or after the command; SUPPRESS keeps a subcommand from resetting a --home given before it.
    common = _Parser(add_help=False)
    common.add_argument("--home", default=argparse.SUPPRESS, help=home_help)
    ap = _Parser(prog="labdeck", formatter_class=argparse.RawDescriptionHelpFormatter,
                 description="Run and watch deep-learning lab experiments.\n\n"
                             "Plain 'labdeck' (no command) opens the dashboard in this terminal.",
                 epilog="examples:\n"
                        "  labdeck                                   open the dashboard\n"
                        "  labdeck run sequence --budget 20          train a wave forecaster for 20 s\n"
                        "  labdeck run vision --set dataset=shapes --budget 30   offline images\n"
                        "  labdeck runs                              every run, live\n"
                        "  labdeck --host gpu1 --host me@gpu2        the dashboard over this machine and them\n"
                        "  labdeck params vision                     every hyperparameter with its help\n\n"
                        "exit status: 0 done, 1 a run or sweep that failed (or a store that cannot be written),\n"
                        "2 bad input, 130 interrupted by Ctrl+C")
    ap.add_argument("--home", default=None, help=home_help)
    ap.add_argument("--version", action="version", version=f"labdeck {version()}")
    sub = ap.add_subparsers(dest="command", required=True, parser_class=_Parser)
    names = ", ".join(registry.names())

    p = sub.add_parser("run", parents=[common], help="train an experiment")
    p.add_argument("experiment", help=names)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="hyperparameter (repeatable)")
    p.add_argument("--preset", metavar="NAME", help="start from a saved preset's values (--set overrides them)")
    p.add_argument("--budget", type=float, metavar="SECONDS", help="the whole run's wall-clock time: data, training "
                   "and every evaluation fit in it (a dataset's first decode comes on top); epochs is ignored")
    p.add_argument("--train-budget", type=float, metavar="SECONDS", help="seconds of training steps alone, as "
                   "speed-run benchmarks count them; evaluations come on top")
    p.add_argument("--alert", action="append", metavar="RULE", help=ALERT_HELP)
    p.add_argument("--detach", action="store_true", help="run in the background, print the run id, return")
    p.add_argument("--json", action="store_true", help="end with one JSON line of the result")

    p = sub.add_parser("params", parents=[common], help="list an experiment's hyperparameters")
    p.add_argument("experiment", help=names)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("runs", parents=[common], help="list runs")
    p.add_argument("--experiment")
    p.add_argument("--json", action="store_true")
    p.add_argument("--host", action="append", metavar="HOST", help="list another machine's runs, over ssh: a "
                   "[hosts] name of the settings or an ssh destination (repeatable)")

    for name, what in (("show", "a run's status, parameters and metric history"),
                       ("watch", "follow a run's progress until it ends")):
        p = sub.add_parser(name, parents=[common], help=what)
        p.add_argument("run")
        p.add_argument("--json", action="store_true",
                       help="show: one JSON object; watch: one JSON line per event, then the result")
    for name, what in (("pause", "pause a running run"), ("resume", "resume a paused, stopped or interrupted run"),
                       ("stop", "stop a run (it checkpoints first)"), ("delete", "delete a finished run")):
        p = sub.add_parser(name, parents=[common], help=what)
        p.add_argument("run")
        p.add_argument("--json", action="store_true", help="print one JSON object: what was done")

    p = sub.add_parser("predict", parents=[common], help="use a trained run on new data")
    p.add_argument("run")
    p.add_argument("inputs", nargs="*", help="sequence: the last values of a series (numbers); vision: image files")
    p.add_argument("--csv", metavar="PATH[:COLUMN]", help="sequence: read the series from a CSV column")
    p.add_argument("--steps", type=int, default=20, help="sequence: values to forecast")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("sweep", parents=[common], help="run an experiment over a grid or random hyperparameters")
    p.add_argument("experiment", help=names)
    p.add_argument("--grid", action="append", metavar="KEY=V1,V2,...", help="values to try (repeatable: product)")
    p.add_argument("--random", type=int, default=0, metavar="N", help="N random draws from the --range values")
    p.add_argument("--range", action="append", metavar="KEY=LOW:HIGH[:log]", help="a numeric range to draw from")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a fixed hyperparameter for every trial")
    p.add_argument("--preset", metavar="NAME", help="every trial starts from a saved preset's values")
    p.add_argument("--budget", type=float, metavar="SECONDS", help="each trial's whole wall-clock time")
    p.add_argument("--train-budget", type=float, metavar="SECONDS", help="each trial's seconds of training steps")
    p.add_argument("--parallel", type=int, default=1, metavar="K", help="trials at once (default 1); on a server "
                   "with GPUs, each trial gets a GPU of its own while one is free")
    p.add_argument("--per-gpu", type=int, metavar="N", help="trials sharing one GPU at most (local sweeps; default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random draws")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local processes, or Ray Tune on a cluster (needs the optional ray extra)")
    p.add_argument("--address", help="Ray cluster address, e.g. ray://head:10001 (with --backend ray; default: "
                   "a local Ray instance)")
    p.add_argument("--asha", action="store_true", help="stop poor trials early with ASHA (with --backend ray)")
    p.add_argument("--gpus-per-trial", type=float, metavar="G", help="GPUs per Ray trial, e.g. 0.5 for two trials "
                   "per GPU (default: 1 where the cluster has GPUs)")
    p.add_argument("--alert", action="append", metavar="RULE", help=ALERT_HELP + "; a stop stops that trial")
    p.add_argument("--detach", action="store_true", help="run in the background, print the sweep id, return")
    p.add_argument("--json", action="store_true", help="end with one JSON line: trials and the best")
    p = sub.add_parser("sweep-run", parents=[common], help="run a created sweep's unfinished trials (--detach uses it)")
    p.add_argument("sweep")
    p.add_argument("--parallel", type=int, default=1)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("report", parents=[common], help="write a Markdown report with figures and CSV files")
    p.add_argument("run", help="a run id or a sweep id")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for report.md, PNG figures and CSV files")
    p.add_argument("--json", action="store_true", help="print one JSON object: the report's path")

    p = sub.add_parser("export", parents=[common], help="print a run's full metric history, or write it as "
                       "TensorBoard event files")
    p.add_argument("run")
    p.add_argument("--format", choices=("csv", "json", "tensorboard"), default="csv")
    p.add_argument("--out", metavar="DIR", help="the folder for --format tensorboard (event files an earlier "
                   "export left there are replaced)")
    p = sub.add_parser("import", parents=[common], help="bring TensorBoard event folders or a CSV file in as runs")
    p.add_argument("path", help="a TensorBoard log folder (each folder with event files is a run) or a CSV file")
    p.add_argument("--experiment", metavar="NAME", help="the runs' experiment name (default: imported)")
    p.add_argument("--json", action="store_true", help="print one JSON object: the new run ids")

    p = sub.add_parser("alerts", parents=[common], help="what the watchdog told: NaN or diverging losses, stalls, "
                       "deaths, ends, your rules", formatter_class=argparse.RawDescriptionHelpFormatter,
                       description=ALERTS_ABOUT)
    p.add_argument("run", nargs="?", help="one run's alerts (default: every run's)")
    p.add_argument("--follow", action="store_true", help="then print each new alert as it comes, with the "
                   "terminal's notification (OSC 9, through tmux too) and its bell, until Ctrl+C")
    p.add_argument("--json", action="store_true", help="one JSON object per alert, one a line")

    p = sub.add_parser("paths", parents=[common], help="every place labdeck reads and writes, and what it holds")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("serve", parents=[common], help="serve this machine's runs to a dashboard elsewhere over "
                                                       "ssh (labdeck --host THIS_MACHINE)")
    p.add_argument("--stdio", action="store_true", required=True, help="speak the protocol on stdin/stdout")

    p = sub.add_parser("ui", parents=[common], help="open the dashboard (on a run, if given; 'labdeck RUN' too)")
    p.add_argument("run", nargs="?", help="a run id: the dashboard opens on it")

    p = sub.add_parser("completion", help="print the shell code that completes labdeck's commands, experiments, "
                       "parameters and run ids (bash, zsh, fish)")
    p.add_argument("shell", choices=("bash", "zsh", "fish"))

    p = sub.add_parser("generate", parents=[common], help="stream text from a language run (finished or running)")
    p.add_argument("run")
    p.add_argument("--prompt", default="", help="text to continue")
    p.add_argument("--tokens", type=int, default=200, help="tokens to generate")
    p.add_argument("--temperature", type=float, default=0.8, help="0 = always the most likely token")
    p.add_argument("--top-k", type=int, default=0, help="sample among the k most likely tokens (0 = all)")
    p.add_argument("--top-p", type=float, default=1.0, help="sample among the most likely tokens of this mass")
    p.add_argument("--seed", type=int, default=0)
    return ap


ALERT_HELP = ("a watchdog rule (repeatable): KEY>VALUE or KEY<VALUE, optionally @STEP or @TIME (90s, 10m) and "
              ":pause or :stop, e.g. 'train_loss>5:stop' (see labdeck alerts --help)")
ALERTS_ABOUT = """The watchdog tells each of these once per run, in `labdeck alerts`, the dashboard and (with
[alerts] notify in the settings file) your phone or chat:
  non-finite  a loss became NaN or infinite          diverged  a loss 10x its best and above its start
  stalled     no progress for [alerts] stall_seconds  died      the process gone without recording an end
  finished    a run finished                          failed    a run failed (unless an alert said why)
and your rules: --alert on run and sweep, the form's alerts row, labdeck.init(alerts=[...]), [alerts] rules in
the settings file. A rule: KEY>VALUE or KEY<VALUE, optionally from a step or time (@2000, @10m) and with :pause
or :stop, e.g. 'train_loss>5:stop' or 'test_acc<0.5@10m'. More: docs/alerts.md."""


def cmd_alerts(store: Store, a: argparse.Namespace) -> int:
    """Every alert so far (of one run, or all), oldest first; with --follow, then each new one as it comes."""
    run_id = store.get(a.run).id if a.run else None
    page = 1000
    after, there = 0, True  # there: listing what was there before the command (not news: no notification)
    while True:
        found = store.alerts(after, run_id, limit=page)
        for alert in found:
            print(_alert_line(alert, a.json), flush=True)
            if a.follow and not there and not a.json and sys.stdout.isatty():  # a new one: the terminal tells
                sys.stdout.write(terminal_notification(f"labdeck {alert.rule}: {alert.run_id}", alert.message))
                sys.stdout.flush()
        after = found[-1].id if found else after
        if len(found) == page:
            continue  # more of them
        if not a.follow:
            if after == 0 and not a.json:
                print(f"no alerts in {store.home}")
            return 0
        there = False
        time.sleep(WATCH_POLL)


def _alert_line(alert: AlertRecord, as_json: bool) -> str:
    if as_json:
        return jsonout.dumps(dataclasses.asdict(alert))
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(alert.t))
    acted = f" ({alert.action})" if alert.action != "notify" else ""
    sent = f"  [{alert.delivered}]" if alert.delivered not in ("", "sent", "none") else ""
    return f"{when}  {alert.run_id}  {printable(alert.rule, 40)}{acted}  {printable(alert.message, 200)}{sent}"


def cmd_paths(store: Store | None, a: argparse.Namespace) -> int:
    from . import settings

    places = paths.every()
    if a.home:
        places["home"] = Path(a.home).expanduser()
    if a.json:
        print(jsonout.dumps({name: str(path) for name, path in places.items()}))
        return 0
    width = max(map(len, places))
    for name, path in places.items():
        print(f"{name:<{width}}  {path}  ({paths.WHAT[name]}{'' if path.exists() else '; not there yet'})")
    if problem := settings.load(paths.settings()).problem:
        print(f"labdeck: warning: {problem}", file=sys.stderr)
    return 0


def cmd_serve(store: Store | None, a: argparse.Namespace) -> int:
    from . import serve

    return serve.main(a.home)


def cmd_ui(store: Store | None, a: argparse.Namespace) -> int:
    """Reached only where the launcher did not open the dashboard (``labdeck.engine`` run as a module, a test)."""
    print(NO_DASHBOARD, file=sys.stderr)
    return EXIT_BAD_INPUT


NO_DASHBOARD = "labdeck: the dashboard opens from the 'labdeck' command in a terminal (labdeck ui [RUN])"


def cmd_completion(store: Store | None, a: argparse.Namespace) -> int:
    import argcomplete

    print(argcomplete.shellcode(["labdeck"], shell=a.shell))
    return 0


# -- shell completion (argcomplete: the shell runs `labdeck` with _ARGCOMPLETE set, for each Tab) -----------------
def _complete_runs(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    try:
        store = Store.for_reading(getattr(parsed_args, "home", None))
    except LabdeckError:
        return []
    infos = store.runs()
    ids = [i.id for i in infos] + sorted({i.sweep for i in infos if i.sweep})
    return [i for i in ids if i.startswith(prefix)]


def _complete_settings(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """KEY= for the experiment's parameters; after KEY=, the allowed values of a parameter that has a list."""
    if not registry.is_own(getattr(parsed_args, "experiment", None) or ""):
        return []
    params = registry.get(parsed_args.experiment).params
    key, eq, _value = prefix.partition("=")
    if not eq:
        return [f"{p.name}=" for p in params if p.name.startswith(prefix)]
    if key in params and params[key].choices:
        return [f"{key}={c}" for c in params[key].options() if f"{key}={c}".startswith(prefix)]
    return []


def _complete_presets(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    try:
        return [n for n in presets.named(parsed_args.experiment) if n.startswith(prefix)]
    except (LabdeckError, TypeError):
        return []


def _complete_experiments(prefix: str, **_: Any) -> list[str]:
    return [n for n in registry.names() if n.startswith(prefix)]


_COMPLETERS = {"run": _complete_runs, "sweep": _complete_runs, "experiment": _complete_experiments,
               "set": _complete_settings, "preset": _complete_presets}


def complete(**options: Any) -> None:
    """Answer the shell's completion request (argcomplete) and exit; ``options`` go to argcomplete (tests)."""
    import argcomplete

    parser = build_parser()
    argcomplete.autocomplete(parser, **options)


COMMANDS: dict[str, Callable[..., int]] = {
    "completion": cmd_completion, "run": cmd_run, "params": cmd_params, "runs": cmd_runs, "show": cmd_show,
    "watch": cmd_watch, "pause": cmd_control, "resume": cmd_control, "stop": cmd_control, "delete": cmd_delete,
    "predict": cmd_predict, "generate": cmd_generate, "sweep": cmd_sweep, "sweep-run": cmd_sweep_run,
    "report": cmd_report, "export": cmd_export, "import": cmd_import, "paths": cmd_paths, "ui": cmd_ui,
    "alerts": cmd_alerts, "serve": cmd_serve
}


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def exit_process(code: int) -> NoReturn:
    """End this command's process with ``code``. Python takes about a second to tear torch down at exit (measured
    here: 0.7 s after importing torch, 1.1 s with the torch._dynamo every optimizer imports), which a user waits
    through after the result is printed and stored: a process that imported torch ends at once, unless a library
    whose exit handlers must run is loaded (Ray stops its workers at exit)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`labdeck run ... | head`): nothing more to say
            pass
    if "torch" in sys.modules and "ray" not in sys.modules:
        os._exit(code)
    raise SystemExit(code)


def main(argv: list[str] | None = None, started: float | None = None) -> int:
    """The CLI. ``started``: when the command started (its process's start), from which a foreground run's wall
    budget counts; by default, now."""
    import signal
    import threading

    # SIGTERM, like Ctrl+C, ends the command cleanly (a foreground run checkpoints, a sweep stops its trials), exit
    # 143; Python's default would end the process at once. Only the main thread can take a signal (main runs in a
    # test's thread too), and the handler it replaces comes back.
    previous = signal.signal(signal.SIGTERM, _terminate) if threading.current_thread() is threading.main_thread() \
        else None
    try:
        return _main(argv, started or time.time())
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str] | None, started: float) -> int:
    try:
        a = build_parser().parse_args(argv)
        a.started = started
        if wanted(a.command, getattr(a, "run", None), getattr(a, "host", None)):
            from . import remote_cli  # gpu1:RUN, or runs --host gpu1: that host's store, through its serve

            return remote_cli.main(a)
        if a.command in ("params", "completion", "paths", "ui", "serve"):
            store = None
        elif a.command in READING:
            # a read-only or full home still lists and shows its runs; reading never makes one (a mistyped --home)
            try:
                store = Store.for_reading(a.home, must_exist=True)
            except StoreMissing as exc:
                if a.command != "runs":
                    raise
                print("[]" if a.json else f"no runs: {exc}")
                return 0
        else:
            store = Store(a.home)
        if store is not None and store.warning and a.command != "sweep-run":
            print(f"labdeck: warning: {store.warning}", file=sys.stderr)
        try:
            return COMMANDS[a.command](store, a)
        finally:
            if store is not None:  # main runs in-process too: its connection (a reference cycle) ends with it
                store.close()
    except LabdeckError as exc:
        print(f"labdeck: {exc}", file=sys.stderr)
        bad_input = isinstance(exc, (ParamError, UsageError, DataError, RunNotFound, StoreMissing, HostError))
        return EXIT_BAD_INPUT if bad_input else 1
    except KeyboardInterrupt:
        return 130
    except Terminated:
        return 143
    except BrokenPipeError:
        return 0
