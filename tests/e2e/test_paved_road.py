"""The paved road (../shared/PAVED-ROAD.md), the steps that run today: a real ``lemur serve``
with its embedded job runner, a real SMTP server, and the clock moved by the test-only clock
file, never by sleeping through days.

Steps present: Sam sets up an email channel and the rules; Dana, in the browser, types
``Shop.Example.Test.`` into "Request a certificate", sees it normalised, accepts the www
suggestion and gets one "issued" email; 13 days before expiry the team gets one digest, and
not again on the next pass; inside the renewal window Lemur renews by itself and Dana gets
"renewed"; old and new certificates are one lineage; the server killed with SIGKILL right
after a clock jump changes nothing but the timing; Sam revokes the current certificate from
its page with keyCompromise and Dana renews it from the certificate page; the jobs page and
the audit page show it all, and the audit chain verifies. The destination ``web-1`` (SFTP to
a real sshd, host key pinned, nginx reloaded over SSH, an endpoint with SNI
``shop.example.test``): the issued certificate, its automatic renewal and the replacement
after revocation are each uploaded, reloaded and verified by a TLS handshake; a reload
command that fails is rolled back (nginx keeps serving the previous certificate) and Dana
and Sam are told. Absent: the ACME authority (decision 0021: Pebble dates certificates by
the real clock while this test moves Lemur's by weeks).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from playwright.sync_api import Browser, Page, expect
from prometheus_client.parser import text_string_to_metric_families

from tests.cli.test_cli import lemur as lemur_cli
from tests.conftest import scratch_database
from tests.peers.nginx import NginxPeer, presented_chain
from tests.peers.server import RunningServer, start_server
from tests.peers.smtp import ReceivedMail, SMTPPeer
from tests.peers.sshd import SSHDPeer

DANA = "dana@payments.example.test"
SHOP = "shop.example.test"
SITE = "a.example.test"  # nginx's default server: it answers SNI shop.example.test too
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


def _browser_session(browser: Browser, lemur: Lemur, username: str, password: str) -> Page:
    """A signed-in page of ``username``, whose one-time password is replaced first."""
    page = browser.new_context(base_url=lemur.server.base_url).new_page()
    page.set_default_timeout(30_000)
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/password")
    own = f"{username}-own-password-2026"
    page.get_by_label("Current password").fill(password)
    page.get_by_label("New password").fill(own)
    page.get_by_label("Confirm password").fill(own)
    page.get_by_role("button", name="Change password").click()
    page.wait_for_url(lambda url: httpx.URL(url).path == "/")
    return page


def _certificate_id(page: Page) -> int:
    path = httpx.URL(page.url).path
    assert path.startswith("/certificates/"), page.url
    return int(path.rsplit("/", 1)[-1])


def _to(peer: SMTPPeer, address: str) -> list[ReceivedMail]:
    return [m for m in peer.messages if address in m.rcpt_tos]


def _text(mail: ReceivedMail) -> str:
    return mail.part("text/plain") or ""


def _served(nginx: NginxPeer) -> x509.Certificate:
    leaf, _ = presented_chain(nginx.host, nginx.port, SHOP)
    return leaf


def _deployment(client: httpx.Client, cert_id: int) -> dict[str, Any]:
    rows: list[dict[str, Any]] = client.get(f"/api/v1/certificates/{cert_id}/deployments").json()
    assert len(rows) == 1, rows
    return rows[0]


def _finished(client: httpx.Client, cert_id: int) -> bool:
    return _deployment(client, cert_id)["state"] in ("deployed", "failed", "rolled_back")


def _leaf(cert: dict[str, Any]) -> x509.Certificate:
    return x509.load_pem_x509_certificate(cert["pem"].encode())


def test_a_certificate_is_notified_once_and_renewed_by_itself(
    lemur: Lemur,
    smtp_server: SMTPPeer,
    browser: Browser,
    sshd_peer: SSHDPeer,
    nginx_peer: NginxPeer,
) -> None:
    # Cast: Sam (security), Dana (payments). The admin sets up the people.
    sam_password = lemur.cli("user", "create", "sam", "--role", "security", "--email", SAM)[
        "one_time_password"
    ]
    dana_password = lemur.cli("user", "create", "dana", "--role", "member", "--email", DANA)[
        "one_time_password"
    ]
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
        # A failed or rolled back deployment goes to the owners and the security team.
        rule = sam.post(
            "/api/v1/notifications/rules",
            json={
                "name": "deployments",
                "channel_id": channel_id,
                "events": ["deployment_failed"],
                "recipients": {"owners": True, "security_team": True},
            },
        )
        assert rule.status_code == 201, rule.text
        # The destination web-1: SFTP to the server, its host key pinned, nginx reloaded.
        web1 = sam.post(
            "/api/v1/destinations",
            json={
                "name": "web-1",
                "plugin": "sftp",
                "options": {
                    "host": sshd_peer.host,
                    "port": sshd_peer.port,
                    "username": sshd_peer.username,
                    "private_key": sshd_peer.client_private_key,
                    "host_key": sshd_peer.host_public_key,
                    "directory": str(nginx_peer.site_directory(SITE)),
                    "reload_command": shlex.join(nginx_peer.reload_argv),
                },
                "endpoints": [{"host": nginx_peer.host, "port": nginx_peer.port, "sni": SHOP}],
            },
        )
        assert web1.status_code == 201, web1.text
        web1_id = web1.json()["id"]
        assert web1.json()["options"]["private_key"] is None
        assert sam.post(f"/api/v1/destinations/{web1_id}/check").json()["ok"] is True

    # 2. Dana, in the browser: "Request a certificate". She types the name as it comes to
    # mind; the form normalises it and suggests the www name, she accepts and submits.
    dana_page = _browser_session(browser, lemur, "dana", dana_password)
    dana_page.get_by_role("link", name="Request").click()
    dana_page.get_by_label("Names").fill("Shop.Example.Test.")
    expect(dana_page.get_by_test_id("normalized").first).to_have_text("shop.example.test")
    dana_page.get_by_test_id("suggestion").filter(has_text="www.shop.example.test").click()
    expect(dana_page.get_by_label("Names")).to_have_value(
        re.compile(r"shop\.example\.test\.?\s+www\.shop\.example\.test", re.IGNORECASE)
    )
    # Her only team is chosen for her; the local CA's issuing authority is the default.
    expect(dana_page.get_by_label("Team")).to_have_value(re.compile(r"\d+"))
    expect(dana_page.get_by_label("Authority").locator("option:checked")).to_have_text(
        "local-issuing-ca"
    )
    dana_page.get_by_label("Validity (days)").fill("90")
    dana_page.get_by_label("web-1 (sftp)").check()
    dana_page.get_by_test_id("submit").click()
    dana_page.wait_for_url(re.compile(r"/certificates/\d+"))
    expect(dana_page.get_by_test_id("next-steps")).to_be_visible()
    cert_id = _certificate_id(dana_page)
    with lemur.api("dana") as dana:
        cert = dana.get(f"/api/v1/certificates/{cert_id}").json()
        assert sorted(cert["subject_alternative_names"]["dns_names"]) == [
            "shop.example.test",
            "www.shop.example.test",
        ]
        # Renewed 10 days before expiry (the API: the page has no renewal-policy form).
        policy = dana.put(
            f"/api/v1/certificates/{cert['id']}/renewal-policy",
            json={"renewal_policy": "auto", "renew_before_days": 10},
        )
        assert policy.status_code == 200, policy.text

    # 3. One email: issued. The deployment job uploads it to web-1, nginx reloads and serves
    # exactly this certificate (the handshake's leaf); the key's deployment is audited.
    _wait_for("the 'issued' email", lambda: len(_to(smtp_server, DANA)) >= 1)
    (issued,) = _to(smtp_server, DANA)
    assert "shop.example.test" in _text(issued)
    with lemur.api("dana") as dana:
        _wait_for("the deployment to web-1", lambda: _finished(dana, cert["id"]))
        assert _deployment(dana, cert["id"])["state"] == "deployed"
    assert _served(nginx_peer) == _leaf(cert)

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
    # ... and deployed it where the old one was: nginx serves the new certificate.
    with lemur.api("dana") as dana:
        _wait_for("the renewal's deployment", lambda: _finished(dana, new["id"]))
        assert _deployment(dana, new["id"])["state"] == "deployed"
        assert _deployment(dana, cert["id"])["state"] == "replaced"
    assert _served(nginx_peer) == _leaf(new)
    _wait_for("the 'renewed' email", lambda: len(_to(smtp_server, DANA)) >= 3)
    time.sleep(2)
    mails = _to(smtp_server, DANA)
    assert len(mails) == 3
    assert "renewed" in str(mails[2].message["Subject"]).lower()
    assert len({m.message["Message-ID"] for m in mails}) == 3

    # 5b. A bad deployment: web-1's reload command now fails. Dana's next renewal is
    # uploaded, the reload fails, the previous certificate is put back and nginx keeps
    # serving it; Dana and Sam hear of it with the reason.
    with lemur.api("sam") as sam:
        broken = sam.patch(
            f"/api/v1/destinations/{web1_id}",
            json={"options": {"reload_command": "echo 'nginx: [emerg] broken' >&2; exit 1"}},
        )
        assert broken.status_code == 200, broken.text
    with lemur.api("dana") as dana:
        bad = dana.post(f"/api/v1/certificates/{new['id']}/renew", json={}).json()
        _wait_for("the failed deployment", lambda: _finished(dana, bad["id"]))
        failed = _deployment(dana, bad["id"])
    assert failed["state"] == "rolled_back", failed
    assert "broken" in failed["last_error"]
    assert _served(nginx_peer) == _leaf(new)
    for who in (DANA, SAM):
        _wait_for(
            f"the deployment failure mail to {who}",
            lambda who=who: any(
                "deployment failed" in str(m.message["Subject"]).lower()
                for m in _to(smtp_server, who)
            ),
        )
    with lemur.api("sam") as sam:
        fixed = sam.patch(
            f"/api/v1/destinations/{web1_id}",
            json={"options": {"reload_command": shlex.join(nginx_peer.reload_argv)}},
        )
        assert fixed.status_code == 200, fixed.text

    # 6. Sam revokes the current certificate from its page, reason keyCompromise; Dana renews
    # it from the certificate page and the replacement is one more of the lineage, deployed
    # to web-1 like any other.
    current = bad["id"]
    sam_page = _browser_session(browser, lemur, "sam", sam_password)
    sam_page.goto(f"/certificates/{current}")
    sam_page.get_by_role("link", name="Revoke").click()
    sam_page.get_by_label("Reason").select_option("key_compromise")
    sam_page.once("dialog", lambda dialog: dialog.accept())
    sam_page.get_by_role("button", name="Revoke certificate").click()
    sam_page.wait_for_url(f"**/certificates/{current}")
    expect(sam_page.get_by_test_id("revocation")).to_contain_text("key compromise")
    sam_page.goto("/certificates?q=shop.example.test&status=revoked")
    expect(sam_page.get_by_role("link", name=re.compile("shop.example.test")).first).to_be_visible()

    # Weeks passed on the server's clock since step 2 (her session expired) and the server
    # restarted on a new port: Dana logs in again.
    dana_page = browser.new_context(base_url=lemur.server.base_url).new_page()
    dana_page.goto("/login")
    dana_page.get_by_label("Username").fill("dana")
    dana_page.get_by_label("Password").fill("dana-own-password-2026")
    dana_page.get_by_role("button", name="Log in").click()
    dana_page.wait_for_url(lambda url: httpx.URL(url).path == "/")
    dana_page.goto(f"/certificates/{current}")
    dana_page.get_by_role("link", name="Renew").click()
    dana_page.get_by_role("button", name="Renew certificate").click()
    dana_page.wait_for_url(re.compile(r"/certificates/\d+"))
    replacement = _certificate_id(dana_page)
    assert replacement != current
    with lemur.api("dana") as dana:
        after = dana.get(f"/api/v1/certificates/{replacement}").json()
    assert after["replaces_id"] == current
    assert after["lineage_id"] == new["lineage_id"]
    assert after["status"] == "valid"
    with lemur.api("dana") as dana:
        _wait_for("the replacement's deployment", lambda: _finished(dana, replacement))
        assert _deployment(dana, replacement)["state"] == "deployed"
        assert _deployment(dana, replacement)["previous_id"] == new["id"]
    assert _served(nginx_peer) == _leaf(after)

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
        assert sent == {"mail": len(smtp_server.messages)}
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
        assert ("certificate.revoke", "user:sam") in actions
        assert ("certificate.renew", "user:dana") in actions
        # The key went to web-1 three times (issued, renewed, replacement): each audited.
        deploys = [e for e in trail if e["action"] == "certificate.deploy"]
        assert len(deploys) >= 3
        assert all(e["details"]["key"] is True for e in deploys)
        assert ("certificate.deploy_failed", "job:deployment.deploy") in actions
    # The same, as Sam sees it in the browser: the jobs page and the audit log.
    sam_page.goto("/jobs?kind=renewal.renew")
    expect(sam_page.get_by_test_id("jobs")).to_contain_text("succeeded")
    sam_page.goto("/audit?action=certificate.revoke")
    expect(sam_page.get_by_test_id("audit-events")).to_contain_text("user:sam")
    expect(sam_page.get_by_test_id("chain-status")).to_contain_text("Verified")
    lemur.cli("audit", "verify")


def _passes_done(client: httpx.Client, kind: str, at_least: int) -> bool:
    jobs = client.get("/api/v1/jobs", params={"kind": kind, "state": "succeeded"}).json()
    return len(jobs["items"]) >= at_least
