"""How long one /metrics scrape's database work takes at N certificates.

Rows are inserted straight into a migrated database (not signed: the scrape reads only the
date, revocation and authority columns, but the rows carry DER and chain text of a
realistic size, so that a scan pays for wide rows as it would). Expiry is spread
uniformly over the two years around now, ~2% revoked, 4 authorities plus imported ones;
1,000 jobs in every state. Then the collector (lemur.metrics.collector) runs ``--reps``
times; the median and the statement count are printed.

Run: ``python -m bench.metrics_scrape --backend sqlite --count 100000``
     ``python -m bench.metrics_scrape --backend postgresql --count 100000``
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import event, insert, text

from lemur.authorities.models import Authority
from lemur.certificates.models import Certificate
from lemur.clock import SystemClock
from lemur.db import Database
from lemur.jobs.models import JOBS
from lemur.metrics.collector import DatabaseCollector
from lemur.migrate import upgrade

PG_ADMIN = os.environ.get("LEMUR_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
BATCH = 5000


def _rows(count: int, now: dt.datetime, rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    for i in range(count):
        not_after = now + dt.timedelta(days=rng.uniform(-365, 365))
        lifetime = dt.timedelta(days=rng.choice((30, 90, 397)))
        not_before = not_after - lifetime
        rows.append(
            {
                "fingerprint_sha256": uuid.uuid4().hex + uuid.uuid4().hex,
                "fingerprint_sha1": uuid.uuid4().hex[:40],
                "serial_hex": uuid.uuid4().hex,
                "common_name": f"host-{i}.example.com",
                "subject": f"CN=host-{i}.example.com",
                "issuer": "CN=Bench CA",
                "issuer_common_name": "Bench CA",
                "not_before": not_before,
                "not_after": not_after,
                "key_type": "EC",
                "key_size": 256,
                "key_spec": "EC_P256",
                "signature_algorithm": "ecdsa-with-SHA256",
                "is_ca": False,
                "profile": "server",
                "origin": "issued",
                "team_id": None,
                "authority_id": rng.choice((None, 1, 2, 3, 4)),
                "der": rng.randbytes(700),
                "chain_pem": "-----BEGIN CERTIFICATE-----\n" + "A" * 900 + "\n",
                "has_private_key": True,
                "revoked_at": now - dt.timedelta(days=1) if rng.random() < 0.02 else None,
                "revocation_reason": None,
                "created_at": not_before,
                "created_by": "bench",
                "renew_after": not_after - min(lifetime / 3, dt.timedelta(days=30)),
            }
        )
    return rows


def _load(db: Database, count: int) -> None:
    now = dt.datetime.now(dt.UTC)
    rng = random.Random(7)
    with db.write_engine.begin() as conn:
        conn.execute(
            insert(Authority),
            [
                {
                    "id": n,
                    "name": f"bench-ca-{n}",
                    "description": "",
                    "plugin_slug": "local-ca",
                    "options": "{}",
                    "has_key": False,
                    "cab_forum": False,
                    "default_validity_days": 90,
                    "max_validity_days": 397,
                    "active": True,
                    "exportable": False,
                    "created_at": now,
                }
                for n in range(1, 5)
            ],
        )
    done = 0
    while done < count:
        batch = _rows(min(BATCH, count - done), now, rng)
        with db.write_engine.begin() as conn:
            conn.execute(insert(Certificate), batch)
        done += len(batch)
    states = ("pending", "running", "succeeded", "failed", "cancelled")
    with db.write_engine.begin() as conn:
        conn.execute(
            insert(JOBS),
            [
                {
                    "kind": f"kind-{i % 5}",
                    "args": "{}",
                    "state": states[i % 5],
                    "attempts": 1,
                    "max_attempts": 5,
                    "run_after": now,
                    "created_at": now,
                    "started_at": now,
                    "finished_at": now,
                }
                for i in range(1000)
            ],
        )
        if db.dialect == "postgresql":
            conn.execute(text("ANALYZE"))
    if db.dialect == "postgresql":
        with db.write_engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument(
        "--sql", default="", help="a statement to run after loading (e.g. DROP INDEX ...)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the SQLite database")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="lemur-bench-metrics-"))
    pg_name = None
    if args.backend == "sqlite":
        url = f"sqlite:///{scratch / 'lemur.db'}"
    else:
        pg_name = f"lemur_bench_metrics_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{pg_name}"')
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{pg_name}"
    db = Database.connect(url)
    try:
        upgrade(db.write_engine)
        started = time.perf_counter()
        _load(db, args.count)
        if args.sql:
            with db.write_engine.begin() as extra:
                extra.execute(text(args.sql))
                extra.execute(text("ANALYZE"))
        print(f"loaded {args.count} certificates in {time.perf_counter() - started:.1f} s")
        # Baseline, same run: the bare count of the certificates (what any count over the
        # inventory costs at least).
        baseline = []
        with db.read() as session:
            for _ in range(args.reps):
                started = time.perf_counter()
                session.execute(text("SELECT count(*) FROM certificates")).scalar_one()
                baseline.append(time.perf_counter() - started)
        print(
            f"{args.backend}: {args.count} certificates: baseline SELECT count(*) median "
            f"{statistics.median(baseline) * 1000:.1f} ms"
        )
        collector = DatabaseCollector(db, SystemClock())
        seen: list[str] = []
        spent: dict[str, list[float]] = {}

        def before(*a: Any) -> None:
            seen.append(a[2])
            a[0].info["bench_started"] = time.perf_counter()

        def after(*a: Any) -> None:
            took = time.perf_counter() - a[0].info.pop("bench_started")
            spent.setdefault(" ".join(a[2].split())[:90], []).append(took)

        event.listen(db.read_engine, "before_cursor_execute", before)
        event.listen(db.read_engine, "after_cursor_execute", after)
        times = []
        for _ in range(args.reps):
            seen.clear()
            started = time.perf_counter()
            families = list(collector.collect())
            times.append(time.perf_counter() - started)
        print(
            f"{args.backend}: {args.count} certificates: scrape median "
            f"{statistics.median(times) * 1000:.0f} ms (min {min(times) * 1000:.0f}, "
            f"max {max(times) * 1000:.0f}), {len(seen)} statements, {len(families)} families"
        )
        for statement, took in spent.items():
            print(f"  {statistics.median(took) * 1000:6.1f} ms  {statement}")
    finally:
        db.dispose()
        if pg_name:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
