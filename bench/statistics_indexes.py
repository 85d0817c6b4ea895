"""What the three indexes asked for in docs/decisions/0017-dashboard-statistics.md would
bring: the statements of the dashboard's figures they serve, timed before and after
creating them on the kept 1,000,000-certificate inventory of bench/ui_pages.py, which is
left as it was (the indexes are dropped at the end, also after a failure).

Run (after ``python -m bench.ui_pages`` built the inventory):
``python -m bench.statistics_indexes --backend postgresql`` (or ``sqlite``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sqlite3
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.harness import PG_ADMIN_URL
from bench.ui_pages import DEFAULT_DATA_DIR

INDEXES = {
    "ix_bench_lifecycle_wide": "(not_after, revoked_at, not_before, renew_after, "
    "replaced_by_id, archived_at)",
    "ix_bench_team_wide": "(team_id, not_after, revoked_at, not_before, renew_after, "
    "replaced_by_id, archived_at, authority_id)",
    "ix_bench_revoked": "(revoked_at) WHERE revoked_at IS NOT NULL",
}


def statements(backend: str) -> dict[str, tuple[str, str]]:
    """(today's statement, the statement with the indexes) per figure; ``:name`` params."""
    # SQLite: +column compares without the DATETIME affinity and keeps a column from
    # choosing an index (lemur.statistics.queries).
    p = "+" if backend == "sqlite" else ""
    renewed_today = (
        "id NOT IN (SELECT id FROM certificates WHERE replaced_by_id IS NOT NULL)"
        if backend == "sqlite"
        else "coalesce(replaced_by_id, 0) = 0"
    )
    current = f"{p}replaced_by_id IS NULL AND {p}archived_at IS NULL"

    def status(where: str) -> str:
        return (
            f"SELECT count(*), count(*) FILTER (WHERE {p}revoked_at IS NOT NULL), "
            f"count(*) FILTER (WHERE {p}revoked_at IS NULL AND {p}not_after <= :now), "
            f"count(*) FILTER (WHERE {p}revoked_at IS NULL AND {p}not_after > :now "
            f"AND {p}not_before > :now), "
            f"count(*) FILTER (WHERE {p}revoked_at IS NULL AND {p}not_after > :now "
            f"AND {p}not_before <= :now AND {p}renew_after <= :now), "
            f"count(*) FILTER (WHERE {p}not_before > :w7 AND {p}not_before <= :now), "
            f"count(*) FILTER (WHERE {p}not_before > :w30 AND {p}not_before <= :now) "
            f"FROM certificates WHERE 1 = 1 {where}"
        )

    def expiring(renewed: str, where: str) -> str:
        return (
            f"SELECT count(*) FILTER (WHERE {p}not_after <= :h7), "
            f"count(*) FILTER (WHERE {p}not_after <= :h30), count(*) FROM certificates "
            f"WHERE not_after > :now AND not_after <= :h90 AND revoked_at IS NULL "
            f"AND {renewed} {where}"
        )

    team = "AND team_id = :team"
    revoked = (
        "SELECT id FROM certificates WHERE revoked_at IS NOT NULL "
        "ORDER BY revoked_at DESC, id DESC LIMIT 5"
    )
    return {
        "expiry windows, every certificate": (
            expiring(renewed_today, ""),
            expiring(current, ""),
        ),
        "status pass, the largest team": (status(team), status(f"{team} AND archived_at IS NULL")),
        "expiry windows, the largest team": (
            expiring(renewed_today, team),
            expiring(current, team),
        ),
        "five most recently revoked": (revoked, revoked),
    }


def _connect(backend: str, data_dir: Path) -> tuple[Callable[[str], Any], Callable[[str], None]]:
    now = dt.datetime.now(dt.UTC)
    values: dict[str, Any] = {
        "now": now,
        "h7": now + dt.timedelta(days=7),
        "h30": now + dt.timedelta(days=30),
        "h90": now + dt.timedelta(days=90),
        "w7": now - dt.timedelta(days=7),
        "w30": now - dt.timedelta(days=30),
    }
    state = json.loads((data_dir / f"{backend}-1000000" / "state.json").read_text())
    values["team"] = state["team_ids"][0]  # the generator's largest team
    if backend == "sqlite":
        conn = sqlite3.connect(data_dir / "sqlite-1000000" / "data" / "lemur.db")
        for key, value in values.items():
            if isinstance(value, dt.datetime):
                values[key] = value.strftime("%Y-%m-%d %H:%M:%S.%f")

        def run_sqlite(sql: str) -> Any:
            return conn.execute(sql, values).fetchall()

        def ddl_sqlite(sql: str) -> None:
            conn.execute(sql)
            conn.commit()

        return run_sqlite, ddl_sqlite
    import psycopg

    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + state["db_name"]
    pg = psycopg.connect(url, autocommit=True)

    def named(sql: str) -> str:
        out = sql
        for key in sorted(values, key=len, reverse=True):
            out = out.replace(f":{key}", f"%({key})s")
        return out

    def run_named(sql: str) -> Any:
        return pg.execute(named(sql), values).fetchall()

    def ddl_pg(sql: str) -> None:
        pg.execute(sql)

    return run_named, ddl_pg


def timed(run: Callable[[str], Any], sql: str, reps: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(reps):
        started = time.perf_counter()
        result = run(sql)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), required=True)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    run, ddl = _connect(args.backend, args.data_dir)
    cases = statements(args.backend)
    before = {name: timed(run, today, args.reps) for name, (today, _) in cases.items()}
    try:
        for name, columns in INDEXES.items():
            started = time.perf_counter()
            ddl(f"CREATE INDEX {name} ON certificates {columns}")
            print(f"created {name} in {time.perf_counter() - started:.0f} s", flush=True)
        if args.backend == "postgresql":
            ddl("VACUUM ANALYZE certificates")
        after = {name: timed(run, new, args.reps) for name, (_, new) in cases.items()}
    finally:
        for name in INDEXES:
            ddl(f"DROP INDEX IF EXISTS {name}")
    print(f"{args.backend}, 1,000,000 certificates (median of {args.reps})")
    for name in cases:
        (b, rb), (a, ra) = before[name], after[name]
        same = "" if rb == ra else f"  DIFFERENT: {rb} / {ra}"
        print(f"  {name:34} before {b:8.1f} ms  after {a:8.1f} ms{same}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
