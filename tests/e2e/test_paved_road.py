"""The paved road (../shared/PAVED-ROAD.md), the steps that run today: a real ``lemur serve``
with its embedded job runner, a real SMTP server, and the clock moved by the test-only clock
file, never by sleeping through days.

Steps present: Sam sets up an email channel and the rules; Dana requests a certificate and
gets one "issued" email; 13 days before expiry the team gets one digest, and not again on
the next pass; inside the renewal window Lemur renews by itself and Dana gets "renewed";
old and new certificates are one lineage; the server killed with SIGKILL right after a
clock jump changes nothing but the timing; the audit chain verifies. Absent until their
issues land: the ACME authority, the destination and deployment, the browser.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.cli.test_cli import lemur as lemur_cli
from tests.conftest import scratch_database
from tests.peers.server import RunningServer, start_server
from tests.peers.smtp import ReceivedMail, SMTPPeer

DANA = "dana@payments.example.test"
SAM = "sam@security.example.test"


@dataclass
class Lemur:
    data_dir: Path
    env: dict[str, str]
    clock_file: Path
    server: RunningServer
    tokens: dict[str, str] = field(default_factory=dict)

    def cli(self, *args: str) -> Any:
        done = lemur_cli(self.data_dir, *args, "--json", env=self.env)
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)

    def api(self, who: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.server.base_url,
            headers={"Authorization": f"Bearer {self.tokens[who]}"},
            timeout=30,
        )

    def move_clock_to(self, when: dt.datetime) -> None:
        offset = (when - dt.datetime.now(dt.UTC)).total_seconds()
        self.clock_file.write_text(f"{offset:.3f}")

    def restart(self, *, kill: bool) -> None:
        if kill:
            os.kill(self.server.pid, signal.SIGKILL)
            self.server.process.wait(10)
        else:
            self.server.stop()
        self.server = start_server(self.data_dir, env=self.env)


@pytest.fixture(params=["sqlite", "postgresql"])
def lemur(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lemur]:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    clock_file = tmp_path / "clock"
    clock_file.write_text("0")
    env = {
        "LEMUR_TEST_CLOCK_FILE": str(clock_file),
        "LEMUR_ALLOW_TEST_CLOCK": "1",
        # The events pass every 10 s instead of every minute, so the test waits less.
        "LEMUR_SCHEDULE": json.dumps({"notification-events": "10s"}),
        "LEMUR_JOB_POLL_SECONDS": "0.2",
    }
    with scratch_database("e2e") if request.param == "postgresql" else _no_database() as url:
        if url:
            env["LEMUR_DATABASE_URL"] = url
        init = lemur_cli(data_dir, "init", env=env)
        assert init.returncode == 0, init.stdout + init.stderr
        server = start_server(data_dir, env=env)
        world = Lemur(data_dir, env, clock_file, server)
        try:
            yield world
        finally:
            world.server.stop()


class _no_database:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_exc: object) -> None:
        return None


def _wait_for(what: str, check: Callable[[], bool], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def _to(peer: SMTPPeer, address: str) -> list[ReceivedMail]:
    return [m for m in peer.messages if address in m.rcpt_tos]


def _text(mail: ReceivedMail) -> str:
    return mail.part("text/plain") or ""


def test_a_certificate_is_notified_once_and_renewed_by_itself(
    lemur: Lemur, smtp_server: SMTPPeer
) -> None:
    # Cast: Sam (security), Dana (payments). The admin sets up the people.
    lemur.cli("user", "create", "sam", "--role", "security", "--email", SAM)
    lemur.cli("user", "create", "dana", "--role", "member", "--email", DANA)
    lemur.cli("team", "create", "payments")
    lemur.cli("team", "add-member", "payments", "dana")
    for who in ("sam", "dana"):
        made = lemur.cli("token", "create", "--user", who, "--name", "e2e", "--scope", "write")
        lemur.tokens[who] = made["token"]

    # 1. Sam: an email channel and the rules.
    with lemur.api("sam") as sam:
        channel = sam.post(
            "/api/v1/notifications/channels",
            json={
                "name": "mail",
                "plugin": "email",
                "options": {
                    "host": smtp_server.host,
                    "port": smtp_server.port,
                    "security": "starttls",
                    "username": smtp_server.username,
                    "password": smtp_server.password,
                    "from_address": "lemur@example.test",
                    "ca_bundle": smtp_server.ca_pem,
                },
            },
        )
        assert channel.status_code == 201, channel.text
        channel_id = channel.json()["id"]
        shown = channel.json()["options"]
        assert shown["password"] is None
        assert shown["secrets_set"] == ["password"]
        assert smtp_server.password not in channel.text
        for name, events in (("expiring", ["expiring"]), ("lifecycle", ["issued", "renewed"])):
            rule = sam.post(
                "/api/v1/notifications/rules",
                json={
                    "name": name,
                    "channel_id": channel_id,
                    "events": events,
                    "thresholds": [14],
                    "recipients": {"owners": True},
                },
            )
            assert rule.status_code == 201, rule.text

    # 2. Dana requests a certificate from the local CA, renewed 10 days before expiry.
    with lemur.api("dana") as dana:
        authorities = dana.get("/api/v1/authorities").json()
        issuing = next(a for a in authorities if a["name"] == "local-issuing-ca")
        teams = {t["name"]: t["id"] for t in dana.get("/api/v1/teams").json()}
        made = dana.post(
            "/api/v1/certificates",
            json={
                "team_id": teams["payments"],
                "authority_id": issuing["id"],
                "subject_alternative_names": {
                    "dns_names": ["shop.example.test", "www.shop.example.test"]
                },
                "validity_days": 90,
            },
        )
        assert made.status_code == 201, made.text
        cert = made.json()
        policy = dana.put(
            f"/api/v1/certificates/{cert['id']}/renewal-policy",
            json={"renewal_policy": "auto", "renew_before_days": 10},
        )
        assert policy.status_code == 200, policy.text

    # 3. One email: issued.
    _wait_for("the 'issued' email", lambda: len(_to(smtp_server, DANA)) >= 1)
    (issued,) = _to(smtp_server, DANA)
    assert "shop.example.test" in _text(issued)

    # 4. 13 days before expiry: one digest to the team, even though the server is killed
    # right after the clock moves.
    not_after = dt.datetime.fromisoformat(cert["not_after"])
    lemur.move_clock_to(not_after - dt.timedelta(days=13))
    lemur.restart(kill=True)
    _wait_for("the expiry digest", lambda: len(_to(smtp_server, DANA)) >= 2)
    digest = _to(smtp_server, DANA)[1]
    assert "shop.example.test" in _text(digest)
    assert "13 days" in _text(digest)
    assert f"/certificates/{cert['id']}" in _text(digest)
    # The next day's pass: nothing new.
    lemur.move_clock_to(not_after - dt.timedelta(days=12))
    with lemur.api("sam") as sam:
        _wait_for(
            "the next day's passes", lambda: _passes_done(sam, "notifications.expiry_pass", 2)
        )
    time.sleep(2)
    assert len(_to(smtp_server, DANA)) == 2

    # 5. Inside the renewal window Lemur renews by itself: one successor, one "renewed".
    lemur.move_clock_to(not_after - dt.timedelta(days=9))
    with lemur.api("dana") as dana:
        _wait_for(
            "the renewal",
            lambda: (
                dana.get(f"/api/v1/certificates/{cert['id']}").json()["replaced_by_id"] is not None
            ),
        )
        old = dana.get(f"/api/v1/certificates/{cert['id']}").json()
        new = dana.get(f"/api/v1/certificates/{old['replaced_by_id']}").json()
    assert sorted(new["subject_alternative_names"]["dns_names"]) == [
        "shop.example.test",
        "www.shop.example.test",
    ]
    assert new["replaces_id"] == cert["id"]
    _wait_for("the 'renewed' email", lambda: len(_to(smtp_server, DANA)) >= 3)
    time.sleep(2)
    mails = _to(smtp_server, DANA)
    assert len(mails) == 3
    assert "renewed" in str(mails[2].message["Subject"]).lower()
    assert len({m.message["Message-ID"] for m in mails}) == 3

    # 7. Everything above is visible in /metrics, in the jobs list and in the audit log,
    # whose chain verifies.
    with lemur.api("sam") as sam:
        metrics = sam.get("/metrics")
        assert metrics.status_code == 200, metrics.text
        families = {f.name: f for f in text_string_to_metric_families(metrics.text)}
        statuses = {s.labels["status"]: s.value for s in families["lemur_certificates"].samples}
        assert sum(statuses.values()) >= 2  # the renewed certificate and its successor
        sent = {
            s.labels["channel"]: s.value
            for s in families["lemur_notifications_sent"].samples
            if s.name.endswith("_total")
        }
        assert sent == {"mail": 3}
        jobs = {
            (s.labels["kind"], s.labels["state"]): s.value for s in families["lemur_jobs"].samples
        }
        assert jobs[("renewal.renew", "succeeded")] == 1
        assert jobs[("notifications.send", "failed")] == 0
        renewals = sam.get("/api/v1/jobs", params={"kind": "renewal.renew"}).json()["items"]
        assert [(j["state"], j["attempts"]) for j in renewals] == [("succeeded", 1)]
        audit = sam.get("/api/v1/audit-events", params={"target_type": "certificate"})
        trail = audit.json()["items"]
        actions = {(e["action"], e["actor"]) for e in trail}
        assert ("certificate.issue", "user:dana") in actions
        assert ("certificate.renew", "job:renewal.renew") in actions
    lemur.cli("audit", "verify")


def _passes_done(client: httpx.Client, kind: str, at_least: int) -> bool:
    jobs = client.get("/api/v1/jobs", params={"kind": kind, "state": "succeeded"}).json()
    return len(jobs["items"]) >= at_least
