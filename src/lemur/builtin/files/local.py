"""The local file system as a :class:`~lemur.builtin.files.layout.FileStore`, and running a
local reload command.

Paths are resolved with ``realpath`` against the real base directory, so a symlink that
points outside it is refused before anything is written; one that stays inside is
followed (certbot's ``live/`` links into ``archive/`` keep working).
"""

from __future__ import annotations

import contextlib
import errno
import grp
import os
import pwd
import signal
import stat
import subprocess
from collections.abc import Sequence

from lemur.builtin.files.layout import temporary_name, trimmed
from lemur.plugins.errors import PluginConfigurationError, PluginError, PluginTransientError


def os_fault(exc: OSError, doing: str) -> PluginError:
    """A plain-words PluginError for a file-system failure (none is worth retrying on its
    own: permissions and a full disk need someone to act)."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        return PluginError(f"permission denied {doing}", code="permission_denied")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return PluginError(
            f"no space left {doing} ({os.strerror(exc.errno or 0)}); nothing was replaced",
            code="no_space_left",
        )
    if exc.errno == errno.EROFS:
        return PluginError(f"read-only file system {doing}", code="read_only_file_system")
    return PluginError(f"{doing} failed: {os.strerror(exc.errno or 0)}")


def _inside(base: str, path: str) -> bool:
    return path != base and os.path.commonpath([base, path]) == base


def resolve_owner(owner: str | None, group: str | None) -> tuple[int, int]:
    """(uid, gid) to give the files, -1 where unchanged. Raises PluginConfigurationError
    naming ``options.owner`` or ``options.group`` for an unknown name."""
    uid = gid = -1
    if owner:
        try:
            uid = int(owner) if owner.isdigit() else pwd.getpwnam(owner).pw_uid
        except KeyError:
            raise PluginConfigurationError(
                f"no user {owner!r} on this host", field="options.owner"
            ) from None
    if group:
        try:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        except KeyError:
            raise PluginConfigurationError(
                f"no group {group!r} on this host", field="options.group"
            ) from None
    return uid, gid


class LocalStore:
    """A base directory on this host; files get ``owner``/``group`` (-1: unchanged)."""

    def __init__(self, directory: str, *, uid: int = -1, gid: int = -1) -> None:
        self.directory = directory
        self.uid, self.gid = uid, gid
        if not os.path.isdir(directory):
            raise PluginConfigurationError(
                f"the directory {directory} does not exist (create it first)",
                field="options.directory",
            )
        self.base = os.path.realpath(directory)

    def resolve(self, field: str, name: str) -> str:
        path = os.path.realpath(os.path.join(self.base, name))
        if not _inside(self.base, path):
            raise PluginConfigurationError(
                f"{name} resolves to {path}, outside the base directory {self.directory}; "
                "a destination may not write outside its base directory",
                field=f"options.{field}",
                code="path_outside_base",
            )
        if os.path.isdir(path):
            raise PluginConfigurationError(
                f"{name} is a directory in {self.directory}", field=f"options.{field}"
            )
        if not os.path.isdir(os.path.dirname(path)):
            raise PluginConfigurationError(
                f"the directory of {name} does not exist in {self.directory}",
                field=f"options.{field}",
            )
        return path

    def read(self, path: str) -> bytes | None:
        try:
            with open(path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise os_fault(exc, f"reading {path}") from exc

    def stage(self, path: str, content: bytes, mode: int) -> str:
        temporary = temporary_name(path)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(temporary, flags, 0o600)
        except OSError as exc:
            raise os_fault(exc, f"writing in {os.path.dirname(path)}") from exc
        try:
            try:
                os.fchmod(fd, mode)  # before the content: a key is never readable by others
                if self.uid != -1 or self.gid != -1:
                    os.fchown(fd, self.uid, self.gid)
            except OSError as exc:
                raise os_fault(exc, f"setting the owner or mode of {path}") from exc
            try:
                view = memoryview(content)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            except OSError as exc:
                raise os_fault(exc, f"writing {path}") from exc
        except BaseException:
            os.close(fd)
            self.discard(temporary)
            raise
        os.close(fd)
        return temporary

    def conform(self, path: str, mode: int) -> None:
        try:
            now = os.stat(path)
            if stat.S_IMODE(now.st_mode) != mode:
                os.chmod(path, mode)
            if (self.uid not in (-1, now.st_uid)) or (self.gid not in (-1, now.st_gid)):
                os.chown(path, self.uid, self.gid)
        except OSError as exc:
            raise os_fault(exc, f"setting the owner or mode of {path}") from exc

    def commit(self, temporary: str, path: str) -> None:
        try:
            os.replace(temporary, path)
        except OSError as exc:
            self.discard(temporary)
            raise os_fault(exc, f"replacing {path}") from exc

    def discard(self, path: str) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise os_fault(exc, f"removing {path}") from exc

    def settle(self, directories: Sequence[str]) -> None:
        for directory in directories:
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def run_reload(argv: Sequence[str], timeout: float) -> None:
    """Run the reload command (no shell) in its own process group; the whole group is
    killed at the timeout, so a command that forks (``sh -c 'a & b'``) cannot outlive it.

    Raises PluginError with the exit status and the last lines of stderr when it fails,
    PluginTransientError when it did not finish in time, PluginConfigurationError when it
    cannot be started."""
    try:
        process = subprocess.Popen(  # noqa: S603  (argv from the administrator, no shell)
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise PluginConfigurationError(
            f"cannot run the reload command {argv[0]}: {os.strerror(exc.errno or 0)}",
            field="options.reload_command",
        ) from exc
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise PluginTransientError(
            f"reload command did not finish in {timeout:g} s; it was stopped (the new files "
            "are in place)",
            code="reload_timeout",
        ) from None
    if process.returncode != 0:
        status = (
            f"was killed by signal {-process.returncode}"
            if process.returncode < 0
            else f"exited with status {process.returncode}"
        )
        detail = trimmed(stderr)
        raise PluginError(
            f"reload command {status}" + (f": {detail}" if detail else ""),
            code="reload_failed",
        )
