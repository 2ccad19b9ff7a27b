"""Entry point of a detached run process: ``python -m engine.worker --home DIR RUN_ID [--resume]``."""

from __future__ import annotations

import argparse

from .runs import run_here
from .store import Store


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="labdeck-worker")
    ap.add_argument("--home", required=True)
    ap.add_argument("run_id")
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args(argv)
    ended = run_here(Store(args.home), args.run_id, resume=args.resume,
                     on_event=lambda e: print(type(e).__name__, flush=True) if type(e).__name__ != "BatchMetrics"
                     else None)
    print(f"{ended.status} {ended.message}".strip(), flush=True)
    return 0 if ended.status != "failed" else 1


if __name__ == "__main__":
    raise SystemExit(main())
