"""What Lemur creates at first start and checks at every start: the data directory, the
key file, the session secret, an admin account and the local CAs. Existing keys, secrets
and accounts are never replaced."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from lemur.accounts.models import AppSecret, Role, User
from lemur.authorities.models import Authority
from lemur.authorities.specs import LocalAuthoritySpec, SubjectFields
from lemur.authz import cli_principal
from lemur.clock import Clock
from lemur.config import Settings
from lemur.crypto.keyring import KeyRing, generate_key, write_key_file
from lemur.crypto.keys import KeySpec
from lemur.db import Database, is_sqlite
from lemur.errors import ConfigurationError
from lemur.keys.models import KeyringKey
from lemur.services import Services

if TYPE_CHECKING:
    from lemur.container import Container

SESSION_SECRET_NAME = "session"


@dataclass
class InitReport:
    created_data_dir: bool = False
    created_key_file: bool = False
    migrated: bool = False
    admin_username: str | None = None
    admin_password: str | None = None
    created_authorities: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_keyring(settings: Settings, db: Database, *, create: bool, report: InitReport) -> KeyRing:
    if settings.encryption_keys is not None:
        return KeyRing.from_env(settings.encryption_keys.get_secret_value())
    path = settings.key_file
    if path.exists():
        return KeyRing.from_file(path)
    with db.read() as session:
        used = session.scalar(select(func.count()).select_from(KeyringKey)) or 0
    if used:
        raise ConfigurationError(
            f"the key file {path} is missing, but the database already holds encrypted secrets. "
            "Restore the key file from your backup (or set LEMUR_ENCRYPTION_KEYS); a new key "
            "would make the stored secrets unreadable, so Lemur will not create one.",
            code="keyring_missing",
        )
    if not create:
        raise ConfigurationError(
            f"no encryption keys: {path} does not exist and LEMUR_ENCRYPTION_KEYS is not set; "
            "run `lemur init` first",
            code="keyring_missing",
        )
    write_key_file(path, [generate_key()])
    report.created_key_file = True
    return KeyRing.from_file(path)


def session_secret(
    settings: Settings, db: Database, ring: KeyRing, clock: Clock, *, create: bool
) -> bytes:
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value().encode()
    with db.read() as session:
        row = session.get(AppSecret, SESSION_SECRET_NAME)
        if row is not None:
            return ring.decrypt(row.ciphertext)
    if not create:
        raise ConfigurationError(
            "no session secret; run `lemur init`", code="session_secret_missing"
        )
    value = secrets.token_bytes(32)
    with db.write() as session:
        if session.get(AppSecret, SESSION_SECRET_NAME) is None:
            session.add(
                AppSecret(
                    name=SESSION_SECRET_NAME, ciphertext=ring.encrypt(value), created_at=clock.now()
                )
            )
            session.commit()
            return value
    return session_secret(settings, db, ring, clock, create=False)


def check_data_dir(settings: Settings) -> None:
    """Refuse to start on a SQLite database whose data directory is missing, saying where
    Lemur looked and how to point it at an existing one: running ``lemur init`` there
    would create a second, empty instance."""
    if settings.database_url is not None or settings.data_dir.exists():
        return
    if "LEMUR_DATA_DIR" in os.environ:
        where = f"LEMUR_DATA_DIR is set to {os.environ['LEMUR_DATA_DIR']!r}"
    else:
        where = (
            "LEMUR_DATA_DIR is not set, so the data directory is lemur-data relative to the "
            f"current directory ({Path.cwd()})"
        )
    raise ConfigurationError(
        f"data directory {settings.data_dir} does not exist ({where}). To use an existing "
        "Lemur, run this command from the directory where `make run` (or `lemur serve`) "
        "created lemur-data, or set LEMUR_DATA_DIR=/path/to/lemur-data; only to create a "
        "new, empty instance there, run `lemur init`.",
        code="data_dir_missing",
    )


def first_start(container: Container, report: InitReport) -> None:
    """The admin account and, if configured, the local CAs, unless they exist."""
    _ensure_admin(container, report)
    if container.settings.create_local_ca:
        _ensure_local_ca(container, report)


def _ensure_admin(container: Container, report: InitReport) -> None:
    with Services(container, cli_principal()) as services:
        admins = select(func.count()).select_from(User).where(User.role == Role.ADMIN)
        if services.uow.read.scalar(admins):
            return
        user, password = services.accounts().create_user(
            "admin", role=Role.ADMIN, display_name="Administrator"
        )
        report.admin_username = user.username
        report.admin_password = password


def _ensure_local_ca(container: Container, report: InitReport) -> None:
    """A ready "Local Root CA" and "Local Issuing CA" below it, unless any authority exists."""
    with Services(container, cli_principal()) as services:
        if services.uow.read.scalar(select(func.count()).select_from(Authority)):
            return
        service = services.authorities()
        root = service.create_local(
            LocalAuthoritySpec(
                name="local-root-ca",
                description="Local Root CA, created at first start",
                subject=SubjectFields(common_name="Local Root CA", organization="Lemur"),
                key_spec=KeySpec.EC_P384,
                validity_days=3650,
                path_length=1,
            )
        )
        service.create_local(
            LocalAuthoritySpec(
                name="local-issuing-ca",
                description="Local Issuing CA: issues server and client certificates",
                subject=SubjectFields(common_name="Local Issuing CA", organization="Lemur"),
                key_spec=KeySpec.EC_P256,
                validity_days=1825,
                parent_id=root.id,
                path_length=0,
            )
        )
        report.created_authorities += ["local-root-ca", "local-issuing-ca"]


def restrict_sqlite_file(url: str) -> None:
    """The database holds encrypted keys and password hashes: readable by its owner only
    (SQLite gives its -wal and -shm files the same mode)."""
    if not is_sqlite(url):
        return
    path = make_url(url).database
    if path and path != ":memory:" and os.path.exists(path):
        os.chmod(path, 0o600)
