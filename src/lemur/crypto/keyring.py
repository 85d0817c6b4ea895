"""The key ring: Fernet keys that encrypt every secret Lemur stores.

A stored secret is the text ``"<kid>:<fernet token>"`` where ``kid`` is the first eight
hex digits of SHA-256 over the key. Naming the key in the value lets decryption pick the
right key at once, lets rotation find exactly the rows still under an old key (so an
interrupted rotation simply resumes), and lets start-up prove that every key the database
needs is present before serving anything.

Keys come either from ``LEMUR_ENCRYPTION_KEYS`` (comma-separated, primary first) or from a
key file (one key per line, primary first, mode 0600). A file-backed ring re-reads its file
when it meets a key id it does not know, so a running server follows ``lemur keys rotate``.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from lemur.errors import ConfigurationError, LemurError

FOLLOW_SECONDS = 2.0


class KeyRingError(LemurError):
    status = 500
    default_code = "keyring_error"


def key_id(key: str) -> str:
    return hashlib.sha256(key.strip().encode()).hexdigest()[:8]


def generate_key() -> str:
    return Fernet.generate_key().decode()


def _parse_keys(keys: Sequence[str], source: str) -> list[str]:
    cleaned = [k.strip() for k in keys if k.strip() and not k.strip().startswith("#")]
    if not cleaned:
        raise ConfigurationError(f"{source} holds no encryption key", code="keyring_empty")
    for index, key in enumerate(cleaned):
        try:
            Fernet(key.encode())
        except ValueError as exc:
            raise ConfigurationError(
                f"key #{index + 1} in {source} is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes; make one with `lemur keys generate`)",
                code="keyring_invalid_key",
            ) from exc
    return cleaned


class KeyRing:
    """Encrypts with the primary key; decrypts with whichever key the value names."""

    def __init__(self, keys: Sequence[str], *, path: Path | None = None, source: str = "") -> None:
        self._path = path
        self._source = source or (str(path) if path else "LEMUR_ENCRYPTION_KEYS")
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._checked = time.monotonic()
        self._install(_parse_keys(keys, self._source))

    def _install(self, keys: list[str]) -> None:
        self._keys = keys
        self._fernets = {key_id(k): Fernet(k.encode()) for k in keys}
        self._primary = key_id(keys[0])

    @classmethod
    def from_env(cls, value: str) -> KeyRing:
        return cls(value.split(","), source="LEMUR_ENCRYPTION_KEYS")

    @classmethod
    def from_file(cls, path: Path) -> KeyRing:
        check_key_file_mode(path)
        ring = cls(path.read_text().splitlines(), path=path)
        ring._mtime = path.stat().st_mtime
        return ring

    @property
    def primary_kid(self) -> str:
        return self._primary

    @property
    def kids(self) -> list[str]:
        return [key_id(k) for k in self._keys]

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def source(self) -> str:
        return self._source

    def encrypt(self, plaintext: bytes) -> str:
        self._follow_file()
        return f"{self._primary}:{self._fernets[self._primary].encrypt(plaintext).decode()}"

    def decrypt(self, stored: str) -> bytes:
        kid, sep, token = stored.partition(":")
        if not sep:
            raise KeyRingError("stored secret has no key id", code="keyring_corrupt_value")
        fernet = self._fernets.get(kid) or self._reload_for(kid)
        try:
            return fernet.decrypt(token.encode())
        except InvalidToken as exc:
            raise KeyRingError(
                f"stored secret under key {kid} failed authentication", code="keyring_corrupt_value"
            ) from exc

    def needs_rotation(self, stored: str) -> bool:
        return not stored.startswith(self._primary + ":")

    def _follow_file(self) -> None:
        """Pick up a rotated key file within FOLLOW_SECONDS, so new secrets a running server
        writes use the new primary key."""
        if self._path is None:
            return
        now = time.monotonic()
        if now - self._checked < FOLLOW_SECONDS:
            return
        self._checked = now
        with self._lock:
            mtime = self._path.stat().st_mtime
            if mtime != self._mtime:
                self._install(_parse_keys(self._path.read_text().splitlines(), self._source))
                self._mtime = mtime

    def _reload_for(self, kid: str) -> Fernet:
        if self._path is not None:
            with self._lock:
                mtime = self._path.stat().st_mtime
                if mtime != self._mtime:
                    self._install(_parse_keys(self._path.read_text().splitlines(), self._source))
                    self._mtime = mtime
            if kid in self._fernets:
                return self._fernets[kid]
        raise KeyRingError(
            f"a stored secret is encrypted under key {kid}, which is not in the key ring "
            f"({self._source})",
            code="keyring_missing_key",
        )

    def with_new_primary(self, key: str) -> KeyRing:
        """A ring with ``key`` in front; the file (if any) is rewritten atomically, mode 0600."""
        keys = [key, *self._keys]
        if self._path is not None:
            write_key_file(self._path, keys)
            return KeyRing.from_file(self._path)
        return KeyRing(keys, source=self._source)

    def without(self, kids: set[str]) -> KeyRing:
        """A ring without the given (retired) keys; the primary is never removed."""
        keys = [k for k in self._keys if key_id(k) not in kids or key_id(k) == self._primary]
        if self._path is not None:
            write_key_file(self._path, keys)
            return KeyRing.from_file(self._path)
        return KeyRing(keys, source=self._source)


def check_key_file_mode(path: Path) -> None:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigurationError(
            f"key file {path} is readable by others (mode {mode:o}); run `chmod 600 {path}`",
            code="keyring_file_permissions",
        )


def write_key_file(path: Path, keys: Sequence[str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("# Lemur encryption keys, primary first. Losing this file loses every key.\n")
        fh.write("".join(f"{k}\n" for k in keys))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
