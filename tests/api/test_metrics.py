"""GET /metrics through the API, on SQLite and PostgreSQL: who may scrape, what the numbers
say after a user issues and revokes certificates, the HTTP histogram's labels, and a
constant number of SQL statements per scrape whatever the inventory holds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from lemur.accounts.models import TokenScope, User
from lemur.app import create_app
from lemur.config import Settings
from lemur.container import Container, build_container
from lemur.jobs.models import JOBS
from lemur.metrics import collector
from lemur.metrics.collector import BUILTIN_SOURCES, DatabaseCollector, job_metrics
from tests.api.conftest import World
from tests.api.inventory_helpers import insert_leaf, throwaway_ca
from tests.api.test_query_counts import statements
from tests.conftest import FAST_HASHER
from tests.peers.server import free_port

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(body: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def scrape(client: TestClient, headers: dict[str, str]) -> Samples:
    r = client.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4"), r.headers
    return parse(r.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def statuses(samples: Samples) -> dict[str, float]:
    return {
        dict(labels)["status"]: v
        for (name, labels), v in samples.items()
        if name == "lemur_certificates"
    }


@pytest.mark.parametrize("who", ["admin2", "security"])
@pytest.mark.parametrize("scope", [TokenScope.READ, TokenScope.WRITE])
def test_admin_and_security_tokens_scrape_parseable_metrics(
    client: TestClient, world: World, who: str, scope: TokenScope
) -> None:
    token = world.add_token(who, scope=scope, name=f"prometheus-{scope.value}")
    samples = scrape(client, {"Authorization": f"Bearer {token}"})
    assert set(statuses(samples)) == {"valid", "expiring", "expired", "revoked", "not_yet_valid"}
    assert ("lemur_certificates_expiring", (("within_days", "30"),)) in samples


@pytest.mark.parametrize("who", ["member", "reader"])
def test_members_and_readers_are_refused(client: TestClient, world: World, who: str) -> None:
    for scope in (TokenScope.READ, TokenScope.WRITE):
        token = world.add_token(who, scope=scope)
        r = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "permission_denied"


def test_no_token_is_401(client: TestClient) -> None:
    r = client.get("/metrics")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "authentication_required"
    r = client.get("/metrics", headers={"Authorization": "Bearer lmr_nothing_here"})
    assert r.status_code == 401


def test_counts_follow_what_a_user_did(client: TestClient, world: World) -> None:
    """Issue 3 certificates, revoke 1: two more valid, one more revoked, three more from the
    issuing CA."""
    headers = world.headers("security")
    before = scrape(client, headers)
    issuing = "local-issuing-ca"
    ids = []
    for n in range(3):
        r = client.post(
            "/api/v1/certificates",
            headers=world.headers("member"),
            json={
                "team_id": world.team_ids["own"],
                "authority_id": _authority_id(client, headers, issuing),
                "subject_alternative_names": {"dns_names": [f"m{n}.example.com"]},
            },
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    r = client.post(
        f"/api/v1/certificates/{ids[0]}/revoke",
        headers=world.headers("member"),
        json={"reason": "key_compromise"},
    )
    assert r.status_code == 200, r.text
    after = scrape(client, headers)
    delta = {k: statuses(after)[k] - statuses(before)[k] for k in statuses(after)}
    assert delta == {"valid": 2, "expiring": 0, "expired": 0, "revoked": 1, "not_yet_valid": 0}
    assert (
        value(after, "lemur_certificates_by_authority", authority=issuing)
        - value(before, "lemur_certificates_by_authority", authority=issuing)
        == 3
    )
    # What the inventory lists agrees with the gauge.
    listed = client.get(
        "/api/v1/certificates", headers=headers, params={"status": "revoked", "limit": 200}
    ).json()
    assert len(listed["items"]) == after[("lemur_certificates", (("status", "revoked"),))]


def _authority_id(client: TestClient, headers: dict[str, str], name: str) -> int:
    found = [
        a for a in client.get("/api/v1/authorities", headers=headers).json() if a["name"] == name
    ]
    return int(found[0]["id"])


def test_statuses_and_expiry_horizons(
    client: TestClient, world: World, container: Container
) -> None:
    """Certificates placed around "now": each counted in the status the inventory shows and
    in the 7/30/90-day horizons (not revoked, not expired)."""
    headers = world.headers("admin2")
    before = scrape(client, headers)
    now = container.clock.now()
    ca = throwaway_ca()
    day = dt.timedelta(days=1)
    team = world.team_ids["own"]

    def leaf(name: str, start: dt.timedelta, end: dt.timedelta) -> int:
        return insert_leaf(
            container, ca, team_id=team, not_before=now + start, not_after=now + end,
            dns_names=[f"{name}.example.com"],
        )  # fmt: skip

    leaf("in-5-days", -85 * day, 5 * day)  # expiring; within 7, 30, 90
    leaf("in-20-days", -70 * day, 20 * day)  # expiring; within 30, 90
    leaf("in-60-days", -30 * day, 60 * day)  # valid; within 90
    leaf("in-200-days", -10 * day, 200 * day)  # valid; beyond every horizon
    leaf("gone", -100 * day, -1 * day)  # expired
    leaf("future", 2 * day, 300 * day)  # not yet valid; beyond every horizon
    revoked = leaf("revoked", -85 * day, 3 * day)
    r = client.post(
        f"/api/v1/certificates/{revoked}/revoke", headers=headers, json={"reason": "superseded"}
    )
    assert r.status_code == 200, r.text

    after = scrape(client, headers)
    delta = {k: statuses(after)[k] - statuses(before)[k] for k in statuses(after)}
    assert delta == {"valid": 2, "expiring": 2, "expired": 1, "revoked": 1, "not_yet_valid": 1}
    horizons = {
        days: value(after, "lemur_certificates_expiring", within_days=days)
        - value(before, "lemur_certificates_expiring", within_days=days)
        for days in ("7", "30", "90")
    }
    assert horizons == {"7": 1, "30": 2, "90": 3}
    # Imported, of no authority Lemur manages.
    assert (
        value(after, "lemur_certificates_by_authority", authority="")
        - value(before, "lemur_certificates_by_authority", authority="")
        == 7
    )
    # The inventory's own expiring filter agrees.
    listed = client.get(
        "/api/v1/certificates", headers=headers, params={"status": "expiring", "limit": 200}
    ).json()
    assert len(listed["items"]) == statuses(after)["expiring"]


def test_http_histogram_labels_routes_by_template(client: TestClient, world: World) -> None:
    headers = world.headers("admin2")
    for user_id in (world.user_ids["member"], world.user_ids["reader"]):
        assert client.get(f"/api/v1/users/{user_id}", headers=headers).status_code == 200
    assert client.get("/api/v1/users/999999", headers=headers).status_code == 404
    assert client.get("/no/such/page/12345").status_code == 404
    assert client.request("BREW", "/api/v1/me").status_code == 405
    r = client.get("/metrics", headers=headers)
    assert r.headers["x-request-id"]
    samples = parse(r.text)
    count = "lemur_http_request_duration_seconds_count"
    route = "/api/v1/users/{user_id}"
    assert value(samples, count, method="GET", route=route, status="200") == 2
    assert value(samples, count, method="GET", route=route, status="404") == 1
    assert value(samples, count, method="GET", route="unmatched", status="404") == 1
    assert value(samples, count, method="other", route="/api/v1/me", status="405") == 1
    paths = {dict(labels).get("route") for name, labels in samples if name == count}
    assert not any(p and ("999999" in p or "12345" in p) for p in paths), paths
    assert not any(p and str(world.user_ids["member"]) in p.split("/") for p in paths), paths


def test_request_id_is_returned_and_a_safe_incoming_one_is_kept(client: TestClient) -> None:
    r = client.get("/health", headers={"X-Request-ID": "trace-42.a_b"})
    assert r.headers["x-request-id"] == "trace-42.a_b"
    for unsafe in ("a b", "x" * 65, "a/b", "a;b", "<script>"):
        r = client.get("/health", headers={"X-Request-ID": unsafe})
        assert r.headers["x-request-id"] != unsafe
        assert len(r.headers["x-request-id"]) == 32
    first = client.get("/health").headers["x-request-id"]
    assert first != client.get("/health").headers["x-request-id"]


def test_a_scrape_costs_the_same_statements_for_3_and_60_certificates(
    client: TestClient, world: World, container: Container
) -> None:
    headers = world.headers("admin2")
    ca = throwaway_ca()
    now = container.clock.now()

    def add(n: int, start: int) -> None:
        for i in range(start, start + n):
            insert_leaf(
                container, ca, team_id=world.team_ids["own"],
                not_before=now - dt.timedelta(days=10), not_after=now + dt.timedelta(days=i),
                dns_names=[f"bulk-{i}.example.com"],
            )  # fmt: skip

    scrape(client, headers)  # warm: the token is touched once
    add(3, 1)
    with statements(container) as few:
        scrape(client, headers)
    add(57, 4)
    with statements(container) as many:
        scrape(client, headers)
    assert len(few) == len(many), (few, many)
    # The built-in sources: 3 statements for certificates, 2 for jobs, 1 for notification
    # messages (plus, through the API, the token lookup).
    with statements(container) as builtin:
        list(DatabaseCollector(container.db, container.clock, BUILTIN_SOURCES).collect())
    assert len(builtin) == 6, builtin


def test_a_registered_metric_source_is_scraped_with_the_rest(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hook the notification ledger uses: a module registers a source, and its
    families appear in every scrape."""

    def ledger(session: Session, now: dt.datetime) -> Iterator[Metric]:
        sent = CounterMetricFamily("lemur_test_sent", "test", labels=["channel"])
        sent.add_metric(["email"], session.scalar(select(func.count()).select_from(User)) or 0)
        yield sent

    monkeypatch.setattr(collector, "_REGISTERED", [])
    collector.register_source(ledger)
    samples = scrape(client, world.headers("admin2"))
    assert value(samples, "lemur_test_sent_total", channel="email") == len(world.user_ids)
    assert ("lemur_certificates", (("status", "valid"),)) in samples


def test_the_main_port_does_not_serve_metrics_when_a_separate_address_is_set(
    settings: Settings, container: Container
) -> None:
    separate = build_container(
        settings.model_copy(update={"metrics_address": f"127.0.0.1:{free_port()}"}),
        init=False,
        hasher=FAST_HASHER,
    )
    try:
        app = create_app(separate)
        assert "/metrics" not in app.openapi()["paths"]
        with TestClient(app) as c:
            r = c.get("/metrics")
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "route_not_found"
    finally:
        separate.close()


# --- jobs --------------------------------------------------------------------------------------


@pytest.fixture
def jobs_table(container: Container) -> Iterator[Table]:
    yield JOBS
    with container.db.write_engine.begin() as conn:
        conn.execute(JOBS.delete())  # PostgreSQL's tables outlive the test


def _job(
    jobs: Table, container: Container, kind: str, state: str, *, ran: float | None = None,
    due: dt.timedelta = dt.timedelta(0),
) -> None:  # fmt: skip
    now = container.clock.now()
    started = now - dt.timedelta(hours=1)
    row = {
        "kind": kind,
        "args": "{}",
        "state": state,
        "attempts": 1,
        "max_attempts": 5,
        "run_after": now - due,
        "created_at": now - due,
        "started_at": started if ran is not None else None,
        "finished_at": started + dt.timedelta(seconds=ran) if ran is not None else None,
    }
    with container.db.write_engine.begin() as conn:
        conn.execute(jobs.insert().values(**row))


def test_job_metrics(
    client: TestClient, world: World, container: Container, jobs_table: Table
) -> None:
    jobs = jobs_table
    _job(jobs, container, "renewal", "succeeded", ran=2.5)
    _job(jobs, container, "renewal", "succeeded", ran=1.5)
    _job(jobs, container, "renewal", "failed", ran=4.0)
    _job(jobs, container, "renewal", "running")
    _job(jobs, container, "notify", "pending", due=dt.timedelta(seconds=90))
    _job(jobs, container, "notify", "pending", due=dt.timedelta(seconds=30))
    _job(jobs, container, "notify", "pending", due=-dt.timedelta(hours=1))  # not due yet
    _job(jobs, container, "notify", "cancelled")
    samples = scrape(client, world.headers("admin2"))
    assert value(samples, "lemur_jobs", state="succeeded", kind="renewal") == 2
    assert value(samples, "lemur_jobs", state="failed", kind="renewal") == 1
    assert value(samples, "lemur_jobs", state="running", kind="renewal") == 1
    assert value(samples, "lemur_jobs", state="pending", kind="notify") == 3
    assert value(samples, "lemur_jobs", state="cancelled", kind="notify") == 1
    assert ("lemur_jobs", (("kind", "renewal"), ("state", "pending"))) in samples  # zero, shown
    assert value(samples, "lemur_job_run_seconds_count", kind="renewal") == 3
    assert value(samples, "lemur_job_run_seconds_sum", kind="renewal") == pytest.approx(
        8.0, abs=0.01
    )
    assert value(samples, "lemur_job_run_seconds_count", kind="notify") == 0
    assert value(samples, "lemur_jobs_oldest_pending_age_seconds") == pytest.approx(90, abs=0.5)


def test_job_metrics_of_an_empty_queue(container: Container, jobs_table: Table) -> None:
    with container.db.read() as session:
        families = {m.name: m for m in job_metrics(session, container.clock.now())}
    assert families["lemur_jobs"].samples == []
    assert families["lemur_jobs_oldest_pending_age_seconds"].samples[0].value == 0
