"""The jobs API on both databases: what an operator sees and may do with jobs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from lemur.accounts.models import TokenScope
from lemur.audit.models import AuditEvent
from lemur.clock import FrozenClock
from lemur.container import Container
from lemur.jobs.engine import JobEngine
from lemur.jobs.models import JOBS, JobState
from lemur.jobs.outbox import enqueue
from lemur.jobs.registry import JobContext, JobKind, JobKinds
from tests.api.conftest import World, client, world  # noqa: F401  (fixtures)
from tests.api.test_query_counts import statements

API = "/api/v1/jobs"


class Flaky:
    """A kind that fails until told to succeed."""

    def __init__(self) -> None:
        self.ok = False

    def __call__(self, ctx: JobContext) -> None:
        if not self.ok:
            raise ConnectionError("the peer is down")


@pytest.fixture
def flaky() -> Flaky:
    return Flaky()


@pytest.fixture
def engine(container: Container, flaky: Flaky) -> JobEngine:
    kinds = JobKinds([*container.job_kinds.values(), JobKind("test.flaky", flaky, "flaky")])
    return JobEngine(container, kinds)


def add(container: Container, kind: str = "test.idle", **kw: Any) -> int:
    with container.db.write() as session:
        job_id = enqueue(session, kind, kw.pop("args", {"n": 1}), now=container.clock.now(), **kw)
        session.commit()
    assert job_id is not None
    return job_id


def set_state(container: Container, job_id: int, state: JobState, **values: Any) -> None:
    with container.db.write() as session:
        session.execute(update(JOBS).where(JOBS.c.id == job_id).values(state=state.value, **values))
        session.commit()


def audit_actions(container: Container) -> list[tuple[str, str, str | None]]:
    with container.db.read() as session:
        rows = session.execute(
            select(AuditEvent.action, AuditEvent.actor, AuditEvent.target_id).order_by(
                AuditEvent.seq
            )
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def ids(body: dict[str, Any]) -> list[int]:
    return [item["id"] for item in body["items"]]


def test_list_is_newest_first_filtered_and_paginated(
    client: TestClient,  # noqa: F811
    world: World,  # noqa: F811
    container: Container,
) -> None:
    made = [add(container, "test.a" if n % 2 else "test.b") for n in range(7)]
    set_state(container, made[1], JobState.FAILED, last_error="boom")
    set_state(container, made[4], JobState.FAILED, last_error="boom")
    headers = world.headers("security")

    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        r = client.get(API, headers=headers, params=params)
        assert r.status_code == 200, r.text
        assert len(r.json()["items"]) <= 3
        seen += ids(r.json())
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(made, reverse=True)

    failed = client.get(API, headers=headers, params={"state": "failed"}).json()
    assert ids(failed) == [made[4], made[1]]
    assert failed["items"][0]["last_error"] == "boom"
    kind_a = client.get(API, headers=headers, params={"kind": "  test.a "}).json()
    assert ids(kind_a) == [made[5], made[3], made[1]]
    both = client.get(API, headers=headers, params={"kind": "test.a", "state": "pending"}).json()
    assert ids(both) == [made[5], made[3]]
    item = both["items"][0]
    assert item["args"] == {"n": 1}
    assert item["state"] == "pending"
    assert item["attempts"] == 0


def test_bad_filters_are_422_naming_the_field(
    client: TestClient,  # noqa: F811
    world: World,  # noqa: F811
) -> None:
    headers = world.headers("admin2")
    r = client.get(API, headers=headers, params={"state": "done"})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["field"] == "state"
    for state in JobState:
        assert state.value in error["message"]
    r = client.get(API, headers=headers, params={"kind": "   "})
    assert r.status_code == 422
    assert r.json()["error"] == {
        "code": "empty_filter",
        "field": "kind",
        "message": r.json()["error"]["message"],
    }
    r = client.get(API, headers=headers, params={"cursor": "x1"})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "invalid_cursor")


def test_a_page_is_the_same_number_of_statements_for_3_or_60_jobs(
    client: TestClient,  # noqa: F811
    world: World,  # noqa: F811
    container: Container,
) -> None:
    headers = world.headers("admin2")

    def measure(params: dict[str, Any]) -> tuple[int, int]:
        with statements(container) as seen:
            r = client.get(API, headers=headers, params=params)
        assert r.status_code == 200, r.text
        return len(seen), len(r.json()["items"])

    for params in ({"limit": 500}, {"limit": 500, "kind": "test.a", "state": "pending"}):
        measure(params)  # the token's last use is written at most once a minute
        for _ in range(3):
            add(container, "test.a")
        few, shown_few = measure(params)
        for _ in range(57):
            add(container, "test.a")
        many, shown_many = measure(params)
        assert shown_many >= shown_few + 57
        assert many == few, f"{params}: {few} statements for {shown_few} jobs, {many} for more"


def test_show_a_job_and_404_for_an_unknown_one(
    client: TestClient,  # noqa: F811
    world: World,  # noqa: F811
    container: Container,
) -> None:
    job_id = add(container, "test.a", key="a-key", args={"certificate_id": 42})
    r = client.get(f"{API}/{job_id}", headers=world.headers("admin2"))
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == job_id
    assert body["kind"] == "test.a"
    assert body["key"] == "a-key"
    assert body["args"] == {"certificate_id": 42}
    assert body["max_attempts"] == 5
    r = client.get(f"{API}/{job_id + 100}", headers=world.headers("admin2"))
    assert (r.status_code, r.json()["error"]["code"]) == (404, "job_not_found")


def test_a_failed_job_is_retried_with_its_attempts_reset_and_audited(
    client: TestClient,  # noqa: F811
    world: World,  # noqa: F811
    container: Container,
    clock: FrozenClock,
    engine: JobEngine,
    flaky: Flaky,
) -> None:
    job_id = add(container, "test.flaky", max_attempts=2)
    engine.run_due()
    clock.advance(dt.timedelta(hours=2))
    engine.run_due()
    headers = world.headers("security")
    failed = client.get(f"{API}/{job_id}", headers=headers).json()
    assert failed["state"] == "failed"
    assert failed["attempts"] == 2
    assert "ConnectionError: the peer is down" in failed["last_error"]

    clock.advance(dt.timedelta(minutes=5))
    r = client.post(f"{API}/{job_id}/retry", headers=headers)
    assert r.status_code == 200, r.text
    retried = r.json()
    assert retried["state"] == "pending"
    assert retried["attempts"] == 0
    assert retried["finished_at"] is None
    assert dt.datetime.fromisoformat(retried["run_after"]) == clock.now()
    assert retried["last_error"] == failed["last_error"]  # kept until it runs
    assert audit_actions(container)[-1] == ("job.retry", "user:security", str(job_id))

    flaky.ok = True
    assert engine.run_due() == 1
    done = client.get(f"{API}/{job_id}", headers=headers).json()
    assert (done["state"], done["attempts"], done["last_error"]) == ("succeeded", 1, None)


def test_only_failed_or_cancelled_jobs_retry_and_only_pending_ones_cancel(
    client: TestClient,  # noqa: F811
    world: World,  # noqa: F811
    container: Container,
) -> None:
    headers = world.headers("admin2")
    events = len(audit_actions(container))
    for state in (JobState.PENDING, JobState.RUNNING, JobState.SUCCEEDED):
        job_id = add(container)
        set_state(container, job_id, state)
        r = client.post(f"{API}/{job_id}/retry", headers=headers)
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "job_not_retryable"
        assert state.value in r.json()["error"]["message"]
        assert client.get(f"{API}/{job_id}", headers=headers).json()["state"] == state.value
    for state in (JobState.RUNNING, JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED):
        job_id = add(container)
        set_state(container, job_id, state)
        r = client.post(f"{API}/{job_id}/cancel", headers=headers)
        assert (r.status_code, r.json()["error"]["code"]) == (409, "job_not_cancellable")
    assert len(audit_actions(container)) == events  # refusals change nothing

    job_id = add(container, "test.cancel")
    r = client.post(f"{API}/{job_id}/cancel", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "cancelled"
    assert r.json()["finished_at"] is not None
    assert audit_actions(container)[-1] == ("job.cancel", "user:admin2", str(job_id))
    # A cancelled job is never claimed ...
    runner = JobEngine(container, JobKinds([JobKind("test.cancel", lambda c: None, "")]))
    assert runner.run_due() == 0
    # ... until it is retried.
    r = client.post(f"{API}/{job_id}/retry", headers=headers)
    assert r.json()["state"] == "pending"
    assert runner.run_due() == 1
    for verb in ("retry", "cancel"):
        r = client.post(f"{API}/999999/{verb}", headers=headers)
        assert (r.status_code, r.json()["error"]["code"]) == (404, "job_not_found")


def test_who_may_see_and_manage_jobs(
    client: TestClient,  # noqa: F811
    world: World,  # noqa: F811
    container: Container,
) -> None:
    job_id = add(container)
    set_state(container, job_id, JobState.FAILED)
    for who in ("member", "reader"):
        assert client.get(API, headers=world.headers(who)).status_code == 403
        assert client.post(f"{API}/{job_id}/retry", headers=world.headers(who)).status_code == 403
    read_token = world.add_token("admin2", scope=TokenScope.READ)
    as_reader = {"Authorization": f"Bearer {read_token}"}
    assert client.get(API, headers=as_reader).status_code == 200
    r = client.post(f"{API}/{job_id}/retry", headers=as_reader)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "token_scope_insufficient")
    assert client.get(f"{API}/{job_id}", headers=as_reader).json()["state"] == "failed"


def test_ping_enqueues_a_noop_that_a_runner_runs(
    client: TestClient,  # noqa: F811
    world: World,  # noqa: F811
    container: Container,
) -> None:
    headers = world.headers("admin2")
    r = client.post(f"{API}/ping", headers=headers)
    assert r.status_code == 202, r.text
    job = r.json()
    assert (job["kind"], job["state"], job["max_attempts"]) == ("noop", "pending", 1)
    JobEngine(container, container.job_kinds).run_due()
    ran = client.get(f"{API}/{job['id']}", headers=headers).json()
    assert ran["state"] == "succeeded"
    assert ran["worker"]


def test_kinds_lists_the_installed_kinds_and_the_schedule(
    client: TestClient,  # noqa: F811
    world: World,  # noqa: F811
    container: Container,
) -> None:
    r = client.get(f"{API}/kinds", headers=world.headers("security"))
    assert r.status_code == 200, r.text
    body = r.json()
    kinds = {k["name"]: k for k in body["kinds"]}
    assert {"noop", "maintenance.cleanup", "authorities.crl_refresh", "audit.verify_chain"} <= set(
        kinds
    )
    assert kinds["noop"]["description"]
    schedule = {s["name"]: s for s in body["schedule"]}
    now = container.clock.now()  # 2026-11-27 12:00 UTC
    crl = schedule["crl-refresh"]
    assert (crl["kind"], crl["spec"], crl["installed"]) == ("authorities.crl_refresh", "1h", True)
    assert dt.datetime.fromisoformat(crl["next_tick"]) == now + dt.timedelta(hours=1)
    verify = schedule["audit-verify"]
    assert verify["spec"] == "daily@03:00"
    assert dt.datetime.fromisoformat(verify["next_tick"]) == dt.datetime(
        2026, 11, 28, 3, 0, tzinfo=dt.UTC
    )


def test_the_job_routes_are_in_the_api_document(client: TestClient) -> None:  # noqa: F811
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    retry = paths["/api/v1/jobs/{job_id}/retry"]["post"]["responses"]
    assert {"200", "401", "403", "404", "409", "422"} <= set(retry)
    assert "202" in paths["/api/v1/jobs/ping"]["post"]["responses"]
    states = client.get("/api/v1/openapi.json").json()["components"]["schemas"]["JobState"]
    assert states["enum"] == [s.value for s in JobState]
