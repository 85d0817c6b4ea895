"""Inventory: search by name (with wildcard coverage), team, authority, issuer, status, key,
serial and fingerprint; sorting; cursor pagination; hidden expired and superseded
certificates; visibility per role; a constant number of SQL statements per page; and the
detail view checked against cryptography's own parsing."""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from fastapi.testclient import TestClient

from lemur.container import Container
from lemur.crypto.keys import KeySpec
from lemur.crypto.profiles import Profile
from tests.api.conftest import World
from tests.api.inventory_helpers import (
    ISSUING_NAME,
    ROOT_NAME,
    authority_ids,
    insert_leaf,
    issue,
    issue_via_api,
    list_ids,
    statements,
    throwaway_ca,
    walk,
)

URL = "/api/v1/certificates"


def names_of(client: TestClient, world: World, **params: Any) -> set[str | None]:
    response = client.get(URL, params=params, headers=world.headers("admin2"))
    assert response.status_code == 200, response.text
    return {item["common_name"] for item in response.json()["items"]}


def error(response: Any) -> tuple[int, str, str | None]:
    body = response.json()["error"]
    return response.status_code, body["code"], body["field"]


# -- names -------------------------------------------------------------------------------


def test_search_by_exact_name_with_wildcard_coverage(
    container: Container, client: TestClient, world: World
) -> None:
    own = world.team_ids["own"]
    issue(container, team_id=own, common_name="api.example.com", dns_names=["www.example.com"])
    issue(container, team_id=own, common_name="*.example.com")
    issue(container, team_id=own, common_name="*.other.com")
    issue(container, team_id=own, common_name="example.com")
    issue(container, team_id=own, dns_names=["deep.api.example.com"])

    # Exact name: the CN or any SAN, and every wildcard that covers it.
    assert names_of(client, world, name="api.example.com") == {"api.example.com", "*.example.com"}
    # Case-insensitive, trailing dot ignored, a SAN that is not the CN.
    assert names_of(client, world, name="WWW.Example.COM.") == {"api.example.com", "*.example.com"}
    # A wildcard covers one label only: not the bare domain, not two labels down.
    assert names_of(client, world, name="example.com") == {"example.com"}
    assert names_of(client, world, name="deep.api.example.com") == {None}
    # Searching the wildcard itself finds only the wildcard certificate.
    assert names_of(client, world, name="*.example.com") == {"*.example.com"}
    assert names_of(client, world, name="api.other.com") == {"*.other.com"}
    assert names_of(client, world, name="nothing.invalid") == set()


def test_search_by_name_substring(container: Container, client: TestClient, world: World) -> None:
    own = world.team_ids["own"]
    issue(container, team_id=own, common_name="alpha.example.com")
    issue(container, team_id=own, common_name="beta.example.org", dns_names=["mail.example.com"])
    issue(container, team_id=own, common_name="gamma.test", ip_addresses=["10.0.0.7"])
    issue(container, team_id=own, common_name="percent.test", emails=["under_score@example.net"])

    assert names_of(client, world, name_contains="EXAMPLE.COM") == {
        "alpha.example.com",
        "beta.example.org",
    }
    assert names_of(client, world, name_contains="10.0.0") == {"gamma.test"}
    assert names_of(client, world, name_contains="ph") == {"alpha.example.com"}
    # LIKE wildcards in the needle are literal characters.
    assert names_of(client, world, name_contains="%") == set()
    assert names_of(client, world, name_contains="e_a") == set()
    assert names_of(client, world, name_contains="r_s") == {"percent.test"}


# -- team, authority, issuer -------------------------------------------------------------


def test_search_by_team_authority_and_issuer(
    container: Container, client: TestClient, world: World
) -> None:
    admin = world.headers("admin2")
    authorities = authority_ids(client, admin)
    second = client.post(
        "/api/v1/authorities",
        json={
            "name": "second-issuing-ca",
            "subject": {"common_name": "Second Team Issuing CA"},
            "parent_id": authorities[ROOT_NAME],
            "validity_days": 1000,
        },
        headers=admin,
    )
    assert second.status_code == 201, second.text
    second_id = second.json()["id"]
    own, other = world.team_ids["own"], world.team_ids["other"]
    a = issue(container, team_id=own, common_name="a.example.com")
    b = issue(container, team_id=other, common_name="b.example.com")
    c = issue(container, team_id=own, common_name="c.example.com", authority_id=second_id)

    assert set(list_ids(client, admin, team_id=own)) == {a, c}
    assert set(list_ids(client, admin, team_id=other)) == {b}
    assert set(list_ids(client, admin, authority_id=second_id)) == {c}
    issuing = set(list_ids(client, admin, authority_id=authorities[ISSUING_NAME]))
    assert {a, b} <= issuing
    assert c not in issuing
    assert set(list_ids(client, admin, issuer="second team")) == {c}
    assert set(list_ids(client, admin, issuer="SECOND", team_id=own)) == {c}
    assert set(list_ids(client, admin, issuer="local issuing")) == {a, b}
    assert list_ids(client, admin, issuer="nobody") == []
    assert list_ids(client, admin, team_id=own, authority_id=authorities[ROOT_NAME]) == []
    page = client.get(URL, params={"team_id": own}, headers=admin).json()["items"]
    by_id = {item["id"]: item for item in page}
    assert by_id[c]["authority"] == {"id": second_id, "name": "second-issuing-ca"}
    assert by_id[c]["team"] == {"id": own, "name": "own"}
    assert by_id[c]["issuer"] == "Second Team Issuing CA"


# -- status ------------------------------------------------------------------------------


def test_search_by_status_and_expiring_within_days(
    container: Container, client: TestClient, world: World
) -> None:
    admin = world.headers("admin2")
    own = world.team_ids["own"]
    now = container.clock.now()
    valid = issue(container, team_id=own, common_name="valid.example.com", validity_days=90)
    soon = issue(container, team_id=own, common_name="soon.example.com", validity_days=10)
    later = issue(container, team_id=own, common_name="later.example.com", validity_days=20)
    revoked = issue(container, team_id=own, common_name="revoked.example.com", validity_days=90)
    ca = throwaway_ca()
    expired = insert_leaf(
        container,
        ca,
        team_id=own,
        common_name="expired.example.com",
        not_before=now - dt.timedelta(days=100),
        not_after=now - dt.timedelta(days=10),
    )
    response = client.post(f"{URL}/{revoked}/revoke", json={"reason": "superseded"}, headers=admin)
    assert response.status_code == 200, response.text

    def ids(**params: Any) -> set[int]:
        return set(list_ids(client, admin, team_id=own, **params))

    assert ids(status="valid") == {valid, soon, later}
    # Just issued: none is in its renewal window yet (the last third of its lifetime).
    assert ids(status="expiring") == set()
    assert ids(status="expiring", expiring_within_days=15) == {soon}
    assert ids(status="expired") == {expired}
    assert ids(status="revoked") == {revoked}
    assert ids(expiring_within_days=15) == {soon}
    assert ids(expiring_within_days=60) == {soon, later}
    assert ids(expiring_within_days=0) == set()
    assert ids(status="expiring", expiring_within_days=0) == set()
    # Expired certificates are hidden unless asked for.
    assert ids() == {valid, soon, later, revoked}
    assert ids(include_expired="true") == {valid, soon, later, revoked, expired}
    statuses = {
        item["id"]: item["status"]
        for item in client.get(
            URL, params={"team_id": own, "include_expired": "true"}, headers=admin
        ).json()["items"]
    }
    assert statuses == {
        valid: "valid",
        soon: "valid",
        later: "valid",
        revoked: "revoked",
        expired: "expired",
    }
    bad = client.get(URL, params={"status": "lost"}, headers=admin)
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "status"
    bad = client.get(URL, params={"expiring_within_days": -1}, headers=admin)
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "expiring_within_days"


def test_certificates_become_expiring_then_expired_as_time_passes(
    container: Container, clock: Any, client: TestClient, world: World
) -> None:
    admin = world.headers("admin2")
    own = world.team_ids["own"]
    cert = issue(container, team_id=own, common_name="ages.example.com", validity_days=40)
    assert list_ids(client, admin, team_id=own, status="valid") == [cert]
    assert list_ids(client, admin, team_id=own, status="expiring") == []
    clock.advance(dt.timedelta(days=20))
    assert list_ids(client, admin, team_id=own, status="expiring") == []
    clock.advance(dt.timedelta(days=7))  # the last third of 40 days: 13 days 8 hours
    assert list_ids(client, admin, team_id=own, status="expiring") == [cert]
    clock.advance(dt.timedelta(days=14))
    admin = {"Authorization": f"Bearer {world.add_token('admin2')}"}  # the first one expired
    assert list_ids(client, admin, team_id=own) == []
    assert list_ids(client, admin, team_id=own, status="expired") == [cert]
    assert list_ids(client, admin, team_id=own, include_expired="true") == [cert]


# -- key, serial, fingerprint ------------------------------------------------------------


def test_search_by_key_type_and_size(
    container: Container, client: TestClient, world: World
) -> None:
    admin = world.headers("admin2")
    own = world.team_ids["own"]
    ids = {
        spec: issue(container, team_id=own, common_name=f"{spec.value}.example.com", key_spec=spec)
        for spec in (KeySpec.EC_P256, KeySpec.EC_P384, KeySpec.RSA_2048, KeySpec.ED25519)
    }

    def found(**params: Any) -> set[int]:
        return set(list_ids(client, admin, team_id=own, **params))

    assert found(key_type="EC") == {ids[KeySpec.EC_P256], ids[KeySpec.EC_P384]}
    assert found(key_type="ec", key_size=384) == {ids[KeySpec.EC_P384]}
    assert found(key_type="rsa") == {ids[KeySpec.RSA_2048]}
    assert found(key_size=2048) == {ids[KeySpec.RSA_2048]}
    assert found(key_type="Ed25519") == {ids[KeySpec.ED25519]}
    assert found(key_type="DSA") == set()
    items = client.get(URL, params={"team_id": own}, headers=admin).json()["items"]
    keys = {item["id"]: (item["key_type"], item["key_size"]) for item in items}
    assert keys[ids[KeySpec.EC_P384]] == ("EC", 384)
    assert keys[ids[KeySpec.RSA_2048]] == ("RSA", 2048)
    bad = client.get(URL, params={"key_size": "big"}, headers=admin)
    assert error(bad)[0] == 422
    assert error(bad)[2] == "key_size"


def test_search_by_origin(container: Container, client: TestClient, world: World) -> None:
    admin = world.headers("admin2")
    own = world.team_ids["own"]
    issued = issue(container, team_id=own, common_name="issued.example.com")
    now = container.clock.now()
    imported = insert_leaf(
        container,
        throwaway_ca(),
        team_id=own,
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=60),
        common_name="imported.example.com",
    )

    def found(**params: Any) -> set[int]:
        return set(list_ids(client, admin, team_id=own, **params))

    assert found(origin="issued") == {issued}
    assert found(origin="imported") == {imported}
    assert found(origin="discovered") == set()
    assert found() == {issued, imported}
    bad = client.get(URL, params={"origin": "stolen"}, headers=admin)
    assert error(bad)[0] == 422
    assert error(bad)[2] == "origin"


def test_search_by_serial_in_hex_and_decimal(
    container: Container, client: TestClient, world: World
) -> None:
    admin = world.headers("admin2")
    own = world.team_ids["own"]
    now = container.clock.now()
    ca = throwaway_ca()
    # A serial whose hex form starts with a zero nibble, and one whose hex is all digits.
    serial = 0x0A1B2C3D4E5F60718293
    digits_only = 0x123456789012
    leading = insert_leaf(
        container,
        ca,
        team_id=own,
        common_name="serial.example.com",
        serial=serial,
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=60),
    )
    digits = insert_leaf(
        container,
        ca,
        team_id=own,
        common_name="digits.example.com",
        serial=digits_only,
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=60),
    )
    issued = issue(container, team_id=own, common_name="random.example.com")
    hex_form = format(serial, "x")  # a1b2c3d4e5f60718293
    colons = ":".join(f"{b:02X}" for b in serial.to_bytes(10, "big"))  # 0A:1B:...
    for query in (
        hex_form,
        hex_form.upper(),
        "0" + hex_form,
        "000" + hex_form,
        "0x" + hex_form,
        colons,
        colons.lower(),
        str(serial),
    ):
        assert list_ids(client, admin, serial=query) == [leading], query
    # All-digit hex is read both ways: as hex and as decimal.
    assert list_ids(client, admin, serial=format(digits_only, "x")) == [digits]
    assert list_ids(client, admin, serial=str(digits_only)) == [digits]
    detail = client.get(f"{URL}/{issued}", headers=admin).json()
    assert list_ids(client, admin, serial=detail["serial_number"]) == [issued]
    assert list_ids(client, admin, serial=detail["serial_number_decimal"]) == [issued]
    assert list_ids(client, admin, serial="ff" * 19) == []
    bad = client.get(URL, params={"serial": "xyz"}, headers=admin)
    assert error(bad) == (422, "invalid_serial", "serial")


def test_search_by_fingerprint(container: Container, client: TestClient, world: World) -> None:
    admin = world.headers("admin2")
    own = world.team_ids["own"]
    first = issue(container, team_id=own, common_name="fp1.example.com")
    issue(container, team_id=own, common_name="fp2.example.com")
    detail = client.get(f"{URL}/{first}", headers=admin).json()
    pem = detail["pem"].encode()
    cert = x509.load_pem_x509_certificate(pem)
    sha256 = cert.fingerprint(hashes.SHA256()).hex()
    sha1 = cert.fingerprint(hashes.SHA1()).hex()
    colon_sha256 = ":".join(sha256[i : i + 2] for i in range(0, 64, 2)).upper()
    for query in (sha256, sha256.upper(), colon_sha256, sha1, sha1.upper()):
        assert list_ids(client, admin, fingerprint=query) == [first], query
    assert list_ids(client, admin, fingerprint="0" * 64) == []
    for bad_value in ("abc", sha256[:-1], sha1 + "00", "zz" * 32, "g" * 40):
        bad = client.get(URL, params={"fingerprint": bad_value}, headers=admin)
        assert error(bad) == (422, "invalid_fingerprint", "fingerprint"), bad_value


# -- sorting and pagination --------------------------------------------------------------


def _populate(container: Container, clock: Any, world: World, count: int) -> list[int]:
    """``count`` certificates with varied and tied sort keys; every third has no CN."""
    own, other = world.team_ids["own"], world.team_ids["other"]
    ids = []
    for i in range(count):
        if i % 5 == 0:
            clock.advance(dt.timedelta(hours=1))  # created_at and not_before: ties and steps
        common_name = None if i % 3 == 0 else f"host{(i * 7) % 10:02d}.example.com"
        ids.append(
            issue(
                container,
                team_id=own if i % 2 else other,
                common_name=common_name,
                dns_names=[f"san{i:02d}.example.com"],
                validity_days=30 + (i % 4) * 10,
            )
        )
    return ids


SORTS = [
    ("not_after", lambda item: item["not_after"]),
    ("not_before", lambda item: item["not_before"]),
    ("created_at", lambda item: item["created_at"]),
    ("common_name", lambda item: item["common_name"] or ""),
    ("id", lambda item: item["id"]),
]


def test_sorting_by_each_key_both_ways(
    container: Container, clock: Any, client: TestClient, world: World
) -> None:
    admin = world.headers("admin2")
    _populate(container, clock, world, 12)
    for key, value in SORTS:
        for order in ("asc", "desc"):
            response = client.get(
                URL, params={"sort": key, "order": order, "limit": 200}, headers=admin
            )
            assert response.status_code == 200, response.text
            items = response.json()["items"]
            expected = sorted(
                items,
                key=lambda item: (value(item), item["id"]),
                reverse=order == "desc",
            )
            assert [i["id"] for i in items] == [i["id"] for i in expected], (key, order)
            assert len(items) == 14  # 12 leaves and the two CA certificates
    for params, field in (({"sort": "size"}, "sort"), ({"order": "up"}, "order")):
        bad = client.get(URL, params=params, headers=admin)
        assert bad.status_code == 422
        assert bad.json()["error"]["field"] == field


def test_cursor_pagination_visits_every_certificate_once_in_order(
    container: Container, clock: Any, client: TestClient, world: World
) -> None:
    admin = world.headers("admin2")
    created = _populate(container, clock, world, 26)
    for key, value in SORTS:
        for order in ("asc", "desc"):
            full = client.get(
                URL, params={"sort": key, "order": order, "limit": 200}, headers=admin
            ).json()["items"]
            items, pages = walk(client, admin, sort=key, order=order, limit=7)
            assert [i["id"] for i in items] == [i["id"] for i in full], (key, order)
            assert len(items) == len(set(i["id"] for i in items)) == 28
            assert set(created) <= {i["id"] for i in items}
            assert pages == 4  # 7 + 7 + 7 + 7
            keys = [(value(i), i["id"]) for i in items]
            assert keys == sorted(keys, reverse=order == "desc"), (key, order)
    # Restricted to one team, with a member's token: the same walk over fewer rows.
    member_items, _ = walk(client, world.headers("member"), sort="common_name", limit=7)
    assert len(member_items) == 13
    assert {i["team"]["name"] for i in member_items} == {"own"}


def test_total_counts_every_match(
    container: Container, clock: Any, client: TestClient, world: World
) -> None:
    admin = world.headers("admin2")
    _populate(container, clock, world, 9)
    body = client.get(URL, params={"limit": 2, "total": "true"}, headers=admin).json()
    assert body["total"] == 11
    assert len(body["items"]) == 2
    assert body["next_cursor"]
    body = client.get(
        URL, params={"team_id": world.team_ids["own"], "total": "true"}, headers=admin
    ).json()
    assert body["total"] == 4
    assert client.get(URL, params={"limit": 2}, headers=admin).json()["total"] is None


def test_garbage_cursor_is_refused(container: Container, client: TestClient, world: World) -> None:
    admin = world.headers("admin2")
    issue(container, team_id=world.team_ids["own"], common_name="c.example.com")
    first = client.get(URL, params={"limit": 1, "sort": "not_after"}, headers=admin).json()
    assert first["next_cursor"]
    for cursor, sort in (
        ("garbage!!", "not_after"),
        ("bm90IGpzb24", "not_after"),  # base64 of "not json"
        ("WzEsMl0", "not_after"),  # [1, 2]: a number where a time should be
        ("WyJ4IiwgIjEiXQ", "id"),  # ["x", "1"]
        (first["next_cursor"], "id"),  # a not_after cursor used to sort by id
    ):
        response = client.get(URL, params={"cursor": cursor, "sort": sort}, headers=admin)
        assert error(response) == (422, "invalid_cursor", "cursor"), cursor
    for bad in ({"limit": 0}, {"limit": 201}, {"cursor": "x" * 600}):
        response = client.get(URL, params=bad, headers=admin)
        assert response.status_code == 422


# -- superseded and visibility -----------------------------------------------------------


def test_superseded_lineage_members_are_hidden_unless_asked_for(
    container: Container, client: TestClient, world: World
) -> None:
    admin = world.headers("admin2")
    own = world.team_ids["own"]
    old = issue(container, team_id=own, common_name="lineage.example.com")
    renewed = client.post(f"{URL}/{old}/renew", json={}, headers=admin)
    assert renewed.status_code == 201, renewed.text
    new = renewed.json()["id"]
    assert list_ids(client, admin, team_id=own) == [new]
    assert set(list_ids(client, admin, team_id=own, include_superseded="true")) == {old, new}
    assert set(list_ids(client, admin, name="lineage.example.com", include_superseded=True)) == {
        old,
        new,
    }
    # Identifying searches (serial, fingerprint) find the superseded certificate anyway.
    old_detail = client.get(f"{URL}/{old}", headers=admin).json()
    assert list_ids(client, admin, serial=old_detail["serial_number"]) == [old]
    assert list_ids(client, admin, fingerprint=old_detail["fingerprint_sha256"]) == [old]


def test_members_see_only_their_teams_and_staff_see_all(
    container: Container, client: TestClient, world: World
) -> None:
    own, other = world.team_ids["own"], world.team_ids["other"]
    mine = issue(container, team_id=own, common_name="mine.example.com")
    theirs = issue(container, team_id=other, common_name="theirs.example.com")
    assert list_ids(client, world.headers("member")) == [mine]
    assert list_ids(client, world.headers("outsider")) == [theirs]
    # Asking for another team's certificates yields nothing rather than their rows.
    assert list_ids(client, world.headers("member"), team_id=other) == []
    assert list_ids(client, world.headers("member"), name="theirs.example.com") == []
    for who in ("admin2", "security", "reader"):
        assert {mine, theirs} <= set(list_ids(client, world.headers(who))), who
    hidden = client.get(f"{URL}/{theirs}", headers=world.headers("member"))
    assert error(hidden) == (404, "certificate_not_found", "certificate_id")
    assert client.get(f"{URL}/{mine}", headers=world.headers("member")).status_code == 200
    for who in ("security", "reader", "admin2"):
        assert client.get(f"{URL}/{theirs}", headers=world.headers(who)).status_code == 200
    missing = client.get(f"{URL}/999999", headers=world.headers("admin2"))
    assert error(missing) == (404, "certificate_not_found", "certificate_id")
    assert client.get(f"{URL}/abc", headers=world.headers("reader")).status_code == 422
    assert client.get(URL).status_code == 401
    for param in ("name", "issuer", "serial", "fingerprint", "key_type"):
        response = client.get(URL, params={param: "a" * 300}, headers=world.headers("admin2"))
        assert response.status_code == 422
        assert response.json()["error"]["field"] == param


# -- statement count ---------------------------------------------------------------------


def test_list_issues_the_same_number_of_statements_for_3_and_50_certificates(
    container: Container, client: TestClient, world: World
) -> None:
    admin = world.headers("admin2")
    authorities = authority_ids(client, admin)
    second = client.post(
        "/api/v1/authorities",
        json={
            "name": "second-issuing-ca",
            "subject": {"common_name": "Second Issuing CA"},
            "parent_id": authorities[ROOT_NAME],
            "validity_days": 1000,
        },
        headers=admin,
    ).json()["id"]
    own, other = world.team_ids["own"], world.team_ids["other"]
    for i in range(50):
        issue(
            container,
            team_id=own if i % 2 else other,
            authority_id=second if i % 3 == 0 else authorities[ISSUING_NAME],
            common_name=f"n{i:02d}.example.com",
            dns_names=[f"a{i:02d}.example.com", f"b{i:02d}.example.com"],
            ip_addresses=[f"10.0.0.{i + 1}"],
        )
    engine = container.db.read_engine
    client.get(URL, params={"limit": 1}, headers=admin)  # warm up (token lookups etc.)
    counts = {}
    for limit in (3, 50):
        with statements(engine) as seen:
            response = client.get(URL, params={"limit": limit}, headers=admin)
        assert response.status_code == 200
        items = response.json()["items"]
        assert len(items) == limit
        assert {i["team"]["name"] for i in items if i["team"]} == (
            {"own", "other"} if limit == 50 else {i["team"]["name"] for i in items if i["team"]}
        )
        counts[limit] = len(seen)
    assert counts[3] == counts[50], counts
    assert counts[3] <= 6, counts
    big = client.get(URL, params={"limit": 50}, headers=admin).json()["items"]
    assert {i["authority"]["name"] for i in big if i["authority"]} >= {
        "second-issuing-ca",
        ISSUING_NAME,
    }
    assert all(len(i["names"]) >= 3 for i in big if i["common_name"] and i["team"])


def test_detail_statements_do_not_grow_with_the_number_of_names(
    container: Container, client: TestClient, world: World
) -> None:
    admin = world.headers("admin2")
    own = world.team_ids["own"]
    few = issue(container, team_id=own, common_name="few.example.com")
    many = issue(
        container,
        team_id=own,
        common_name="many.example.com",
        dns_names=[f"n{i}.example.com" for i in range(60)],
    )
    client.get(f"{URL}/{few}", headers=admin)
    counts = {}
    for cert in (few, many):
        with statements(container.db.read_engine) as seen:
            response = client.get(f"{URL}/{cert}", headers=admin)
        assert response.status_code == 200
        counts[cert] = len(seen)
    assert len(client.get(f"{URL}/{many}", headers=admin).json()["names"]) == 61
    assert counts[few] == counts[many], counts


# -- detail ------------------------------------------------------------------------------


def test_detail_shows_everything_parsed(
    container: Container, client: TestClient, world: World
) -> None:
    admin = world.headers("admin2")
    own = world.team_ids["own"]
    created = issue_via_api(
        client,
        world.headers("member"),
        team_id=own,
        authority_id=authority_ids(client, admin)[ISSUING_NAME],
        common_name="detail.example.com",
        subject_alternative_names={
            "dns_names": ["alt.example.com"],
            "ip_addresses": ["192.0.2.7", "2001:db8::1"],
            "emails": ["ops@example.com"],
            "uris": ["https://example.com/svc"],
        },
        profile="server-client",
        key_type="ec-p384",
    )
    detail = client.get(f"{URL}/{created['id']}", headers=world.headers("member")).json()
    cert = x509.load_pem_x509_certificate(detail["pem"].encode())

    assert detail["subject"] == cert.subject.rfc4514_string() == "CN=detail.example.com"
    assert detail["issuer_dn"] == cert.issuer.rfc4514_string()
    assert "CN=Local Issuing CA" in detail["issuer_dn"]
    assert detail["issuer"] == "Local Issuing CA"
    assert detail["common_name"] == "detail.example.com"
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert (
        set(detail["subject_alternative_names"]["dns_names"])
        == set(sans.get_values_for_type(x509.DNSName))
        == {"detail.example.com", "alt.example.com"}
    )
    assert {
        ipaddress.ip_address(ip) for ip in detail["subject_alternative_names"]["ip_addresses"]
    } == set(sans.get_values_for_type(x509.IPAddress))
    assert detail["subject_alternative_names"]["emails"] == ["ops@example.com"]
    assert detail["subject_alternative_names"]["uris"] == ["https://example.com/svc"]
    assert dt.datetime.fromisoformat(detail["not_before"]) == cert.not_valid_before_utc
    assert dt.datetime.fromisoformat(detail["not_after"]) == cert.not_valid_after_utc
    assert (detail["key_type"], detail["key_size"], detail["key_spec"]) == ("EC", 384, "ec-p384")
    assert detail["signature_algorithm"] == cert.signature_algorithm_oid._name  # ecdsa-with-SHA256
    assert detail["signature_algorithm"].startswith("ecdsa-with-SHA")
    assert detail["serial_number"] == format(cert.serial_number, "x")
    assert detail["serial_number_decimal"] == str(cert.serial_number)
    assert detail["fingerprint_sha256"] == cert.fingerprint(hashes.SHA256()).hex()
    assert detail["fingerprint_sha1"] == cert.fingerprint(hashes.SHA1()).hex()
    assert detail["profile"] == "server-client"
    assert detail["is_ca"] is False
    assert detail["has_private_key"] is True
    assert "private_key" not in detail
    assert set(detail["extended_key_usage"]) == {"serverAuth", "clientAuth"}
    assert "digital_signature" in detail["key_usage"]
    oids = {e["oid"] for e in detail["extensions"]}
    assert oids == {e.oid.dotted_string for e in cert.extensions}
    critical = {e["name"]: e["critical"] for e in detail["extensions"]}
    assert critical["basicConstraints"] is True
    assert critical["keyUsage"] is True
    aia = next(e for e in detail["extensions"] if e["name"] == "authorityInfoAccess")
    assert "/ocsp/" in aia["value"]
    assert "/ca/" in aia["value"]
    crl_dp = next(e for e in detail["extensions"] if e["name"] == "cRLDistributionPoints")
    assert "/crl/" in crl_dp["value"]

    # Chain from the leaf's issuer up to the root.
    chain = detail["chain"]
    assert [c["subject"] for c in chain] == [cert.issuer.rfc4514_string(), chain[1]["issuer"]]
    assert "CN=Local Root CA" in chain[-1]["subject"]
    assert chain[-1]["subject"] == chain[-1]["issuer"]
    assert chain[0]["issuer"] == chain[1]["subject"]
    for entry in chain:
        parsed = x509.load_pem_x509_certificate(entry["pem"].encode())
        assert entry["fingerprint_sha256"] == parsed.fingerprint(hashes.SHA256()).hex()
    issuer_cert = x509.load_pem_x509_certificate(chain[0]["pem"].encode())
    cert.verify_directly_issued_by(issuer_cert)

    assert detail["lineage"] == [
        {
            "id": detail["id"],
            "not_before": detail["not_before"],
            "not_after": detail["not_after"],
            "status": "valid",
        }
    ]
    history = detail["history"]
    assert [h["action"] for h in history] == ["certificate.issue"]
    assert history[0]["actor"] == "user:member"
    assert history[0]["outcome"] == "success"
    assert history[0]["details"]["team"] == "own"


def test_detail_of_a_certificate_without_common_name(
    container: Container, client: TestClient, world: World
) -> None:
    admin = world.headers("admin2")
    cert = issue(
        container,
        team_id=world.team_ids["own"],
        dns_names=["nocn.example.com"],
        profile=Profile.SERVER,
    )
    detail = client.get(f"{URL}/{cert}", headers=admin).json()
    assert detail["common_name"] is None
    assert detail["subject"] == ""
    assert detail["names"] == ["nocn.example.com"]
    san = next(e for e in detail["extensions"] if e["name"] == "subjectAltName")
    assert san["critical"] is True  # RFC 5280 §4.2.1.6: empty subject
    assert list_ids(client, admin, name="nocn.example.com") == [cert]


def test_name_search_normalises_idn_and_ip_addresses(
    container: Container, client: TestClient, world: World
) -> None:
    own = world.team_ids["own"]
    idn = issue(container, team_id=own, common_name="bücher.example.com")
    wild = issue(container, team_id=own, dns_names=["*.bücher.example.com"])
    ip = issue(container, team_id=own, common_name="ip.example.com", ip_addresses=["2001:db8::7"])
    admin = world.headers("admin2")
    assert detail_names(client, admin, idn) == ["xn--bcher-kva.example.com"]
    assert list_ids(client, admin, name="xn--bcher-kva.example.com") == [idn]
    assert list_ids(client, admin, name="BÜCHER.example.com.") == [idn]
    assert list_ids(client, admin, name="www.bücher.example.com") == [wild]
    for query in ("2001:db8::7", "2001:DB8:0:0::7", "2001:0db8:0000:0000:0000:0000:0000:0007"):
        assert list_ids(client, admin, name=query) == [ip], query


def detail_names(client: TestClient, headers: dict[str, str], certificate_id: int) -> list[str]:
    names: list[str] = client.get(f"{URL}/{certificate_id}", headers=headers).json()["names"]
    return names


def test_odd_cursors_are_refused_not_crashed(
    container: Container, client: TestClient, world: World
) -> None:
    import base64
    import json

    admin = world.headers("admin2")
    for value, sort in (
        (["2026-01-01T00:00:00", 1], "not_after"),  # no time zone
        (["2026-01-01", 1], "created_at"),
        ([None, 1], "common_name"),
        (["x", True], "common_name"),
        ([1, 2, 3], "id"),
        ({"a": 1}, "id"),
        ([10**30, 1], "id"),
        (["2026-01-01T00:00:00+00:00", 10**30], "not_before"),
    ):
        cursor = base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
        response = client.get(URL, params={"cursor": cursor, "sort": sort}, headers=admin)
        assert response.status_code == 422, (value, response.text)
        assert response.json()["error"]["code"] == "invalid_cursor", value


def test_out_of_range_ids_are_refused_not_crashed(
    container: Container, client: TestClient, world: World
) -> None:
    import base64
    import json

    admin = world.headers("admin2")
    huge = 2**40
    for params in ({"team_id": huge}, {"authority_id": huge}, {"team_id": -1}):
        response = client.get(URL, params=params, headers=admin)
        assert response.status_code in (200, 422), (params, response.text)
    for value, sort in (([huge, 1], "id"), (["2026-01-01T00:00:00+00:00", huge], "not_after")):
        cursor = base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
        response = client.get(URL, params={"cursor": cursor, "sort": sort}, headers=admin)
        assert response.status_code == 422, (value, response.text)
    for path in (f"{URL}/{huge}", f"{URL}/{huge}/export"):
        response = client.get(path, headers=admin)
        assert response.status_code in (404, 422), (path, response.text)
    for action in ("revoke", "renew"):
        response = client.post(f"{URL}/{huge}/{action}", json={}, headers=admin)
        assert response.status_code in (404, 422), (action, response.text)
    for path in (f"/crl/{huge}.crl", f"/ca/{huge}.cer", f"/api/v1/authorities/{huge}"):
        response = client.get(path, headers=admin)
        assert response.status_code in (404, 422), (path, response.text)
