"""``sftp``: the same PEM file set as ``directory``, written over SSH (SFTP) to a remote
directory, then an optional remote reload command.

The server's host key is pinned (``host_key``); a server presenting another key is refused.
With ``trust_on_first_use`` and no pinned key, "check connection" accepts the key the
server presents and hands back options with it pinned, for Lemur to store (and audit);
deploying never trusts a key by itself.

The reference is ``sftp://USER@HOST:PORT/DIRECTORY``. Deploying a bundle the files already
hold (read back and compared) changes nothing and runs no reload.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from lemur.builtin.files.keys import PublicKey, load_client_key, parse_public_key
from lemur.builtin.files.layout import (
    FileSetOptions,
    check_directory,
    held_certificate,
    place,
    render,
    withdraw,
)
from lemur.builtin.files.remote import (
    SFTPStore,
    Target,
    run_remote,
    sftp_fault,
    ssh_session,
)
from lemur.plugins.base import Connector, Destination, Verifier
from lemur.plugins.errors import PluginConfigurationError, PluginRejected
from lemur.plugins.values import Bundle, Connection, DeploymentRef

_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*|[A-Za-z0-9_.-]{1,253})$")


class SSHLogin(BaseModel):
    """Where and how to log in; listed first in the options form (pydantic orders the
    fields of ``SFTPOptions``' bases from the last base to the first)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(
        title="Host",
        max_length=255,
        description="Name or IP address of the SSH server",
    )
    port: int = Field(22, title="Port", ge=1, le=65535, description="SSH port")
    username: str = Field(
        title="User name",
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$",
        description="User to log in as; the files are written as this user",
    )
    private_key: SecretStr | None = Field(
        None,
        title="Private key",
        description="The client's private key (PEM or OpenSSH text: Ed25519, ECDSA or RSA); "
        "stored encrypted, never shown again",
    )
    private_key_passphrase: SecretStr | None = Field(
        None,
        title="Private key passphrase",
        description="Passphrase of an encrypted private key",
    )
    password: SecretStr | None = Field(
        None,
        title="Password",
        description="Password of the user, when the server allows password logins and no "
        "private key is given",
    )
    host_key: str | None = Field(
        None,
        title="Pinned host key",
        max_length=16384,
        description="The server's public host key line, e.g. 'ssh-ed25519 AAAA...' "
        "(ssh-keyscan -t ed25519 HOST); a server presenting another key is refused",
    )
    trust_on_first_use: bool = Field(
        False,
        title="Trust on first use",
        description="With no pinned key, 'check connection' pins the key the server "
        "presents; deployments never trust an unpinned key",
    )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not _HOST.match(value):
            raise ValueError("give a host name or IP address, without scheme, user or port")
        return value.strip("[]")

    @field_validator("host_key")
    @classmethod
    def _host_key(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return parse_public_key(value).line

    @model_validator(mode="after")
    def _one_credential(self) -> SSHLogin:
        if (self.private_key is None) == (self.password is None):
            raise ValueError("give either private_key or password")
        if self.private_key_passphrase is not None and self.private_key is None:
            raise ValueError("private_key_passphrase is used only with private_key")
        if self.private_key is not None and "PRIVATE KEY-----" not in (
            self.private_key.get_secret_value()
        ):
            raise ValueError("private_key: paste the PEM or OpenSSH private key text")
        return self


class SFTPOptions(FileSetOptions, SSHLogin):
    directory: Annotated[str, AfterValidator(check_directory)] = Field(
        title="Remote directory",
        description="Absolute path of an existing directory on the server; every file is "
        "written inside it",
    )
    reload_command: str | None = Field(
        None,
        title="Reload command",
        max_length=4096,
        description="Command run on the server (by its login shell) after the files "
        "changed, e.g. 'sudo systemctl reload nginx'; a non-zero exit status fails the "
        "deployment",
    )
    timeout: float = Field(
        10.0, title="Timeout", gt=0, le=120, description="Connect and response timeout (seconds)"
    )

    @field_validator("reload_command")
    @classmethod
    def _command(cls, value: str | None) -> str | None:
        if value is not None and "\0" in value:
            raise ValueError("the command cannot contain NUL")
        return value if value and value.strip() else None


class SFTPDestination(Destination[SFTPOptions], Verifier, Connector):
    slug = "sftp"
    title = "SFTP"
    description = (
        "Writes the certificate, chain, full chain and private key as PEM files into a "
        "directory on an SSH server (SFTP, pinned host key), atomically with the previous "
        "files kept as .previous, then runs an optional reload command there."
    )
    Options = SFTPOptions

    @property
    def _target(self) -> Target:
        o = self.options
        return Target(o.host, o.port, o.username, o.timeout)

    def _ref_value(self) -> str:
        return f"sftp://{self.options.username}@{self._target.where}{self.options.directory}"

    def _check_ref(self, ref: DeploymentRef) -> None:
        if ref.value != self._ref_value():
            raise PluginRejected(
                f"the deployment at {ref.value} is not this destination's "
                f"{self._ref_value()} (the destination was changed since)",
                code="reference_elsewhere",
            )

    def _authenticator(self) -> tuple[Callable[[Any], object], str]:
        o = self.options
        if o.private_key is not None:
            passphrase = o.private_key_passphrase
            key = load_client_key(
                o.private_key.get_secret_value(),
                passphrase.get_secret_value() if passphrase else None,
            )
            return (lambda t: t.auth_publickey(o.username, key)), "options.private_key"
        password = o.password.get_secret_value() if o.password else ""
        return (lambda t: t.auth_password(o.username, password)), "options.password"

    @contextmanager
    def _session(self, *, trust_presented: bool = False) -> Iterator[tuple[Any, PublicKey]]:
        pinned = parse_public_key(self.options.host_key) if self.options.host_key else None
        if pinned is None and not trust_presented:
            raise PluginConfigurationError(
                f"no host key is pinned for {self._target.where}: paste the server's key "
                "line, or enable trust_on_first_use and check the connection once",
                field="options.host_key",
                code="host_key_missing",
            )
        authenticate, field = self._authenticator()
        with ssh_session(
            self._target,
            self.context,
            pinned=pinned,
            authenticate=authenticate,
            auth_field=field,
        ) as session:
            yield session

    @contextmanager
    def _store(self) -> Iterator[tuple[Any, SFTPStore]]:
        with self._session() as (transport, _):
            try:
                sftp = transport.open_sftp_client()
                sftp.get_channel().settimeout(self.options.timeout)
            except Exception as exc:
                raise sftp_fault(exc, "starting SFTP") from exc
            try:
                yield transport, SFTPStore(sftp, self.options.directory)
            finally:
                sftp.close()

    def deploy(self, bundle: Bundle, *, previous: DeploymentRef | None = None) -> DeploymentRef:
        """Upload the files that differ from ``bundle``'s (read back and compared), then
        run the reload command once. ``previous`` is not needed: the names are fixed."""
        files = render(bundle, self.options)
        with self._store() as (transport, store):
            if not place(store, files):
                return DeploymentRef(self._ref_value())
            self.context.logger.info(
                "uploaded %s to %s", ", ".join(f.name for f in files), self._ref_value()
            )
            if self.options.reload_command:
                run_remote(
                    transport,
                    self.options.reload_command,
                    self.options.reload_timeout,
                    self._target.where,
                )
        return DeploymentRef(self._ref_value())

    def remove(self, ref: DeploymentRef) -> None:
        self._check_ref(ref)
        try:
            with self._store() as (_, store):
                withdraw(store, self.options)
        except PluginConfigurationError as exc:
            if exc.field != "options.directory":
                raise
            # the remote directory itself is gone, and what was deployed in it with it

    def verify(self, ref: DeploymentRef, bundle: Bundle) -> bool:
        self._check_ref(ref)
        try:
            with self._store() as (_, store):
                held = held_certificate(self.options, lambda f, n: store.read(store.resolve(f, n)))
        except PluginConfigurationError as exc:
            if exc.field != "options.directory":
                raise
            return False  # the directory is gone, and the deployment with it
        return held is not None and held == bundle.certificate

    def connect(self) -> Connection:
        """Log in, check the directory and every file name, and create and remove a probe
        file. With trust on first use and no pinned key, the returned options pin the key
        the server presented."""
        first_use = self.options.host_key is None and self.options.trust_on_first_use
        with self._session(trust_presented=first_use) as (transport, presented):
            try:
                sftp = transport.open_sftp_client()
                sftp.get_channel().settimeout(self.options.timeout)
            except Exception as exc:
                raise sftp_fault(exc, "starting SFTP") from exc
            try:
                store = SFTPStore(sftp, self.options.directory)
                for field, name in self.options.named_files():
                    store.resolve(field, name)
                probe = f"{store.base.rstrip('/')}/.lemur-probe-{secrets.token_hex(6)}"
                store.discard(store.stage(probe, b"", 0o600))
            finally:
                sftp.close()
        summary = (
            f"logged in to {self._target.where} as {self.options.username} (host key "
            f"{presented.kind} {presented.fingerprint}); {self.options.directory} is writable"
        )
        if first_use:
            pinned = self.options.model_copy(update={"host_key": presented.line})
            return Connection(summary=summary + "; host key pinned on first use", options=pinned)
        return Connection(summary=summary)
