"""POST /api/v1/certificates/name-check: what the request form shows while a name is typed.

Each answer is checked against what issuance does with the same input (one source of truth),
and the whole list costs the same few SQL statements for one name as for a hundred."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from lemur.container import Container
from tests.api.certs_helpers import (
    authority,
    client_with_base_url,
    create_authority,
    create_cab_forum_pair,
    error,
    issue,
    issue_raw,
    issuing_ca,
    make_ca,
    pem,
)
from tests.api.conftest import World
from tests.api.test_query_counts import statements

API = "/api/v1/certificates/name-check"


@pytest.fixture
def public_client(container: Container) -> Iterator[TestClient]:
    """A client of this Lemur with a public base URL, as CA/B Forum authorities need."""
    with client_with_base_url(container, "http://pki.example.com") as c:
        yield c


def check_raw(client: TestClient, world: World, who: str = "member", **body: Any) -> httpx.Response:
    body.setdefault("team_id", world.team_ids["own"])
    return client.post(API, json=body, headers=world.headers(who))


def check(client: TestClient, world: World, who: str = "member", **body: Any) -> dict[str, Any]:
    r = check_raw(client, world, who, **body)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def by_input(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["input"]: n for n in answer["names"]}


def test_names_are_normalised_classified_and_explained(client: TestClient, world: World) -> None:
    answer = check(
        client,
        world,
        names=[
            "Shop.Example.Test.",
            "Bücher.example.test",
            "*.example.test",
            "www.example.test",
            "www.x.test",
            "192.0.2.10",
            "Ops@Example.Test",
            "spiffe://example.test/api",
            "bad..name",
            "under_score.example.test",
        ],
    )
    names = by_input(answer)

    shop = names["Shop.Example.Test."]
    assert (shop["kind"], shop["normalized"], shop["unicode"]) == (
        "dns",
        "shop.example.test",
        "shop.example.test",
    )
    assert (shop["valid"], shop["permitted"], shop["error"]) == (True, True, None)
    assert [s["name"] for s in shop["suggestions"]] == ["www.shop.example.test"]
    assert shop["held_by_other_team"] is False
    assert shop["existing"] == []

    idn = names["Bücher.example.test"]
    assert idn["normalized"] == "xn--bcher-kva.example.test"
    assert idn["unicode"] == "bücher.example.test"

    wildcard = names["*.example.test"]["wildcard_covers"]
    assert wildcard["base"] == "example.test"
    assert wildcard["example"] == "www.example.test"
    assert wildcard["does_not_cover"] == ["example.test", "a.b.example.test"]
    assert "one label" in wildcard["covers"]
    assert names["*.example.test"]["suggestions"] == []

    # www.example.test is already served by the wildcard; its apex is not, so it is offered.
    www = names["www.example.test"]
    assert www["covered_by"] == "*.example.test"
    assert [s["name"] for s in www["suggestions"]] == ["example.test"]
    assert [s["name"] for s in names["www.x.test"]["suggestions"]] == ["x.test"]

    ip, email, uri = (
        names["192.0.2.10"],
        names["Ops@Example.Test"],
        names["spiffe://example.test/api"],
    )
    assert (ip["kind"], ip["normalized"], ip["suggestions"]) == ("ip", "192.0.2.10", [])
    assert (email["kind"], email["normalized"]) == ("email", "Ops@example.test")
    assert (uri["kind"], uri["normalized"]) == ("uri", "spiffe://example.test/api")

    bad = names["bad..name"]
    assert (bad["valid"], bad["permitted"], bad["normalized"]) == (False, None, None)
    assert bad["error"]["code"] == "invalid_dns_name"
    assert "empty label" in bad["error"]["message"]
    underscore = names["under_score.example.test"]
    assert underscore["error"]["code"] == "invalid_dns_name"
    assert "underscore" in underscore["error"]["message"]


def test_a_suggestion_is_not_made_twice(client: TestClient, world: World) -> None:
    names = by_input(check(client, world, names=["x.test", "WWW.X.test"]))
    assert names["x.test"]["suggestions"] == []
    assert names["WWW.X.test"]["suggestions"] == []
    # A wildcard in the list covers the www name: no suggestion either.
    names = by_input(check(client, world, names=["shop.example.test", "*.shop.example.test"]))
    assert names["shop.example.test"]["suggestions"] == []


def test_the_errors_are_issuances_own(client: TestClient, world: World) -> None:
    """The name check's code and message for a name are the ones issuing it gives."""
    for name in ("bad..name", "under_score.example.test", "*.com", "x" * 64 + ".example.test"):
        checked = by_input(check(client, world, names=[name]))[name]["error"]
        r = issue_raw(client, world, dns_names=[name])
        message = error(r, 422, checked["code"], "subject_alternative_names.dns_names[0]")
        assert message == checked["message"]


def test_authority_limits_default_and_recommended_key(client: TestClient, world: World) -> None:
    limits = check(client, world, names=[])["authority"]
    assert (limits["id"], limits["name"]) == (issuing_ca(client, world)["id"], "local-issuing-ca")
    assert (limits["default_validity_days"], limits["max_validity_days"]) == (90, 397)
    assert limits["key_types"] == [
        "ec-p256",
        "ec-p384",
        "rsa-2048",
        "rsa-3072",
        "rsa-4096",
        "ed25519",
    ]
    assert limits["recommended_key_type"] == "ec-p256"
    assert "P-256" in limits["recommended_key_type_reason"]
    assert limits["allowed_extended_key_usages"] == [
        "server_auth", "client_auth", "code_signing", "email_protection", "time_stamping",
    ]  # fmt: skip
    assert limits["key_usages"]["ec-p256"] == [
        "digital_signature", "content_commitment", "key_agreement",
    ]  # fmt: skip
    assert "key_encipherment" in limits["key_usages"]["rsa-2048"]
    # The profile's limits and the authority's both apply, as at issuance.
    long = create_authority(client, world, "long", default_validity_days=400, max_validity_days=800)
    for profile, days in (("server", (90, 397)), ("client", (365, 800))):
        found = check(client, world, names=[], authority_id=long["id"], profile=profile)
        limits = found["authority"]
        assert (limits["default_validity_days"], limits["max_validity_days"]) == days
        r = issue_raw(
            client, world, authority_id=long["id"], profile=profile, validity_days=days[1] + 1
        )
        error(r, 422, "validity_exceeds_maximum", "validity_days")


def test_cab_forum_authority_limits_and_names(public_client: TestClient, world: World) -> None:
    _, sub = create_cab_forum_pair(public_client, world)
    answer = check(
        public_client,
        world,
        authority_id=sub["id"],
        names=["shop.example.com", "intranet", "10.0.0.1", "ops@example.com"],
    )
    limits = answer["authority"]
    assert limits["cab_forum"] is True
    assert "ed25519" not in limits["key_types"]
    assert limits["allowed_subject_fields"] == ["country"]
    assert limits["allowed_extended_key_usages"] == ["server_auth", "client_auth"]
    assert limits["key_usages"]["ec-p256"] == ["digital_signature"]
    names = by_input(answer)
    assert names["shop.example.com"]["permitted"] is True
    codes = {n: names[n]["error"]["code"] for n in ("intranet", "10.0.0.1", "ops@example.com")}
    assert codes == {
        "intranet": "invalid_dns_name",
        "10.0.0.1": "invalid_ip_address",
        "ops@example.com": "prohibited_san_type",
    }
    assert all(names[n]["valid"] and names[n]["permitted"] is False for n in codes)
    # No suggestion a CA/B Forum authority would refuse ("www.intranet" is not one either).
    assert names["intranet"]["suggestions"] == []


def test_name_constraints_are_issuances(client: TestClient, world: World) -> None:
    ca = create_authority(
        client,
        world,
        "constrained",
        permitted_dns_domains=["example.test"],
        excluded_dns_domains=["www.shop.example.test"],
    )
    names = by_input(
        check(
            client,
            world,
            authority_id=ca["id"],
            names=["api.example.test", "api.other.test", "shop.example.test"],
        )
    )
    assert names["api.example.test"]["permitted"] is True
    refused = names["api.other.test"]
    assert (refused["valid"], refused["permitted"]) == (True, False)
    assert refused["error"]["code"] == "name_not_permitted"
    r = issue_raw(client, world, authority_id=ca["id"], dns_names=["api.other.test"])
    message = error(r, 422, "name_not_permitted", "subject_alternative_names.dns_names[0]")
    assert message == refused["error"]["message"]
    # The www partner is excluded there, so it is not suggested.
    assert names["shop.example.test"]["suggestions"] == []
    assert [s["name"] for s in names["api.example.test"]["suggestions"]] == ["www.api.example.test"]


def test_another_teams_certificate_is_flagged_without_its_details(
    client: TestClient, world: World
) -> None:
    theirs = issue(client, world, who="outsider", team="other", dns_names=["shared.example.test"])
    issue(client, world, who="outsider", team="other", dns_names=["*.wild.example.test"])
    mine = issue(client, world, dns_names=["mine.example.test"])
    revoked = issue(client, world, who="outsider", team="other", dns_names=["gone.example.test"])
    r = client.post(
        f"/api/v1/certificates/{revoked['id']}/revoke", json={}, headers=world.headers("outsider")
    )
    assert r.status_code == 200, r.text
    wanted = [
        "shared.example.test",
        "api.wild.example.test",
        "mine.example.test",
        "gone.example.test",
    ]

    names = by_input(check(client, world, names=wanted))
    assert names["shared.example.test"]["held_by_other_team"] is True
    assert names["shared.example.test"]["existing"] == []  # the member may not read it
    assert names["api.wild.example.test"]["held_by_other_team"] is True  # a wildcard serves it
    assert names["mine.example.test"]["held_by_other_team"] is False
    assert [e["id"] for e in names["mine.example.test"]["existing"]] == [mine["id"]]
    assert names["mine.example.test"]["existing"][0]["team"]["name"] == "own"
    assert names["gone.example.test"]["held_by_other_team"] is False  # revoked is not live

    # Security may read every certificate: the other team's one is named.
    shared = by_input(check(client, world, "security", names=wanted))["shared.example.test"]
    assert shared["held_by_other_team"] is True
    assert [(e["id"], e["team"]["name"]) for e in shared["existing"]] == [(theirs["id"], "other")]
    # Requested for the team that holds it, it is that team's own certificate.
    shared = by_input(
        check(client, world, "outsider", team_id=world.team_ids["other"], names=wanted)
    )["shared.example.test"]
    assert shared["held_by_other_team"] is False


def test_a_constant_number_of_statements_for_any_number_of_names(
    client: TestClient, world: World, container: Container
) -> None:
    for n in range(5):
        issue(client, world, who="outsider", team="other", dns_names=[f"host{n}.example.test"])
    few = [f"host{n}.example.test" for n in range(2)]
    many = [f"host{n}.example.test" for n in range(100)]
    check(client, world, names=few)  # the token's first use of the day is recorded once
    counted = []
    for names in (few, many):
        with statements(container) as seen:
            answer = check(client, world, names=names)
        assert sum(n["held_by_other_team"] for n in answer["names"]) == min(len(names), 5)
        counted.append(len(seen))
    assert counted[0] == counted[1], counted
    # Authentication, the default authority, its CA certificates, and the one holders query.
    assert counted[0] <= 4, counted


def test_refusals(client: TestClient, world: World) -> None:
    r = check_raw(client, world, authority_id=999_999, names=["a.example.test"])
    error(r, 404, "authority_not_found", "authority_id")
    external = create_authority_import(client, world)
    r = check_raw(client, world, authority_id=external, names=["a.example.test"])
    error(r, 422, "authority_cannot_sign", "authority_id")
    r = check_raw(
        client, world, "member", team_id=world.team_ids["other"], names=["a.example.test"]
    )
    error(r, 403, "permission_denied", None)
    r = check_raw(client, world, "reader", names=["a.example.test"])
    error(r, 403, "permission_denied", None)
    r = check_raw(client, world, names=["x.example.test"] * 101)
    error(r, 422, "validation_error", "names")
    r = check_raw(client, world, names=["a\nb.example.test"])
    error(r, 422, "invalid_character", "names[0]")


def create_authority_import(client: TestClient, world: World) -> int:
    _, cert = make_ca("Imported Name Check CA")
    r = client.post(
        "/api/v1/authorities/import",
        json={"name": "imported-ca", "certificate": pem(cert)},
        headers=world.headers("admin2"),
    )
    assert r.status_code == 201, r.text
    assert authority(client, world, "imported-ca")["has_key"] is False
    found: int = r.json()["id"]
    return found
