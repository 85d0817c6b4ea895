"""The destination and deployment pages issue the same number of SQL statements for few
rows as for many (STYLE.md rule 12): the destinations list, a destination with the
certificates deployed there, a certificate's deployments panel, its blast radius and the
request form's destination picker. Served in-process (TestClient) on both databases,
signed in through the real login form.

The rows are written straight through the ORM: no destination plugin is needed to show
them (a destination whose plugin is not installed shows its non-secret options)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from lemur.container import Container
from lemur.deployments.models import (
    CertificateDestination,
    Deployment,
    DeploymentState,
    Destination,
    Endpoint,
    EndpointKind,
)
from tests.api.certs_helpers import issue
from tests.api.conftest import World, client, world  # noqa: F401  (fixtures)
from tests.api.test_query_counts import statements
from tests.peers.server import form_login


class Rows:
    """Destinations, each with an endpoint, and deployments of certificates there."""

    def __init__(self, container: Container) -> None:
        self.c = container
        self.n = 0

    def destinations(self, count: int, *, certificate_ids: list[int]) -> list[int]:
        now = self.c.clock.now()
        ids: list[int] = []
        with self.c.db.write() as session:
            for _ in range(count):
                self.n += 1
                row = Destination(
                    name=f"dest-{self.n}",
                    plugin="directory",
                    options=json.dumps({"directory": "/tmp"}),
                    description="",
                    team_id=None,
                    created_at=now,
                    created_by="test",
                    updated_at=now,
                )
                session.add(row)
                session.flush()
                ids.append(row.id)
                session.add(
                    Endpoint(
                        destination_id=row.id,
                        kind=EndpointKind.TLS.value,
                        host=f"web-{self.n}.example.com",
                        port=443,
                        sni="",
                        listener="",
                        created_at=now,
                    )
                )
                for cert_id in certificate_ids:
                    self.deploy(session, cert_id, row.id)
            session.commit()
        return ids

    def deploy(self, session: Session, certificate_id: int, destination_id: int) -> None:
        now = self.c.clock.now()
        session.add(
            CertificateDestination(
                certificate_id=certificate_id,
                destination_id=destination_id,
                added_at=now,
                added_by="test",
            )
        )
        session.add(
            Deployment(
                certificate_id=certificate_id,
                destination_id=destination_id,
                state=DeploymentState.DEPLOYED.value,
                ref=f"/srv/certs/{destination_id}",
                attempts=1,
                round=1,
                requested_by="test",
                created_at=now,
                updated_at=now,
                deployed_at=now,
                verified_at=now,
            )
        )

    def certificates_at(self, destination_id: int, certificate_ids: list[int]) -> None:
        with self.c.db.write() as session:
            for cert_id in certificate_ids:
                self.deploy(session, cert_id, destination_id)
            session.commit()


@pytest.fixture
def signed_in(
    client: TestClient,  # noqa: F811
    world: World,  # noqa: F811
) -> TestClient:
    assert form_login(client, "admin2", "admin2-password-123").status_code == 303
    return client


def _measure(browser: TestClient, container: Container, path: str, row: str) -> tuple[int, int]:
    with statements(container) as seen:
        answer = browser.get(path)
    assert answer.status_code == 200, answer.text
    return len(seen), len(re.findall(row, answer.text))


def _same_for_few_and_many(
    browser: TestClient,
    container: Container,
    path: Callable[[], str],
    row: str,
    grow: Callable[[int], None],
) -> None:
    _measure(browser, container, path(), row)  # the session's first use is written once
    grow(2)
    few, shown_few = _measure(browser, container, path(), row)
    grow(12)
    many, shown_many = _measure(browser, container, path(), row)
    assert shown_many > shown_few, "the new rows must be on the page"
    assert many == few, f"{path()}: {few} statements with few rows, {many} with many"


def test_the_destinations_list_and_a_certificates_pages(
    signed_in: TestClient,
    world: World,  # noqa: F811
    container: Container,
) -> None:
    rows = Rows(container)
    cert_id = int(issue(signed_in, world, dns_names=["deployed.example.com"])["id"])

    def grow(count: int) -> None:
        rows.destinations(count, certificate_ids=[cert_id])

    _same_for_few_and_many(
        signed_in, container, lambda: "/destinations", r"<tr data-destination=", grow
    )
    _same_for_few_and_many(
        signed_in, container, lambda: f"/certificates/{cert_id}", r"<tr data-deployment=", grow
    )
    _same_for_few_and_many(
        signed_in,
        container,
        lambda: f"/certificates/{cert_id}/blast-radius",
        r"<tr data-destination=",
        grow,
    )
    _same_for_few_and_many(
        signed_in, container, lambda: "/certificates/new", r'name="destinations"', grow
    )


def test_a_destination_with_the_certificates_deployed_there(
    signed_in: TestClient,
    world: World,  # noqa: F811
    container: Container,
) -> None:
    rows = Rows(container)
    (destination_id,) = rows.destinations(1, certificate_ids=[])

    def grow(count: int) -> None:
        ids = [
            int(issue(signed_in, world, dns_names=[f"c{rows.n}-{i}.example.com"])["id"])
            for i in range(count)
        ]
        rows.n += 1
        rows.certificates_at(destination_id, ids)

    _same_for_few_and_many(
        signed_in,
        container,
        lambda: f"/destinations/{destination_id}",
        r"<tr data-certificate=",
        grow,
    )
