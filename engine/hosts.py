"""The other machines a viewer shows: each a name, the ssh destination that reaches it, the labdeck command there
and, optionally, its home. From ``--host`` and from the settings file::

    [hosts.gpu1]                          # the name runs are shown under: gpu1:RUN
    ssh = "me@gpu1.lab.example"           # default: the name (an alias of ~/.ssh/config works)
    command = "~/venv/bin/labdeck"        # default: labdeck (a non-interactive shell's PATH)
    home = "/scratch/me/labdeck"          # default: that host's own default

A run of a host is ``NAME:RUN`` on this side; this machine's runs keep their plain ids.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import LabdeckError
from .params import Param

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_DESTINATION = re.compile(r"^[^\s\-][^\s]*$")  # never an option of ssh's, never two words


class HostError(LabdeckError):
    """A host that cannot be named or reached as given (bad input: one line, exit 2)."""


@dataclass(frozen=True)
class Host:
    name: str  # how runs are shown: NAME:RUN
    destination: str  # what ssh is given
    command: tuple[str, ...] = ("labdeck",)  # the labdeck command on the host
    home: str | None = None  # the host's run store (LABDECK_HOME there); None: its default

    def remote_command(self) -> list[str]:
        """The fixed argument list the host runs: never a run's name or parameter (those travel as data)."""
        return [*self.command, "serve", "--stdio", *(["--home", self.home] if self.home else [])]

    def remote_line(self) -> str:
        """That list as the one line ssh hands the host's shell, each word quoted; a leading ``~/`` stays
        unquoted so that it means the home folder there (``command = "~/venv/bin/labdeck"``)."""
        return " ".join(f"~/{shlex.quote(w[2:])}" if w.startswith("~/") and len(w) > 2 else shlex.quote(w)
                        for w in self.remote_command())


def name_of(destination: str) -> str:
    """The name a destination is shown under: ``me@gpu2`` and ``ssh://me@gpu2:2222`` are ``gpu2``."""
    bare = destination.removeprefix("ssh://").rpartition("@")[2]
    return bare.split(":")[0] if bare.count(":") == 1 or destination.startswith("ssh://") else bare


def host(destination: str, name: str | None = None, command: str | Sequence[str] = "labdeck",
         home: str | None = None) -> Host:
    """A host, checked: a name usable in ``NAME:RUN`` and a destination ssh cannot mistake for an option."""
    if not _DESTINATION.match(destination):
        raise HostError(f"host {destination!r}: an ssh destination such as gpu1 or me@gpu1 (no spaces, no "
                        f"leading '-')")
    name = name or name_of(destination)
    if not _NAME.match(name):
        raise HostError(f"host name {name!r}: letters, digits, '.', '_' and '-' only (it prefixes runs: "
                        f"{name}:RUN)")
    words = tuple(shlex.split(command) if isinstance(command, str) else command)
    if not words:
        raise HostError(f"host {name}: command must name the labdeck program there")
    return Host(name, destination, words, home or None)


def from_settings(table: Any) -> tuple[dict[str, Host], list[str]]:
    """The ``[hosts]`` table's hosts, and what was wrong in it (each wrong entry is left out)."""
    hosts: dict[str, Host] = {}
    wrong: list[str] = []
    if not isinstance(table, dict):
        return {}, ["[hosts] must be a table of [hosts.NAME] tables"]
    for name, entry in table.items():
        if not isinstance(entry, dict):
            wrong.append(f"hosts.{name} must be a table (ssh, command, home)")
            continue
        values = {k: entry.get(k) for k in ("ssh", "command", "home")}
        bad = [k for k, v in values.items() if v is not None and not (isinstance(v, str) and v.strip())]
        if bad or set(entry) - set(values):
            wrong.append(f"hosts.{name}: " + (f"{bad[0]} must be a string" if bad else
                                              f"unknown key {sorted(set(entry) - set(values))[0]!r}"))
            continue
        try:
            hosts[name] = host(values["ssh"] or name, name, values["command"] or "labdeck", values["home"])
        except HostError as exc:
            wrong.append(str(exc))
    return hosts, wrong


def chosen(asked: Iterable[str], configured: dict[str, Host]) -> list[Host]:
    """The hosts ``--host`` names: a configured one by its name, else an ssh destination as it is."""
    out: dict[str, Host] = {}
    for text in asked:
        found = configured.get(text) or host(text)
        out[found.name] = found
    return list(out.values())


def qualify(where: str, run_id: str) -> str:
    """``gpu1:RUN`` for a run of the host ``gpu1``; this machine's runs (``where`` "") keep their plain ids."""
    return f"{where}:{run_id}" if where else run_id


def split(run_id: str) -> tuple[str, str]:
    """(host name, the run's id there) of ``NAME:RUN``; ("", run_id) for this machine's run."""
    where, colon, bare = run_id.partition(":")
    return (where, bare) if colon and _NAME.match(where) else ("", run_id)


ON_A_RUN = ("show", "watch", "pause", "resume", "stop", "delete", "report")  # CLI commands that take HOST:RUN


def wanted(command: str, run: object, host: object) -> bool:
    """Whether a CLI command is about another machine's runs (``--host``, or a run named ``HOST:RUN``)."""
    return bool(host) or (command in ON_A_RUN and isinstance(run, str) and bool(split(run)[0]))


HERE = "here"  # the form's host row: this machine
ROW = "host"  # that row's name


def field(names: Sequence[str]) -> Param:
    """The dashboard form's host row: where a run started from it trains (shown only when there are hosts)."""
    return Param(ROW, "str", HERE, "where the run trains: here (this machine) or a host linked over ssh; its "
                 "data and checkpoints stay there", choices=(HERE, *names))
