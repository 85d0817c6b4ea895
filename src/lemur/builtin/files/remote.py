"""An SSH session for the ``sftp`` destination: connecting with a pinned host key,
authenticating, the remote directory as a :class:`~lemur.builtin.files.layout.FileStore`,
and running the remote reload command.

paramiko is driven at the transport level so the host key is compared with the pinned one
before any credential is sent (RFC 4251 §4.1: a client must verify the server's key), and a
key that does not match is refused, never added.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import paramiko  # type: ignore[import-untyped]

from lemur.builtin.files.keys import HOST_KEY_ALGORITHMS, PublicKey
from lemur.builtin.files.layout import temporary_name, trimmed
from lemur.plugins.errors import PluginConfigurationError, PluginError, PluginTransientError
from lemur.plugins.values import PluginContext


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    username: str
    timeout: float

    @property
    def where(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _connect_socket(target: Target, context: PluginContext) -> socket.socket:
    addresses: tuple[str, ...] = (target.host,)
    try:
        if context.outbound is not None:
            addresses = context.outbound.check_host(target.host, target.port)
        last: OSError | None = None
        for address in addresses:
            try:
                return socket.create_connection((address, target.port), timeout=target.timeout)
            except OSError as exc:
                last = exc
        raise last or OSError(errno.EHOSTUNREACH, "no address")
    except TimeoutError as exc:
        raise PluginTransientError(
            f"cannot reach {target.where}: timed out after {target.timeout:g} s",
            code="unreachable",
        ) from exc
    except socket.gaierror as exc:
        raise PluginTransientError(
            f"cannot reach {target.where}: the name does not resolve", code="unreachable"
        ) from exc
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else "connection failed"
        raise PluginTransientError(
            f"cannot reach {target.where}: {reason.lower()}", code="unreachable"
        ) from exc


@contextmanager
def ssh_session(
    target: Target,
    context: PluginContext,
    *,
    pinned: PublicKey | None,
    authenticate: Any,
    auth_field: str,
) -> Iterator[tuple[Any, PublicKey]]:
    """An authenticated paramiko Transport and the server's host key. With ``pinned``
    None the key is accepted as it is (trust on first use, by the caller's choice)."""
    sock = _connect_socket(target, context)
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = transport.handshake_timeout = target.timeout
        transport.auth_timeout = target.timeout
        if pinned is not None:
            transport.get_security_options().key_types = HOST_KEY_ALGORITHMS[pinned.kind]
        try:
            transport.start_client(timeout=target.timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise PluginTransientError(
                f"no SSH handshake with {target.where} (is it an SSH server?)",
                code="unreachable",
            ) from exc
        key = transport.get_remote_server_key()
        presented = PublicKey(key.get_name(), key.asbytes())
        if pinned is not None and presented.blob != pinned.blob:
            raise PluginError(
                f"host key of {target.where} does not match the pinned key: the server "
                f"presented {presented.kind} {presented.fingerprint}, the pinned key is "
                f"{pinned.kind} {pinned.fingerprint}; if the server's key really changed, "
                "pin the new one",
                code="host_key_mismatch",
            )
        try:
            authenticate(transport)
        except paramiko.AuthenticationException as exc:
            raise PluginConfigurationError(
                f"{target.where} refused the credentials of user {target.username!r}",
                field=auth_field,
                code="authentication_failed",
            ) from exc
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise PluginTransientError(
                f"the connection to {target.where} broke during authentication",
                code="unreachable",
            ) from exc
        yield transport, presented
    finally:
        transport.close()
        sock.close()


def sftp_fault(exc: Exception, doing: str) -> PluginError:
    """A plain-words error for an SFTP failure (the server's status text, never data)."""
    number = getattr(exc, "errno", None)
    if number in (errno.EACCES, errno.EPERM):
        return PluginError(f"permission denied {doing}", code="permission_denied")
    if number == errno.ENOENT:
        return PluginError(f"{doing} failed: no such file or directory on the server")
    if isinstance(exc, (paramiko.SSHException, EOFError, socket.timeout)):
        return PluginTransientError(f"the SSH connection failed {doing}", code="unreachable")
    text = str(exc.args[-1]) if exc.args else type(exc).__name__
    return PluginError(
        f"{doing} failed on the server ({text[:200]}); a full disk or quota is a common "
        "cause; nothing was replaced",
        code="remote_write_failed",
    )


def _is_missing(exc: Exception) -> bool:
    return getattr(exc, "errno", None) == errno.ENOENT


class SFTPStore:
    """A remote base directory over one SFTP session."""

    def __init__(self, sftp: Any, directory: str) -> None:
        self.sftp = sftp
        self.directory = directory
        try:
            self.base: str = sftp.normalize(directory)
            is_dir = stat.S_ISDIR(sftp.stat(self.base).st_mode or 0)
        except (OSError, paramiko.SSHException) as exc:
            if _is_missing(exc):
                is_dir = False
            else:
                raise sftp_fault(exc, f"opening {directory}") from exc
        if not is_dir:
            raise PluginConfigurationError(
                f"the remote directory {directory} does not exist (create it first)",
                field="options.directory",
            )

    def _real(self, path: str) -> str:
        """The server's realpath of ``path``; for a missing file, of its directory."""
        try:
            real: str = self.sftp.normalize(path)
            return real
        except OSError as exc:
            if not _is_missing(exc):
                raise
        head, _, tail = path.rpartition("/")
        try:
            self.sftp.lstat(path)
        except OSError as exc:
            if _is_missing(exc):
                return f"{self._real(head or '/')}/{tail}"
            raise
        return "\0dangling"  # a symbolic link to nothing: refused below

    def resolve(self, field: str, name: str) -> str:
        try:
            path = self._real(f"{self.base}/{name}")
        except (OSError, paramiko.SSHException) as exc:
            raise sftp_fault(exc, f"resolving {name} in {self.directory}") from exc
        if not path.startswith(self.base.rstrip("/") + "/"):
            raise PluginConfigurationError(
                f"{name} resolves to a path outside the base directory {self.directory}; "
                "a destination may not write outside its base directory",
                field=f"options.{field}",
                code="path_outside_base",
            )
        return path

    def read(self, path: str) -> bytes | None:
        try:
            with self.sftp.open(path, "rb") as f:
                data: bytes = f.read()
                return data
        except (OSError, paramiko.SSHException) as exc:
            if _is_missing(exc):
                return None
            raise sftp_fault(exc, f"reading {path}") from exc

    def stage(self, path: str, content: bytes, mode: int) -> str:
        temporary = temporary_name(path)
        try:
            with self.sftp.open(temporary, "wx") as f:
                f.chmod(mode)  # before the content: a key is never readable by others
                f.write(content)
        except (OSError, paramiko.SSHException) as exc:
            self._discard_quietly(temporary)
            raise sftp_fault(exc, f"writing {path}") from exc
        return temporary

    def conform(self, path: str, mode: int) -> None:
        try:
            if stat.S_IMODE(self.sftp.stat(path).st_mode or 0) != mode:
                self.sftp.chmod(path, mode)
        except (OSError, paramiko.SSHException) as exc:
            raise sftp_fault(exc, f"setting the mode of {path}") from exc

    def commit(self, temporary: str, path: str) -> None:
        try:
            self.sftp.posix_rename(temporary, path)
        except (OSError, paramiko.SSHException) as exc:
            self._discard_quietly(temporary)
            raise sftp_fault(
                exc, f"renaming into {path} (posix-rename@openssh.com is needed)"
            ) from exc

    def discard(self, path: str) -> None:
        try:
            self.sftp.remove(path)
        except (OSError, paramiko.SSHException) as exc:
            if not _is_missing(exc):
                raise sftp_fault(exc, f"removing {path}") from exc

    def _discard_quietly(self, path: str) -> None:
        with contextlib.suppress(OSError, paramiko.SSHException):
            self.sftp.remove(path)  # the original fault is the one to report

    def settle(self, directories: object) -> None:
        """Nothing to do: paramiko offers no fsync@openssh.com; the renames are atomic."""


def run_remote(transport: Any, command: str, timeout: float, where: str) -> None:
    """Run ``command`` on the server and wait for its exit status. Raises PluginError with
    the status and the last lines of stderr, PluginTransientError when it did not finish
    within ``timeout`` (the channel is closed; the server decides what becomes of it)."""
    try:
        channel = transport.open_session(timeout=timeout)
        channel.exec_command(command)
        channel.shutdown_write()
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise PluginTransientError(
            f"cannot start the reload command on {where}", code="unreachable"
        ) from exc
    stderr = bytearray()
    deadline = time.monotonic() + timeout
    settled = 0.0
    try:
        while True:
            while channel.recv_stderr_ready():
                stderr += channel.recv_stderr(65536)
                del stderr[:-65536]
            while channel.recv_ready():
                channel.recv(65536)  # stdout is not reported; drained so it cannot block
            pending = channel.recv_ready() or channel.recv_stderr_ready()
            exited = channel.exit_status_ready()
            if exited and not pending:
                # stderr may trail the exit status (RFC 4254 §6.10): wait for its EOF, a
                # while at most (a background child of the command may hold it open)
                settled = settled or time.monotonic()
                if channel.eof_received or channel.closed or time.monotonic() - settled > 2:
                    break
            if not exited and time.monotonic() > deadline:
                raise PluginTransientError(
                    f"reload command did not finish in {timeout:g} s on {where} (the new "
                    "files are in place)",
                    code="reload_timeout",
                )
            if exited:
                time.sleep(0.005)
            else:
                channel.status_event.wait(0.02)
        status = channel.recv_exit_status()
    finally:
        channel.close()
    if status != 0:
        shown = "was killed by a signal" if status == -1 else f"exited with status {status}"
        detail = trimmed(bytes(stderr))
        raise PluginError(
            f"reload command on {where} {shown}" + (f": {detail}" if detail else ""),
            code="reload_failed",
        )
