"""A real OpenSSH server on 127.0.0.1 for the tests of remote hosts: keys made in a temporary folder, public-key
login only, and a client config that reaches it. It stops with its fixture, or by itself after ``LIFETIME``."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
LIFETIME = 1800  # seconds: a server a crashed test session left behind ends by itself


@dataclass
class SshServer:
    folder: Path
    port: int
    proc: subprocess.Popen[bytes]
    config: Path  # the client's ssh config: the host "labdeck-test" is this server

    @property
    def ssh(self) -> str:
        """The value of LABDECK_SSH that reaches it."""
        return f"ssh -F {self.config}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def available() -> bool:
    return Path(SSHD).exists() and shutil.which("ssh") is not None and shutil.which("ssh-keygen") is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def start(folder: Path, env: dict[str, str], forced_command: str | None = None) -> SshServer:
    """Start a server whose logins get ``env`` (sshd's SetEnv); with ``forced_command``, the key may run only it
    (an authorized key's ``command=``)."""
    folder.mkdir(parents=True, exist_ok=True)
    _keygen(folder / "host_key")
    _keygen(folder / "id")
    key = (folder / "id.pub").read_text().strip()
    options = f'command="{forced_command}",no-pty,no-port-forwarding ' if forced_command else ""
    (folder / "authorized_keys").write_text(options + key + "\n")
    os.chmod(folder / "authorized_keys", 0o600)
    try:
        Path("/run/sshd").mkdir(exist_ok=True)  # its privilege separation folder (root's sshd needs it)
    except OSError:
        pass  # not root: an sshd of one's own runs without privilege separation
    setenv = " ".join(f"{k}={v}" for k, v in env.items())
    for _ in range(5):  # another process may take the port between choosing and binding it
        port = _free_port()
        (folder / "sshd_config").write_text(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host_key'}\n"
            f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\n"
            f"StrictModes no\nUsePAM no\nPidFile {folder / 'sshd.pid'}\nLogLevel ERROR\n"
            + (f"SetEnv {setenv}\n" if setenv else ""))
        with open(folder / "sshd.log", "wb") as log:
            proc = subprocess.Popen(["timeout", str(LIFETIME), SSHD, "-D", "-e", "-f", str(folder / "sshd_config")],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        if proc.poll() is None:
            break
    else:
        raise RuntimeError(f"sshd did not start: {(folder / 'sshd.log').read_text()}")
    config = folder / "ssh_config"
    config.write_text(
        f"Host labdeck-test\n  HostName 127.0.0.1\n  Port {port}\n  User {getpass.getuser()}\n"
        f"  IdentityFile {folder / 'id'}\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n"
        "  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n"
        f"Host labdeck-nowhere\n  HostName 127.0.0.1\n  Port {_free_port()}\n  ConnectTimeout 3\n"
        f"Host labdeck-nokey\n  HostName 127.0.0.1\n  Port {port}\n  User {getpass.getuser()}\n"
        f"  IdentityFile {folder / 'host_key'}\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n"
        "  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n")
    return SshServer(folder, port, proc, config)


LABDECK = f"{sys.executable} -m labdeck"  # the labdeck command on the "remote" host: this checkout's
