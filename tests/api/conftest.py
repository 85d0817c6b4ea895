"""An in-process API client over a real database, and a small world of users and teams."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lemur.accounts.models import Role, TokenScope
from lemur.accounts.service import load_principal
from lemur.app import create_app
from lemur.authz import cli_principal
from lemur.container import Container
from lemur.services import Services
from tests.jobs_table import JOBS, ensure_jobs_table


@pytest.fixture(autouse=True)
def _jobs_table(request: pytest.FixtureRequest) -> Iterator[None]:
    """TODO(merge): remove with tests/jobs_table.py once the job system's migration is in.

    /metrics reads the job system's table; the API tests' databases get it for the test
    (the PostgreSQL database is shared by a worker's tests, migration tests included)."""
    if "container" not in request.fixturenames:
        yield
        return
    engine = request.getfixturevalue("container").db.write_engine
    created = ensure_jobs_table(engine)
    yield
    if created:
        JOBS.drop(engine)


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), client=("192.0.2.10", 50000)) as c:
        yield c


@dataclass
class World:
    """Users of every role; 'member' belongs to team 'own', 'outsider' to team 'other'."""

    container: Container
    tokens: dict[str, str] = field(default_factory=dict)
    user_ids: dict[str, int] = field(default_factory=dict)
    team_ids: dict[str, int] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def add_token(
        self, who: str, *, scope: TokenScope = TokenScope.WRITE, name: str | None = None
    ) -> str:
        c = self.container
        with Services(c, cli_principal()) as services:
            user = services.accounts().find_user(who)
            principal = load_principal(services.uow.read, user, via="cli")
            _, plaintext = services.tokens().create(
                principal,
                name=name or f"{who}-{scope.value}-{len(self.tokens)}",
                scope=scope,
                expires_in_days=30,
            )
        return plaintext


ROLES = {
    "admin2": Role.ADMIN,
    "security": Role.SECURITY,
    "member": Role.MEMBER,
    "outsider": Role.MEMBER,
    "reader": Role.READ_ONLY,
}


@pytest.fixture
def world(container: Container) -> World:
    w = World(container)
    c = container
    with Services(c, cli_principal()) as services:
        accounts = services.accounts()
        for name, role in ROLES.items():
            user, _ = accounts.create_user(name, role=role, password=f"{name}-password-123")
            w.user_ids[name] = user.id
        for team, member in (("own", "member"), ("other", "outsider")):
            t = accounts.create_team(team)
            w.team_ids[team] = t.id
            accounts.add_member(t, accounts.find_user(member))
        w.user_ids["admin"] = accounts.find_user("admin").id
    for name in ROLES:
        w.tokens[name] = w.add_token(name)
    return w


@pytest.fixture
def app_for(container: Container) -> Iterator[Callable[[str], TestClient]]:
    """TestClients at chosen client addresses over one app (each its own browser, with its
    own cookies)."""
    yield from clients_at(create_app(container))


def clients_at(app: FastAPI) -> Iterator[Callable[[str], TestClient]]:
    """Yields a factory of TestClients over ``app`` at chosen peer addresses; closes them
    all when resumed (for fixtures)."""
    clients: list[TestClient] = []

    def make(address: str) -> TestClient:
        c = TestClient(app, client=(address, 40000))
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()
