"""`lemur cert stats` against a real `lemur serve` (SQLite and PostgreSQL): the figures after
issuing and revoking through the API, as JSON and as the tables people read; a member's
scope; --all refused to a member."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from tests.peers.server import RunningServer, clean_env, lemur_command

DENIED = 6


def run(data_dir: Path, env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*lemur_command(), *args],
        env=clean_env(data_dir, {"COLUMNS": "120", **env}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ok(data_dir: Path, env: Mapping[str, str], *args: str) -> str:
    done = run(data_dir, env, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def issue(api: httpx.Client, team_id: int, name: str, validity_days: int) -> int:
    ca = next(a for a in api.get("/api/v1/authorities").json() if a["name"] == "local-issuing-ca")
    response = api.post(
        "/api/v1/certificates",
        json={
            "team_id": team_id,
            "authority_id": ca["id"],
            "common_name": name,
            "validity_days": validity_days,
        },
    )
    assert response.status_code == 201, response.text
    cert_id: int = response.json()["id"]
    return cert_id


def test_cert_stats_shows_the_figures_of_the_callers_scope(
    serve: Callable[..., RunningServer], backend: str | None, tmp_path: Path
) -> None:
    server = serve(LEMUR_STATISTICS_MAX_AGE_SECONDS="0")
    db = {"LEMUR_DATABASE_URL": backend} if backend else {}
    data = server.data_dir
    payments = json.loads(ok(data, db, "team", "create", "payments", "--json"))["id"]
    web = json.loads(ok(data, db, "team", "create", "web", "--json"))["id"]
    ok(data, db, "user", "create", "dev", "--role", "member", "--json")
    ok(data, db, "team", "add-member", "payments", "dev")

    def token(user: str) -> str:
        created = ok(data, db, "token", "create", "--user", user, "--name", "t", "--scope", "write", "--json")  # fmt: skip
        value: str = json.loads(created)["token"]
        return value

    admin, dev = token("admin"), token("dev")
    with httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {admin}"}, timeout=30
    ) as api:
        soon = issue(api, payments, "soon.example.com", 5)
        issue(api, payments, "later.example.com", 60)
        revoked = issue(api, payments, "gone.example.com", 200)
        issue(api, web, "web.example.com", 20)
        r = api.post(f"/api/v1/certificates/{revoked}/revoke", json={"reason": "superseded"})
        assert r.status_code == 200, r.text

    client = {"LEMUR_URL": server.base_url}
    as_dev: dict[str, Any] = json.loads(
        ok(tmp_path, {**client, "LEMUR_TOKEN": dev}, "cert", "stats", "--json")
    )
    assert as_dev["scope"] == "mine"
    assert as_dev["total"] == 3
    assert {w["days"]: w["count"] for w in as_dev["expiring"]} == {7: 1, 30: 1, 90: 2}
    assert as_dev["revoked"]["count"] == 1
    assert as_dev["revoked"]["recent"][0]["common_name"] == "gone.example.com"
    assert [(g["name"], g["count"]) for g in as_dev["by_team"]["top"]] == [("payments", 3)]

    everything = json.loads(
        ok(tmp_path, {**client, "LEMUR_TOKEN": admin}, "cert", "stats", "--all", "--json")
    )
    assert everything["scope"] == "all"
    assert everything["total"] == 6  # and the two CA certificates of `lemur init`
    assert [(g["name"], g["count"]) for g in everything["by_team"]["top"]] == [
        ("payments", 3),
        (None, 2),
        ("web", 1),
    ]

    # The tables people read: the figures, and the names as given.
    text = ok(tmp_path, {**client, "LEMUR_TOKEN": dev}, "cert", "stats")
    assert "Figures of the certificates of your teams" in text
    assert "3 certificates" in text
    lines = {" ".join(line.split()) for line in text.splitlines()}
    assert "7 days 1" in lines
    assert "90 days 2" in lines
    assert "revoked 1" in lines
    assert "payments 3" in lines
    assert any(line.startswith(f"{soon} soon.example.com payments") for line in lines), text
    assert "Revoked: 1" in text

    # A member may not ask for every team's figures: exit 6 and the API's reason.
    refused = run(tmp_path, {**client, "LEMUR_TOKEN": dev}, "cert", "stats", "--all")
    assert refused.returncode == DENIED, refused.stdout + refused.stderr
    assert "scope=mine" in refused.stderr
