"""Each list endpoint issues the same number of SQL statements for 3 rows as for 60
(STYLE.md rule 12): no query per row."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from lemur.accounts.models import ApiToken, Role, Team, TeamMember, TokenScope, User
from lemur.app import create_app
from lemur.audit.service import Actor, AuditLog
from lemur.authorities.models import Authority
from lemur.container import Container
from lemur.orders.models import CertificateRequest
from tests.api.conftest import World


@contextmanager
def statements(container: Container) -> Iterator[list[str]]:
    """Collect every statement sent to the database (both engines) inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engines = {id(e): e for e in (container.db.read_engine, container.db.write_engine)}.values()
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


class Bulk:
    """Rows written straight through the ORM, many per transaction."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.c = world.container
        self.n = 0

    def _next(self) -> int:
        self.n += 1
        return self.n

    def users(self, count: int) -> None:
        now = self.c.clock.now()
        with self.c.db.write() as session:
            users = [
                User(
                    username=f"bulk-{self._next()}",
                    role=Role.MEMBER,
                    password_hash="-",
                    created_at=now,
                )
                for _ in range(count)
            ]
            session.add_all(users)
            session.flush()
            for user in users:
                for team in ("own", "other"):
                    session.add(
                        TeamMember(team_id=self.world.team_ids[team], user_id=user.id, added_at=now)
                    )
            session.commit()

    def teams(self, count: int) -> None:
        now = self.c.clock.now()
        with self.c.db.write() as session:
            teams = [Team(name=f"bulk-team-{self._next()}", created_at=now) for _ in range(count)]
            session.add_all(teams)
            session.flush()
            for team in teams:
                for who in ("member", "reader"):
                    session.add(
                        TeamMember(team_id=team.id, user_id=self.world.user_ids[who], added_at=now)
                    )
            session.commit()

    def team_members(self, count: int) -> None:
        self.users_in_team("own", count)

    def users_in_team(self, team: str, count: int) -> None:
        now = self.c.clock.now()
        with self.c.db.write() as session:
            users = [
                User(
                    username=f"bulk-{self._next()}",
                    role=Role.MEMBER,
                    password_hash="-",
                    created_at=now,
                )
                for _ in range(count)
            ]
            session.add_all(users)
            session.flush()
            for user in users:
                session.add(
                    TeamMember(team_id=self.world.team_ids[team], user_id=user.id, added_at=now)
                )
            session.commit()

    def teams_of_member(self, count: int) -> None:
        now = self.c.clock.now()
        with self.c.db.write() as session:
            teams = [Team(name=f"bulk-team-{self._next()}", created_at=now) for _ in range(count)]
            session.add_all(teams)
            session.flush()
            for team in teams:
                session.add(
                    TeamMember(team_id=team.id, user_id=self.world.user_ids["member"], added_at=now)
                )
            session.commit()

    def audit_events(self, count: int) -> None:
        with self.c.db.write() as session:
            log = AuditLog(session, self.c.clock)
            for _ in range(count):
                log.record(Actor("cli"), "test.bulk", target_type="test", target_id=self._next())
            session.commit()

    def requests(self, count: int) -> None:
        """Pending requests of the member's team at the issuing CA, as a CA that answers
        later leaves them (their contents do not matter to a list)."""
        now = self.c.clock.now()
        with self.c.db.write() as session:
            authority_id = session.scalar(
                select(Authority.id).where(Authority.name == "local-issuing-ca")
            )
            for _ in range(count):
                n = self._next()
                session.add(
                    CertificateRequest(
                        state="pending",
                        authority_id=authority_id,
                        team_id=self.world.team_ids["own"],
                        requested_by="user:member",
                        external_id=f"https://ca.example/order/{n}",
                        note="",
                        polls=0,
                        failures=0,
                        names=f"bulk-{n}.example.com",
                        spec="{}",
                        csr="",
                        created_at=now,
                        updated_at=now,
                    )
                )
            session.commit()

    def destinations(self, count: int, *, certificate_id: int | None = None) -> None:
        """Directory destinations with two endpoints each, reserved for a team; with
        ``certificate_id``, that certificate is deployed to each."""
        import json

        from lemur.deployments.models import (
            CertificateDestination,
            Deployment,
            Destination,
            Endpoint,
        )

        now = self.c.clock.now()
        with self.c.db.write() as session:
            for _ in range(count):
                n = self._next()
                row = Destination(
                    name=f"bulk-dest-{n}",
                    plugin="directory",
                    options=json.dumps({"directory": f"/srv/tls/{n}"}),
                    description="",
                    team_id=self.world.team_ids["own"],
                    created_at=now,
                    created_by="cli",
                    updated_at=now,
                )
                session.add(row)
                session.flush()
                for port in (443, 8443):
                    session.add(
                        Endpoint(
                            destination_id=row.id,
                            kind="tls",
                            host="127.0.0.1",
                            port=port,
                            sni=f"b{n}.example.com",
                            listener="",
                            created_at=now,
                        )
                    )
                if certificate_id is not None:
                    session.add(
                        CertificateDestination(
                            certificate_id=certificate_id,
                            destination_id=row.id,
                            added_at=now,
                            added_by="cli",
                        )
                    )
                    session.add(
                        Deployment(
                            certificate_id=certificate_id,
                            destination_id=row.id,
                            state="deployed",
                            ref=f"/srv/tls/{n}",
                            attempts=1,
                            round=1,
                            requested_by="cli",
                            created_at=now,
                            updated_at=now,
                        )
                    )
            session.commit()

    def deployments(self, count: int) -> None:
        self.destinations(count, certificate_id=self.certificate_id())

    def certificate_id(self) -> int:
        from lemur.certificates.models import Certificate

        with self.c.db.read() as session:
            found = session.scalar(select(Certificate.id).where(Certificate.is_ca.is_(False)))
        if found is not None:
            return int(found)
        from tests.api.certs_helpers import issue

        with TestClient(create_app(self.c)) as client:
            return int(issue(client, self.world)["id"])

    def tokens(self, count: int) -> None:
        now = self.c.clock.now()
        with self.c.db.write() as session:
            for _ in range(count):
                n = self._next()
                session.add(
                    ApiToken(
                        public_id=f"bulk{n:012d}",
                        secret_hash="0" * 64,
                        user_id=self.world.user_ids["admin2"],
                        name=f"bulk-{n}",
                        scope=TokenScope.READ,
                        created_at=now,
                        expires_at=now.replace(year=now.year + 1),
                    )
                )
            session.commit()


@dataclass(frozen=True)
class Case:
    path: Callable[[World], str]
    grow: Callable[[Bulk, int], None]
    size: Callable[[Any], int]  # how many of the grown rows the response shows


CASES = {
    "GET /users": Case(lambda w: "/api/v1/users", Bulk.users, len),
    "GET /teams": Case(lambda w: "/api/v1/teams", Bulk.teams, len),
    "GET /audit-events": Case(
        lambda w: "/api/v1/audit-events?limit=500", Bulk.audit_events, lambda b: len(b["items"])
    ),
    "GET /tokens": Case(lambda w: "/api/v1/tokens", Bulk.tokens, len),
    "GET /requests": Case(
        lambda w: "/api/v1/requests?limit=500", Bulk.requests, lambda b: len(b["items"])
    ),
    "GET /destinations": Case(lambda w: "/api/v1/destinations", Bulk.destinations, len),
    "GET /certificates/{id}/deployments": Case(
        lambda w: f"/api/v1/certificates/{Bulk(w).certificate_id()}/deployments",
        Bulk.deployments,
        len,
    ),
    "GET /teams/{id}": Case(
        lambda w: f"/api/v1/teams/{w.team_ids['own']}",
        Bulk.team_members,
        lambda b: len(b["members"]),
    ),
    "GET /users/{id}": Case(
        lambda w: f"/api/v1/users/{w.user_ids['member']}",
        Bulk.teams_of_member,
        lambda b: len(b["teams"]),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_statement_count_does_not_grow_with_rows(
    name: str, client: TestClient, world: World, container: Container
) -> None:
    case = CASES[name]
    bulk = Bulk(world)
    headers = world.headers("admin2")
    path = case.path(world)

    def measure() -> tuple[int, int]:
        with statements(container) as seen:
            r = client.get(path, headers=headers)
        assert r.status_code == 200, r.text
        return len(seen), case.size(r.json())

    # once first: the token's last-used time is written at most once a minute
    measure()
    case.grow(bulk, 3)
    few, shown_few = measure()
    case.grow(bulk, 57)
    many, shown_many = measure()
    assert shown_many >= shown_few + 57, "the new rows must be in the response"
    assert many == few, f"{name}: {few} statements with 3 rows, {many} with 60"


def test_statements_are_counted(client: TestClient, world: World, container: Container) -> None:
    """The counter sees the statements of a request at all (a broken listener would pass
    every comparison above)."""
    with statements(container) as seen:
        assert client.get("/api/v1/users", headers=world.headers("admin2")).status_code == 200
    assert any("FROM users" in s for s in seen)


def test_an_issuance_is_one_read_for_team_and_authority_and_one_short_write(
    client: TestClient, world: World, container: Container
) -> None:
    """The issuance fast path (docs/decisions/0005, 0008): after authentication, one read
    for team and authority (the CA key comes from the cache), then the write: the INSERT
    that takes the id and locks the audit head, names, key, audit event and head. Nothing is
    read back for the answer, which is rendered from what was written."""
    from tests.api.certs_helpers import issue

    issue(client, world)  # warm the signing-key cache and the token's last use
    with statements(container) as seen:
        body = issue(client, world, dns_names=["fast.example.com"])
    assert body["names"] == ["fast.example.com"]
    sql = [s for s in seen if s.strip().upper() not in ("BEGIN", "BEGIN IMMEDIATE")]
    # The insert is a CTE (the locked audit head) followed by INSERT ... SELECT.
    insert = next(i for i, s in enumerate(sql) if "INSERT INTO certificates " in s)
    # The helper looks the authority up first (GET /authorities): count from the POST's
    # authentication on.
    post = max(i for i, s in enumerate(sql[:insert]) if "FROM api_tokens" in s)
    reads = [s for s in sql[post:insert] if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 2, "\n---\n".join(reads)  # the token, then team and authority
    after = sql[insert + 1 :]
    assert len(after) == 4, after  # names, key, audit event, audit head
    assert not any(s.lstrip().upper().startswith("SELECT") for s in after), after
