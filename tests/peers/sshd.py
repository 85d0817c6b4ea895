"""A real OpenSSH server (PEERS.md §3) for the sftp destination: ``/usr/sbin/sshd -D -e``
on a free loopback port with its own host key, user ``deployer`` logging in with a
generated Ed25519 key or with a password.

Needs root (sshd, useradd). Several xdist workers share the one ``deployer`` account: it is
created if missing (tolerating a concurrent creation) and always given the same password;
each worker's sshd has its own host key, client key and authorized-keys file.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.peers.server import free_port

USER = "deployer"
# Fixed for every worker: a random one per worker would race with the others' chpasswd.
PASSWORD = "deployer-Pw-3c9e1f07a5"
SSHD = "/usr/sbin/sshd"


def _run(argv: list[str], *, ok: tuple[int, ...] = (0,), stdin: str | None = None) -> int:
    for _ in range(50):  # useradd/chpasswd fail while another worker holds /etc/passwd's lock
        result = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
        if result.returncode in ok:
            return result.returncode
        if "lock" not in result.stderr.lower():
            raise RuntimeError(f"{argv[0]} failed ({result.returncode}): {result.stderr}")
        time.sleep(0.1)
    raise RuntimeError(f"{argv[0]} could not lock the user database")


def ensure_user() -> pwd.struct_passwd:
    """``deployer`` with a home directory and the known password (which also unlocks it:
    with ``UsePAM no`` sshd refuses a locked account)."""
    _run(["useradd", "-m", "-s", "/bin/sh", USER], ok=(0, 9))  # 9: already exists
    _run(["chpasswd"], stdin=f"{USER}:{PASSWORD}\n")
    return pwd.getpwnam(USER)


@dataclass
class SSHDPeer:
    host: str
    port: int
    user: pwd.struct_passwd
    root: Path  # this peer's own files (keys, config, log, authorized keys)
    host_public_key: str  # "ssh-ed25519 AAAA..."
    client_private_key: str  # OpenSSH text
    process: subprocess.Popen[bytes]

    @property
    def username(self) -> str:
        return self.user.pw_name

    @property
    def password(self) -> str:
        return PASSWORD

    @property
    def log(self) -> str:
        return (self.root / "sshd.log").read_text(errors="replace")

    def remote_directory(self, *, owner: str = USER) -> Path:
        """A fresh directory under the user's home, owned by ``owner`` (root: not writable
        by the user)."""
        base = Path(self.user.pw_dir) / "lemur-tests"
        base.mkdir(mode=0o755, exist_ok=True)
        os.chown(base, self.user.pw_uid, self.user.pw_gid)
        path = Path(tempfile.mkdtemp(prefix=f"{self.port}-", dir=base))
        path.chmod(0o755)
        account = pwd.getpwnam(owner)
        os.chown(path, account.pw_uid, account.pw_gid)
        return path

    def give(self, path: Path) -> None:
        """Make ``path`` (file or directory) the user's."""
        os.chown(path, self.user.pw_uid, self.user.pw_gid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.root, ignore_errors=True)
        for path in (Path(self.user.pw_dir) / "lemur-tests").glob(f"{self.port}-*"):
            shutil.rmtree(path, ignore_errors=True)


def _keypair(path: Path) -> tuple[str, str]:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lemur-test", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    public = " ".join(Path(f"{path}.pub").read_text().split()[:2])
    return path.read_text(), public


def start_sshd() -> SSHDPeer:
    user = ensure_user()
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    # Outside pytest's 0700 temp tree: sshd reads the authorized keys as the user.
    root = Path(tempfile.mkdtemp(prefix="lemur-sshd-"))
    root.chmod(0o755)
    _, host_public = _keypair(root / "host_ed25519")
    client_private, client_public = _keypair(root / "client_ed25519")
    authorized = root / "authorized_keys"
    authorized.write_text(client_public + "\n")
    authorized.chmod(0o644)
    port = free_port()
    config = root / "sshd_config"
    config.write_text(
        f"""Port {port}
ListenAddress 127.0.0.1
HostKey {root}/host_ed25519
PidFile {root}/sshd.pid
AuthorizedKeysFile {authorized}
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
AllowUsers {USER}
MaxStartups 50:30:100
Subsystem sftp internal-sftp
LogLevel VERBOSE
"""
    )
    subprocess.run([SSHD, "-t", "-f", str(config)], check=True, capture_output=True)
    with (root / "sshd.log").open("wb") as log:
        process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
    peer = SSHDPeer("127.0.0.1", port, user, root, host_public, client_private, process)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(64).startswith(b"SSH-2.0-"):
                    return peer
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            peer.stop()
            raise RuntimeError(f"sshd did not start:\n{peer.log}")
        time.sleep(0.02)


@pytest.fixture(scope="session")
def sshd_peer() -> Iterator[SSHDPeer]:
    peer = start_sshd()
    yield peer
    peer.stop()
