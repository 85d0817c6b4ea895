"""`lemur destination ...` and `lemur cert deploy|deployments|rotate|blast-radius|undeploy`
against a real `lemur serve` (its embedded runner deploys) and a real nginx reading the
files a `directory` destination writes."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography import x509

from tests.cli.test_cert_cli import ISSUING, OK, TEAM, USAGE, Lemur, lemur  # noqa: F401  (fixture)
from tests.peers.nginx import SITES, NginxPeer, nginx_peer  # noqa: F401  (fixture)

SITE = SITES[1]
CHECK_FAILED = 1


def leaf(item: dict[str, object]) -> x509.Certificate:
    return x509.load_pem_x509_certificate(str(item["pem"]).encode())


def test_a_developer_deploys_renews_into_place_and_sees_the_blast_radius(
    lemur: Lemur,  # noqa: F811
    nginx_peer: NginxPeer,  # noqa: F811
) -> None:
    reload = json.dumps(nginx_peer.reload_argv)
    created = lemur.json(
        "destination", "create", "web-cli", "--plugin", "directory",
        "-o", f"directory={nginx_peer.site_directory(SITE)}", "-o", "owner=deployer",
        "-o", f"reload_command={reload}",
        "--endpoint", f"{nginx_peer.host}:{nginx_peer.port}/{SITE}",
    )  # fmt: skip
    assert created["plugin"] == "directory"
    assert created["endpoints"][0]["sni"] == SITE
    assert "ok" in lemur.ok("destination", "check", "web-cli")
    listed = lemur.ok("destination", "list")
    assert "web-cli" in listed

    cert = lemur.json(
        "cert", "request", SITE, "--team", TEAM, "--authority", ISSUING,
        "--destination", "web-cli",
    )  # fmt: skip
    done = lemur.json("cert", "deploy", str(cert["id"]), "--wait", "60")
    assert [(d["destination_name"], d["state"]) for d in done] == [("web-cli", "deployed")]
    nginx_peer.wait_for(SITE, leaf(cert))

    new = lemur.json("cert", "request", SITE, "--team", TEAM, "--authority", ISSUING)
    plan = lemur.json("cert", "rotate", str(cert["id"]), "--to", str(new["id"]), "--dry-run")
    assert plan["dry_run"] is True
    assert [s["destination_name"] for s in plan["steps"]] == ["web-cli"]
    shown = lemur.ok("cert", "rotate", str(cert["id"]), "--to", str(new["id"]), "--dry-run")
    assert "would replace" in shown
    rotated = lemur.json("cert", "rotate", str(cert["id"]), "--to", str(new["id"]), "--wait", "60")
    assert [d["state"] for d in rotated] == ["deployed"]
    nginx_peer.wait_for(SITE, leaf(new))

    radius = lemur.json("cert", "blast-radius", str(new["id"]))
    assert radius["destinations"][0]["destination_name"] == "web-cli"
    assert radius["endpoints"] == 1
    assert lemur.json("cert", "blast-radius", str(cert["id"]))["destinations"] == []
    by_ca = lemur.json("authority", "blast-radius", ISSUING)
    assert new["id"] in by_ca["destinations"][0]["certificate_ids"]
    table = lemur.ok("cert", "deployments", str(new["id"]))
    assert "web-cli" in table
    assert "deployed" in table

    gone = lemur.json("cert", "undeploy", str(new["id"]), "--from", "web-cli")
    assert gone[0]["state"] in ("removing", "removed")


def test_bad_input_is_refused_with_what_to_type(lemur: Lemur, tmp_path: Path) -> None:  # noqa: F811
    done = lemur.run(
        "destination", "create", "bad", "--plugin", "directory",
        "-o", f"directory={tmp_path}", "--endpoint", "no-port-here",
    )  # fmt: skip
    assert done.returncode == USAGE, done.stdout + done.stderr
    assert "HOST:PORT" in done.stderr
    done = lemur.run(
        "destination", "create", "bad", "--plugin", "directory",
        "-o", f"directory={tmp_path / 'missing'}", "--json",
    )  # fmt: skip
    problem = json.loads(done.stdout)["error"]
    assert problem["field"].startswith("options.directory"), problem
    assert "bad" not in [d["name"] for d in lemur.json("destination", "list")]
    (tmp_path / "v").mkdir()
    lemur.json(
        "destination", "create", "vanishing", "--plugin", "directory",
        "-o", f"directory={tmp_path / 'v'}",
    )  # fmt: skip
    (tmp_path / "v").rmdir()
    done = lemur.run("destination", "check", "vanishing")
    assert done.returncode == CHECK_FAILED, done.stdout + done.stderr
    assert "failed" in done.stderr
    done = lemur.run("cert", "deploy", "1", "--to", "no-such-destination")
    assert done.returncode != OK
    assert "vanishing" in done.stderr  # the known destinations are listed
