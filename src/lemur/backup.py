"""Online backups of a SQLite data directory, and restoring them.

A copy of the database file taken while a server writes (``cp -a``) mixes pages of
different moments and fails ``PRAGMA integrity_check``; SQLite's online backup API starts
over whenever the source changes, so under steady writes it never finishes. ``VACUUM
INTO`` writes a consistent snapshot (one read transaction; in WAL mode writers carry on)
in a single pass. The backup holds the snapshot, the key file (without it the stored keys
are lost) and a manifest: versions, schema revision, audit head and a checksum per file.
Restore checks all of it before it touches the data directory, and keeps the old one aside.

A running ``lemur serve`` holds a shared lock on its data directory (hold_data_dir);
restore takes it exclusively, so it cannot replace the files under a server.

PostgreSQL is backed up with its own tools (pg_dump); see postgresql_backup_command.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import select
from sqlalchemy.engine import URL, make_url

from lemur import __version__
from lemur.accounts.models import AppSecret
from lemur.audit.chain import current_head, verify_chain
from lemur.clock import Clock
from lemur.config import Settings
from lemur.crypto.keyring import KeyRing, KeyRingError
from lemur.db import Database, is_sqlite
from lemur.errors import ConfigurationError, Conflict, InvalidInput
from lemur.keys.service import check_keyring
from lemur.migrate import alembic_config, current_revision, head_revision

MANIFEST = "manifest.json"
DATABASE = "lemur.db"
KEY_FILE = "keyring"
FORMAT = 1

Progress = Callable[[str], None]


def _quiet(_step: str) -> None:
    return None


@dataclass(frozen=True)
class FileDigest:
    sha256: str
    bytes: int


@dataclass(frozen=True)
class Manifest:
    format: int
    lemur_version: str
    sqlite_version: str
    created_at: str
    schema_revision: str | None
    audit_head_seq: int
    audit_head_hash: str
    keys: str  # "file": the key file is in the backup; "environment": LEMUR_ENCRYPTION_KEYS
    files: dict[str, FileDigest] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        path = directory / MANIFEST
        try:
            data = json.loads(path.read_text())
            files = {name: FileDigest(**digest) for name, digest in data.pop("files").items()}
            manifest = cls(**data, files=files)
        except FileNotFoundError as exc:
            raise InvalidInput(
                f"{directory} is not a Lemur backup: it has no {MANIFEST}",
                code="backup_invalid",
                field="source",
            ) from exc
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise InvalidInput(
                f"{path} is not a manifest this Lemur can read",
                code="backup_invalid",
                field="source",
            ) from exc
        if manifest.format != FORMAT or DATABASE not in manifest.files:
            raise InvalidInput(
                f"{path}: unknown backup format {manifest.format}",
                code="backup_invalid",
                field="source",
            )
        return manifest


@dataclass(frozen=True)
class RestoreReport:
    data_dir: Path
    previous: Path | None
    manifest: Manifest


def sqlite_path(settings: Settings) -> Path:
    url = settings.effective_database_url
    if not is_sqlite(url):
        raise InvalidInput(
            "this Lemur uses PostgreSQL: back it up with pg_dump and the key file separately: "
            + postgresql_backup_command(url),
            code="backup_postgresql",
        )
    database = make_url(url).database
    if not database or database == ":memory:":
        raise InvalidInput("an in-memory database cannot be backed up", code="backup_unsupported")
    return Path(database)


def postgresql_backup_command(url: str) -> str:
    """The pg_dump command for ``url`` (its password left out: pg_dump reads PGPASSWORD or
    ~/.pgpass)."""
    parsed = make_url(url)
    target = URL.create(
        "postgresql",
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=parsed.query,
    ).render_as_string(hide_password=False)
    return f"pg_dump --format=custom --file=lemur.pgdump '{target}'"


def digest(path: Path) -> FileDigest:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return FileDigest(h.hexdigest(), size)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_private(source: Path, target: Path) -> None:
    """Copy a secret file; the copy is mode 0600 from its first byte."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out, source.open("rb") as src:
        shutil.copyfileobj(src, out)
        out.flush()
        os.fsync(out.fileno())


def _empty_or_missing(directory: Path) -> bool:
    return not directory.exists() or (directory.is_dir() and not any(directory.iterdir()))


@dataclass(frozen=True)
class _Checked:
    revision: str | None
    head: tuple[int, str]


def _check_database(path: Path, ring: KeyRing | None) -> _Checked:
    """integrity_check, a known schema, an intact audit chain with its head row, and (given
    the key ring) keys that decrypt what is stored. Raises InvalidInput naming what failed."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        try:
            verdict = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError as exc:
            raise InvalidInput(
                f"{path} is not a usable SQLite database: {exc}", code="backup_corrupt"
            ) from exc
    conn.close()
    if verdict != ["ok"]:
        raise InvalidInput(
            f"{path} fails PRAGMA integrity_check: {'; '.join(verdict[:3])}", code="backup_corrupt"
        )
    db = Database.connect(f"sqlite:///{path}")
    try:
        revision = current_revision(db.read_engine)
        if revision is None:
            raise InvalidInput(f"{path} holds no Lemur schema", code="backup_corrupt")
        with db.read() as session:
            result = verify_chain(session)
            head = current_head(session)
            if not result.ok or head is None:
                first = result.problems[0].message if result.problems else "no head row"
                raise InvalidInput(
                    f"the audit log in {path} is broken: {first}", code="backup_audit_broken"
                )
            if ring is not None:
                check_keyring(session, ring)
                for ciphertext in session.scalars(select(AppSecret.ciphertext)):
                    ring.decrypt(ciphertext)
    except (ConfigurationError, KeyRingError) as exc:
        raise InvalidInput(
            f"the keys do not decrypt the data in {path}: {exc.message}",
            code="backup_keys_mismatch",
        ) from exc
    finally:
        db.dispose()
    return _Checked(revision, head)


def create_backup(
    settings: Settings, destination: Path, *, clock: Clock, progress: Progress = _quiet
) -> Manifest:
    """Write a consistent snapshot of the running database, the key file and a manifest
    into ``destination`` (new or empty). Raises Conflict if it holds anything."""
    source = sqlite_path(settings)
    if not source.exists():
        raise ConfigurationError(
            f"there is no database at {source}; run `lemur init`", code="database_missing"
        )
    destination = destination.absolute()
    if not _empty_or_missing(destination):
        raise Conflict(
            f"{destination} exists and is not empty; choose a new directory for the backup",
            code="backup_exists",
            field="destination",
        )
    destination.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(destination, 0o700)
    partial = destination / (DATABASE + ".partial")
    progress("snapshot of the database (VACUUM INTO)")
    conn = sqlite3.connect(source, timeout=30)
    try:
        conn.execute("PRAGMA busy_timeout=30000")
        # The file must not exist yet; VACUUM INTO creates it (mode from the umask, so
        # restricted just after; the directory is 0700 meanwhile).
        conn.execute("VACUUM INTO ?", (str(partial),))
    finally:
        conn.close()
    os.chmod(partial, 0o600)
    _fsync(partial)

    keys = "environment" if settings.encryption_keys is not None else "file"
    ring: KeyRing | None
    if keys == "file":
        progress("copy of the key file")
        _copy_private(settings.key_file, destination / KEY_FILE)
        ring = KeyRing.from_file(destination / KEY_FILE)
    else:
        assert settings.encryption_keys is not None
        ring = KeyRing.from_env(settings.encryption_keys.get_secret_value())

    progress("check of the snapshot (integrity, audit chain, keys)")
    checked = _check_database(partial, ring)
    os.replace(partial, destination / DATABASE)

    files = {DATABASE: digest(destination / DATABASE)}
    if keys == "file":
        files[KEY_FILE] = digest(destination / KEY_FILE)
    manifest = Manifest(
        format=FORMAT,
        lemur_version=__version__,
        sqlite_version=sqlite3.sqlite_version,
        created_at=clock.now().astimezone(dt.UTC).isoformat(timespec="seconds"),
        schema_revision=checked.revision,
        audit_head_seq=checked.head[0],
        audit_head_hash=checked.head[1],
        keys=keys,
        files=files,
    )
    progress("manifest")
    fd = os.open(destination / MANIFEST, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(manifest.to_json(), fh, indent=2)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    _fsync(destination)
    return manifest


def verify_backup(source: Path, *, ring: KeyRing | None = None) -> Manifest:
    """Check a backup without restoring it: manifest, checksums, database, audit head, keys."""
    manifest = Manifest.read(source)
    for name, expected in manifest.files.items():
        path = source / name
        if not path.is_file() or digest(path) != expected:
            raise InvalidInput(
                f"{path} is missing or does not match its checksum in the manifest",
                code="backup_corrupt",
                field="source",
            )
    if manifest.keys == "file":
        ring = KeyRing.from_file(source / KEY_FILE)
    checked = _check_database(source / DATABASE, ring)
    if checked.head != (manifest.audit_head_seq, manifest.audit_head_hash):
        raise InvalidInput(
            f"the audit head in the backup is {checked.head[0]}:{checked.head[1]}, not the "
            f"{manifest.audit_head_seq}:{manifest.audit_head_hash} its manifest records",
            code="backup_corrupt",
        )
    known = head_revision()
    if manifest.schema_revision != known and not _older(manifest.schema_revision):
        raise InvalidInput(
            f"the backup's schema revision {manifest.schema_revision} is newer than this "
            f"Lemur ({known}); restore it with the Lemur version that made it "
            f"({manifest.lemur_version})",
            code="backup_too_new",
        )
    return manifest


def _older(revision: str | None) -> bool:
    if revision is None:
        return False
    scripts = ScriptDirectory.from_config(alembic_config())
    return any(s.revision == revision for s in scripts.walk_revisions())


def hold_data_dir(data_dir: Path) -> int | None:
    """Take a shared lock on the data directory for the life of this process and the
    program it execs (the descriptor is inherited); restore takes it exclusively.
    Returns the descriptor, or None if the directory does not exist."""
    if not data_dir.is_dir():
        return None
    fd = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(fd)
        raise ConfigurationError(
            f"{data_dir} is being restored; start the server when `lemur restore` has finished",
            code="data_dir_busy",
        ) from exc
    os.set_inheritable(fd, True)
    return fd


def restore_backup(
    settings: Settings,
    source: Path,
    *,
    force: bool,
    clock: Clock,
    progress: Progress = _quiet,
) -> RestoreReport:
    """Restore the backup in ``source`` as this configuration's data directory.

    Raises InvalidInput if the backup fails any check, Conflict if the data directory
    holds data and ``force`` is not given, or a server is running on it."""
    target_db = sqlite_path(settings)
    data_dir = settings.data_dir
    if target_db != data_dir / DATABASE:
        raise InvalidInput(
            "restore writes the database into the data directory; unset LEMUR_DATABASE_URL "
            "or point it at lemur.db in LEMUR_DATA_DIR",
            code="restore_unsupported",
        )
    source = source.absolute()
    progress("check of the backup (checksums, integrity, audit chain, keys)")
    ring = None
    if settings.encryption_keys is not None:
        ring = KeyRing.from_env(settings.encryption_keys.get_secret_value())
    manifest = verify_backup(source, ring=ring)
    if manifest.keys == "environment" and ring is None:
        raise InvalidInput(
            "the backup holds no key file (the keys came from LEMUR_ENCRYPTION_KEYS): set "
            "LEMUR_ENCRYPTION_KEYS to those keys and run restore again",
            code="backup_keys_missing",
        )

    lock_fd: int | None = None
    if data_dir.exists() and not _empty_or_missing(data_dir):
        if not force:
            raise Conflict(
                f"{data_dir} already holds data; add --force to replace it (the current one "
                "is kept aside, renamed)",
                code="data_dir_exists",
                field="force",
            )
        lock_fd = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(lock_fd)
            raise Conflict(
                f"a Lemur server is running on {data_dir}; stop it before restoring",
                code="server_running",
            ) from exc
    try:
        stamp = clock.now().astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        staging = data_dir.with_name(f".{data_dir.name}.restoring-{stamp}")
        if staging.exists():
            shutil.rmtree(staging)
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir(mode=0o700)
        progress("copy into place")
        for name in manifest.files:
            _copy_private(source / name, staging / name)
            if digest(staging / name) != manifest.files[name]:
                raise InvalidInput(f"copying {name} changed it", code="backup_corrupt")
        _fsync(staging)
        previous = None
        if data_dir.exists():
            previous = data_dir.with_name(f"{data_dir.name}.before-restore-{stamp}")
            os.rename(data_dir, previous)
        os.rename(staging, data_dir)
        _fsync(data_dir.parent)
    finally:
        if lock_fd is not None:
            os.close(lock_fd)
    return RestoreReport(data_dir=data_dir, previous=previous, manifest=manifest)
