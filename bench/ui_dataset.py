"""A kept inventory for the page benchmark: built once with bench/inventory.py's generator,
reused by later runs.

bench/inventory.py builds its installation in a temporary directory and drops it at the
end. Building 1,000,000 really signed certificates takes five minutes or more on two
cores, so bench/ui_pages.py keeps its installation in a directory of its own
(``--data-dir``, one sub-directory per backend and size) with a ``state.json`` beside the
data directory: the PostgreSQL database name, the admin token, the teams, and probes drawn
from the generated rows. A later run finds the state and only runs ``lemur init`` (which
applies any newer migrations) before starting the server.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import inventory
from bench.harness import Server, pg_available

STATE = "state.json"


@dataclass
class Dataset:
    server: Server
    size: int
    team_ids: list[int]
    probes: list[dict[str, Any]]
    reused: bool
    load_seconds: float | None = None


def _probe(sample: dict[str, Any]) -> dict[str, Any]:
    row = sample["row"]
    return {
        "id": sample["id"],
        "common_name": row["common_name"],
        "serial_hex": row["serial_hex"],
        "team_id": row["team_id"],
        "authority_id": row["authority_id"],
        "not_after": row["not_after"].isoformat(),
        "replaced_by_id": row["replaced_by_id"],
        "lineage": sample["lineage"],
    }


def _save(directory: Path, data: Dataset) -> None:
    state = {
        "backend": data.server.backend,
        "size": data.size,
        "db_name": data.server.db_name,
        "token": data.server.token,
        "team_id": data.server.team_id,
        "team_ids": data.team_ids,
        "probes": data.probes,
        "load_seconds": data.load_seconds,
        "built_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    (directory / STATE).write_text(json.dumps(state, indent=1))


def _exists(server: Server) -> bool:
    if server.backend == "sqlite":
        return server.sqlite_path.exists()
    import psycopg

    from bench.harness import PG_ADMIN_URL

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        row = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (server.db_name,)
        ).fetchone()
    return row is not None


def open_or_build(
    root: Path,
    backend: str,
    size: int,
    *,
    processes: int,
    log: Any = print,
    copy_from_sqlite: bool = True,
) -> Dataset | None:
    """The kept installation of ``size`` certificates for ``backend`` under ``root``, built
    if missing: PostgreSQL's as a copy of the kept SQLite one when there is one (and
    ``copy_from_sqlite``). None (with a message) when PostgreSQL is not reachable."""
    if backend == "postgresql" and not pg_available():
        log("!! PostgreSQL is not reachable (BENCH_PG_URL); skipping it")
        return None
    directory = root / f"{backend}-{size}"
    state_file = directory / STATE
    if state_file.exists():
        state = json.loads(state_file.read_text())
        server = Server(backend, root=directory, db_name=state["db_name"])
        server.token, server.team_id = state["token"], state["team_id"]
        if _exists(server):
            log(f"[ui-pages] {backend}: reusing {size:,} certificates in {directory}")
            server.lemur("init")  # applies migrations newer than the kept database
            return Dataset(
                server=server,
                size=size,
                team_ids=state["team_ids"],
                probes=state["probes"],
                reused=True,
                load_seconds=state.get("load_seconds"),
            )
        log(f"[ui-pages] {backend}: {directory} names a database that is gone; rebuilding")
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    server = Server(backend, root=directory)
    source = root / f"sqlite-{size}"
    if backend == "postgresql" and copy_from_sqlite and (source / STATE).exists():
        # The same installation as the kept SQLite one, rows and keys alike: minutes
        # instead of signing every certificate again.
        state = json.loads((source / STATE).read_text())
        started = time.perf_counter()
        copy_to_postgresql(Server("sqlite", root=source), server, log=log)
        server.token, server.team_id = state["token"], state["team_id"]
        data = Dataset(
            server=server,
            size=size,
            team_ids=state["team_ids"],
            probes=state["probes"],
            reused=False,
            load_seconds=time.perf_counter() - started,
        )
        _save(directory, data)
        log(f"[ui-pages] postgresql: copied {size:,} certificates from {source}")
        return data
    inst = inventory.prepare(backend, log=log, server=server)
    seconds = inventory.load(inst, size, processes=processes, log=log)
    data = Dataset(
        server=server,
        size=size,
        team_ids=inst.team_ids,
        probes=[_probe(s) for s in inst.samples],
        reused=False,
        load_seconds=seconds,
    )
    _save(directory, data)
    log(f"[ui-pages] {backend}: built {size:,} certificates in {seconds:.0f} s ({directory})")
    return data


COPY_BATCH = 5000


def copy_to_postgresql(source: Server, target: Server, *, log: Any = print) -> None:
    """Every table of the SQLite installation ``source`` (brought to the current schema
    first) into a new PostgreSQL database for ``target``, with its key ring file: the same
    installation on the other database. Rows go in with COPY, foreign-key triggers off for
    the session (lineages point forward and backward); then the id sequences, VACUUM and
    ANALYZE (what autovacuum does after a bulk load)."""
    import sqlite3

    import psycopg
    from sqlalchemy import create_engine

    import lemur.models  # noqa: F401  (every table on the metadata)
    from bench.harness import PG_ADMIN_URL
    from lemur.db import Base
    from lemur.migrate import upgrade

    source.lemur("init")  # the current schema, on the source first
    target.data_dir.mkdir(parents=True, exist_ok=True)
    for name in ("keyring", "session-secret"):
        if (source.data_dir / name).exists():
            shutil.copy2(source.data_dir / name, target.data_dir / name)
    target.create_database()
    assert target.database_url is not None
    engine = create_engine(target.database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + target.db_name
    lite = sqlite3.connect(f"file:{source.sqlite_path}?mode=ro", uri=True)
    with psycopg.connect(url) as pg:
        pg.execute("SET TIME ZONE 'UTC'")
        pg.execute("SET session_replication_role = replica")
        for table in Base.metadata.sorted_tables:
            pg.execute(f'DELETE FROM "{table.name}"')  # what the migrations seeded
            columns = [c.name for c in table.columns]
            names = ", ".join(f'"{c}"' for c in columns)
            rows = lite.execute(f'SELECT {names} FROM "{table.name}"')
            count = 0
            with pg.cursor() as cur, cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
                while batch := rows.fetchmany(COPY_BATCH):
                    for row in batch:
                        copy.write_row(row)
                    count += len(batch)
            log(f"[ui-pages] postgresql: {table.name}: {count:,} rows")
            for column in table.primary_key.columns:
                sequence = pg.execute(
                    "SELECT pg_get_serial_sequence(%s, %s)", (table.name, column.name)
                ).fetchone()
                if sequence and sequence[0] and count:
                    pg.execute(
                        f'SELECT setval(%s, (SELECT max("{column.name}") FROM "{table.name}"))',
                        (sequence[0],),
                    )
        pg.commit()
    lite.close()
    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute("VACUUM ANALYZE")


def destroy(root: Path, backend: str, size: int) -> None:
    """Drop a kept installation (its PostgreSQL database and its directory)."""
    directory = root / f"{backend}-{size}"
    state_file = directory / STATE
    if not state_file.exists():
        return
    state = json.loads(state_file.read_text())
    server = Server(backend, root=directory, db_name=state["db_name"])
    server.destroy()
