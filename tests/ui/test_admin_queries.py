"""The administration pages issue the same number of SQL statements for 3 rows as for 60
(STYLE.md rule 12): teams with their member counts, members, users with their teams,
tokens, the audit log, notification channels. Served in-process (TestClient), signed in
through the real login form."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from lemur.authz import cli_principal
from lemur.container import Container
from lemur.services import Services
from tests.api.conftest import World, client, world  # noqa: F401  (fixtures)
from tests.api.test_query_counts import Bulk, statements
from tests.peers.server import form_login


def _channels(bulk: Bulk, count: int) -> None:
    with Services(bulk.c, cli_principal()) as services:
        for _ in range(count):
            services.notifications().create_channel(
                f"hook-{bulk._next()}",
                "webhook",
                {"url": "https://hooks.example.com/lemur", "secret": "s" * 20},
            )


@dataclass(frozen=True)
class Case:
    path: Callable[[World], str]
    grow: Callable[[Bulk, int], None]
    row: str  # a pattern that occurs once per row shown


CASES = {
    "/teams": Case(lambda w: "/teams", Bulk.teams, r'<td data-label="Members"'),
    "/teams/{id}": Case(
        lambda w: f"/teams/{w.team_ids['own']}", Bulk.team_members, r'<td data-label="Username"'
    ),
    "/users": Case(lambda w: "/users", Bulk.users, r'<td data-label="Username"'),
    "/users/{id}": Case(
        lambda w: f"/users/{w.user_ids['member']}",
        Bulk.teams_of_member,
        r'<li><a href="/teams/\d+">',
    ),
    "/tokens": Case(lambda w: "/tokens", Bulk.tokens, r'data-testid="token-'),
    "/audit": Case(lambda w: "/audit", Bulk.audit_events, r'<td data-label="#"'),
    "/notifications": Case(lambda w: "/notifications", _channels, r'<td data-label="Kind"'),
}


@pytest.mark.parametrize("name", list(CASES))
def test_page_statement_count_does_not_grow_with_rows(
    name: str,
    client: TestClient,  # noqa: F811
    world: World,  # noqa: F811
    container: Container,
) -> None:
    case = CASES[name]
    bulk = Bulk(world)
    assert form_login(client, "admin2", "admin2-password-123").status_code == 303
    path = case.path(world)

    def measure() -> tuple[int, int]:
        with statements(container) as seen:
            r = client.get(path)
        assert r.status_code == 200, r.text
        return len(seen), len(re.findall(case.row, r.text))

    measure()
    case.grow(bulk, 3)
    few, shown_few = measure()
    case.grow(bulk, 57)
    many, shown_many = measure()
    assert shown_many > shown_few, "the new rows must be on the page"
    assert many == few, f"{name}: {few} statements with 3 rows, {many} with 60"
