"""The documented CLI path to an ACME CA, against a real `lemur serve` (its embedded runner
polls the order) and the real Pebble + BIND9: `lemur authority create --plugin acme`,
`lemur cert request` waiting for the pending request, `lemur request list/show`."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography import x509

from tests.cli.test_cert_cli import TEAM, Lemur, lemur  # noqa: F401  (fixture)
from tests.issuers.acme.conftest import unique
from tests.peers.pebble import PebblePeer


def test_connect_request_and_follow_an_acme_ca_from_the_cli(
    lemur: Lemur,  # noqa: F811
    pebble: PebblePeer,
    tmp_path: Path,
) -> None:
    bundle = tmp_path / "pebble-tls.pem"
    bundle.write_text(pebble.ca_bundle_pem)
    name = unique("acme-cli")
    created = lemur.json(
        "authority", "create", name, "--plugin", "acme",
        "--option", f"directory_url={pebble.directory_url}",
        "--option", f"ca_bundle=@{bundle}",
        "--option", "contact_email=pki@example.org",
        "--option", "agree_to_terms=true",
        "--option", "challenge=dns-01",
        "--option", "dns_server=127.0.0.1",
        "--option", f"dns_port={pebble.dns_port}",
        "--option", f"dns_zone={pebble.zone}",
        "--option", f"tsig_key_name={pebble.tsig_name}",
        "--option", f"tsig_secret={pebble.tsig_secret}",
    )  # fmt: skip
    assert created["plugin"] == "acme"
    assert pebble.tsig_secret not in json.dumps(created)
    shown = lemur.ok("authority", "show", name)
    assert "held by the CA, reached through acme" in shown
    assert pebble.tsig_secret not in shown
    assert "secrets set" in shown
    checked = lemur.ok("authority", "check", name)
    assert checked.startswith("ok: ")

    host = unique("cli") + "." + pebble.zone
    item = lemur.json("cert", "request", host, "--team", TEAM, "--authority", name, "--wait", "60")
    certificate = x509.load_pem_x509_certificate(item["pem"].encode())
    sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [host]
    assert "Pebble" in certificate.issuer.rfc4514_string()

    listed = lemur.json("request", "list")
    [mine] = [r for r in listed["items"] if r["names"] == [host]]
    assert mine["state"] == "issued"
    assert mine["certificate_id"] == item["id"]
    shown = lemur.ok("request", "show", str(mine["id"]))
    assert "issued" in shown
    assert f"lemur cert show {item['id']}" in shown

    # --wait 0 returns at once with the pending request.
    pending = lemur.json(
        "cert", "request", unique("later") + "." + pebble.zone, "--team", TEAM,
        "--authority", name, "--wait", "0",
    )  # fmt: skip
    assert pending["state"] == "pending"
    assert pending["location"] == f"/api/v1/requests/{pending['id']}"
    waited = lemur.json("request", "wait", str(pending["id"]), "--timeout", "60")
    assert waited["state"] == "issued"
    assert waited["certificate_id"] is not None
