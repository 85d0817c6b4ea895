"""`lemur cert renewals` against a real `lemur serve` whose clock the test moves: the dry run
lists what the next pass would renew and what it would only notify (with the reason), as a
table and as JSON, and changes nothing; --run queues the pass."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.certs_helpers import make_csr
from tests.cli.test_cert_cli import ISSUING, TEAM, USAGE, Lemur, admin_cli
from tests.peers.server import start_server

DAY = 86400


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lemur, Path]]:
    work = tmp_path_factory.mktemp("renewals-cli")
    data_dir = work / "data"
    data_dir.mkdir()
    clock_file = work / "clock-offset"
    clock_file.write_text("0")
    server = start_server(
        data_dir,
        env={
            "LEMUR_TEST_CLOCK_FILE": str(clock_file),
            "LEMUR_ALLOW_TEST_CLOCK": "1",
            # No runner: the test looks at what a pass would do, and at the queued pass.
            "LEMUR_RUN_JOBS": "false",
        },
    )
    try:
        created = json.loads(
            admin_cli(
                data_dir, "token", "create", "--user", "admin", "--name", "t",
                "--scope", "write", "--json",
            )
        )  # fmt: skip
        admin_cli(data_dir, "team", "create", TEAM)
        yield Lemur(server, created["token"], work), clock_file
    finally:
        server.stop()


def _issue(lemur: Lemur, body: dict[str, object]) -> int:
    with httpx.Client(
        base_url=lemur.server.base_url, headers={"Authorization": f"Bearer {lemur.token}"}
    ) as api:
        team = next(t for t in api.get("/api/v1/teams").json() if t["name"] == TEAM)
        ca = next(a for a in api.get("/api/v1/authorities").json() if a["name"] == ISSUING)
        r = api.post(
            "/api/v1/certificates",
            json={"team_id": team["id"], "authority_id": ca["id"], "validity_days": 30, **body},
        )
    assert r.status_code == 201, r.text
    cert_id: int = r.json()["id"]
    return cert_id


def _jobs(lemur: Lemur, kind: str) -> list[str]:
    with sqlite3.connect(lemur.server.data_dir / "lemur.db") as conn:
        return [s for (s,) in conn.execute("SELECT state FROM jobs WHERE kind = ?", (kind,))]


def test_dry_run_lists_renew_and_notify_then_run_queues_the_pass(
    served: tuple[Lemur, Path],
) -> None:
    lemur, clock_file = served
    auto = _issue(lemur, {"subject_alternative_names": {"dns_names": ["cli-auto.example.com"]}})
    from_csr = _issue(
        lemur, {"csr": make_csr(common_name=None, dns_names=("cli-csr.example.com",))}
    )
    assert lemur.json("cert", "renewals", "--dry-run")["items"] == []

    clock_file.write_text(str(21 * DAY))  # 9 days left: inside the 10-day window
    before = lemur.count("certificates"), lemur.count("audit_events")
    page = lemur.json("cert", "renewals", "--dry-run")
    items = {i["certificate_id"]: i for i in page["items"]}
    assert set(items) == {auto, from_csr}
    assert (items[auto]["action"], items[auto]["reason"]) == ("renew", None)
    assert (items[from_csr]["action"], items[from_csr]["reason"]) == ("notify", "csr")
    assert items[auto]["names"] == ["cli-auto.example.com"]

    text = lemur.ok("cert", "renewals")
    assert "cli-auto.example.com" in text
    assert "cli-csr.example.com" in text
    assert "issued from a CSR" in text
    assert "1 to renew, 1 to notify (dry run: nothing was changed)" in text
    assert (lemur.count("certificates"), lemur.count("audit_events")) == before
    assert _jobs(lemur, "renewal.pass") == []

    queued = lemur.json("cert", "renewals", "--run")
    assert queued["queued"] is True
    assert isinstance(queued["job_id"], int)
    assert _jobs(lemur, "renewal.pass") == ["pending"]
    done = lemur.run("cert", "renewals", "--run", "--dry-run")
    assert done.returncode == USAGE, done.stdout + done.stderr
