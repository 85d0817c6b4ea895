"""Verifying the audit log against a head recorded elsewhere, on a live log, and noticing a
missing head row (both databases)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, text, update

from lemur.audit.chain import RecordedHead, check_recorded_head, current_head, verify_chain
from lemur.audit.models import AuditEvent, AuditHead
from lemur.authz import cli_principal
from lemur.container import Container
from lemur.errors import InvalidInput, LemurError
from lemur.services import Services
from tests.api.certs_helpers import issue, issue_raw
from tests.api.conftest import World


def add_teams(container: Container, *names: str) -> None:
    with Services(container, cli_principal()) as services:
        accounts = services.accounts()
        for name in names:
            accounts.create_team(name)


def record(container: Container) -> RecordedHead:
    with container.db.read() as session:
        head = current_head(session)
    assert head is not None
    return RecordedHead(*head)


def check(container: Container, recorded: RecordedHead) -> tuple[bool, str | None]:
    with container.db.read() as session:
        chain_ok = verify_chain(session).ok
        problem = check_recorded_head(session, recorded)
    return chain_ok, None if problem is None else problem.message


def rewind_to(container: Container, seq: int) -> None:
    """Delete the events after ``seq`` and move the head back: consistent from inside."""
    with container.db.write() as session:
        kept = session.get(AuditEvent, seq)
        assert kept is not None
        session.execute(delete(AuditEvent).where(AuditEvent.seq > seq))
        session.execute(update(AuditHead).values(seq=seq, hash=kept.hash))
        session.commit()


def test_a_grown_log_passes_against_an_earlier_head(container: Container) -> None:
    add_teams(container, "a")
    recorded = record(container)
    add_teams(container, "b", "c")
    assert record(container).seq == (recorded.seq or 0) + 2
    assert check(container, recorded) == (True, None)
    # The older form, a bare hash, still works while it is unambiguous.
    assert check(container, RecordedHead(None, recorded.hash)) == (True, None)


def test_a_truncated_log_fails_against_the_recorded_head(container: Container) -> None:
    add_teams(container, "a")
    before = record(container)
    add_teams(container, "b", "c")
    recorded = record(container)
    assert recorded.seq is not None
    rewind_to(container, recorded.seq - 2)

    chain_ok, problem = check(container, recorded)
    assert chain_ok  # invisible from inside the database
    assert problem is not None
    assert f"event {recorded.seq}, recorded earlier as the head, is gone" in problem
    assert check(container, before) == (True, None)


def test_a_rewritten_log_fails_against_the_recorded_head(container: Container) -> None:
    add_teams(container, "a", "b")
    recorded = record(container)
    assert recorded.seq is not None
    rewind_to(container, recorded.seq - 1)
    add_teams(container, "forged")  # a new event with the same seq, validly chained

    chain_ok, problem = check(container, recorded)
    assert chain_ok
    assert record(container).seq == recorded.seq
    assert problem is not None
    assert f"event {recorded.seq} carries hash" in problem
    assert "rewritten" in problem
    _, bare = check(container, RecordedHead(None, recorded.hash))
    assert bare is not None
    assert "no event carries the recorded head hash" in bare


def test_a_missing_head_row_is_reported_with_its_repair(container: Container) -> None:
    add_teams(container, "a")
    recorded = record(container)
    with container.db.write() as session:
        session.execute(delete(AuditHead))
        session.commit()

    with container.db.read() as session:
        result = verify_chain(session)
    assert not result.ok
    [problem] = result.problems
    assert problem.kind == "head_missing"
    assert "every audited change fails" in problem.message
    # Writes fail with a code that says why, not an internal error.
    with pytest.raises(LemurError) as info:
        add_teams(container, "b")
    assert info.value.code == "audit_head_missing"

    # The repair the message gives works.
    repair = problem.message.split("restore it as the last event's seq and hash: ")[1]
    statement = repair.split(";")[0]
    with container.db.write() as session:
        session.execute(text(statement))
        session.commit()
    add_teams(container, "b")
    assert check(container, recorded) == (True, None)


@pytest.mark.parametrize("value", ["12", "x:" + "a" * 64, "3:" + "g" * 64, "-1:" + "a" * 64])
def test_a_malformed_recorded_head_is_refused(value: str) -> None:
    with pytest.raises(InvalidInput) as info:
        RecordedHead.parse(value)
    assert info.value.field == "expect_head"


def test_recorded_head_forms() -> None:
    digest = "ab" * 32
    assert RecordedHead.parse(f"7:{digest}") == RecordedHead(7, digest)
    assert RecordedHead.parse(digest.upper()) == RecordedHead(None, digest)


def test_issuance_without_the_head_row_fails_saying_why_and_writes_nothing(
    container: Container, client: TestClient, world: World
) -> None:
    """Issuance locks the head inside its INSERT (no separate statement): a missing row must
    fail it with the same code as every other audited write, and leave no certificate."""
    issue(client, world)
    with container.db.write() as session:
        session.execute(delete(AuditHead))
        session.commit()
    r = issue_raw(client, world, dns_names=["headless.example.com"])
    assert r.status_code == 500, r.text
    assert r.json()["error"]["code"] == "audit_head_missing"
    listed = client.get(
        "/api/v1/certificates",
        params={"name": "headless.example.com"},
        headers=world.headers("admin2"),
    )
    assert listed.json()["items"] == []
