"""Login throttling cannot be turned against the account's owner or other clients
(docs/decisions/0010): guesses from elsewhere never lock the owner out of a browser they
have used before, a new browser on a clean address still gets in, one address's failures
stop only that address, and behind trusted proxies each client counts on its own."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from lemur.accounts.login import ACCOUNT_CEILING
from lemur.app import create_app
from lemur.clock import FrozenClock
from lemur.config import Settings
from lemur.container import Container, build_container
from tests.api.conftest import World, clients_at
from tests.api.test_login import login_events, post_login
from tests.conftest import FAST_HASHER

OWNER = "203.0.113.5"
ATTACKER = "198.51.100.7"
LIMIT = 3  # login_max_failures_per_account in the test settings
RIGHT = "member-password-123"


def known_browser(app_for: Callable[[str], TestClient], address: str) -> TestClient:
    """A browser the owner has logged in with before (then logged out: only the device
    cookie is left)."""
    browser = app_for(address)
    assert post_login(browser, "member", RIGHT).status_code == 303
    assert browser.cookies.get("lemur_device")
    browser.cookies.delete("lemur_session")
    return browser


def set_device(client: TestClient, value: str) -> None:
    client.cookies.set("lemur_device", value, domain="testserver.local", path="/")


def test_owner_gets_in_while_an_attacker_fails_50_times(
    world: World, container: Container, app_for: Callable[[str], TestClient]
) -> None:
    browser = known_browser(app_for, OWNER)
    attacker = app_for(ATTACKER)
    answers = [post_login(attacker, "member", f"guess-{i}").status_code for i in range(50)]
    assert answers[:LIMIT] == [401] * LIMIT
    assert set(answers[LIMIT:]) == {429}
    # The right password from the attacker's address is refused as well: that pair is done.
    assert post_login(attacker, "member", RIGHT).status_code == 429
    # The owner, on their browser, at home or even behind the attacker's address (NAT).
    assert post_login(browser, "member", RIGHT).status_code == 303
    shared = app_for(ATTACKER)
    set_device(shared, browser.cookies.get("lemur_device") or "")
    assert post_login(shared, "member", RIGHT).status_code == 303
    # A new browser on an address without failures gets in too.
    assert post_login(app_for("192.0.2.201"), "member", RIGHT).status_code == 303
    # The owner's success wiped none of the attacker's failures.
    assert post_login(attacker, "member", RIGHT).status_code == 429
    # API tokens are not throttled.
    assert attacker.get("/api/v1/me", headers=world.headers("member")).status_code == 200


def test_many_addresses_wait_exponentially_then_only_known_browsers_get_in(
    world: World, container: Container, clock: FrozenClock, app_for: Callable[[str], TestClient]
) -> None:
    browser = known_browser(app_for, OWNER)
    bots = [app_for(f"198.51.100.{i}") for i in range(1, 3 * ACCOUNT_CEILING + 1)]
    for bot in bots[:LIMIT]:
        assert post_login(bot, "member", "guess").status_code == 401
    # Past the account's limit an address that has failed before must wait, longer each
    # time; one that has not may still try.
    waits = []
    for bot in bots[:3]:
        r = post_login(bot, "member", "guess")
        assert r.status_code == 429, r.text
        assert "too many failed logins for this account" in r.text
        waits.append(int(r.headers["retry-after"]))
        clock.advance(dt.timedelta(seconds=waits[-1]))
        assert post_login(bot, "member", "guess").status_code == 401
    assert waits == [2, 3, 5]  # 1, 2, 4 seconds after the latest failure, rounded up
    assert post_login(app_for("192.0.2.201"), "member", RIGHT).status_code == 303
    # Enough distinct addresses reach the ceiling: unknown browsers are refused ...
    for bot in bots[LIMIT:]:
        if post_login(bot, "member", "guess").status_code == 429:
            break
    r = post_login(app_for("192.0.2.202"), "member", RIGHT)
    assert r.status_code == 429
    assert "browser you have used before" in r.text
    # ... and the owner's browser is not.
    assert post_login(browser, "member", RIGHT).status_code == 303


def test_device_cookie_is_bound_to_its_account_and_signed(
    world: World, container: Container, clock: FrozenClock, app_for: Callable[[str], TestClient]
) -> None:
    mine = app_for(ATTACKER)
    assert post_login(mine, "reader", "reader-password-123").status_code == 303
    reader_device = mine.cookies.get("lemur_device") or ""
    username, device_id, mac = reader_device.split(".")
    assert username == "reader"
    for i, forged in enumerate(
        (
            reader_device,  # another account's cookie
            f"member.{device_id}.{mac}",  # re-labelled
            f"member.{device_id}.{'0' * 64}",  # unsigned
        )
    ):
        # Counted against the address, as for any unknown browser.
        attacker = app_for(f"198.51.100.{100 + i}")
        set_device(attacker, forged)
        answers = [post_login(attacker, "member", "guess").status_code for _ in range(LIMIT + 1)]
        assert answers == [401] * LIMIT + [429], (forged, answers)
        clock.advance(dt.timedelta(seconds=container.settings.login_failure_window_seconds + 1))


def test_failures_of_one_address_do_not_stop_another(
    world: World, container: Container, app_for: Callable[[str], TestClient]
) -> None:
    attacker = app_for(ATTACKER)
    for name in ("admin", "admin2", "security", "outsider", "reader", "ghost"):
        assert post_login(attacker, name, "guess-password-1").status_code == 401
    r = post_login(attacker, "member", RIGHT)
    assert r.status_code == 429
    assert "your address" in r.text
    for name, password in (("member", RIGHT), ("reader", "reader-password-123")):
        assert post_login(app_for(OWNER), name, password).status_code == 303
    # Many failures on one account from one address throttle that pair, not the address.
    other = app_for("192.0.2.77")
    for _ in range(10):
        post_login(other, "security", "guess")
    assert post_login(other, "reader", "reader-password-123").status_code == 303


@pytest.fixture
def behind_proxy(
    settings: Settings, clock: FrozenClock, container: Container
) -> Iterator[Callable[[str], TestClient]]:
    """Clients whose connections come from the load balancer 10.0.0.2, trusted as 10.0.0.0/8."""
    proxied = build_container(
        settings.model_copy(update={"trusted_proxies": "10.0.0.0/8"}),
        init=False,
        clock=clock,
        hasher=FAST_HASHER,
    )
    yield from clients_at(create_app(proxied))
    proxied.close()


def test_forwarded_for_from_a_trusted_proxy_names_the_client(
    world: World, container: Container, behind_proxy: Callable[[str], TestClient]
) -> None:
    balancer = behind_proxy("10.0.0.2")
    # A client may write anything at the left; the proxies append on the right.
    spoofed = {"X-Forwarded-For": f"{OWNER}, {ATTACKER}, 10.0.0.9"}
    balancer.headers.update(spoofed)
    for name in ("admin", "admin2", "security", "outsider", "reader", "ghost"):
        assert post_login(balancer, name, "guess-password-1").status_code == 401
    assert post_login(balancer, "member", RIGHT).status_code == 429
    events = login_events(container)
    assert {e.client_address for e in events} == {ATTACKER}
    # Everyone else behind the same balancer is another client.
    owner = behind_proxy("10.0.0.2")
    owner.headers.update({"X-Forwarded-For": OWNER})
    assert post_login(owner, "member", RIGHT).status_code == 303
    assert login_events(container)[-1].client_address == OWNER


def test_forwarded_for_from_an_untrusted_peer_is_ignored(
    world: World, container: Container, behind_proxy: Callable[[str], TestClient]
) -> None:
    direct = behind_proxy(ATTACKER)
    for i, name in enumerate(("admin", "admin2", "security", "outsider", "reader", "ghost")):
        direct.headers.update({"X-Forwarded-For": f"192.0.2.{i}"})
        assert post_login(direct, name, "guess-password-1").status_code == 401
    direct.headers.update({"X-Forwarded-For": "192.0.2.100"})
    assert post_login(direct, "member", RIGHT).status_code == 429
    assert {e.client_address for e in login_events(container)} == {ATTACKER}
