"""The audit log: one event per state change, listing with filters and cursors, tamper
detection that names the broken place, and a chain that survives concurrent writers."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text, update

from lemur.accounts.login import ThrottlePolicy
from lemur.accounts.models import Role
from lemur.audit.chain import verify_chain
from lemur.audit.models import AuditEvent, AuditHead
from lemur.audit.service import event_hash
from lemur.authz import cli_principal
from lemur.clock import FrozenClock
from lemur.container import Container
from lemur.errors import AuthenticationRequired
from lemur.services import Services
from tests.api.conftest import World
from tests.api.inventory_helpers import issue
from tests.conftest import START
from tests.login_helpers import Logins

CLIENT = "192.0.2.10"


def events_count(container: Container) -> int:
    with container.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def newest(container: Container) -> AuditEvent:
    with container.db.read() as session:
        event = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()
        session.expunge(event)
        return event


def login_service(container: Container) -> Logins:
    return Logins(
        container, ThrottlePolicy(10, 10, dt.timedelta(minutes=15)), hasher=container.hasher
    )


def problems(container: Container) -> list[tuple[int, str]]:
    with container.db.read() as session:
        result = verify_chain(session)
    return [(p.seq, p.kind) for p in result.problems]


# -- one event per state change --------------------------------------------------------


def test_every_state_changing_call_writes_one_event(
    client: TestClient, world: World, container: Container, clock: FrozenClock
) -> None:
    admin, member = world.headers("admin2"), world.headers("member")
    state: dict[str, Any] = {}

    def create_user() -> Any:
        r = client.post("/api/v1/users", headers=admin, json={"username": "alice"})
        state["alice"] = r.json()["id"]
        return r

    def create_team() -> Any:
        r = client.post("/api/v1/teams", headers=admin, json={"name": "payments"})
        state["team"] = r.json()["id"]
        return r

    def create_token() -> Any:
        r = client.post("/api/v1/tokens", headers=member, json={"name": "ci"})
        state["token"] = r.json()["id"]
        return r

    steps: list[tuple[Any, str, str, str, Any]] = [
        # call, actor, action, target type, target id
        (create_user, "user:admin2", "user.create", "user", lambda: state["alice"]),
        (
            lambda: client.patch(f"/api/v1/users/{state['alice']}", headers=admin, json={"role": "security"}),
            "user:admin2", "user.role", "user", lambda: state["alice"],
        ),
        (
            lambda: client.patch(f"/api/v1/users/{state['alice']}", headers=admin, json={"disabled": True}),
            "user:admin2", "user.disable", "user", lambda: state["alice"],
        ),
        (
            lambda: client.patch(f"/api/v1/users/{state['alice']}", headers=admin, json={"disabled": False}),
            "user:admin2", "user.enable", "user", lambda: state["alice"],
        ),
        (
            lambda: client.post(f"/api/v1/users/{state['alice']}/reset-password", headers=admin),
            "user:admin2", "user.reset_password", "user", lambda: state["alice"],
        ),
        (create_team, "user:admin2", "team.create", "team", lambda: state["team"]),
        (
            lambda: client.post(f"/api/v1/teams/{state['team']}/members", headers=admin, json={"username": "alice"}),
            "user:admin2", "team.add_member", "team", lambda: state["team"],
        ),
        (
            lambda: client.delete(f"/api/v1/teams/{state['team']}/members/{state['alice']}", headers=admin),
            "user:admin2", "team.remove_member", "team", lambda: state["team"],
        ),
        (create_token, "user:member", "token.create", "token", lambda: state["token"]),
        (
            lambda: client.delete(f"/api/v1/tokens/{state['token']}", headers=member),
            "user:member", "token.revoke", "token", lambda: state["token"],
        ),
        (
            lambda: client.post(
                "/api/v1/me/password",
                headers=member,
                json={"current_password": "member-password-123", "new_password": "member-password-456"},
            ),
            "user:member", "user.change_password", "user", lambda: world.user_ids["member"],
        ),
    ]  # fmt: skip
    for call, actor, action, target_type, target_id in steps:
        clock.advance(dt.timedelta(minutes=5))
        before = events_count(container)
        r = call()
        assert 200 <= r.status_code < 300, (action, r.text)
        assert events_count(container) == before + 1, action
        event = newest(container)
        assert event.actor == actor
        assert event.action == action
        assert (event.target_type, event.target_id) == (target_type, str(target_id()))
        assert event.client_address == CLIENT
        assert event.outcome == "success"
        assert event.occurred_at == clock.now()
    assert problems(container) == []


def test_refused_changes_write_no_event(
    client: TestClient, world: World, container: Container
) -> None:
    before = events_count(container)
    admin = world.headers("admin2")
    assert (
        client.post("/api/v1/users", headers=admin, json={"username": "member"}).status_code == 409
    )
    assert client.post("/api/v1/teams", headers=admin, json={"name": "own"}).status_code == 409
    assert (
        client.post(
            "/api/v1/users", headers=world.headers("member"), json={"username": "x"}
        ).status_code
        == 403
    )
    assert (
        client.patch(
            f"/api/v1/users/{world.user_ids['admin2']}", headers=admin, json={"disabled": True}
        ).status_code
        == 422
    )
    assert events_count(container) == before


def test_logins_are_audited_success_and_failure(world: World, container: Container) -> None:
    service = login_service(container)
    cases = [
        ("member", "wrong-password-000", "wrong_password"),
        ("nobody", "whatever-password", "unknown_user"),
    ]
    for username, password, reason in cases:
        before = events_count(container)
        with pytest.raises(AuthenticationRequired):
            service.login(username, password, client_address=CLIENT)
        assert events_count(container) == before + 1
        event = newest(container)
        assert (event.actor, event.action, event.outcome) == (
            f"user:{username}",
            "auth.login",
            "failure",
        )
        assert (event.target_type, event.target_id) == ("user", username)
        assert event.client_address == CLIENT
        assert f'"reason":"{reason}"' in event.details

    with Services(container, cli_principal()) as services:
        accounts = services.accounts()
        accounts.set_disabled(accounts.find_user("reader"), True)
    with pytest.raises(AuthenticationRequired):
        service.login("reader", "reader-password-123", client_address=CLIENT)
    event = newest(container)
    assert (event.action, event.outcome) == ("auth.login", "failure")
    assert '"reason":"disabled"' in event.details

    service.login("member", "member-password-123", client_address=CLIENT)
    event = newest(container)
    assert (event.actor, event.action, event.outcome) == ("user:member", "auth.login", "success")
    assert event.target_id == str(world.user_ids["member"])
    assert event.client_address == CLIENT
    assert problems(container) == []


# -- listing -----------------------------------------------------------------------------


@pytest.fixture
def history(
    client: TestClient, world: World, container: Container, clock: FrozenClock
) -> dict[str, Any]:
    """World setup at START (actor cli); then one event an hour: a user, a team, a token, a
    failed login."""
    admin = world.headers("admin2")
    clock.advance(dt.timedelta(hours=1))
    alice = client.post("/api/v1/users", headers=admin, json={"username": "alice"}).json()["id"]
    clock.advance(dt.timedelta(hours=1))
    team = client.post("/api/v1/teams", headers=admin, json={"name": "payments"}).json()["id"]
    clock.advance(dt.timedelta(hours=1))
    assert (
        client.post(
            "/api/v1/tokens", headers=world.headers("member"), json={"name": "ci"}
        ).status_code
        == 201
    )
    clock.advance(dt.timedelta(hours=1))
    with pytest.raises(AuthenticationRequired):
        login_service(container).login("member", "not-the-password", client_address=CLIENT)
    return {"alice": alice, "team": team}


def listing(client: TestClient, world: World, **params: Any) -> list[dict[str, Any]]:
    r = client.get(
        "/api/v1/audit-events", headers=world.headers("security"), params={"limit": 500, **params}
    )
    assert r.status_code == 200, r.text
    assert r.json()["next_cursor"] is None
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def test_list_filters(
    client: TestClient, world: World, container: Container, history: dict[str, Any]
) -> None:
    everything = listing(client, world)
    assert len(everything) == events_count(container)
    assert [e["seq"] for e in everything] == sorted((e["seq"] for e in everything), reverse=True)

    by_admin = listing(client, world, actor="user:admin2")
    # the world gave admin2 a token at the start (as admin2); then a user and a team
    assert [e["action"] for e in by_admin] == ["team.create", "user.create", "token.create"]
    assert [e["client_address"] for e in by_admin] == [CLIENT, CLIENT, None]
    assert {e["actor"] for e in listing(client, world, actor="cli")} == {"cli"}

    created = listing(client, world, action="user.create")
    assert {e["action"] for e in created} == {"user.create"}
    # the initial admin, the world's users and alice
    assert len(created) == len(world.user_ids) + 1
    user_prefix = listing(client, world, action="user.")
    assert {e["action"] for e in user_prefix} == {"user.create"}
    assert listing(client, world, action="team.")
    assert {e["action"] for e in listing(client, world, action="team.")} == {
        "team.create",
        "team.add_member",
    }
    # without the trailing dot, "user" is an exact action name, and there is none
    assert listing(client, world, action="user") == []
    # LIKE wildcards in the prefix are literal
    assert listing(client, world, action="%.") == []

    alice = listing(client, world, target_type="user", target_id=str(history["alice"]))
    assert [(e["action"], e["details"]["username"]) for e in alice] == [("user.create", "alice")]
    tokens = listing(client, world, target_type="token")
    assert {e["action"] for e in tokens} == {"token.create"}

    failed = listing(client, world, outcome="failure")
    assert [(e["action"], e["actor"]) for e in failed] == [("auth.login", "user:member")]
    assert len(listing(client, world, outcome="success")) == len(everything) - 1


def test_list_time_range(client: TestClient, world: World, history: dict[str, Any]) -> None:
    one_hour = START + dt.timedelta(hours=1)
    window = listing(
        client,
        world,
        since=one_hour.isoformat(),
        until=(one_hour + dt.timedelta(hours=1)).isoformat(),
    )
    assert [e["action"] for e in window] == ["user.create"]  # since inclusive, until exclusive
    # the same instant in another zone, and with a Z suffix
    window_cet = listing(
        client, world, since="2026-11-27T14:00:00+01:00", until="2026-11-27T14:00:00Z"
    )
    assert [e["action"] for e in window_cet] == ["user.create"]
    assert {e["action"] for e in listing(client, world, until=START.isoformat())} == set()
    at_start = listing(client, world, until=one_hour.isoformat())
    assert {e["occurred_at"] for e in at_start} == {START.isoformat().replace("+00:00", "Z")}
    # (lemur init may record more at the start than the accounts the world made)
    assert {e["action"] for e in at_start} >= {
        "user.create",
        "team.create",
        "team.add_member",
        "token.create",
    }
    later = listing(client, world, since=(START + dt.timedelta(hours=3)).isoformat())
    assert [e["action"] for e in later] == ["auth.login", "token.create"]


def test_naive_datetime_is_refused(client: TestClient, world: World) -> None:
    for field in ("since", "until"):
        r = client.get(
            "/api/v1/audit-events",
            headers=world.headers("admin2"),
            params={field: "2026-11-27T12:00:00"},
        )
        assert r.status_code == 422
        assert r.json()["error"]["code"] == "naive_datetime"
        assert r.json()["error"]["field"] == field


def test_bad_outcome_filter_is_refused(client: TestClient, world: World) -> None:
    r = client.get(
        "/api/v1/audit-events", headers=world.headers("admin2"), params={"outcome": "maybe"}
    )
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "outcome"


def walk(client: TestClient, world: World, limit: int, **params: Any) -> list[int]:
    seqs: list[int] = []
    cursor: str | None = None
    for _ in range(1000):
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        r = client.get("/api/v1/audit-events", headers=world.headers("admin2"), params=query)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= limit
        seqs += [e["seq"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seqs
        assert len(page["items"]) == limit
    raise AssertionError("pagination did not end")


def test_cursor_pagination_walks_every_event_once_newest_first(
    client: TestClient, world: World, container: Container, history: dict[str, Any]
) -> None:
    everything = [e["seq"] for e in listing(client, world)]
    total = len(everything)
    assert total > 10
    for limit in (1, 3, total, total - 1, total + 1):
        seqs = walk(client, world, limit)
        assert seqs == everything, limit
        assert seqs == sorted(set(seqs), reverse=True)
    # an exact multiple of the page size ends without an empty page
    assert walk(client, world, total // 2 if total % 2 == 0 else total) == everything
    # filters hold across pages
    user_events = [e["seq"] for e in listing(client, world, action="user.")]
    assert walk(client, world, 2, action="user.") == user_events
    # events written while paging do not appear in later pages nor repeat earlier ones
    r = client.get("/api/v1/audit-events", headers=world.headers("admin2"), params={"limit": 4})
    first = [e["seq"] for e in r.json()["items"]]
    client.post("/api/v1/teams", headers=world.headers("admin2"), json={"name": "late"})
    rest = walk(client, world, 4, cursor=r.json()["next_cursor"])
    assert first + rest == everything


def test_garbage_cursor_is_refused(client: TestClient, world: World) -> None:
    for cursor in ("abc", "²", "-1", "1.5", "9" * 30, " 5", ""):
        r = client.get(
            "/api/v1/audit-events", headers=world.headers("admin2"), params={"cursor": cursor}
        )
        assert r.status_code == 422, (cursor, r.text)
        assert r.json()["error"]["code"] == "invalid_cursor"
        assert r.json()["error"]["field"] == "cursor"


# -- tampering ---------------------------------------------------------------------------


def api_verification(client: TestClient, world: World) -> dict[str, Any]:
    r = client.get("/api/v1/audit-events/verification", headers=world.headers("security"))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def last_seq(container: Container) -> int:
    with container.db.read() as session:
        return int(session.scalar(select(func.max(AuditEvent.seq))) or 0)


def sql(container: Container, statement: str, **params: Any) -> None:
    with container.db.write_engine.begin() as conn:
        conn.execute(text(statement), params)


def forge(container: Container, *, seq: int, prev_seq: int) -> None:
    """Insert a plausible event at ``seq``, chained to event ``prev_seq``, with a hash that
    is right for its own content: what an attacker with database access would write."""
    with container.db.write() as session:
        prev = session.get(AuditEvent, prev_seq)
        assert prev is not None
        event = AuditEvent(
            seq=seq,
            occurred_at=prev.occurred_at,
            actor="user:admin",
            action="user.role",
            target_type="user",
            target_id="4",
            outcome="success",
            client_address=CLIENT,
            details='{"role":"admin"}',
            prev_hash=prev.hash,
        )
        event.hash = event_hash(event)
        session.add(event)
        session.commit()


def test_intact_chain_verifies(client: TestClient, world: World, container: Container) -> None:
    body = api_verification(client, world)
    assert body["ok"] is True
    assert body["problems"] == []
    assert body["checked"] == events_count(container) == body["head_seq"] == last_seq(container)
    assert body["head_hash"] == newest(container).hash


def check(
    client: TestClient, world: World, container: Container, expected: list[tuple[int, str]]
) -> None:
    assert problems(container) == expected
    body = api_verification(client, world)
    assert body["ok"] is False
    assert [(p["seq"], p["kind"]) for p in body["problems"]] == expected
    for problem in body["problems"]:
        assert str(problem["seq"]) in problem["message"]


def test_changed_row_is_named(client: TestClient, world: World, container: Container) -> None:
    sql(container, "UPDATE audit_events SET details = :d WHERE seq = 5", d='{"role":"admin"}')
    check(client, world, container, [(5, "changed")])


def test_changed_actor_is_named(client: TestClient, world: World, container: Container) -> None:
    sql(container, "UPDATE audit_events SET actor = 'user:someone-else' WHERE seq = 3")
    check(client, world, container, [(3, "changed")])


def test_deleted_middle_row_is_named(
    client: TestClient, world: World, container: Container
) -> None:
    sql(container, "DELETE FROM audit_events WHERE seq = 6")
    check(client, world, container, [(6, "deleted")])
    body = api_verification(client, world)
    assert "before event 7" in body["problems"][0]["message"]


def test_deleted_range_is_named_by_its_first_seq(
    client: TestClient, world: World, container: Container
) -> None:
    sql(container, "DELETE FROM audit_events WHERE seq IN (4, 5, 6)")
    check(client, world, container, [(4, "deleted")])
    assert "4-6" in api_verification(client, world)["problems"][0]["message"]


def test_deleted_newest_row_is_truncation(
    client: TestClient, world: World, container: Container
) -> None:
    last = last_seq(container)
    sql(container, "DELETE FROM audit_events WHERE seq = :s", s=last)
    check(client, world, container, [(last, "truncated")])


def test_changed_newest_row_with_its_hash_is_caught_by_the_head(
    client: TestClient, world: World, container: Container
) -> None:
    last = last_seq(container)
    with container.db.write() as session:
        event = session.get(AuditEvent, last)
        assert event is not None
        event.details = '{"forged":"yes"}'
        event.hash = event_hash(event)
        session.commit()
    check(client, world, container, [(last, "changed")])


def test_forged_row_appended_without_head_update_is_named(
    client: TestClient, world: World, container: Container
) -> None:
    last = last_seq(container)
    forge(container, seq=last + 1, prev_seq=last)
    check(client, world, container, [(last + 1, "inserted")])


def test_row_inserted_in_the_middle_by_renumbering_is_named(
    client: TestClient, world: World, container: Container
) -> None:
    last = last_seq(container)
    k = 5
    # Make room at k: move every later event up by one, newest first so seq stays unique.
    for seq in range(last, k - 1, -1):
        sql(container, "UPDATE audit_events SET seq = seq + 1 WHERE seq = :s", s=seq)
    forge(container, seq=k, prev_seq=k - 1)
    with container.db.write() as session:  # a careful attacker moves the head too
        new_last = session.get(AuditEvent, last + 1)
        assert new_last is not None
        session.execute(update(AuditHead).values(seq=last + 1, hash=new_last.hash))
        session.commit()
    expected = [(k, "inserted")] + [(seq, "changed") for seq in range(k + 1, last + 2)]
    check(client, world, container, expected)


# -- concurrency -------------------------------------------------------------------------


def test_concurrent_writers_keep_the_chain_intact(world: World, container: Container) -> None:
    team_id = world.team_ids["own"]
    before = events_count(container)
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(10):
                with Services(container, cli_principal()) as services:
                    accounts = services.accounts()
                    if i % 3 == 1:
                        accounts.create_team(f"team-{n}-{i}")
                    elif i % 3 == 2:
                        accounts.create_user(
                            f"user-{n}-{i}", role=Role.MEMBER, password="a-long-password-1"
                        )
                if i % 3 == 0:
                    # Issuance takes the head's lock in the statement that inserts the
                    # certificate (lemur.certificates.store): it must queue like the rest.
                    issue(container, team_id=team_id, common_name=f"c{n}-{i}.chain.example")
        except BaseException as exc:  # reported below, with the thread's traceback
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert events_count(container) == before + 80
    with container.db.read() as session:
        result = verify_chain(session)
        seqs = list(session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
    assert result.ok, result.problems
    assert result.checked == before + 80
    assert seqs == list(range(1, before + 81))
