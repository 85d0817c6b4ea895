"""The authorities list (with each authority's count of certificates issued) and the jobs
list issue the same number of SQL statements for 3 rows as for 40 (STYLE.md rule 12): one
grouped count, not one per authority. Served in-process, signed in through the login form."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from lemur.authz import cli_principal
from lemur.container import Container
from lemur.jobs.outbox import enqueue
from lemur.services import Services
from tests.api.certs_helpers import issue, make_ca, pem
from tests.api.conftest import World, client, world  # noqa: F401  (fixtures)
from tests.api.test_query_counts import statements
from tests.peers.server import form_login


def _authorities(w: World, api: TestClient, count: int) -> None:
    """External CAs, and a certificate issued by the issuing CA to count as well."""
    with Services(w.container, cli_principal()) as services:
        for _ in range(count):
            n = len(services.authorities().list())
            name = f"bulk-ca-{n}"
            services.authorities().import_external(name, pem(make_ca(name)[1]).encode())
    issue(api, w, dns_names=[f"bulk-{count}.example.com"])


def _jobs(w: World, _api: TestClient, count: int) -> None:
    c = w.container
    with c.db.write() as session:
        for _ in range(count):
            enqueue(session, "test.queries", {}, now=c.clock.now())
        session.commit()


@dataclass(frozen=True)
class Case:
    path: str
    grow: Callable[[World, TestClient, int], None]
    row: str  # a pattern that occurs once per row shown


CASES = {
    "/authorities": Case("/authorities", _authorities, r"<tr data-authority="),
    "/jobs": Case("/jobs?kind=test.queries", _jobs, r"<tr data-job="),
}


@pytest.mark.parametrize("name", list(CASES))
def test_list_statement_count_does_not_grow_with_rows(
    name: str,
    client: TestClient,  # noqa: F811
    world: World,  # noqa: F811
    container: Container,
) -> None:
    case = CASES[name]
    assert form_login(client, "admin2", "admin2-password-123").status_code == 303

    def measure() -> tuple[int, int]:
        with statements(container) as seen:
            r = client.get(case.path)
        assert r.status_code == 200, r.text
        return len(seen), len(re.findall(case.row, r.text))

    case.grow(world, client, 1)
    measure()
    case.grow(world, client, 3)
    few, shown_few = measure()
    case.grow(world, client, 37)
    many, shown_many = measure()
    assert shown_many > shown_few, "the new rows must be on the page"
    assert many == few, f"{name}: {few} statements with few rows, {many} with many"
