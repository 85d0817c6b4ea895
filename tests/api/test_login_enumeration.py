"""Login does not tell whether a username exists: an unknown user and a wrong password get
the same answer (status, code, field, message, page) and cost the same time (both verify
an argon2id hash)."""

from __future__ import annotations

import datetime as dt
import re
import statistics
import time

from fastapi.testclient import TestClient
from sqlalchemy import update

from lemur.accounts.login import ThrottlePolicy
from lemur.accounts.models import User
from lemur.accounts.passwords import PasswordHasher
from lemur.container import Container
from lemur.errors import AuthenticationRequired
from tests.api.conftest import World
from tests.api.test_login import post_login, set_cookie
from tests.login_helpers import Logins

CSRF_VALUE = re.compile(r'name="csrf_token" value="[^"]+"')


def test_unknown_user_and_wrong_password_get_the_same_page(
    client: TestClient, world: World
) -> None:
    pages = []
    for username, password in (("member", "not-the-password"), ("nobody1", "member-password-123")):
        r = post_login(client, username, password)
        assert r.status_code == 401
        assert set_cookie(r, "lemur_session") is None
        assert set_cookie(r, "lemur_device") is None
        # The form repeats the username typed and carries a fresh CSRF token; the rest of
        # the page is the same.
        pages.append(CSRF_VALUE.sub("", r.text).replace(username, "USERNAME"))
    assert pages[0] == pages[1]


def test_unknown_user_and_wrong_password_take_the_same_time(
    container: Container, world: World
) -> None:
    # A hash that costs tens of milliseconds, so that it dominates the database's time.
    hasher = PasswordHasher(time_cost=2, memory_cost=32768)
    with container.db.write() as session:
        session.execute(
            update(User)
            .where(User.username == "member")
            .values(password_hash=hasher.hash("member-password-123"))
        )
        session.commit()
    service = Logins(container, ThrottlePolicy(1000, 1000, dt.timedelta(minutes=15)), hasher=hasher)

    def attempt(username: str) -> tuple[float, tuple[int, str, str, str | None]]:
        start = time.perf_counter()
        try:
            service.login(username, "not-the-password", client_address="192.0.2.10")
        except AuthenticationRequired as exc:
            return time.perf_counter() - start, (exc.status, exc.code, exc.message, exc.field)
        raise AssertionError("logged in with a wrong password")

    timings: dict[str, list[float]] = {"member": [], "nobody": []}
    answers = set()
    for _ in range(7):
        for username in timings:
            elapsed, answer = attempt(username)
            timings[username].append(elapsed)
            answers.add(answer)
    assert len(answers) == 1, answers
    stored = hasher.hash("x")
    verifies = []
    for _ in range(5):
        start = time.perf_counter()
        hasher.verify(stored, "y")
        verifies.append(time.perf_counter() - start)
    one_verify = statistics.median(verifies)
    known, unknown = (statistics.median(t) for t in timings.values())
    # Both paths verify a hash (an unknown user is checked against a dummy hash) ...
    assert unknown >= 0.5 * one_verify, (unknown, one_verify)
    assert known >= 0.5 * one_verify, (known, one_verify)
    # ... and neither takes markedly longer than the other (a wide band: the machine is
    # shared; skipping the dummy hash makes the ratio about 0.05).
    assert 0.5 < unknown / known < 2.0, (known, unknown)
