"""``directory``: the bundle as PEM files in a directory on Lemur's own host, then an
optional reload command (``nginx -s reload``, ``systemctl reload haproxy``).

The reference is the configured base directory. Deploying a bundle the files already hold
changes nothing and runs no reload. When the reload fails the new files stay: Lemur rolls
back by deploying the previous bundle again (the replaced files are also kept as
``NAME.previous``).
"""

from __future__ import annotations

import os
import secrets
import shlex
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, field_validator

from lemur.builtin.files.layout import (
    FileSetOptions,
    check_directory,
    held_certificate,
    place,
    render,
    withdraw,
)
from lemur.builtin.files.local import LocalStore, resolve_owner, run_reload
from lemur.plugins.base import Connector, Destination, Verifier
from lemur.plugins.errors import PluginRejected
from lemur.plugins.values import Bundle, Connection, DeploymentRef

_ACCOUNT = r"^([0-9]+|[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?)$"


def _split_command(value: object) -> object:
    """A string is split like a POSIX shell would split words (``shlex``), but never run
    by a shell: no pipes, no variables."""
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"cannot split the command into words: {exc}") from None
    return value


def _check_argv(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    if not value or not value[0].strip():
        raise ValueError("give the program to run first")
    if any("\0" in arg for arg in value):
        raise ValueError("a command argument cannot contain NUL")
    if len(value) > 64:
        raise ValueError("at most 64 arguments")
    return value


class DirectoryOptions(FileSetOptions):
    directory: Annotated[str, AfterValidator(check_directory)] = Field(
        title="Directory",
        description="Absolute path of an existing directory on the Lemur host; every file "
        "is written inside it",
    )
    owner: str | None = Field(
        None,
        title="Owner",
        pattern=_ACCOUNT,
        description="User (name or uid) the files are given to; empty: Lemur's own user",
    )
    group: str | None = Field(
        None,
        title="Group",
        pattern=_ACCOUNT,
        description="Group (name or gid) the files are given to; empty: unchanged",
    )
    reload_command: Annotated[list[str] | None, BeforeValidator(_split_command)] = Field(
        None,
        title="Reload command",
        description="Program and arguments run after the files changed, e.g. "
        "['/usr/sbin/nginx', '-s', 'reload'] (a string is split into words; no shell)",
    )

    @field_validator("reload_command")
    @classmethod
    def _argv(cls, value: list[str] | None) -> list[str] | None:
        return _check_argv(value)


class DirectoryDestination(Destination[DirectoryOptions], Verifier, Connector):
    slug = "directory"
    title = "Directory"
    description = (
        "Writes the certificate, chain, full chain and private key as PEM files into a "
        "directory on the Lemur host, atomically (the previous files kept as .previous), "
        "then runs an optional reload command."
    )
    Options = DirectoryOptions

    def _store(self) -> LocalStore:
        uid, gid = resolve_owner(self.options.owner, self.options.group)
        return LocalStore(self.options.directory, uid=uid, gid=gid)

    def _ref(self) -> DeploymentRef:
        return DeploymentRef(self.options.directory)

    def _check_ref(self, ref: DeploymentRef) -> None:
        if ref.value != self.options.directory:
            raise PluginRejected(
                f"the deployment at {ref.value} is not in this destination's directory "
                f"{self.options.directory} (the destination was changed since)",
                code="reference_elsewhere",
            )

    def deploy(self, bundle: Bundle, *, previous: DeploymentRef | None = None) -> DeploymentRef:
        """Write the files that differ from ``bundle``'s, then reload once. ``previous`` is
        not needed: the files have fixed names, so the new ones replace the old."""
        files = render(bundle, self.options)
        if not place(self._store(), files):
            return self._ref()
        self.context.logger.info(
            "wrote %s to %s", ", ".join(f.name for f in files), self.options.directory
        )
        if self.options.reload_command:
            run_reload(self.options.reload_command, self.options.reload_timeout)
        return self._ref()

    def remove(self, ref: DeploymentRef) -> None:
        self._check_ref(ref)
        if not os.path.isdir(self.options.directory):
            return  # the whole directory is gone: so is what was deployed there
        withdraw(self._store(), self.options)

    def verify(self, ref: DeploymentRef, bundle: Bundle) -> bool:
        self._check_ref(ref)
        if not os.path.isdir(self.options.directory):
            return False  # the directory is gone, and the deployment with it
        store = self._store()
        held = held_certificate(self.options, lambda f, n: store.read(store.resolve(f, n)))
        return held is not None and held == bundle.certificate

    def connect(self) -> Connection:
        """Check the directory exists, every file name stays inside it, and a file can be
        created there (a probe file, removed at once)."""
        store = self._store()
        for field, name in self.options.named_files():
            store.resolve(field, name)
        probe = os.path.join(store.base, f".lemur-probe-{secrets.token_hex(6)}")
        store.discard(store.stage(probe, b"", 0o600))
        names = ", ".join(name for _, name in self.options.named_files())
        return Connection(summary=f"directory {self.options.directory} is writable; files: {names}")
