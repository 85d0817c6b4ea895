"""The one place collaborators are wired: settings, database, key ring, clock, hasher,
plugins and the signing-key cache.

Built once by the CLI (``lemur serve`` and the admin commands) or by a test fixture and
handed to ``create_app``; nothing in domain code reaches for globals. Services are built
from it per request or command by :class:`lemur.services.Services`; what is created at
first start lives in :mod:`lemur.bootstrap`.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field

from sqlalchemy.engine import make_url

from lemur import bootstrap
from lemur.accounts.passwords import PasswordHasher
from lemur.authorities.signing import SigningKeyCache
from lemur.bootstrap import InitReport
from lemur.clock import Clock, OffsetFileClock, SystemClock
from lemur.config import Settings
from lemur.crypto.keyring import KeyRing
from lemur.db import Database, is_sqlite
from lemur.errors import ConfigurationError
from lemur.health.database import SQLiteFileGuard, instance_id
from lemur.jobs.registry import JobKinds
from lemur.keys.service import check_keyring, register_primary
from lemur.migrate import current_revision, is_current, upgrade
from lemur.outbound import OutboundPolicy
from lemur.plugins.registry import Registry
from lemur.statistics.service import StatisticsCache

__all__ = ["Container", "InitReport", "build_container"]


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
    # The job kinds this installation runs; None: the built-in catalog, loaded on first use.
    job_kinds_override: JobKinds | None = None
    _job_kinds: JobKinds | None = field(default=None, repr=False)
    _statistics_cache: StatisticsCache | None = field(default=None, repr=False)
    _outbound_policy: OutboundPolicy | None = field(default=None, repr=False)
    # Authority id -> whether its CA is reached over the network (an authority's plugin and
    # key never change, so this never goes stale): the issuance route hands those requests
    # to a thread instead of the event loop.
    remote_authorities: dict[int, bool] = field(default_factory=dict, repr=False)

    @property
    def outbound_policy(self) -> OutboundPolicy:
        """Where plugins may connect (LEMUR_OUTBOUND_*), parsed once."""
        if self._outbound_policy is None:
            self._outbound_policy = OutboundPolicy.from_settings(self.settings)
        return self._outbound_policy

    @property
    def job_kinds(self) -> JobKinds:
        if self.job_kinds_override is not None:
            return self.job_kinds_override
        if self._job_kinds is None:
            from lemur.jobs.catalog import default_kinds

            self._job_kinds = default_kinds()
        return self._job_kinds

    @property
    def statistics_cache(self) -> StatisticsCache:
        """The dashboard's figures of this process (lemur.statistics.service)."""
        if self._statistics_cache is None:
            self._statistics_cache = StatisticsCache(
                self.db,
                self.clock,
                max_age=dt.timedelta(seconds=self.settings.statistics_max_age_seconds),
            )
        return self._statistics_cache

    def close(self) -> None:
        self.db.dispose()
        if self.file_guard is not None:
            self.file_guard.close()


def _clock(settings: Settings) -> Clock:
    if settings.test_clock_file is None:
        return SystemClock()
    if os.environ.get("LEMUR_ALLOW_TEST_CLOCK") != "1":
        raise ConfigurationError(
            "LEMUR_TEST_CLOCK_FILE is for tests only: it moves Lemur's clock; unset it "
            "(a test sets LEMUR_ALLOW_TEST_CLOCK=1 as well)",
            code="test_clock_refused",
        )
    return OffsetFileClock(settings.test_clock_file)


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
    clock = clock or _clock(settings)
    hasher = hasher or PasswordHasher()
    report = report if report is not None else InitReport()
    url = settings.effective_database_url
    if init and not settings.data_dir.exists():
        settings.data_dir.mkdir(mode=0o700, parents=True)
        report.created_data_dir = True
    elif is_sqlite(url):
        bootstrap.check_data_dir(settings)
    if settings.data_dir.exists():
        os.chmod(settings.data_dir, 0o700)
    db = Database.connect(url)
    try:
        if init:
            if not is_current(db.write_engine):
                upgrade(db.write_engine)
                report.migrated = True
            bootstrap.restrict_sqlite_file(url)
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
        ring = bootstrap.load_keyring(settings, db, create=init, report=report)
        with db.write() as session:
            check_keyring(session, ring)
            if init:
                register_primary(session, ring, clock)
                session.commit()
        secret = bootstrap.session_secret(settings, db, ring, clock, create=init)
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
            bootstrap.first_start(container, report)
        return container
    except BaseException:
        db.dispose()
        raise
