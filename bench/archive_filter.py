"""What hiding archived certificates costs the inventory's lists (migration 0011).

The inventory is generated as bench/inventory.py does (really signed certificates, the same
probes), with every 50th certificate archived (2%). Each list query is then timed both ways
on the same database and server, interleaved call by call so that the machine's other load
falls on both alike:

- **default**: as the API answers now, archived certificates left out
  (``archived_at IS NULL``);
- **with archived**: the same query with ``include_archived=true``, which is the query
  before migration 0011 (no archived filter).

It also prints each query's plan (SQLite ``EXPLAIN QUERY PLAN``, PostgreSQL ``EXPLAIN``),
taken from the statement the server really runs (captured in-process), and says whether
the two plans have the same shape (the same nodes and indexes, ignoring literals and the
archived filter itself): the filter must not change how an index is used.

Run: ``python -m bench.archive_filter --backends sqlite --size 100000 --reps 30``.
"""

from __future__ import annotations

import argparse
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx

from bench.harness import pg_available
from bench.inventory import Installation, _percentile, _probes, load, prepare

PROBES = ("first page", "exact name", "name contains", "expiring 30 days", "by team")


@dataclass(frozen=True)
class Comparison:
    name: str
    default_p50: float
    default_p95: float
    with_archived_p50: float
    with_archived_p95: float
    same_plan: bool
    plan: str


def _shape(plan: str) -> str:
    """A plan without its literals (times differ per call) and without the archived
    filter itself: what is left is the plan's shape, its nodes and indexes."""
    plan = re.sub(r"'[^']*'(::[a-z ]+)?", "?", plan)
    plan = plan.replace("(archived_at IS NULL) AND ", "").replace(" AND (archived_at IS NULL)", "")
    lines = [line for line in plan.splitlines() if line.strip() != "Filter: (archived_at IS NULL)"]
    return "\n".join(lines).replace("(", "").replace(")", "")


def _with_archived(path: str) -> str:
    return path + ("&" if "?" in path else "?") + "include_archived=true"


def _main_statement(server: Any, path: str) -> tuple[str, Any]:
    """The certificates SELECT a request runs, with its parameters (in-process)."""
    from sqlalchemy import event
    from starlette.testclient import TestClient

    from lemur.app import create_app
    from lemur.container import build_container

    # No job runner: its jobs' statements would mix with the request's.
    container = build_container(
        server.settings().model_copy(update={"run_jobs": False}), init=False
    )
    seen: list[tuple[str, Any]] = []

    def on_execute(_conn: Any, _cursor: Any, statement: str, params: Any, *_rest: Any) -> None:
        seen.append((statement, params))

    engine = container.db.read_engine
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        with TestClient(create_app(container), headers=server.headers) as client:
            client.get(path).raise_for_status()
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
    found = [
        s for s in seen if "FROM certificates LEFT OUTER JOIN teams" in s[0] and "LIMIT" in s[0]
    ]
    plan = _explain(container, *found[0])
    container.close()
    return found[0][0], plan


def _explain(container: Any, statement: str, params: Any) -> str:
    engine = container.db.read_engine
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        if engine.dialect.name == "sqlite":
            rows = raw.execute("EXPLAIN QUERY PLAN " + statement, params).fetchall()
            return "\n".join(str(r[-1]) for r in rows)
        with raw.cursor() as cur:
            cur.execute("EXPLAIN (COSTS OFF) " + statement, params)
            return "\n".join(r[0] for r in cur.fetchall())


def compare(inst: Installation, reps: int) -> list[Comparison]:
    probes = _probes(inst)
    server = inst.server
    out = []
    with httpx.Client(base_url=server.base_url, headers=server.headers, timeout=60) as client:
        for name in PROBES:
            a, b = probes[name], _with_archived(probes[name])
            for path in (a, b, a, b):  # warm up
                client.get(path).raise_for_status()
            times: dict[str, list[float]] = {a: [], b: []}
            for _ in range(reps):
                for path in (a, b):
                    t0 = time.perf_counter()
                    client.get(path).raise_for_status()
                    times[path].append((time.perf_counter() - t0) * 1000)
            _, plan_a = _main_statement(server, a)
            _, plan_b = _main_statement(server, b)
            out.append(
                Comparison(
                    name,
                    _percentile(times[a], 50),
                    _percentile(times[a], 95),
                    _percentile(times[b], 50),
                    _percentile(times[b], 95),
                    _shape(plan_a) == _shape(plan_b),
                    plan_a,
                )
            )
    return out


def table(backend: str, size: int, rows: list[Comparison]) -> str:
    lines = [
        f"{backend} {size:,} certificates (2% archived): default vs include_archived=true",
        f"  {'query':<18} {'p50':>7} {'p95':>7} {'p50 +arch':>10} {'p95 +arch':>10}  plan",
    ]
    for r in rows:
        lines.append(
            f"  {r.name:<18} {r.default_p50:>7.1f} {r.default_p95:>7.1f} "
            f"{r.with_archived_p50:>10.1f} {r.with_archived_p95:>10.1f}  "
            f"{'same' if r.same_plan else 'DIFFERENT'}"
        )
    for r in rows:
        lines.append(f"  plan of {r.name} (default):")
        lines += [f"    {line}" for line in r.plan.splitlines()]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite")
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    for backend in args.backends.split(","):
        if backend == "postgresql" and not pg_available():
            print("!! PostgreSQL is not reachable (BENCH_PG_URL); skipped")
            continue
        inst = prepare(backend)
        try:
            seconds = load(inst, args.size, processes=args.processes)
            print(f"[archive] {backend}: {args.size} certificates in {seconds:.0f} s")
            inst.server.start()
            print(table(backend, args.size, compare(inst, args.reps)))
            inst.server.stop()
        finally:
            inst.server.destroy()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
