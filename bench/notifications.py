"""Notification benchmarks (bench/README.md, "Notifications").

(a) The expiry pass over a large inventory of which few are due: time and SQL statements,
    at each size in ``--sizes`` (default 10,000 as the baseline, then 1,000,000), with
    ``--due`` (default 1,000) certificates inside the 30-day threshold.
(b) Digests: ``--digest-due`` (default 10,000) due certificates across ``--recipients``
    (default 200) recipients, the pass and then every send job, to a real aiosmtpd on
    loopback: time and messages the SMTP server received.

The inventory is generated inside the database (PostgreSQL ``generate_series``, SQLite a
recursive CTE): the pass reads columns only (expiry, revocation, successor, team, names),
never the DER, so the rows carry a placeholder DER and this loads a million certificates
in seconds instead of the minutes bench/inventory.py needs to sign each one.

    .venv/bin/python -m bench.notifications                       # both parts, both databases
    .venv/bin/python -m bench.notifications --only pass --sizes 10000,1000000
    .venv/bin/python -m bench.notifications --only digest --backends sqlite
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
NOW = dt.datetime(2027, 1, 4, 8, 0, tzinfo=dt.UTC)
TEAMS = 50


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def installation(backend: str) -> Iterator[Any]:
    """A fresh, initialised Lemur (in-process container) on ``backend``; removed after."""
    import psycopg

    from lemur.accounts.passwords import PasswordHasher
    from lemur.clock import FrozenClock
    from lemur.config import Settings
    from lemur.container import build_container

    work = Path(tempfile.mkdtemp(prefix="lemur-bench-notify-"))
    db_name = None
    url = None
    if backend == "postgresql":
        db_name = f"lemur_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db_name}"')
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{db_name}"
    (work / "data").mkdir(mode=0o700)
    container = build_container(
        Settings(
            data_dir=work / "data",
            database_url=url,
            run_jobs=False,
            base_url="https://lemur.bench.example",
        ),
        init=True,
        clock=FrozenClock(NOW),
        hasher=PasswordHasher(time_cost=1, memory_cost=1024),
    )
    try:
        yield container
    finally:
        container.close()
        if db_name is not None:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)


def add_teams(container: Any, teams: int, members: int) -> None:
    """``teams`` teams of ``members`` users each, every user with an address (plain SQL)."""
    from sqlalchemy import insert

    from lemur.accounts.models import Role, Team, TeamMember, User

    with container.db.write() as session:
        session.execute(
            insert(Team),
            [
                {"id": 1000 + t, "name": f"bench-{t}", "description": "", "created_at": NOW}
                for t in range(teams)
            ],
        )
        users = []
        links = []
        for t in range(teams):
            for m in range(members):
                uid = 1000 + t * members + m
                users.append(
                    {
                        "id": uid,
                        "username": f"u{t}-{m}",
                        "display_name": "",
                        "email": f"u{t}-{m}@bench.example",
                        "role": Role.MEMBER,
                        "must_change_password": False,
                        "created_at": NOW,
                    }
                )
                links.append({"team_id": 1000 + t, "user_id": uid, "added_at": NOW})
        session.execute(insert(User), users)
        session.execute(insert(TeamMember), links)
        session.commit()


def load_certificates(container: Any, first: int, count: int, *, due: int, teams: int) -> float:
    """Certificates ``first`` .. ``first+count-1``: the first ``due`` of them expire within
    30 days, a tenth of the rest have expired, the others expire in 31 days to 2 years.
    Each has one name. Returns the seconds it took."""
    from sqlalchemy import text

    started = time.perf_counter()
    last = first + count - 1
    due_last = first + due - 1
    with container.db.write() as session:
        if container.db.dialect == "postgresql":
            ts = "(CAST(:now AS timestamptz) + make_interval(secs => {}))"
            hexa = "lpad(to_hex(g), {}, '0')"
            series = "generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS t(g)"
            der = "'\\x30'::bytea"
            false = "false"
            prefix = ""
        else:
            ts = "(strftime('%Y-%m-%d %H:%M:%S', :now, printf('%+d seconds', {})) || '.000000')"
            hexa = "printf('%0{}x', g)"
            series = "s"
            der = "X'30'"
            false = "0"
            prefix = (
                "WITH RECURSIVE s(g) AS (SELECT :first UNION ALL SELECT g + 1 FROM s "
                "WHERE g < :last) "
            )
        expiry = (
            "CASE WHEN g <= :due_last THEN 3600 + (g % 29) * 86400 "
            "WHEN g % 10 = 0 THEN -86400 * (1 + g % 300) "
            "ELSE 86400 * (31 + g % 700) END"
        )
        not_after = ts.format(expiry)
        not_before = ts.format(f"({expiry}) - 90 * 86400")
        session.execute(
            text(
                prefix
                + "INSERT INTO certificates (id, fingerprint_sha256, fingerprint_sha1, serial_hex,"
                " common_name, subject, issuer, issuer_common_name, not_before, not_after,"
                " key_type, key_size, key_spec, signature_algorithm, is_ca, profile, origin,"
                " team_id, der, chain_pem, has_private_key, created_at, created_by, renew_after)"
                f" SELECT g, {hexa.format(64)}, {hexa.format(40)}, {hexa.format(16)},"
                " 'host-' || g || '.bench.example', 'CN=host-' || g || '.bench.example',"
                f" 'CN=Bench CA', 'Bench CA', {not_before}, {not_after}, 'ec', 256,"
                f" 'ec-p256', 'ecdsa-with-SHA256', {false}, 'server', 'imported',"
                f" 1000 + g % :teams, {der}, '', {false}, :created, 'bench',"
                f" {ts.format(f'({expiry}) - 30 * 86400')}"
                f" FROM {series}"
            ),
            {
                "first": first,
                "last": last,
                "due_last": due_last,
                "teams": teams,
                "now": NOW.strftime("%Y-%m-%d %H:%M:%S")
                if container.db.dialect == "sqlite"
                else NOW,
                "created": NOW
                if container.db.dialect == "postgresql"
                else "2027-01-04 08:00:00.000000",
            },
        )
        session.execute(
            text(
                prefix + "INSERT INTO certificate_names (certificate_id, kind, name)"
                f" SELECT g, 'cn', 'host-' || g || '.bench.example' FROM {series}"
            ),
            {"first": first, "last": last},
        )
        session.commit()
    if container.db.dialect == "postgresql":
        with container.db.write() as session:
            session.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('certificates', 'id'),"
                    " (SELECT max(id) FROM certificates))"
                )
            )
            session.commit()
        with container.db.write_engine.connect().execution_options(
            isolation_level="AUTOCOMMIT"
        ) as conn:
            conn.execute(text("ANALYZE"))
    return time.perf_counter() - started


def add_rule(container: Any, plugin: str, options: dict[str, Any]) -> None:
    from lemur.authz import cli_principal
    from lemur.notifications.events import Event
    from lemur.notifications.service import RuleInput
    from lemur.services import Services

    with Services(container, cli_principal()) as services:
        notifications = services.notifications()
        channel = notifications.create_channel("bench", plugin, options)
        notifications.create_rule(
            RuleInput(
                "owners",
                channel.id,
                (Event.EXPIRING,),
                (30, 14, 7, 3, 1),
                True,
                False,
                (),
                None,
                True,
            )
        )


@contextmanager
def counting(container: Any) -> Iterator[dict[str, int]]:
    from sqlalchemy import event

    counter = {"n": 0}

    def on_execute(*_args: Any) -> None:
        counter["n"] += 1

    engines = {id(e): e for e in (container.db.read_engine, container.db.write_engine)}
    for engine in engines.values():
        event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield counter
    finally:
        for engine in engines.values():
            event.remove(engine, "before_cursor_execute", on_execute)


@dataclass
class PassResult:
    backend: str
    size: int
    due: int
    load_seconds: float
    seconds: list[float]
    statements: int
    messages: int
    notices: int

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def time_pass(container: Any, reps: int) -> tuple[list[float], int, int, int]:
    """The pass ``reps`` times, each in a transaction rolled back afterwards (so each finds
    the same work), then once committed. Returns (seconds per run, statements of one run,
    messages, notices)."""
    from lemur.notifications.expiry import expiry_pass

    base = container.settings.effective_base_url
    times = []
    statements = 0
    result = None
    for rep in range(reps + 1):
        with counting(container) as counter, container.db.write() as session:
            started = time.perf_counter()
            result = expiry_pass(session, now=NOW, base_url=base)
            if rep == reps:
                session.commit()
            else:
                session.rollback()
            elapsed = time.perf_counter() - started
            statements = counter["n"]
        if rep:  # the first run warms the caches
            times.append(elapsed)
    assert result is not None
    return times, statements, result.messages, result.notices


def bench_pass(backend: str, sizes: list[int], due: int, reps: int) -> list[PassResult]:
    out = []
    for size in sizes:
        with installation(backend) as container:
            add_teams(container, TEAMS, 2)
            loaded = load_certificates(container, 100, size, due=due, teams=TEAMS)
            log(f"[notifications] {backend}: {size:,} certificates loaded in {loaded:.1f} s")
            # Email: every team member is a recipient (2 per team); nothing is sent here.
            add_rule(
                container,
                "email",
                {
                    "host": "smtp.bench.example",
                    "port": 25,
                    "security": "none",
                    "from_address": "lemur@bench.example",
                },
            )
            times, statements, messages, notices = time_pass(container, reps)
            out.append(PassResult(backend, size, due, loaded, times, statements, messages, notices))
            log(
                f"[notifications] {backend} {size:,}: pass p50 {statistics.median(times):.3f} s,"
                f" {statements} statements, {messages} messages, {notices} notices"
            )
    return out


# -- (b) digests to aiosmtpd --------------------------------------------------------------


class Counter:
    def __init__(self) -> None:
        self.messages = 0
        self.recipients: set[str] = set()
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages += 1
            self.recipients.update(envelope.rcpt_tos)
        return "250 OK"


@dataclass
class DigestResult:
    backend: str
    due: int
    recipients: int
    pass_seconds: float
    send_seconds: float
    messages: int
    received: int
    distinct_recipients: int


def bench_digest(backend: str, due: int, recipients: int) -> DigestResult:
    from aiosmtpd.controller import Controller

    from lemur.jobs.engine import JobEngine
    from lemur.notifications.expiry import expiry_pass

    counter = Counter()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(counter, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with installation(backend) as container:
            teams = recipients // 2
            add_teams(container, teams, 2)
            load_certificates(container, 100, due, due=due, teams=teams)
            add_rule(
                container,
                "email",
                {
                    "host": "127.0.0.1",
                    "port": port,
                    "security": "none",
                    "from_address": "lemur@bench.example",
                    "timeout": 10,
                },
            )
            started = time.perf_counter()
            with container.db.write() as session:
                result = expiry_pass(
                    session, now=NOW, base_url=container.settings.effective_base_url
                )
                session.commit()
            pass_seconds = time.perf_counter() - started
            engine = JobEngine(container, container.job_kinds)
            started = time.perf_counter()
            while engine.run_due(limit=100):
                pass
            send_seconds = time.perf_counter() - started
    finally:
        controller.stop()
    return DigestResult(
        backend,
        due,
        recipients,
        pass_seconds,
        send_seconds,
        result.messages,
        counter.messages,
        len(counter.recipients),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.notifications")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--only", choices=("pass", "digest"))
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--digest-due", type=int, default=10_000)
    parser.add_argument("--recipients", type=int, default=200)
    args = parser.parse_args(argv)
    backends = [b for b in args.backends.split(",") if b]
    sizes = [int(s) for s in args.sizes.split(",") if s]
    lines = []
    if args.only in (None, "pass"):
        lines.append(
            f"(a) expiry pass, {args.due:,} due (p50 of {args.reps} runs; target <= 2 s at 1,000,000)"
        )
        lines.append(
            f"  {'backend':<10} {'certificates':>12} {'load s':>8} {'pass p50 s':>10} "
            f"{'max s':>7} {'SQL':>5} {'messages':>8} {'notices':>8}"
        )
        for backend in backends:
            for r in bench_pass(backend, sizes, args.due, args.reps):
                lines.append(
                    f"  {r.backend:<10} {r.size:>12,} {r.load_seconds:>8.1f} {r.median:>10.3f} "
                    f"{max(r.seconds):>7.3f} {r.statements:>5} {r.messages:>8} {r.notices:>8}"
                )
    if args.only in (None, "digest"):
        lines.append(
            f"(b) digests: {args.digest_due:,} due certificates, {args.recipients} recipients, "
            "aiosmtpd on loopback (expect one message per recipient)"
        )
        lines.append(
            f"  {'backend':<10} {'pass s':>7} {'send s':>7} {'messages':>8} {'received':>8} "
            f"{'recipients':>10}"
        )
        for backend in backends:
            d = bench_digest(backend, args.digest_due, args.recipients)
            lines.append(
                f"  {d.backend:<10} {d.pass_seconds:>7.2f} {d.send_seconds:>7.2f} "
                f"{d.messages:>8} {d.received:>8} {d.distinct_recipients:>10}"
            )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
