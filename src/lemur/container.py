"""The one place collaborators are wired: settings, database, key ring, clock, hasher.

Built once by the CLI (``lemur serve`` and the admin commands) or by a test fixture and
handed to ``create_app``; nothing in domain code reaches for globals.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from lemur.accounts.models import AppSecret, Role, User
from lemur.accounts.passwords import PasswordHasher
from lemur.accounts.service import AccountService
from lemur.authorities.models import Authority
from lemur.authorities.service import (
    AuthorityService,
    AuthorityURLs,
    LocalAuthoritySpec,
    SigningKeyCache,
    SubjectFields,
)
from lemur.authz import cli_principal
from lemur.clock import Clock, SystemClock
from lemur.config import Settings
from lemur.crypto.keyring import KeyRing, generate_key, write_key_file
from lemur.crypto.keys import KeySpec
from lemur.db import Database, is_sqlite
from lemur.errors import ConfigurationError
from lemur.health.database import SQLiteFileGuard, instance_id
from lemur.keys.models import KeyringKey
from lemur.keys.service import check_keyring, register_primary
from lemur.migrate import current_revision, is_current, upgrade
from lemur.plugins.registry import Registry

SESSION_SECRET_NAME = "session"


@dataclass
class Container:
    settings: Settings
    db: Database
    keyring: KeyRing
    clock: Clock
    hasher: PasswordHasher
    session_secret: bytes = field(repr=False)
    plugins: Registry
    signing_keys: SigningKeyCache = field(default_factory=SigningKeyCache)
    # Marks of the database this container opened (lemur.health.database): /ready checks them.
    instance_id: str | None = None
    file_guard: SQLiteFileGuard | None = None

    def close(self) -> None:
        self.db.dispose()
        if self.file_guard is not None:
            self.file_guard.close()


@dataclass
class InitReport:
    created_data_dir: bool = False
    created_key_file: bool = False
    migrated: bool = False
    admin_username: str | None = None
    admin_password: str | None = None
    created_authorities: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _load_keyring(settings: Settings, db: Database, *, create: bool, report: InitReport) -> KeyRing:
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


def _session_secret(
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
    return _session_secret(settings, db, ring, clock, create=False)


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def build_container(
    settings: Settings,
    *,
    init: bool,
    clock: Clock | None = None,
    hasher: PasswordHasher | None = None,
    report: InitReport | None = None,
    plugins: Registry | None = None,
) -> Container:
    """Open everything Lemur needs. With ``init``, create what is missing first: the data
    directory, the schema, the key file, the session secret and an admin account. Existing
    keys, secrets and accounts are never replaced."""
    clock = clock or SystemClock()
    hasher = hasher or PasswordHasher()
    report = report if report is not None else InitReport()
    url = settings.effective_database_url
    if init and not settings.data_dir.exists():
        settings.data_dir.mkdir(mode=0o700, parents=True)
        report.created_data_dir = True
    elif is_sqlite(url) and settings.database_url is None and not settings.data_dir.exists():
        raise ConfigurationError(
            f"data directory {settings.data_dir} does not exist; run `lemur init`",
            code="data_dir_missing",
        )
    if settings.data_dir.exists():
        os.chmod(settings.data_dir, 0o700)
    db = Database.connect(url)
    try:
        if init:
            if not is_current(db.write_engine):
                upgrade(db.write_engine)
                report.migrated = True
            _restrict_sqlite_file(url)
        elif current_revision(db.write_engine) is None:
            raise ConfigurationError(
                f"the database {_safe_url(url)} holds no Lemur schema; run `lemur init` "
                "(with the same settings) to create it",
                code="database_not_initialised",
            )
        elif not is_current(db.write_engine):
            report.notes.append(
                "database schema is not current: run `lemur init` (until then /ready says 503)"
            )
        ring = _load_keyring(settings, db, create=init, report=report)
        with db.write() as session:
            check_keyring(session, ring)
            if init:
                register_primary(session, ring, clock)
                session.commit()
        secret = _session_secret(settings, db, ring, clock, create=init)
        instance = instance_id(db, ring, clock, create=init)
        container = Container(
            settings=settings,
            db=db,
            keyring=ring,
            clock=clock,
            hasher=hasher,
            session_secret=secret,
            plugins=plugins or Registry.load(),
            instance_id=instance,
            file_guard=SQLiteFileGuard.watch(db),
        )
        if init:
            _ensure_admin(container, report)
            if settings.create_local_ca:
                _ensure_local_ca(container, report)
        return container
    except BaseException:
        db.dispose()
        raise


def _ensure_admin(container: Container, report: InitReport) -> None:
    with container.db.write() as session:
        if session.scalar(select(func.count()).select_from(User).where(User.role == Role.ADMIN)):
            return
        service = AccountService(
            session, clock=container.clock, hasher=container.hasher, actor=cli_principal()
        )
        user, password = service.create_user("admin", role=Role.ADMIN, display_name="Administrator")
        report.admin_username = user.username
        report.admin_password = password


def _ensure_local_ca(container: Container, report: InitReport) -> None:
    """A ready "Local Root CA" and "Local Issuing CA" below it, unless any authority exists."""
    with container.db.write() as session:
        if session.scalar(select(func.count()).select_from(Authority)):
            return
        service = AuthorityService(
            session,
            clock=container.clock,
            keyring=container.keyring,
            plugins=container.plugins,
            urls=AuthorityURLs(container.settings.effective_base_url),
            actor=cli_principal(),
            signing_keys=container.signing_keys,
        )
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


def _restrict_sqlite_file(url: str) -> None:
    """The database holds encrypted keys and password hashes: readable by its owner only
    (SQLite gives its -wal and -shm files the same mode)."""
    if not is_sqlite(url):
        return
    path = make_url(url).database
    if path and path != ":memory:" and os.path.exists(path):
        os.chmod(path, 0o600)
