"""Inventory at scale: bulk-load really signed certificates, then time the search API.

Generation: 4 authorities (local-issuing-ca and 3 intermediates under local-root-ca), ~50
teams (skewed sizes), 1-4 DNS names per certificate from a service/environment/domain
vocabulary (~10% wildcards, ~3% with an IP address), expiry spread uniformly over the two
years around now, lineages (~10% renewed once or twice: the old certificates have
replaced_by_id set and share lineage_id), ~2% revoked, ~70% with a stored (encrypted) key.
Certificates are signed with lemur.crypto.issuance.build_leaf_certificate by the
authority's real key, with leaf keys from a pool of a few hundred, in a process per core.
Rows go in with COPY (PostgreSQL) or executemany in large transactions (SQLite), with
exactly the columns and name-index rows lemur.certificates.store.CertificateStore writes
(checked against describe_certificate + name_rows for a sample of rows).

The installation is initialised with a clock 800 days in the past so that the CAs are old
enough to have issued certificates that expired a year ago.

Run: ``python -m bench.inventory --backends sqlite --sizes 2000,20000 --reps 10``.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import hashlib
import itertools
import multiprocessing
import os
import random
import sqlite3
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from bench.harness import BACKENDS, PG_ADMIN_URL, Server, pg_available
from lemur.certificates.renewal import renew_after

CHUNK = 1000
CA_AGE = dt.timedelta(days=800)
N_TEAMS = 50
P95_TARGET_MS = {"postgresql": 50.0, "sqlite": 100.0}  # at 1,000,000 certificates
RSS_TARGET_MIB = 300.0  # at 1,000,000 certificates

SERVICES = [
    "api",
    "www",
    "mail",
    "smtp",
    "imap",
    "auth",
    "login",
    "sso",
    "idp",
    "cdn",
    "static",
    "img",
    "assets",
    "app",
    "portal",
    "billing",
    "pay",
    "checkout",
    "cart",
    "search",
    "admin",
    "metrics",
    "grafana",
    "prometheus",
    "alertmanager",
    "logs",
    "kibana",
    "vpn",
    "git",
    "gitlab",
    "ci",
    "jenkins",
    "build",
    "artifacts",
    "registry",
    "db",
    "pg",
    "mysql",
    "redis",
    "cache",
    "queue",
    "kafka",
    "rabbit",
    "ldap",
    "status",
    "docs",
    "wiki",
    "jira",
    "confluence",
    "shop",
    "store",
    "ws",
    "gateway",
    "edge",
    "proxy",
    "lb",
    "ingress",
    "internal",
    "intranet",
    "crm",
    "erp",
    "hr",
    "payroll",
    "reports",
    "analytics",
    "events",
    "notify",
    "push",
    "media",
    "video",
]
ENVS = ("", "", "", "dev.", "stage.", "prod.", "qa.", "eu.", "us.", "ap.", "eu-west.", "us-east.")
DOMAINS = [
    "example.com",
    "example.net",
    "example.org",
    "acme-corp.com",
    "globex.io",
    "initech.net",
    "umbrella.co",
    "hooli.com",
    "piedpiper.net",
    "stark-industries.com",
    "wayne-ent.com",
    "cyberdyne.io",
    "soylent.net",
    "tyrell.com",
    "wonka-factory.com",
    "aperture-labs.com",
    "black-mesa.org",
    "oscorp.net",
    "vandelay.com",
    "dundermifflin.com",
    "prestige-worldwide.net",
    "massive-dynamic.com",
    "gringotts.org",
    "corp.internal",
    "svc.cluster.local",
]
AUTHORITY_WEIGHTS = (0.5, 0.2, 0.18, 0.12)
EXTRA_AUTHORITIES = (
    # name, key spec, common name
    ("web-issuing-ca", "ec-p256", "Web Issuing CA"),
    ("internal-rsa-ca", "rsa-2048", "Internal RSA CA"),
    ("partner-ca", "ec-p384", "Partner CA"),
)
REASONS = (
    "key_compromise",
    "superseded",
    "cessation_of_operation",
    "affiliation_changed",
    "unspecified",
)

# Columns of the certificates table, in the order the generator produces them.
CERT_COLUMNS = [
    "id",
    "fingerprint_sha256",
    "fingerprint_sha1",
    "serial_hex",
    "common_name",
    "subject",
    "issuer",
    "issuer_common_name",
    "not_before",
    "not_after",
    "key_type",
    "key_size",
    "key_spec",
    "signature_algorithm",
    "is_ca",
    "profile",
    "origin",
    "team_id",
    "authority_id",
    "der",
    "chain_pem",
    "has_private_key",
    "revoked_at",
    "revocation_reason",
    "lineage_id",
    "replaces_id",
    "replaced_by_id",
    "created_at",
    "created_by",
    "external_id",
    "renew_after",
    "archived_at",
    "archived_by",
]
# Every ARCHIVE_EVERY-th id is archived (2%), never a sampled one, so the probes below are
# those of an inventory without archived certificates (bench/archive_filter.py compares).
ARCHIVE_EVERY = 50
NAME_COLUMNS = ("certificate_id", "kind", "name")
KEY_COLUMNS = ("certificate_id", "key_spec", "ciphertext", "created_at")


# -- generation (runs in worker processes) ----------------------------------------------


@dataclass
class AuthorityMaterial:
    id: int
    name: str
    cert_der: bytes
    key_der: bytes
    chain_pem: str
    ocsp_url: str
    ca_issuers_url: str
    crl_url: str
    key_spec: str


@dataclass
class LeafKey:
    key_der: bytes
    spec: str
    ciphertext: str


_W: dict[str, Any] = {}


def _worker_init(
    authorities: list[AuthorityMaterial], keys: list[LeafKey], team_ids: list[int], now: float
) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from lemur.crypto.inspection import common_name_of

    loaded = []
    for a in authorities:
        cert = x509.load_der_x509_certificate(a.cert_der)
        loaded.append(
            (
                a,
                cert,
                serialization.load_der_private_key(a.key_der, None),
                cert.subject.rfc4514_string(),
                common_name_of(cert.subject),
            )
        )
    _W["authorities"] = loaded
    pool: dict[str, list[tuple[Any, LeafKey]]] = {}
    for k in keys:
        pool.setdefault(k.spec, []).append((serialization.load_der_private_key(k.key_der, None), k))
    _W["keys"] = pool
    _W["teams"] = team_ids
    # Zipf-like team sizes: a few big teams, a long tail.
    _W["team_weights"] = list(
        itertools.accumulate(1 / (i + 1) ** 0.8 for i in range(len(team_ids)))
    )
    _W["auth_weights"] = list(itertools.accumulate(AUTHORITY_WEIGHTS[: len(loaded)]))
    _W["now"] = dt.datetime.fromtimestamp(now, dt.UTC)
    _W["sigalg"] = {}


def _host(rng: random.Random, domain: str, env: str) -> str:
    service = rng.choice(SERVICES)
    if rng.random() < 0.7:
        service = f"{service}-{rng.randrange(1000)}"
    return f"{service}.{env}{domain}"


def _names(rng: random.Random) -> tuple[str, list[str], list[str]]:
    domain, env = rng.choice(DOMAINS), rng.choice(ENVS)
    if rng.random() < 0.10:
        cn = f"*.{env}{domain}"
        dns = [cn, f"{env}{domain}"][: rng.choice((1, 2, 2))]
    else:
        cn = _host(rng, domain, env)
        dns = [cn]
        for _ in range(rng.choice((0, 0, 0, 1, 1, 2, 3))):
            other = _host(rng, domain if rng.random() < 0.8 else rng.choice(DOMAINS), env)
            if other not in dns:
                dns.append(other)
    ips = (
        [f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"]
        if rng.random() < 0.03
        else []
    )
    return cn, dns, ips


def _sqlite_time(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    v = value.astimezone(dt.UTC)
    return f"{v:%Y-%m-%d %H:%M:%S}.{v.microsecond:06d}"


def generate_chunk(task: tuple[int, int, int]) -> dict[str, Any]:
    """Certificates with ids start_id .. start_id+count-1 (lineages never cross chunks)."""
    from cryptography.hazmat.primitives import serialization

    from lemur.crypto.issuance import build_leaf_certificate
    from lemur.crypto.names import SubjectAltNames
    from lemur.crypto.profiles import Profile

    start_id, count, seed = task
    rng = random.Random(seed)
    now: dt.datetime = _W["now"]
    day = dt.timedelta(days=1)
    certs: list[tuple[Any, ...]] = []
    names: list[tuple[Any, ...]] = []
    keys: list[tuple[Any, ...]] = []
    samples: list[dict[str, Any]] = []
    next_id = start_id
    end_id = start_id + count
    while next_id < end_id:
        r = rng.random()
        size = min(1 if r < 0.90 else 2 if r < 0.97 else 3, end_id - next_id)
        ids = list(range(next_id, next_id + size))
        next_id += size
        cn, dns, ips = _names(rng)
        team = _W["teams"][bisect.bisect(_W["team_weights"], rng.random() * _W["team_weights"][-1])]
        ai = bisect.bisect(_W["auth_weights"], rng.random() * _W["auth_weights"][-1])
        material, ca_cert, ca_key, issuer, issuer_cn = _W["authorities"][ai]
        p = rng.random()
        profile = (
            Profile.SERVER if p < 0.85 else Profile.SERVER_CLIENT if p < 0.93 else Profile.CLIENT
        )
        if material.key_spec == "rsa-2048" or rng.random() < 0.10:
            spec = "rsa-2048"
        else:
            spec = "ec-p384" if rng.random() < 0.05 else "ec-p256"
        imported = rng.random() < 0.10
        # Newest first: its expiry is uniform over [now - 1 year, now + 1 year].
        windows: list[tuple[dt.datetime, dt.datetime]] = []
        not_after = now + rng.uniform(-365, 365) * day
        for _ in ids:
            validity = 365 if profile is Profile.CLIENT else rng.choice((90, 90, 90, 397, 397))
            not_before = not_after - validity * day
            if not_before > now - dt.timedelta(hours=1):
                not_before = now - rng.uniform(0.05, 30) * day
            # Not before the (backdated) CAs existed: long lineages get a shorter first link.
            floor = now - CA_AGE + rng.uniform(2, 12) * day
            if not_before < floor:
                not_before = floor
                not_after = max(not_after, floor + rng.uniform(15, 30) * day)
            windows.append((not_before, not_after))
            not_after = not_before + rng.uniform(7, 30) * day  # renewed 7-30 days before expiry
        windows.reverse()
        for position, (cert_id, (not_before, not_after)) in enumerate(
            zip(ids, windows, strict=True)
        ):
            key, leaf = rng.choice(_W["keys"][spec])
            serial = rng.getrandbits(127) | (1 << 126)
            sans = SubjectAltNames.create(dns_names=dns, ip_addresses=ips)
            cert = build_leaf_certificate(
                issuer_cert=ca_cert,
                issuer_key=ca_key,
                public_key=key.public_key(),
                subject_cn=cn,
                sans=sans,
                not_before=not_before,
                not_after=not_after,
                profile=profile,
                serial=serial,
                ocsp_url=material.ocsp_url,
                ca_issuers_url=material.ca_issuers_url,
                crl_url=material.crl_url,
            )
            der = cert.public_bytes(serialization.Encoding.DER)
            sigalg = _W["sigalg"].get(material.id)
            if sigalg is None:
                from lemur.crypto.inspection import oid_name

                sigalg = _W["sigalg"][material.id] = oid_name(cert.signature_algorithm_oid)
            revoked_at = reason = None
            if rng.random() < 0.02:
                revoked_at = not_before + (min(now, not_after) - not_before) * rng.random()
                reason = rng.choice(REASONS)
            created_at = not_before + dt.timedelta(minutes=5)
            if imported:
                created_at = min(now, created_at + rng.uniform(0, 20) * day)
            has_key = rng.random() < (0.3 if imported else 0.7)
            key_type, key_size = ("RSA", 2048) if spec == "rsa-2048" else ("EC", int(spec[-3:]))
            row = (
                cert_id,
                hashlib.sha256(der).hexdigest(),
                hashlib.sha1(der).hexdigest(),
                format(serial, "x"),
                cn,
                f"CN={cn}",
                issuer,
                issuer_cn,
                not_before.replace(microsecond=not_before.microsecond),
                not_after,
                key_type,
                key_size,
                spec,
                sigalg,
                False,
                None if imported else profile.value,
                "imported" if imported else "issued",
                team,
                material.id,
                der,
                material.chain_pem,
                has_key,
                revoked_at,
                reason,
                ids[0],
                ids[position - 1] if position else None,
                ids[position + 1] if position + 1 < len(ids) else None,
                created_at,
                "admin",
                None,
                renew_after(not_before, not_after),
            )
            seen: set[tuple[str, str]] = set()
            for kind, name in [
                ("cn", cn.lower()),
                *(("dns", d) for d in sans.dns_names),
                *(("ip", str(i)) for i in sans.ip_addresses),
            ]:
                if (kind, name) not in seen:
                    seen.add((kind, name))
                    names.append((cert_id, kind, name))
            if has_key:
                keys.append((cert_id, spec, leaf.ciphertext, created_at))
            sampled = cert_id % 97 == 0 or (
                size > 1 and position == size - 1 and rng.random() < 0.05
            )
            archived = cert_id % ARCHIVE_EVERY == 7 and not sampled
            row = (
                *row,
                min(now, created_at + 10 * day) if archived else None,
                "admin" if archived else None,
            )
            certs.append(row)
            if sampled:
                samples.append(
                    {
                        "id": cert_id,
                        "der": der,
                        "row": dict(zip(CERT_COLUMNS, row, strict=True)),
                        "names": [n for n in names if n[0] == cert_id],
                        "lineage": size,
                    }
                )
    return {"certs": certs, "names": names, "keys": keys, "samples": samples}


def check_sample(sample: dict[str, Any], chain_pem: str) -> None:
    """The generated row equals what the certificate store would have written."""
    from cryptography import x509

    from lemur.certificates.store import name_rows
    from lemur.crypto.inspection import describe_certificate

    d = describe_certificate(x509.load_der_x509_certificate(sample["der"]))
    row = sample["row"]
    expected = {
        "fingerprint_sha256": d.sha256_fingerprint,
        "fingerprint_sha1": d.sha1_fingerprint,
        "serial_hex": d.serial_hex,
        "common_name": d.common_name,
        "subject": d.subject,
        "issuer": d.issuer,
        "issuer_common_name": d.issuer_common_name,
        "not_before": d.not_valid_before,
        "not_after": d.not_valid_after,
        "key_type": d.key_type,
        "key_size": d.key_size,
        "key_spec": d.key_spec.value if d.key_spec else None,
        "signature_algorithm": d.signature_algorithm,
        "is_ca": d.is_ca,
        "chain_pem": chain_pem,
    }
    for column, value in expected.items():
        got = row[column]
        if isinstance(got, dt.datetime):
            got = got.replace(microsecond=0)  # X.509 times have whole seconds
        if got != value:
            raise AssertionError(
                f"certificate {row['id']}: {column} is {got!r}, lemur says {value!r}"
            )
    want = [(row["id"], n.kind, n.name) for n in name_rows(d)]
    if sample["names"] != want:
        raise AssertionError(f"certificate {row['id']}: names {sample['names']} != {want}")


# -- the installation ---------------------------------------------------------------------


@dataclass
class Installation:
    server: Server
    authorities: list[AuthorityMaterial]
    keys: list[LeafKey]
    team_ids: list[int]
    loaded: int = 0
    empty_bytes: int = 0
    samples: list[dict[str, Any]] = field(default_factory=list)


def _pool_keys(container: Any, n: int, rsa: int) -> list[LeafKey]:
    from cryptography.hazmat.primitives import serialization

    from lemur.crypto.keys import KeySpec, generate_private_key

    specs = [KeySpec.RSA_2048] * rsa + [KeySpec.EC_P384] * (n // 10) + [KeySpec.EC_P256] * n
    out = []
    for spec in specs:
        key = generate_private_key(spec)
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        out.append(LeafKey(der, spec.value, container.keyring.encrypt(der)))
    return out


def prepare(
    backend: str, *, pool_size: int = 300, log: Any = print, server: Server | None = None
) -> Installation:
    """Initialise (backdated CAs), add 3 intermediates and ~50 teams, a team + token for the
    API; returns the signing material the generator needs. ``server``: an installation
    not yet initialised to build in (bench/ui_dataset.py keeps it), else a temporary one."""
    from cryptography.hazmat.primitives import serialization

    from lemur.authorities.specs import LocalAuthoritySpec, SubjectFields
    from lemur.authz import cli_principal
    from lemur.clock import FrozenClock
    from lemur.container import build_container
    from lemur.crypto.keys import KeySpec
    from lemur.crypto.parsing import certificates_to_pem
    from lemur.services import Services

    server = server or Server(backend)
    now = dt.datetime.now(dt.UTC)
    server.init(clock=FrozenClock(now - CA_AGE))
    server.create_team_and_token()
    container = build_container(server.settings(), init=False)
    try:
        # The intermediates are made a day after the (backdated) root.
        real_clock, container.clock = (
            container.clock,
            FrozenClock(now - CA_AGE + dt.timedelta(days=1)),
        )
        with Services(container, cli_principal()) as services:
            service = services.authorities()
            root = service.find("local-root-ca")
            for name, spec, common_name in EXTRA_AUTHORITIES:
                service.create_local(
                    LocalAuthoritySpec(
                        name=name,
                        subject=SubjectFields(common_name=common_name, organization="Lemur Bench"),
                        key_spec=KeySpec(spec),
                        validity_days=1825,
                        parent_id=root.id,
                        path_length=0,
                    )
                )
        container.clock = real_clock
        with Services(container, cli_principal()) as services:
            accounts = services.accounts()
            team_ids = [server.team_id or 1]
            for i in range(N_TEAMS - 1):
                team_ids.append(accounts.create_team(f"team-{i:02d}", description="bench").id)
        materials = []
        with Services(container, cli_principal()) as services:
            gateway, read = services.authority_gateway, services.uow.read
            for name in ("local-issuing-ca", *(a[0] for a in EXTRA_AUTHORITIES)):
                authority = services.authorities().find(name)
                found = gateway.get(read, authority.id)
                assert found is not None
                signer = gateway.signer(read, found)
                materials.append(
                    AuthorityMaterial(
                        id=authority.id,
                        name=name,
                        cert_der=signer.certificate.public_bytes(serialization.Encoding.DER),
                        key_der=signer.private_key.private_bytes(
                            serialization.Encoding.DER,
                            serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption(),
                        ),
                        chain_pem=certificates_to_pem([signer.certificate, *signer.chain]).decode(),
                        ocsp_url=signer.ocsp_url or "",
                        ca_issuers_url=signer.ca_issuers_url or "",
                        crl_url=signer.crl_url or "",
                        key_spec=KeySpec.RSA_2048.value if name == "internal-rsa-ca" else "ec",
                    )
                )
        keys = _pool_keys(container, pool_size, rsa=max(8, pool_size // 8))
    finally:
        container.close()
    inst = Installation(server, materials, keys, team_ids, empty_bytes=server.db_size_bytes())
    log(
        f"[inventory] {backend}: {len(materials)} authorities, {len(team_ids)} teams, {len(keys)} pool keys"
    )
    return inst


# -- bulk writers -------------------------------------------------------------------------


class Writer:
    def write(self, batch: dict[str, Any]) -> None: ...
    def finish(self) -> None: ...


class PostgresWriter(Writer):
    def __init__(self, server: Server) -> None:
        import psycopg

        url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + server.db_name
        self.conn = psycopg.connect(url)
        self.pending = 0

    def write(self, batch: dict[str, Any]) -> None:
        with self.conn.cursor() as cur:
            for table, columns, rows in (
                ("certificates", CERT_COLUMNS, batch["certs"]),
                ("certificate_names", NAME_COLUMNS, batch["names"]),
                ("private_keys", KEY_COLUMNS, batch["keys"]),
            ):
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        self.pending += len(batch["certs"])
        if self.pending >= 20_000:
            self.conn.commit()
            self.pending = 0

    def finish(self) -> None:
        self.conn.commit()
        self.conn.autocommit = True
        for table in ("certificates", "certificate_names"):
            self.conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
        # What autovacuum does on its own within a minute of a bulk load.
        self.conn.execute("ANALYZE")
        self.conn.close()


class SQLiteWriter(Writer):
    """Bulk-load PRAGMAs on this connection only: no fsync, big cache, FK checks off (the
    generator writes consistent lineages); the server's connections keep Lemur's own."""

    def __init__(self, server: Server) -> None:
        self.conn = sqlite3.connect(server.sqlite_path, isolation_level=None)
        for pragma in (
            "journal_mode=WAL",
            "synchronous=OFF",
            "foreign_keys=OFF",
            "cache_size=-262144",
            "temp_store=MEMORY",
        ):
            self.conn.execute(f"PRAGMA {pragma}")
        self.pending = 0
        self.conn.execute("BEGIN IMMEDIATE")
        t = CERT_COLUMNS.index
        self.time_columns = [
            t("not_before"),
            t("not_after"),
            t("revoked_at"),
            t("created_at"),
            t("renew_after"),
            t("archived_at"),
        ]

    def _row(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        out = list(row)
        for i in self.time_columns:
            out[i] = _sqlite_time(out[i])
        return tuple(out)

    def write(self, batch: dict[str, Any]) -> None:
        cur = self.conn.cursor()
        cur.executemany(
            f"INSERT INTO certificates ({', '.join(CERT_COLUMNS)}) VALUES ({', '.join('?' * len(CERT_COLUMNS))})",
            [self._row(r) for r in batch["certs"]],
        )
        cur.executemany(
            "INSERT INTO certificate_names (certificate_id, kind, name) VALUES (?, ?, ?)",
            batch["names"],
        )
        cur.executemany(
            "INSERT INTO private_keys (certificate_id, key_spec, ciphertext, created_at) VALUES (?, ?, ?, ?)",
            [(c, s, k, _sqlite_time(t)) for c, s, k, t in batch["keys"]],
        )
        self.pending += len(batch["certs"])
        if self.pending >= 50_000:
            self.conn.execute("COMMIT")
            self.conn.execute("BEGIN IMMEDIATE")
            self.pending = 0

    def finish(self) -> None:
        self.conn.execute("COMMIT")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.close()


def _max_id(server: Server) -> int:
    from sqlalchemy import func, select

    from lemur.certificates.models import Certificate
    from lemur.container import build_container

    container = build_container(server.settings(), init=False)
    try:
        with container.db.read() as session:
            return int(session.scalar(select(func.max(Certificate.id))) or 0)
    finally:
        container.close()


def load(inst: Installation, count: int, *, processes: int, log: Any = print) -> float:
    """Add ``count`` certificates; returns the seconds it took."""
    started = time.perf_counter()
    first = _max_id(inst.server) + 1
    tasks = [(first + off, min(CHUNK, count - off), first + off) for off in range(0, count, CHUNK)]
    writer: Writer = (
        PostgresWriter(inst.server)
        if inst.server.backend == "postgresql"
        else SQLiteWriter(inst.server)
    )
    chains = {a.id: a.chain_pem for a in inst.authorities}
    ctx = multiprocessing.get_context("fork")
    done = 0
    with ctx.Pool(
        processes,
        initializer=_worker_init,
        initargs=(inst.authorities, inst.keys, inst.team_ids, time.time()),
    ) as pool:
        for batch in pool.imap(generate_chunk, tasks):
            writer.write(batch)
            for sample in batch["samples"]:
                check_sample(sample, chains[sample["row"]["authority_id"]])
            inst.samples += batch["samples"]
            done += len(batch["certs"])
            if done % 100_000 < CHUNK:
                rate = done / (time.perf_counter() - started)
                log(f"[inventory] {inst.server.backend}: {done}/{count} loaded ({rate:.0f}/s)")
    writer.finish()
    inst.loaded += count
    return time.perf_counter() - started


# -- queries ------------------------------------------------------------------------------


@dataclass
class QueryResult:
    name: str
    path: str
    p50_ms: float
    p95_ms: float
    statements: int
    results: int


@dataclass
class SizeResult:
    backend: str
    size: int
    load_seconds: float
    load_rate: float
    startup_seconds: float
    rss_mib: float
    rss_breakdown: str
    db_bytes: int
    empty_bytes: int
    queries: list[QueryResult]

    @property
    def mb_per_100k(self) -> float:
        """Growth per 100,000 certificates, over the freshly initialised database."""
        return (self.db_bytes - self.empty_bytes) / 1e6 / self.size * 100_000


def _probes(inst: Installation) -> dict[str, str]:
    """Query strings drawn from the generated data (current, non-superseded certificates)."""
    now = dt.datetime.now(dt.UTC)
    rng = random.Random(7)
    current = [
        s
        for s in inst.samples
        if s["row"]["not_after"] > now + dt.timedelta(days=2) and s["row"]["replaced_by_id"] is None
    ]
    plain = [s for s in current if not s["row"]["common_name"].startswith("*")]
    wild = [s for s in current if s["row"]["common_name"].startswith("*.")]
    renewed = [s for s in current if s["lineage"] > 1] or current
    exact = rng.choice(plain)["row"]["common_name"]
    fragment = exact.split(".")[0][:-1] if "-" in exact.split(".")[0] else exact.split(".")[0]
    covered = "bench-probe." + rng.choice(wild)["row"]["common_name"][2:] if wild else exact
    team = rng.choice(current)["row"]["team_id"]
    serial = rng.choice(current)["row"]["serial_hex"]
    detail = rng.choice(renewed)["id"]
    return {
        "first page": "/api/v1/certificates",
        "exact name": f"/api/v1/certificates?name={exact}",
        "name contains": f"/api/v1/certificates?name_contains={fragment}",
        "wildcard coverage": f"/api/v1/certificates?name={covered}",
        "expiring 30 days": "/api/v1/certificates?status=expiring",
        "by team": f"/api/v1/certificates?team_id={team}",
        "by serial": f"/api/v1/certificates?serial={serial}",
        "deep page": "",  # filled in by following cursors
        "detail": f"/api/v1/certificates/{detail}",
    }


def _deep_page(client: httpx.Client, page: int) -> tuple[str, int]:
    path, reached = "/api/v1/certificates", 1
    for _ in range(page - 1):
        body = client.get(path).raise_for_status().json()
        cursor = body.get("next_cursor")
        if not cursor:
            break
        path, reached = f"/api/v1/certificates?cursor={cursor}", reached + 1
    return path, reached


def _count(body: Any) -> int:
    if isinstance(body, dict) and "items" in body:
        return len(body["items"])
    return 1


def _percentile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def statement_counts(server: Server, paths: dict[str, str]) -> dict[str, int]:
    """SQL statements per request, counted in-process over the same database."""
    from sqlalchemy import event
    from starlette.testclient import TestClient

    from lemur.app import create_app
    from lemur.container import build_container

    container = build_container(server.settings(), init=False)
    counter = {"n": 0}

    def on_execute(*_args: Any) -> None:
        counter["n"] += 1

    engines = {id(e): e for e in (container.db.read_engine, container.db.write_engine)}
    try:
        for engine in engines.values():
            event.listen(engine, "before_cursor_execute", on_execute)
        out = {}
        with TestClient(create_app(container), headers=server.headers) as client:
            for name, path in paths.items():
                client.get(path).raise_for_status()  # warm caches
                counter["n"] = 0
                client.get(path).raise_for_status()
                out[name] = counter["n"]
        return out
    finally:
        for engine in engines.values():
            event.remove(engine, "before_cursor_execute", on_execute)
        container.close()


def run_queries(
    inst: Installation, reps: int, deep_page: int, log: Any = print
) -> tuple[list[QueryResult], str]:
    probes = _probes(inst)
    server = inst.server
    note = ""
    with httpx.Client(base_url=server.base_url, headers=server.headers, timeout=60) as client:
        probes["deep page"], reached = _deep_page(client, deep_page)
        if reached < deep_page:
            note = f"deep page: only {reached} pages exist at this size"
        timings: dict[str, list[float]] = {}
        sizes: dict[str, int] = {}
        for name, path in probes.items():
            for _ in range(2):
                client.get(path).raise_for_status()
            samples = []
            for _ in range(reps):
                t0 = time.perf_counter()
                response = client.get(path)
                samples.append((time.perf_counter() - t0) * 1000)
                response.raise_for_status()
            timings[name] = samples
            sizes[name] = _count(response.json())
    statements = statement_counts(server, probes)
    results = [
        QueryResult(
            name=name,
            path=probes[name],
            p50_ms=_percentile(timings[name], 50),
            p95_ms=_percentile(timings[name], 95),
            statements=statements[name],
            results=sizes[name],
        )
        for name in probes
    ]
    for name in probes:
        if sizes[name] == 0:
            log(f"!! {name}: the probe found nothing ({probes[name]})")
    return results, note


def run(
    backends: list[str],
    sizes: list[int],
    reps: int,
    deep_page: int,
    processes: int,
    log: Any = print,
) -> tuple[list[SizeResult], list[str]]:
    results: list[SizeResult] = []
    notes: list[str] = []
    for backend in backends:
        if backend == "postgresql" and not pg_available():
            log("!! PostgreSQL is not reachable (BENCH_PG_URL); skipping its inventory runs")
            continue
        inst = prepare(backend, log=log)
        try:
            for size in sorted(sizes):
                add = size - inst.loaded
                seconds = load(inst, add, processes=processes, log=log)
                log(
                    f"[inventory] {backend}: +{add} certificates in {seconds:.1f} s ({add / seconds:.0f}/s)"
                )
                startup = inst.server.start()
                queries, note = run_queries(inst, reps, deep_page, log=log)
                if note:
                    notes.append(f"{backend} {size}: {note}")
                result = SizeResult(
                    backend=backend,
                    size=size,
                    load_seconds=seconds,
                    load_rate=add / seconds,
                    startup_seconds=startup,
                    rss_mib=inst.server.rss_mib(),
                    rss_breakdown=inst.server.rss_breakdown(),
                    db_bytes=inst.server.db_size_bytes(),
                    empty_bytes=inst.empty_bytes,
                    queries=queries,
                )
                inst.server.stop()
                results.append(result)
                worst = max(result.queries, key=lambda q: q.p95_ms)
                log(
                    f"[inventory] {backend} {size}: ready {startup:.2f} s, RSS {result.rss_mib:.0f} MiB, "
                    f"slowest p95 {worst.name} {worst.p95_ms:.1f} ms"
                )
        finally:
            inst.server.destroy()
    return results, notes


def table(results: list[SizeResult]) -> str:
    lines = []
    for r in results:
        target = P95_TARGET_MS[r.backend]
        lines.append(
            f"{r.backend} {r.size:,} certificates: generated in {r.load_seconds:.1f} s "
            f"({r.load_rate:,.0f}/s); database {r.db_bytes / 1e6:,.0f} MB "
            f"({r.mb_per_100k:,.0f} MB per 100,000); serve->ready {r.startup_seconds:.2f} s; "
            f"server RSS {r.rss_mib:.0f} MiB "
            f"[{r.rss_breakdown}] (target <= {RSS_TARGET_MIB:.0f} at 1M)"
        )
        lines.append(
            f"  {'query':<18} {'p50 ms':>8} {'p95 ms':>8} {'target':>8} {'SQL':>4} {'rows':>5}"
        )
        for q in r.queries:
            mark = " MISSED" if q.p95_ms > target else ""
            lines.append(
                f"  {q.name:<18} {q.p50_ms:>8.1f} {q.p95_ms:>8.1f} {'<=' + format(target, '.0f'):>8} "
                f"{q.statements:>4} {q.results:>5}{mark}"
            )
    return "\n".join(lines)


def to_json(results: list[SizeResult]) -> list[dict[str, Any]]:
    return [asdict(r) | {"mb_per_100k": r.mb_per_100k} for r in results]


def add_arguments(parser: argparse.ArgumentParser, *, backends: bool = True) -> None:
    if backends:
        parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--sizes", default="100000,1000000", help="cumulative inventory sizes")
    parser.add_argument("--reps", type=int, default=30, help="timed calls per query")
    parser.add_argument("--deep-page", type=int, default=50)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument(
        "--quick", action="store_true", help="2,000 and 20,000 certificates, 10 reps"
    )
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.reps = "2000,20000", 10
    results, notes = run(
        args.backends.split(","),
        [int(s) for s in args.sizes.split(",")],
        args.reps,
        args.deep_page,
        args.processes,
    )
    print(table(results))
    for note in notes:
        print(f"note: {note}")
    return 0 if results else 1


if __name__ == "__main__":
    raise SystemExit(main())
