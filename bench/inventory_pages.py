"""The inventory page (/certificates) at scale: server time and SQL statements per page for
the search box's readings and the filters, with the query plans of the filters that have
no index of their own (origin, key type).

The rows are generated inside the database as bench/notifications.py does (every column
the store writes, one name each, a placeholder DER): the inventory page reads columns and
names, never the DER. Of the certificates, 1 in 100 is imported, 1 in 1,000 discovered, the
rest issued (uncorrelated with expiry); 1 in 10 has expired. "key type Ed25519" matches
nothing: the worst case of a filter without an index of its own, which walks every
unexpired certificate. The page is fetched in-process (TestClient) as a signed-in
admin, so the time is the server's: authentication, the search, rendering.

    .venv/bin/python -m bench.inventory_pages --backends sqlite,postgresql --size 1000000
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from typing import Any

from bench.notifications import NOW, TEAMS, add_teams, installation, load_certificates, log

PASSWORD = "bench-pages-password-123"
FIRST = 100  # ids below are the installation's own CA certificates


def _pages(size: int) -> dict[str, str]:
    probe = FIRST + size // 2 + 7  # issued and unexpired (ends in 7)
    return {
        "first page": "/certificates",
        "next page": "",  # filled in from the first page's cursor
        "name substring": f"/certificates?q=host-{probe}",
        "host name (+ wildcard)": f"/certificates?q=host-{probe}.bench.example",
        "serial (hex)": f"/certificates?q=0x{probe:x}",
        "fingerprint (SHA-256)": f"/certificates?q={probe:064x}",
        "team": "/certificates?team_id=1010",
        "status expiring": "/certificates?status=expiring",
        "key type EC": "/certificates?key_type=EC",
        "key type Ed25519 (none)": "/certificates?key_type=Ed25519",
        "origin issued": "/certificates?origin=issued",
        "origin imported (1%)": "/certificates?origin=imported",
        "origin discovered (0.1%)": "/certificates?origin=discovered",
        "sort by name": "/certificates?sort=common_name",
    }


def _set_origins(container: Any) -> None:
    from sqlalchemy import text

    with container.db.write() as session:
        session.execute(
            text(
                "UPDATE certificates SET origin = CASE WHEN id % 1000 = 3 THEN 'discovered' "
                "WHEN id % 100 = 1 THEN 'imported' ELSE 'issued' END, "
                "serial_hex = ltrim(serial_hex, '0')"
            )
        )
        session.commit()
    with container.db.write_engine.connect().execution_options(
        isolation_level="AUTOCOMMIT"
    ) as conn:
        conn.execute(text("ANALYZE"))


def _plans(container: Any) -> dict[str, str]:
    """The plan of the page query for the filters without an index of their own."""
    from sqlalchemy import select

    from lemur.accounts.models import Role
    from lemur.authz import Principal
    from lemur.certificates.enums import Origin
    from lemur.certificates.models import Certificate
    from lemur.certificates.queries import CertificateFilter, _filters

    admin = Principal(1, "admin", Role.ADMIN, frozenset(), via="session")
    out = {}
    for label, flt in (
        ("origin discovered", CertificateFilter(origin=Origin.DISCOVERED)),
        ("key type EC", CertificateFilter(key_type="EC")),
    ):
        with container.db.read_engine.connect() as conn:
            dialect = conn.dialect.name
            stmt = (
                select(Certificate.id)
                .where(*_filters(flt, admin, NOW, dialect=dialect))
                .order_by(Certificate.not_after, Certificate.id)
                .limit(51)
            )
            compiled = stmt.compile(dialect=conn.dialect)
            processors = compiled._bind_processors
            values = {
                k: processors[k](v) if k in processors else v
                for k, v in compiled.construct_params().items()
            }
            args: Any = (
                tuple(values[k] for k in compiled.positiontup or ())
                if compiled.positional
                else values
            )
            prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN "
            rows = conn.exec_driver_sql(prefix + str(compiled), args).all()
            out[label] = " | ".join(str(r[-1]).strip() for r in rows)
    return out


def bench(backend: str, size: int, reps: int) -> list[str]:
    from fastapi.testclient import TestClient
    from sqlalchemy import event

    from lemur.accounts.models import Role
    from lemur.app import create_app
    from lemur.authz import cli_principal
    from lemur.services import Services

    lines = []
    with installation(backend) as container:
        add_teams(container, TEAMS, 1)
        took = load_certificates(container, FIRST, size, due=1000, teams=TEAMS)
        _set_origins(container)
        log(f"{backend}: {size:,} certificates in {took:.0f} s")
        with Services(container, cli_principal()) as services:
            services.accounts().create_user("bench-admin", role=Role.ADMIN, password=PASSWORD)
        seen: list[str] = []

        def record(*_args: Any) -> None:
            seen.append("")

        with TestClient(create_app(container, run_jobs=False)) as client:
            login = client.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
            assert token is not None
            answer = client.post(
                "/login",
                data={"username": "bench-admin", "password": PASSWORD, "csrf_token": token[1]},
                follow_redirects=False,
            )
            assert answer.status_code == 303, answer.text
            pages = _pages(size)
            first = client.get("/certificates").text
            cursor = re.search(r'href="(\?[^"]*cursor=[^"]+)" rel="next"', first)
            pages["next page"] = "/certificates" + (
                cursor[1].replace("&amp;", "&") if cursor else ""
            )
            for engine in {id(e): e for e in (container.db.read_engine,)}.values():
                event.listen(engine, "before_cursor_execute", record)
            lines.append(
                f"{backend} {size:,} certificates: server time per page, p50/p95 of {reps} "
                "(ms), SQL statements, rows shown"
            )
            for label, path in pages.items():
                times = []
                rows = 0
                for _ in range(reps + 1):
                    seen.clear()
                    started = time.perf_counter()
                    answer = client.get(path)
                    times.append((time.perf_counter() - started) * 1000)
                    assert answer.status_code == 200, (path, answer.status_code)
                    rows = answer.text.count('data-testid="certificate-row"')
                times = sorted(times[1:])
                p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
                lines.append(
                    f"  {label:<26} {statistics.median(times):>7.1f} {p95:>7.1f} "
                    f"{len(seen):>4} {rows:>4}"
                )
        for label, plan in _plans(container).items():
            lines.append(f"  plan, {label}: {plan}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inventory_pages")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args(argv)
    out = []
    for backend in [b for b in args.backends.split(",") if b]:
        out += bench(backend, args.size, args.reps)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
