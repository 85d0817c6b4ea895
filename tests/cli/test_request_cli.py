"""`lemur cert request` with subject fields and usages, `lemur cert check-names`, and the
authorities' allowances in `lemur authority create/show`, against a real `lemur serve`."""

from __future__ import annotations

import json

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.cli.test_cert_cli import INVALID, ISSUING, OK, TEAM, Lemur, lemur  # noqa: F401  (fixture)

CHECK_FAILED = 1


def test_request_with_subject_fields_and_usages(lemur: Lemur) -> None:  # noqa: F811
    item = lemur.json(
        "cert", "request", "pay.example.com", "--team", TEAM, "--authority", ISSUING,
        "--organization", "Example Payments", "--org-unit", "Checkout", "--country", "de",
        "--state", "Berlin", "--locality", "Berlin", "--key-usage", "digital_signature",
        "--key-usage", "key_agreement", "--eku", "server_auth", "--eku", "client_auth",
    )  # fmt: skip
    cert = x509.load_pem_x509_certificate(item["pem"].encode())
    subject = {a.oid: a.value for a in cert.subject}
    assert subject[NameOID.ORGANIZATION_NAME] == "Example Payments"
    assert subject[NameOID.ORGANIZATIONAL_UNIT_NAME] == "Checkout"
    assert subject[NameOID.COUNTRY_NAME] == "DE"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (ku.digital_signature, ku.key_agreement, ku.key_encipherment) == (True, True, False)


def test_what_an_authority_does_not_allow_is_exit_3_naming_the_field(lemur: Lemur) -> None:  # noqa: F811
    created = lemur.json(
        "authority", "create", "cli-tls-only", "--cn", "TLS Only CA",
        "--allow-subject", "organization", "--allow-eku", "server_auth",
    )  # fmt: skip
    assert created["allowed_subject_fields"] == ["organization"]
    assert created["allowed_extended_key_usages"] == ["server_auth"]
    shown = lemur.ok("authority", "show", "cli-tls-only")
    assert "subject fields" in shown
    assert "organization" in shown
    assert "server_auth" in shown
    done = lemur.run(
        "cert", "request", "tls.example.com", "--team", TEAM, "--authority", "cli-tls-only",
        "--eku", "server_auth", "--eku", "code_signing", "--json",
    )  # fmt: skip
    assert done.returncode == INVALID, done.stdout + done.stderr
    problem = json.loads(done.stdout)["error"]
    assert (problem["code"], problem["field"]) == (
        "extended_key_usage_not_allowed",
        "extended_key_usage[1]",
    )
    assert "server_auth" in problem["message"]
    done = lemur.run(
        "cert", "request", "tls.example.com", "--team", TEAM, "--authority", "cli-tls-only",
        "--org-unit", "Ops",
    )  # fmt: skip
    assert done.returncode == INVALID
    assert "organizational unit" in done.stderr


def test_check_names(lemur: Lemur) -> None:  # noqa: F811
    answer = lemur.json(
        "cert", "check-names", "Shop.Example.Test.", "bücher.example.test",
        "--authority", ISSUING, "--team", TEAM,
    )  # fmt: skip
    shop, idn = answer["names"]
    assert shop["normalized"] == "shop.example.test"
    assert [s["name"] for s in shop["suggestions"]] == ["www.shop.example.test"]
    assert idn["normalized"] == "xn--bcher-kva.example.test"
    assert answer["authority"]["name"] == ISSUING
    assert answer["authority"]["recommended_key_type"] == "ec-p256"

    wide = {"COLUMNS": "400"}  # one table row per line, for the assertions
    done = lemur.run(
        "cert", "check-names", "*.example.test", "bad..name", "--team", TEAM,
        "--authority", ISSUING, env=wide,
    )  # fmt: skip
    assert done.returncode == CHECK_FAILED, done.stdout + done.stderr
    printed = done.stdout
    assert "invalid" in printed
    assert "empty label" in printed
    assert "one label below example.test" in printed
    assert ISSUING in printed  # the authority's limits
    assert "ec-p256" in printed
    done = lemur.run("cert", "check-names", "ok.example.test", "--authority", ISSUING, env=wide)
    assert done.returncode == OK, done.stdout + done.stderr
    assert "www.ok.example.test" in done.stdout
