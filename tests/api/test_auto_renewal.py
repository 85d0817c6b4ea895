"""Automatic renewal: the hourly pass renews certificates inside their renewal window once
(even run twice, on two workers, or after a worker died), tells the owners of those Lemur
will not renew itself once, follows the policy (authority, team, certificate) and the
window overrides, and records failures."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, update

from lemur.authorities.models import Authority
from lemur.authz import cli_principal
from lemur.certificates.models import PrivateKey
from lemur.certificates.requests import NewCertificate
from lemur.clock import FrozenClock
from lemur.container import Container
from lemur.crypto.keys import KeySpec
from lemur.jobs.engine import JobEngine
from lemur.jobs.models import JobState
from lemur.jobs.outbox import enqueue
from lemur.jobs.registry import JobKinds
from lemur.services import Services
from tests.api.certs_helpers import make_csr
from tests.api.conftest import World
from tests.api.inventory_helpers import issue, issuing_authority_id, statements
from tests.api.renewal_helpers import (
    DAY,
    certificate_count,
    details,
    drain,
    events,
    jobs,
    run_pass,
    start_pass,
    successors,
)
from tests.api.test_renewal import detail, public_key_der

URL = "/api/v1/certificates"


def test_a_certificate_entering_its_window_is_renewed_once(
    container: Container, clock: FrozenClock, client: TestClient, world: World
) -> None:
    own = world.team_ids["own"]
    old_id = issue(
        container,
        team_id=own,
        common_name="auto.example.com",
        dns_names=["auto.example.com", "www.auto.example.com"],
        key_spec=KeySpec.RSA_2048,
        validity_days=30,  # window: the last 10 days
    )
    clock.advance(19 * DAY)
    run_pass(container)
    assert successors(container, old_id) == []
    assert jobs(container, "renewal.renew") == []

    clock.advance(2 * DAY)  # 9 days left: inside the window
    run_pass(container)
    [new_id] = successors(container, old_id)
    old, new = detail(client, world, old_id), detail(client, world, new_id)
    assert old["replaced_by_id"] == new_id
    assert new["replaces_id"] == old_id
    assert new["lineage_id"] == old["lineage_id"] == old_id
    assert sorted(new["names"]) == sorted(old["names"])
    assert new["common_name"] == "auto.example.com"
    assert new["team"] == old["team"] == {"id": own, "name": "own"}
    assert new["authority"] == old["authority"]
    assert (new["key_type"], new["key_size"], new["key_spec"]) == ("RSA", 2048, "rsa-2048")
    assert new["has_private_key"] is True
    assert public_key_der(container, new_id) != public_key_der(container, old_id)
    assert new["history"][0]["action"] == "certificate.renew"
    assert new["history"][0]["actor"] == "job:renewal.renew"
    [job] = jobs(container, "renewal.renew")
    assert (job.state, job.unique_key) == (JobState.SUCCEEDED.value, f"renewal.renew:{old_id}")

    # The next passes find nothing more to do: one successor, one job.
    clock.advance(dt.timedelta(hours=1))
    run_pass(container)
    clock.advance(dt.timedelta(hours=1))
    run_pass(container)
    assert successors(container, old_id) == [new_id]
    assert successors(container, new_id) == []
    assert len(jobs(container, "renewal.renew")) == 1
    assert all(j.state == JobState.SUCCEEDED.value for j in jobs(container, "renewal.pass"))


def test_the_same_pass_twice_queues_one_renewal(
    container: Container, clock: FrozenClock, world: World
) -> None:
    old_id = issue(container, team_id=world.team_ids["own"], common_name="twice.example.com")
    clock.advance(80 * DAY)  # 90-day certificate, 10 days left
    start_pass(container, "tick-1")
    start_pass(container, "tick-2")
    drain(JobEngine(container, container.job_kinds))
    assert len(successors(container, old_id)) == 1
    assert len(jobs(container, "renewal.renew")) == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_engines_at_once_make_one_successor(
    container: Container, clock: FrozenClock, world: World
) -> None:
    """Two renew jobs for one certificate (a pass's and a hand-queued one) on two engines at
    the same moment: the database lets one successor link in; the other job sees
    already_replaced and succeeds without a second certificate."""
    old_id = issue(container, team_id=world.team_ids["own"], common_name="race.example.com")
    clock.advance(80 * DAY)
    now = clock.now()
    with container.db.write() as session:
        for key in ("race-a", "race-b"):
            enqueue(session, "renewal.renew", {"certificate_id": old_id}, now=now, key=key)
        session.commit()
    engines = [JobEngine(container, container.job_kinds, worker=f"w{i}") for i in range(2)]
    claimed = [engines[0].claim(1), engines[1].claim(1)]
    assert all(len(c) == 1 for c in claimed)
    barrier = threading.Barrier(2)
    outcomes: list[JobState] = []

    def run(engine: JobEngine, job_list: list) -> None:  # type: ignore[type-arg]
        barrier.wait()
        outcome = engine.execute(job_list[0])
        engine.record([outcome])
        outcomes.append(outcome.state)

    threads = [
        threading.Thread(target=run, args=(e, c)) for e, c in zip(engines, claimed, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert outcomes == [JobState.SUCCEEDED, JobState.SUCCEEDED]
    assert len(successors(container, old_id)) == 1
    assert len(events(container, "certificate.renew")) == 1


def test_a_rerun_after_the_worker_died_past_the_commit_does_nothing(
    container: Container, clock: FrozenClock, world: World
) -> None:
    old_id = issue(container, team_id=world.team_ids["own"], common_name="died.example.com")
    clock.advance(80 * DAY)
    engine = JobEngine(container, container.job_kinds)
    start_pass(container)
    engine.run_due()  # the pass: queues the renewal
    [claimed] = engine.claim(10)
    assert claimed.kind == "renewal.renew"
    # The worker renewed (committed) and died before recording the job's outcome.
    with Services(container, cli_principal()) as services:
        services.issuance().renew(old_id)
    count = certificate_count(container)
    clock.advance(dt.timedelta(hours=1))
    assert engine.reap() == 1
    drain(engine)
    [job] = jobs(container, "renewal.renew")
    assert (job.state, job.attempts) == (JobState.SUCCEEDED.value, 2)
    assert len(successors(container, old_id)) == 1
    assert certificate_count(container) == count


def test_a_csr_certificate_is_not_renewed_and_its_owners_hear_once(
    container: Container, clock: FrozenClock, world: World
) -> None:
    with Services(container, cli_principal()) as services:
        csr_id = (
            services.issuance()
            .issue(
                NewCertificate(
                    team_id=world.team_ids["own"],
                    authority_id=issuing_authority_id(container),
                    csr=make_csr().encode(),
                )
            )
            .certificate.id
        )
    clock.advance(80 * DAY)
    run_pass(container)
    clock.advance(dt.timedelta(hours=1))
    run_pass(container)
    assert successors(container, csr_id) == []
    assert jobs(container, "renewal.renew") == []
    [notice] = events(container, "certificate.renewal_manual", csr_id)
    assert notice.actor == "job:renewal.pass"
    assert notice.target_type == "certificate"
    assert details(notice)["reason"] == "csr"
    assert details(notice)["team"] == "own"


def put_policy(client: TestClient, world: World, path: str, body: dict[str, object]) -> None:
    r = client.put(path, json=body, headers=world.headers("admin2"))
    assert r.status_code == 200, r.text


def test_notify_on_the_team_overrides_auto_on_the_authority(
    container: Container, clock: FrozenClock, client: TestClient, world: World
) -> None:
    own = world.team_ids["own"]
    put_policy(client, world, f"/api/v1/teams/{own}/renewal-policy", {"renewal_policy": "notify"})
    r = client.get(f"/api/v1/teams/{own}", headers=world.headers("member"))
    assert (r.json()["renewal_policy"], r.json()["renew_before_days"]) == ("notify", None)
    cert_id = issue(container, team_id=own, common_name="team-notify.example.com")
    clock.advance(80 * DAY)
    run_pass(container)
    assert successors(container, cert_id) == []
    [notice] = events(container, "certificate.renewal_manual", cert_id)
    assert details(notice)["reason"] == "policy"


def test_auto_on_the_certificate_beats_notify_on_the_team(
    container: Container, clock: FrozenClock, client: TestClient, world: World
) -> None:
    own = world.team_ids["own"]
    put_policy(client, world, f"/api/v1/teams/{own}/renewal-policy", {"renewal_policy": "notify"})
    cert_id = issue(container, team_id=own, common_name="cert-auto.example.com")
    r = client.put(
        f"{URL}/{cert_id}/renewal-policy",
        json={"renewal_policy": "auto"},
        headers=world.headers("member"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["effective"]["policy"] == "auto"
    assert r.json()["effective"]["policy_source"] == "certificate"
    assert detail(client, world, cert_id)["renewal_policy"] == "auto"
    clock.advance(80 * DAY)
    run_pass(container)
    assert len(successors(container, cert_id)) == 1
    assert events(container, "certificate.renewal_manual") == []


def test_window_overrides_move_the_start_of_renewal(
    container: Container, clock: FrozenClock, client: TestClient, world: World
) -> None:
    own, other = world.team_ids["own"], world.team_ids["other"]
    early = issue(container, team_id=own, common_name="early.example.com", validity_days=30)
    late = issue(container, team_id=other, common_name="late.example.com", validity_days=30)
    plain = issue(container, team_id=own, common_name="plain.example.com", validity_days=30)
    put_policy(client, world, f"{URL}/{early}/renewal-policy", {"renew_before_days": 20})
    put_policy(client, world, f"/api/v1/teams/{other}/renewal-policy", {"renew_before_days": 2})
    clock.advance(11 * DAY)  # 19 days left: only the 20-day window is open
    run_pass(container)
    assert len(successors(container, early)) == 1
    assert successors(container, late) == successors(container, plain) == []
    clock.advance(10 * DAY)  # 9 days left: the standard window (10 days) opens
    run_pass(container)
    assert len(successors(container, plain)) == 1
    assert successors(container, late) == []
    clock.advance(dt.timedelta(days=7, hours=1))  # under 2 days left
    run_pass(container)
    assert len(successors(container, late)) == 1


def test_a_renewal_the_authority_can_no_longer_sign_fails_and_says_so(
    container: Container, clock: FrozenClock, world: World
) -> None:
    cert_id = issue(container, team_id=world.team_ids["own"], common_name="dead.example.com")
    with container.db.write() as session:
        session.execute(
            update(Authority)
            .where(Authority.id == issuing_authority_id(container))
            .values(active=False)
        )
        session.commit()
    clock.advance(80 * DAY)
    run_pass(container)
    [job] = jobs(container, "renewal.renew")
    assert job.state == JobState.FAILED.value
    assert "authority_inactive" in (job.last_error or "")
    [failure] = events(container, "certificate.renewal_failed", cert_id)
    assert failure.outcome == "failure"
    assert failure.actor == "job:renewal.renew"
    assert details(failure)["final"] is True
    assert details(failure)["attempt"] == 1
    assert "authority_inactive" in details(failure)["error"]
    assert len(events(container, "job.fail")) == 1
    assert successors(container, cert_id) == []
    # The next pass queues no second job for it.
    clock.advance(dt.timedelta(hours=1))
    run_pass(container)
    assert len(jobs(container, "renewal.renew")) == 1


def test_a_transient_failure_is_retried_and_recorded_on_every_attempt(
    container: Container, clock: FrozenClock, world: World
) -> None:
    """The CA's key gone from the store (and from the in-process cache): an error that is
    not the request's fault, so it is retried with backoff; every attempt is recorded, the
    last one as final."""
    cert_id = issue(container, team_id=world.team_ids["own"], common_name="flaky.example.com")
    clock.advance(80 * DAY)
    with container.db.read() as session:
        authority = session.get(Authority, issuing_authority_id(container))
        assert authority is not None
        authority_cert = authority.certificate_id
    with container.db.write() as session:
        session.execute(delete(PrivateKey).where(PrivateKey.certificate_id == authority_cert))
        session.commit()
    container.signing_keys.__init__()  # type: ignore[misc]
    engine = JobEngine(container, container.job_kinds)
    start_pass(container)
    for _ in range(5):
        drain(engine)
        clock.advance(dt.timedelta(hours=2))  # past any backoff
    [job] = jobs(container, "renewal.renew")
    assert (job.state, job.attempts) == (JobState.FAILED.value, 5)
    failures = events(container, "certificate.renewal_failed", cert_id)
    assert [details(f)["attempt"] for f in failures] == [1, 2, 3, 4, 5]
    assert [details(f)["final"] for f in failures] == [False, False, False, False, True]
    assert successors(container, cert_id) == []


def test_the_preview_shows_what_the_pass_would_renew_and_notify(
    container: Container, clock: FrozenClock, client: TestClient, world: World
) -> None:
    own, other = world.team_ids["own"], world.team_ids["other"]
    auto = issue(container, team_id=own, common_name="preview-auto.example.com")
    notify = issue(container, team_id=other, common_name="preview-notify.example.com")
    later = issue(container, team_id=own, common_name="later.example.com", validity_days=200)
    put_policy(client, world, f"{URL}/{notify}/renewal-policy", {"renewal_policy": "notify"})
    clock.advance(25 * DAY)  # tokens last 30 days: the 90-day certificates get their window
    put_policy(client, world, f"{URL}/{auto}/renewal-policy", {"renew_before_days": 66})
    before = certificate_count(container)

    r = client.get("/api/v1/renewals/preview", headers=world.headers("security"))
    assert r.status_code == 200, r.text
    items = {i["certificate_id"]: i for i in r.json()["items"]}
    assert set(items) == {auto}
    # PUT sets both fields (what it leaves out goes back to inherit).
    put_policy(
        client,
        world,
        f"{URL}/{notify}/renewal-policy",
        {"renewal_policy": "notify", "renew_before_days": 66},
    )
    r = client.get("/api/v1/renewals/preview", headers=world.headers("security"))
    items = {i["certificate_id"]: i for i in r.json()["items"]}
    assert set(items) == {auto, notify}
    assert later not in items
    assert items[auto]["action"] == "renew"
    assert items[auto]["reason"] is None
    assert items[auto]["window_source"] == "certificate"
    assert items[auto]["names"] == ["preview-auto.example.com"]
    assert items[auto]["team"] == {"id": own, "name": "own"}
    assert items[auto]["job_state"] is None
    assert items[notify]["action"] == "notify"
    assert items[notify]["reason"] == "policy"
    assert items[notify]["owners_notified"] is False
    # A dry run changes nothing.
    assert certificate_count(container) == before
    assert jobs(container, "renewal.renew") == []

    # Members see their own team's; pages follow the cursor.
    r = client.get("/api/v1/renewals/preview", headers=world.headers("member"))
    assert [i["certificate_id"] for i in r.json()["items"]] == [auto]
    first = client.get(
        "/api/v1/renewals/preview", params={"limit": 1}, headers=world.headers("admin2")
    ).json()
    assert first["next_cursor"]
    second = client.get(
        "/api/v1/renewals/preview",
        params={"limit": 1, "cursor": first["next_cursor"]},
        headers=world.headers("admin2"),
    ).json()
    assert {first["items"][0]["certificate_id"], second["items"][0]["certificate_id"]} == {
        auto,
        notify,
    }
    assert second["next_cursor"] is None

    # After the pass: the renewal's job and the owners' notice show.
    run_pass(container)
    r = client.get("/api/v1/renewals/preview", headers=world.headers("admin2"))
    items = {i["certificate_id"]: i for i in r.json()["items"]}
    assert set(items) == {notify}
    assert items[notify]["owners_notified"] is True


@pytest.mark.parametrize(
    ("path", "body", "field", "code"),
    [
        ("cert", {"renewal_policy": "sometimes"}, "renewal_policy", None),
        ("cert", {"renew_before_days": 0}, "renew_before_days", None),
        ("cert", {"renew_before_days": 366}, "renew_before_days", None),
        ("cert", {"renewal_policy": "auto", "extra": 1}, "extra", None),
        ("team", {"renew_before_days": "soon"}, "renew_before_days", None),
        ("authority", {"renewal_policy": None}, "renewal_policy", None),
        ("authority", {}, "renewal_policy", None),
        ("preview", None, "cursor", "invalid_cursor"),
    ],
)
def test_bad_renewal_settings_are_422_and_change_nothing(
    container: Container,
    client: TestClient,
    world: World,
    path: str,
    body: dict[str, object] | None,
    field: str,
    code: str | None,
) -> None:
    cert_id = issue(container, team_id=world.team_ids["own"], common_name="bad.example.com")
    urls = {
        "cert": f"{URL}/{cert_id}/renewal-policy",
        "team": f"/api/v1/teams/{world.team_ids['own']}/renewal-policy",
        "authority": f"/api/v1/authorities/{issuing_authority_id(container)}/renewal-policy",
    }
    before = len(events(container, "certificate.renewal_policy"))
    if path == "preview":
        r = client.get(
            "/api/v1/renewals/preview",
            params={"cursor": "not-a-cursor"},
            headers=world.headers("admin2"),
        )
    else:
        r = client.put(urls[path], json=body, headers=world.headers("admin2"))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field
    if code:
        assert r.json()["error"]["code"] == code
    assert len(events(container, "certificate.renewal_policy")) == before
    assert detail(client, world, cert_id)["renewal_policy"] is None


def test_policy_settings_show_in_details_and_clear(
    container: Container, client: TestClient, world: World
) -> None:
    admin = world.headers("admin2")
    ca = issuing_authority_id(container)
    r = client.put(
        f"/api/v1/authorities/{ca}/renewal-policy",
        json={"renewal_policy": "notify", "renew_before_days": 21},
        headers=admin,
    )
    assert r.json() == {"renewal_policy": "notify", "renew_before_days": 21}
    shown = client.get(f"/api/v1/authorities/{ca}", headers=admin).json()
    assert (shown["renewal_policy"], shown["renew_before_days"]) == ("notify", 21)
    created = client.post(
        "/api/v1/authorities",
        json={
            "name": "notify-ca",
            "subject": {"common_name": "Notify CA"},
            "renewal_policy": "notify",
        },
        headers=admin,
    ).json()
    assert created["renewal_policy"] == "notify"
    cert_id = issue(container, team_id=world.team_ids["own"], common_name="clear.example.com")
    put_policy(client, world, f"{URL}/{cert_id}/renewal-policy", {"renewal_policy": "auto"})
    r = client.delete(f"{URL}/{cert_id}/renewal-policy", headers=world.headers("member"))
    assert r.status_code == 200, r.text
    assert r.json()["renewal_policy"] is None
    assert r.json()["effective"]["policy"] == "notify"
    assert r.json()["effective"]["policy_source"] == "authority"
    assert r.json()["effective"]["renew_before_days"] == 21
    assert detail(client, world, cert_id)["renewal_policy"] is None
    [_change, cleared] = events(container, "certificate.renewal_policy", cert_id)
    assert details(cleared) == {"renewal_policy": None, "renew_before_days": None}
    assert cleared.actor == "user:member"


def _pass_statements(container: Container) -> int:
    """Statements one renewal pass executes (the pass alone: its renewals are not run)."""
    from lemur.renewal.jobs import KINDS

    pass_only = JobKinds([k for k in KINDS if k.name == "renewal.pass"])
    start_pass(container)
    db = container.db
    with statements(db.write_engine) as written, statements(db.read_engine) as read:
        assert JobEngine(container, pass_only).run_due() == 1
    return len(written) + (len(read) if db.read_engine is not db.write_engine else 0)


def test_a_pass_costs_the_same_statements_for_few_or_many_due_certificates(
    container: Container, clock: FrozenClock, client: TestClient, world: World
) -> None:
    own, other = world.team_ids["own"], world.team_ids["other"]
    put_policy(client, world, f"/api/v1/teams/{other}/renewal-policy", {"renewal_policy": "notify"})
    for n in range(2):
        issue(container, team_id=own, common_name=f"few-{n}.example.com", validity_days=30)
        issue(container, team_id=other, common_name=f"few-n{n}.example.com", validity_days=30)
    clock.advance(21 * DAY)
    few = _pass_statements(container)
    assert len(jobs(container, "renewal.renew")) == 2
    for n in range(8):
        issue(container, team_id=own, common_name=f"many-{n}.example.com", validity_days=30)
        issue(container, team_id=other, common_name=f"many-n{n}.example.com", validity_days=30)
    clock.advance(21 * DAY)
    many = _pass_statements(container)
    assert len(jobs(container, "renewal.renew")) == 10
    assert len(events(container, "certificate.renewal_manual")) == 10
    assert many == few
