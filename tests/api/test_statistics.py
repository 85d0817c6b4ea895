"""GET /api/v1/statistics: the dashboard's figures, counted for real after issuing, importing,
renewing and revoking certificates; each caller's scope; the figures reused for their
max age; the same statements whatever the inventory's size."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lemur.authz import cli_principal
from lemur.clock import FrozenClock
from lemur.config import Settings
from lemur.container import Container
from lemur.services import Services
from tests.api.conftest import World
from tests.api.inventory_helpers import (
    ISSUING_NAME,
    ROOT_NAME,
    insert_leaf,
    issue,
    throwaway_ca,
)
from tests.api.test_query_counts import statements

URL = "/api/v1/statistics"
DAY = dt.timedelta(days=1)


@pytest.fixture
def max_age() -> int:
    """Figures counted for every request, unless a test parametrizes the cache's max age."""
    return 0


@pytest.fixture
def settings(settings: Settings, max_age: int) -> Settings:
    return settings.model_copy(update={"statistics_max_age_seconds": max_age})


def stats(client: TestClient, world: World, who: str, scope: str | None = None) -> Any:
    params = {"scope": scope} if scope else {}
    response = client.get(URL, params=params, headers=world.headers(who))
    assert response.status_code == 200, response.text
    return response.json()


def windows(body: Any) -> dict[int, int]:
    return {w["days"]: w["count"] for w in body}


def groups(ranking: Any) -> list[tuple[str | None, int]]:
    return [(g["name"], g["count"]) for g in ranking["top"]]


def revoke(client: TestClient, world: World, cert_id: int) -> None:
    response = client.post(
        f"/api/v1/certificates/{cert_id}/revoke",
        json={"reason": "key_compromise"},
        headers=world.headers("admin2"),
    )
    assert response.status_code == 200, response.text


def renew(container: Container, cert_id: int, validity_days: int) -> int:
    with Services(container, cli_principal()) as services:
        return services.issuance().renew(cert_id, validity_days=validity_days).certificate.id


def test_figures_after_issuing_importing_renewing_and_revoking(
    container: Container, client: TestClient, world: World, clock: FrozenClock
) -> None:
    now = clock.now()
    own, other = world.team_ids["own"], world.team_ids["other"]
    ca = throwaway_ca()

    def leaf(team: int, name: str, start: dt.timedelta, end: dt.timedelta) -> int:
        return insert_leaf(
            container, ca, team_id=team, common_name=name, not_before=now + start,
            not_after=now + end,
        )  # fmt: skip

    a = issue(container, team_id=own, common_name="a.example.com", validity_days=60)
    leaf(own, "b.example.com", -80 * DAY, 5 * DAY)  # in its renewal window
    c = leaf(own, "c.example.com", -10 * DAY, 25 * DAY)
    leaf(own, "d.example.com", -400 * DAY, -5 * DAY)  # expired
    e = leaf(own, "e.example.com", -2 * DAY, 200 * DAY)
    f = issue(container, team_id=own, common_name="f.example.com", validity_days=20)
    f2 = renew(container, f, 20)  # f is superseded: no longer "expiring"
    revoke(client, world, e)
    g = leaf(other, "g.example.com", -1 * DAY, 3 * DAY)
    leaf(other, "h.example.com", 2 * DAY, 100 * DAY)  # not yet valid

    mine = stats(client, world, "member")
    assert mine["scope"] == "mine"
    assert mine["team_ids"] == [own]
    assert mine["total"] == 7
    assert mine["by_status"] == {
        "valid": 4,  # a, c, f, f2
        "expiring": 1,  # b
        "expired": 1,  # d
        "revoked": 1,  # e
        "not_yet_valid": 0,
    }
    # Not revoked (e), not renewed (f), not expired (d); b in 5 days, f2 in 20, c in 25, a in 60.
    assert windows(mine["expiring"]) == {7: 1, 30: 3, 90: 4}
    assert windows(mine["issued"]["windows"]) == {7: 4, 30: 5}  # a, e, f, f2; and c
    # Latest notBefore first; a, f and f2 started at the same second (newest id first).
    assert [x["id"] for x in mine["issued"]["newest"]] == [f2, f, a, e, c]
    newest = mine["issued"]["newest"][0]
    assert newest["common_name"] == "f.example.com"
    assert newest["team"] == {"id": own, "name": "own"}
    assert (
        dt.datetime.fromisoformat(newest["not_after"]) == now - dt.timedelta(minutes=5) + 20 * DAY
    )
    assert mine["revoked"]["count"] == 1
    [revoked] = mine["revoked"]["recent"]
    assert (revoked["id"], revoked["revocation_reason"]) == (e, "key_compromise")
    assert dt.datetime.fromisoformat(revoked["revoked_at"]) == now
    # Not expired (d is), renewed and revoked ones included.
    assert groups(mine["by_team"]) == [("own", 6)]
    assert groups(mine["by_authority"]) == [(ISSUING_NAME, 3), (None, 3)]
    assert (mine["by_team"]["others"], mine["by_team"]["other_groups"]) == (0, 0)

    theirs = stats(client, world, "outsider")
    assert theirs["total"] == 2
    assert theirs["by_status"]["valid"] == 1
    assert theirs["by_status"]["not_yet_valid"] == 1
    assert windows(theirs["expiring"]) == {7: 1, 30: 1, 90: 1}
    assert windows(theirs["issued"]["windows"]) == {7: 1, 30: 1}  # h starts tomorrow
    assert [x["id"] for x in theirs["issued"]["newest"]] == [g]
    assert theirs["revoked"] == {"count": 0, "recent": []}
    assert groups(theirs["by_team"]) == [("other", 2)]

    # Every certificate: both teams and the two CA certificates Lemur made at start.
    everything = stats(client, world, "admin2", "all")
    assert everything["scope"] == "all"
    assert everything["team_ids"] == []
    assert everything["total"] == 11
    assert everything["by_status"] == {
        "valid": 7,
        "expiring": 1,
        "expired": 1,
        "revoked": 1,
        "not_yet_valid": 1,
    }
    assert windows(everything["expiring"]) == {7: 2, 30: 4, 90: 5}
    assert windows(everything["issued"]["windows"]) == {7: 7, 30: 8}
    assert groups(everything["by_team"]) == [("own", 6), ("other", 2), (None, 2)]
    assert groups(everything["by_authority"]) == [(None, 5), (ISSUING_NAME, 3), (ROOT_NAME, 2)]


def test_archived_certificates_are_counted_and_the_links_ask_for_them(
    container: Container, client: TestClient, world: World
) -> None:
    """No index tells archived certificates apart (docs/decisions/0017): they are counted,
    and the dashboard's links add include_archived=true, so the list shows what the figure
    counts."""
    own = world.team_ids["own"]
    kept = issue(container, team_id=own, common_name="kept.example.com", validity_days=20)
    archived = issue(container, team_id=own, common_name="archived.example.com", validity_days=20)
    with Services(container, cli_principal()) as services:
        services.editing().archive(archived)
    assert windows(stats(client, world, "member")["expiring"])[30] == 2
    query = {"status": "expiring", "expiring_within_days": 30}
    headers = world.headers("member")
    listed = client.get("/api/v1/certificates", params=query, headers=headers).json()["items"]
    assert [c["id"] for c in listed] == [kept]
    query["include_archived"] = "true"
    listed = client.get("/api/v1/certificates", params=query, headers=headers).json()["items"]
    assert sorted(c["id"] for c in listed) == sorted([kept, archived])


def test_each_caller_sees_the_figures_of_their_scope(
    container: Container, client: TestClient, world: World
) -> None:
    own, other = world.team_ids["own"], world.team_ids["other"]
    issue(container, team_id=own, common_name="mine.example.com")
    for n in range(3):
        issue(container, team_id=other, common_name=f"theirs-{n}.example.com")

    assert stats(client, world, "member")["total"] == 1
    assert stats(client, world, "outsider")["total"] == 3
    # Staff and read-only users have no team here: "mine" is empty, "all" is everything.
    for who in ("admin2", "security", "reader"):
        assert stats(client, world, who)["total"] == 0
        assert stats(client, world, who, "all")["total"] == 6  # and the two CA certificates
    # A member may not see every team's figures, and is told which scope to ask for.
    response = client.get(URL, params={"scope": "all"}, headers=world.headers("member"))
    assert response.status_code == 403
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("permission_denied", "scope")
    assert "scope=mine" in error["message"]
    response = client.get(URL, params={"scope": "everything"}, headers=world.headers("member"))
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "scope"
    assert client.get(URL).status_code == 401


def test_a_member_of_two_teams_sees_both(
    container: Container, client: TestClient, world: World
) -> None:
    own, other = world.team_ids["own"], world.team_ids["other"]
    with Services(container, cli_principal()) as services:
        accounts = services.accounts()
        accounts.add_member(accounts.get_team(other), accounts.find_user("member"))
    issue(container, team_id=own, common_name="one.example.com")
    issue(container, team_id=other, common_name="two.example.com")
    body = stats(client, world, "member")
    assert body["team_ids"] == sorted([own, other])
    assert groups(body["by_team"]) == [("other", 1), ("own", 1)]
    # The outsider's own figures are not changed by the member's second team.
    assert stats(client, world, "outsider")["total"] == 1


def test_the_ten_largest_groups_and_the_others(
    container: Container, client: TestClient, world: World
) -> None:
    ca = throwaway_ca()
    now = container.clock.now()
    with Services(container, cli_principal()) as services:
        accounts = services.accounts()
        team_ids = [accounts.create_team(f"t{n:02d}").id for n in range(12)]
    for n, team_id in enumerate(team_ids):
        for i in range(1 + n % 3):  # t02, t05, t08, t11 have 3; t01, t04, ... 2; the rest 1
            insert_leaf(
                container, ca, team_id=team_id, common_name=f"c{n}-{i}.example.com",
                not_before=now - DAY, not_after=now + 40 * DAY,
            )  # fmt: skip
    body = stats(client, world, "admin2", "all")
    top = groups(body["by_team"])
    assert len(top) == 10
    assert top[:4] == [("t02", 3), ("t05", 3), ("t08", 3), ("t11", 3)]
    assert top[4:8] == [("t01", 2), ("t04", 2), ("t07", 2), ("t10", 2)]
    assert top[8] == (None, 2)  # the CA certificates: no team, after named ones of equal count
    assert top[9] == ("t00", 1)
    # t03, t06 and t09 (1 each) are summed up.
    assert (body["by_team"]["others"], body["by_team"]["other_groups"]) == (3, 3)
    assert sum(n for _, n in top) + body["by_team"]["others"] == body["total"]


@pytest.mark.parametrize(("who", "scope"), [("admin2", "all"), ("member", "mine")])
def test_the_same_statements_for_a_few_certificates_as_for_many(
    who: str, scope: str, container: Container, client: TestClient, world: World
) -> None:
    own, other = world.team_ids["own"], world.team_ids["other"]
    ca = throwaway_ca()
    now = container.clock.now()

    def add(count: int) -> None:
        for n in range(count):
            cert_id = insert_leaf(
                container, ca, team_id=own if n % 2 else other,
                common_name=f"n{count}-{n}.example.com", not_before=now - (n + 2) * DAY,
                not_after=now + (n % 9) * 20 * DAY - DAY,
            )  # fmt: skip
            if n % 5 == 0:
                revoke(client, world, cert_id)

    def measure() -> tuple[int, int, list[str]]:
        with statements(container) as seen:
            body = stats(client, world, who, scope)
        return len(seen), body["total"], seen

    stats(client, world, who, scope)  # the token's last use is written once a minute
    add(3)
    few, total_few, _ = measure()
    add(40)
    many, total_many, seen = measure()
    assert total_many > total_few + 15
    assert many == few, f"{few} statements with a few certificates, {many} with many"
    counting = [s for s in seen if "FROM certificates" in s]
    assert len(counting) == 6, counting  # statuses, expiring, 2 lists, 2 groups


@pytest.mark.parametrize("max_age", [30])
def test_figures_are_kept_for_their_max_age_then_counted_again(
    container: Container, client: TestClient, world: World, clock: FrozenClock
) -> None:
    own = world.team_ids["own"]
    start = clock.now()
    issue(container, team_id=own, common_name="first.example.com")
    first = stats(client, world, "member")
    assert first["total"] == 1
    assert first["max_age_seconds"] == 30
    assert dt.datetime.fromisoformat(first["computed_at"]) == start

    issue(container, team_id=own, common_name="second.example.com")
    clock.advance(dt.timedelta(seconds=29))
    again = stats(client, world, "member")
    assert again["total"] == 1, "within 30 s the same figures are answered"
    assert again["computed_at"] == first["computed_at"]
    # Another scope has its own figures, counted now.
    assert stats(client, world, "admin2", "all")["total"] == 4

    # Past their max age the kept figures are still answered at once, and counted anew in
    # the background for the next view.
    clock.advance(dt.timedelta(seconds=1))
    stale = stats(client, world, "member")
    assert (stale["total"], stale["computed_at"]) == (1, first["computed_at"])
    container.statistics_cache.settle()
    fresh = stats(client, world, "member")
    assert fresh["total"] == 2
    assert dt.datetime.fromisoformat(fresh["computed_at"]) == start + dt.timedelta(seconds=30)

    # Figures older than ten times their max age are not shown: the view counts them.
    issue(container, team_id=own, common_name="third.example.com")
    clock.advance(dt.timedelta(seconds=30 + 300))
    late = stats(client, world, "member")
    assert late["total"] == 3
    assert dt.datetime.fromisoformat(late["computed_at"]) == clock.now()


def test_a_read_only_user_without_teams_sees_empty_figures_of_their_own(
    client: TestClient, world: World
) -> None:
    body = stats(client, world, "reader")
    assert body["total"] == 0
    assert body["by_status"] == dict.fromkeys(
        ("valid", "expiring", "expired", "revoked", "not_yet_valid"), 0
    )
    assert windows(body["expiring"]) == {7: 0, 30: 0, 90: 0}
    assert body["issued"]["newest"] == []
    assert body["by_team"] == {"top": [], "others": 0, "other_groups": 0}
