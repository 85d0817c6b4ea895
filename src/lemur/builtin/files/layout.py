"""What the ``directory`` and ``sftp`` destinations share: the file-set options, the files
a bundle renders to, and one placement routine over a small store interface (the local
file system, or an SFTP session).

Placement stages every changed file (and the ``.previous`` copy of what it replaces) under
a temporary name in the target's own directory first, then renames them over the targets:
a rename within one directory is atomic (POSIX ``rename(2)``; OpenSSH's
``posix-rename@openssh.com`` over SFTP), so a reader sees the old file or the new one in
full, never a mix, and a fault while staging (a full disk) leaves every target untouched.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Protocol

from cryptography import x509
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from lemur.crypto.keys import private_key_to_pem
from lemur.crypto.parsing import certificates_to_pem, load_certificates
from lemur.errors import LemurError
from lemur.plugins.errors import PluginError, PluginRejected
from lemur.plugins.values import Bundle

PREVIOUS_SUFFIX = ".previous"
FILE_FIELDS = ("certificate_file", "chain_file", "fullchain_file", "key_file")


def check_file_name(value: str | None) -> str | None:
    """A name relative to the base directory that cannot leave it: no absolute path, no
    ``..`` or ``.`` component, no empty component, no control character."""
    if value is None or value == "":
        return None
    if "\0" in value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("a file name cannot contain control characters")
    if value.startswith("/"):
        raise ValueError("give a name relative to the directory, not an absolute path")
    parts = value.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError("a file name must stay inside the directory: no '..', '.' or empty parts")
    if any(len(part.encode()) > 255 for part in parts) or len(value) > 1024:
        raise ValueError("a file name is at most 255 bytes per part")
    return value


def check_directory(value: str) -> str:
    """An absolute directory path without ``..`` (the base every file name stays in)."""
    if "\0" in value or any(ord(c) < 32 for c in value):
        raise ValueError("a directory path cannot contain control characters")
    if not value.startswith("/"):
        raise ValueError("give an absolute path, starting with /")
    if ".." in value.split("/"):
        raise ValueError("the directory path cannot contain '..'")
    if len(value) > 4096:
        raise ValueError("the directory path is too long")
    normal = "/" + "/".join(p for p in value.split("/") if p not in ("", "."))
    return normal


def _check_mode(value: str) -> str:
    if not (3 <= len(value) <= 4) or any(c not in "01234567" for c in value):
        raise ValueError("give an octal file mode such as 0644")
    if len(value) == 4 and value[0] != "0":
        raise ValueError("setuid, setgid and sticky bits are not allowed")
    if int(value, 8) & 0o002:
        raise ValueError("a certificate file must not be writable by others")
    return value.zfill(4)


FileName = Annotated[str | None, AfterValidator(check_file_name)]
FileMode = Annotated[str, AfterValidator(_check_mode)]


class FileSetOptions(BaseModel):
    """The files a bundle is written to, their modes, and the reload timeout."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    directory: Annotated[str, AfterValidator(check_directory)] = Field(
        title="Directory",
        description="Absolute path of an existing directory; every file is written inside it",
    )
    certificate_file: FileName = Field(
        "cert.pem",
        title="Certificate file",
        description="Name of the file holding the certificate alone (PEM), relative to "
        "the directory; empty: not written",
    )
    chain_file: FileName = Field(
        "chain.pem",
        title="Chain file",
        description="Name of the file holding the chain, issuer first (PEM); empty: not written",
    )
    fullchain_file: FileName = Field(
        "fullchain.pem",
        title="Full chain file",
        description="Name of the file holding the certificate followed by its chain (PEM), "
        "as nginx's ssl_certificate takes it; empty: not written",
    )
    key_file: FileName = Field(
        "key.pem",
        title="Private key file",
        description="Name of the file holding the private key (PKCS#8 PEM, unencrypted); "
        "empty: not written",
    )
    file_mode: FileMode = Field(
        "0644",
        title="Certificate file mode",
        description="Octal permissions of the certificate, chain and full chain files",
    )
    key_mode: FileMode = Field(
        "0600",
        title="Private key file mode",
        description="Octal permissions of the private key file; never readable by others",
    )
    reload_timeout: float = Field(
        30.0,
        title="Reload timeout",
        gt=0,
        le=600,
        description="Seconds the reload command may run before it is stopped",
    )

    @model_validator(mode="after")
    def _consistent_files(self) -> FileSetOptions:
        names = [n for n in (getattr(self, f) for f in FILE_FIELDS) if n]
        if not names:
            raise ValueError("name at least one file to write")
        if len(set(names)) != len(names):
            raise ValueError("each file needs its own name")
        if any(f"{n}{PREVIOUS_SUFFIX}" in names for n in names):
            raise ValueError(f"a file name cannot be another's name plus {PREVIOUS_SUFFIX}")
        if int(self.key_mode, 8) & 0o007:
            raise ValueError("key_mode: the private key must not be accessible to others")
        return self

    def named_files(self) -> list[tuple[str, str]]:
        """(option name, file name) of every file to write."""
        return [(f, name) for f in FILE_FIELDS if (name := getattr(self, f))]


@dataclass(frozen=True)
class RenderedFile:
    field: str  # the option naming the file, e.g. "key_file"
    name: str
    content: bytes
    mode: int


def render(bundle: Bundle, options: FileSetOptions) -> tuple[RenderedFile, ...]:
    """The content of every configured file for ``bundle``. Raises PluginRejected when a
    key file is configured and the bundle carries no private key."""
    out = []
    for field, name in options.named_files():
        mode = int(options.file_mode, 8)
        if field == "certificate_file":
            content = certificates_to_pem([bundle.certificate])
        elif field == "chain_file":
            content = certificates_to_pem(list(bundle.chain))
        elif field == "fullchain_file":
            content = certificates_to_pem([bundle.certificate, *bundle.chain])
        else:
            if bundle.private_key is None:
                raise PluginRejected(
                    f"the bundle of {bundle.name} has no private key, but this destination "
                    f"writes one ({name}); deploy a certificate whose key Lemur holds",
                    code="private_key_missing",
                )
            content = private_key_to_pem(bundle.private_key)
            mode = int(options.key_mode, 8)
        out.append(RenderedFile(field, name, content, mode))
    return tuple(out)


def held_certificate(options: FileSetOptions, read: ReadFile) -> x509.Certificate | None:
    """The leaf the target holds (the certificate file, else the first certificate of the
    full chain file), or None when neither is configured or readable as PEM."""
    for field in ("certificate_file", "fullchain_file"):
        name = getattr(options, field)
        if not name:
            continue
        data = read(field, name)
        if not data:
            return None
        try:
            certs = load_certificates(data)
        except LemurError:  # not PEM: it holds no certificate Lemur placed
            return None
        return certs[0] if certs else None
    return None


class ReadFile(Protocol):
    def __call__(self, field: str, name: str) -> bytes | None: ...


class FileStore(Protocol):
    """One directory reached some way. Paths are what ``resolve`` returned."""

    def resolve(self, field: str, name: str) -> str:
        """The real path of ``name`` under the base directory. Raises
        PluginConfigurationError(field=options.<field>) when it leaves the base."""

    def read(self, path: str) -> bytes | None:
        """The file's content, None when there is none."""

    def stage(self, path: str, content: bytes, mode: int) -> str:
        """Write ``content`` to a new temporary file next to ``path`` with ``mode`` set
        before any byte is written; return its path. Cleans up after itself on failure."""

    def conform(self, path: str, mode: int) -> None:
        """Give an existing file ``mode`` (and the configured owner) where it differs."""

    def commit(self, temporary: str, path: str) -> None:
        """Atomically rename ``temporary`` over ``path``."""

    def discard(self, path: str) -> None:
        """Remove ``path``; nothing happens when it is already gone."""

    def settle(self, directories: Sequence[str]) -> None:
        """Make the renames durable (fsync the directories), where the store can."""


def temporary_name(path: str) -> str:
    """A fresh hidden name in ``path``'s directory, so the rename stays in one file system."""
    head, _, tail = path.rpartition("/")
    return f"{head}/.{tail}.lemur-{secrets.token_hex(6)}.tmp"


def place(store: FileStore, files: Sequence[RenderedFile]) -> bool:
    """Put ``files`` in place; True when some content changed, False when every file
    already held exactly this content (then no content is written; only a mode or owner
    changed in the options since is applied, which needs no reload)."""
    targets = [(f, store.resolve(f.field, f.name)) for f in files]
    current = {path: store.read(path) for _, path in targets}
    changed = [(f, path) for f, path in targets if current[path] != f.content]
    for f, path in targets:
        if current[path] == f.content:
            store.conform(path, f.mode)
    if not changed:
        return False
    staged: list[tuple[str, str]] = []
    try:
        for f, path in changed:
            old = current[path]
            if old is not None:
                previous = path + PREVIOUS_SUFFIX
                staged.append((store.stage(previous, old, f.mode), previous))
            staged.append((store.stage(path, f.content, f.mode), path))
    except BaseException:
        for temporary, _ in staged:
            _quietly_discard(store, temporary)
        raise
    for index, (temporary, path) in enumerate(staged):
        try:
            store.commit(temporary, path)
        except BaseException:
            for left, _ in staged[index + 1 :]:
                _quietly_discard(store, left)
            raise
    store.settle(sorted({path.rpartition("/")[0] or "/" for _, path in staged}))
    return True


def withdraw(store: FileStore, options: FileSetOptions) -> None:
    """Remove every configured file and its ``.previous`` copy (keys included)."""
    for field, name in options.named_files():
        path = store.resolve(field, name)
        store.discard(path)
        store.discard(path + PREVIOUS_SUFFIX)


def _quietly_discard(store: FileStore, path: str) -> None:
    # the original fault is the one to report; a stray temporary name is harmless
    with contextlib.suppress(PluginError):
        store.discard(path)


def trimmed(text: bytes, *, lines: int = 5, limit: int = 600) -> str:
    """The last lines of a command's output, short enough for an error message."""
    tail = text.decode("utf-8", "replace").strip().splitlines()[-lines:]
    shown = " | ".join(line.strip() for line in tail if line.strip())
    return shown if len(shown) <= limit else "..." + shown[-limit:]
