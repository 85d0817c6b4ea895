"""lemur cert request | import: certificates that enter the inventory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from lemur.certificates.schemas import CertificateDetailOut, CertificateRequest
from lemur.cli.certs.common import API, existing_file, print_issued
from lemur.cli.client import JSON, TOKEN, URL, connect
from lemur.cli.display import material, read_passphrase
from lemur.cli.options import bounds, ranged
from lemur.cli.output import emit_json
from lemur.cli.requests import pending_answer, wait_option
from lemur.crypto.keys import KeySpec
from lemur.crypto.profiles import Profile
from lemur.crypto.usages import ExtendedKeyUsageName, KeyUsageName
from lemur.orders.schemas import RequestOut


def request(
    names: list[str] | None = typer.Argument(
        None, help="DNS names; the first is the common name unless --cn is given"
    ),
    team: str = typer.Option(..., "--team", help="owning team (name or id)"),
    authority: str = typer.Option(
        ..., "--authority", help="issuing authority (name or id), e.g. local-issuing-ca"
    ),
    profile: Profile = typer.Option(Profile.SERVER, help="server, client or server-client"),
    days: int | None = ranged(
        None,
        "--days",
        within=bounds(CertificateRequest, "validity_days"),
        help="validity in days (default: the authority's)",
    ),
    key_type: KeySpec = typer.Option(KeySpec.EC_P256, help="key Lemur generates"),
    csr: Path | None = existing_file("a PEM CSR: names come from it and Lemur keeps no key"),
    ip: list[str] | None = typer.Option(None, "--ip", help="an IP address SAN (repeatable)"),
    email: list[str] | None = typer.Option(None, "--email", help="an email SAN (repeatable)"),
    uri: list[str] | None = typer.Option(None, "--uri", help="a URI SAN (repeatable)"),
    cn: str | None = typer.Option(None, "--cn", help="common name (default: the first NAME)"),
    organization: str | None = typer.Option(None, "--organization", help="subject O"),
    org_unit: str | None = typer.Option(None, "--org-unit", help="subject OU"),
    country: str | None = typer.Option(
        None, "--country", help="subject C: ISO 3166 two-letter code"
    ),
    state: str | None = typer.Option(None, "--state", help="subject ST (state or province)"),
    locality: str | None = typer.Option(None, "--locality", help="subject L (city)"),
    key_usage: list[KeyUsageName] | None = typer.Option(
        None, "--key-usage", help="a key usage (repeatable; default: the key type's)"
    ),
    eku: list[ExtendedKeyUsageName] | None = typer.Option(
        None, "--eku", help="an extended key usage (repeatable; default: the profile's)"
    ),
    destination: list[str] | None = typer.Option(
        None,
        "--destination",
        help="deploy it there once issued (name or id; repeatable; `lemur destination list`)",
    ),
    wait: int = wait_option(),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Request a certificate; Lemur generates and keeps the key (or signs your --csr).

    From a CA that answers later (ACME, AWS Private CA) the request is pending: this waits
    for it (--wait), or `lemur request show ID` follows it.

    Subject fields and usages must be among those the authority allows
    (`lemur authority show NAME`).

    The private key is stored encrypted and never in the answer: export it with
    `lemur cert export ID --format pkcs12 --passphrase-stdin --out FILE`.
    """
    dns = list(names or [])
    with connect(url, token) as client:
        body: dict[str, Any] = {
            "team_id": client.team(team).id,
            "authority_id": client.authority(authority).id,
            "profile": profile.value,
            "validity_days": days,
        }
        if csr is not None:
            body["csr"] = csr.read_text(errors="replace")
        else:
            body["key_type"] = key_type.value
        if cn is not None or dns:
            body["common_name"] = cn if cn is not None else dns[0]
        subject = {
            "organization": organization,
            "organizational_unit": org_unit,
            "country": country,
            "state": state,
            "locality": locality,
        }
        if any(v is not None for v in subject.values()):
            body["subject"] = {k: v for k, v in subject.items() if v is not None}
        if key_usage:
            body["key_usage"] = [u.value for u in key_usage]
        if eku:
            body["extended_key_usage"] = [u.value for u in eku]
        if destination:
            from lemur.cli.destinations import pick

            body["destinations"] = [pick(client, d, option="destination").id for d in destination]
        if dns or ip or email or uri:
            body["subject_alternative_names"] = {
                "dns_names": dns,
                "ip_addresses": list(ip or []),
                "emails": list(email or []),
                "uris": list(uri or []),
            }
        answer = client.post_either(
            API, {k: v for k, v in body.items() if v is not None}, CertificateDetailOut, RequestOut
        )
        if isinstance(answer, RequestOut):
            issued_id = pending_answer(client, answer, wait, as_json)
            if issued_id is None:
                return
            answer = client.get(f"{API}/{issued_id}", CertificateDetailOut)
    if as_json:
        emit_json(answer.model_dump(mode="json"))
        return
    print_issued(answer, "issued")


def import_(
    certfile: Path = typer.Argument(
        ..., exists=True, dir_okay=False, readable=True, help="PEM, DER or PKCS#12 file"
    ),
    team: str = typer.Option(..., "--team", help="owning team (name or id)"),
    chain: Path | None = existing_file("PEM bundle of the intermediate certificates"),
    key: Path | None = existing_file("the private key (PEM or DER)"),
    passphrase_stdin: bool = typer.Option(
        False, help="read the PKCS#12 or key passphrase from standard input"
    ),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Import an existing certificate, with its chain and private key if you have them."""
    body: dict[str, Any] = {
        "certificate": material(certfile, field="certificate"),
        "chain": material(chain, field="chain") if chain else None,
        "private_key": material(key, field="private_key") if key else None,
    }
    if passphrase_stdin:
        body["passphrase"] = read_passphrase("passphrase: ")
    with connect(url, token) as client:
        body["team_id"] = client.team(team).id
        item = client.post(
            f"{API}/import", {k: v for k, v in body.items() if v is not None}, CertificateDetailOut
        )
    if as_json:
        emit_json(item.model_dump(mode="json"))
        return
    print_issued(item, "imported")
