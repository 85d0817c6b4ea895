"""The notifications API: channels with secrets that never come back, rules with clear 422s,
the message history with failures visible, the test message, mutes."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from lemur.container import Container
from tests.api.conftest import World
from tests.notifications.conftest import NWorld, email_options
from tests.peers.fixtures import WEBHOOK_SECRET
from tests.peers.receivers import WebhookReceiver
from tests.peers.smtp import SMTPPeer

CHANNELS = "/api/v1/notifications/channels"
RULES = "/api/v1/notifications/rules"


def _error(r: object, status: int) -> tuple[str, str | None]:
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    body = r.json()["error"]  # type: ignore[attr-defined]
    return body["code"], body["field"]


def test_channel_secrets_are_stored_encrypted_and_never_returned(
    client: TestClient, world: World, smtp_server: SMTPPeer, container: Container
) -> None:
    h = world.headers("admin2")
    r = client.post(
        CHANNELS,
        headers=h,
        json={"name": "mail", "plugin": "email", "options": email_options(smtp_server)},
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["options"]["password"] is None
    assert created["options"]["secrets_set"] == ["password"]
    assert smtp_server.password not in r.text
    for answer in (
        client.get(CHANNELS, headers=h),
        client.get(f"{CHANNELS}/{created['id']}", headers=h),
    ):
        assert smtp_server.password not in answer.text
    with container.db.read() as session:
        from sqlalchemy import text

        stored = session.execute(text("SELECT options FROM notification_channels")).scalar_one()
    assert smtp_server.password not in stored
    assert "$encrypted" in stored

    # An update that leaves the password out keeps it: the channel still delivers.
    r = client.patch(f"{CHANNELS}/{created['id']}", headers=h, json={"options": {"timeout": 7}})
    assert r.status_code == 200, r.text
    assert r.json()["options"]["timeout"] == 7
    assert r.json()["options"]["secrets_set"] == ["password"]
    r = client.post(
        f"{CHANNELS}/{created['id']}/test", headers=h, json={"recipients": ["ops@example.test"]}
    )
    assert r.status_code == 200, r.text
    assert r.json()["delivered"] is True
    [mail] = smtp_server.messages
    assert mail.rcpt_tos == ("ops@example.test",)
    assert mail.message["Message-ID"] == r.json()["message_id"]


def test_a_test_message_to_a_channel_that_is_down_says_why(
    client: TestClient, world: World, webhook_receiver: WebhookReceiver
) -> None:
    h = world.headers("admin2")
    r = client.post(
        CHANNELS,
        headers=h,
        json={
            "name": "hook",
            "plugin": "webhook",
            "options": {"url": webhook_receiver.url, "secret": WEBHOOK_SECRET},
        },
    )
    webhook_receiver.down()
    answer = client.post(f"{CHANNELS}/{r.json()['id']}/test", headers=h, json={})
    assert answer.status_code == 200
    assert answer.json()["delivered"] is False
    assert answer.json()["error_code"] == "peer_unavailable"
    assert "503" in answer.json()["error"]


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        (
            {"name": "x", "plugin": "email", "options": {"port": 0}},
            422,
            "invalid_plugin_options",
            "options.host",
        ),
        ({"name": "x", "plugin": "pager", "options": {}}, 422, "unknown_plugin", "plugin"),
        (
            {"name": "Bad Name", "plugin": "webhook", "options": {}},
            422,
            "invalid_channel_name",
            "name",
        ),
    ],
)
def test_bad_channels_are_refused_with_the_field(
    client: TestClient, world: World, body: dict[str, object], status: int, code: str, field: str
) -> None:
    r = client.post(CHANNELS, headers=world.headers("admin2"), json=body)
    assert _error(r, status) == (code, field)
    assert client.get(CHANNELS, headers=world.headers("admin2")).json() == []


def test_an_option_out_of_range_names_it(
    client: TestClient, world: World, smtp_server: SMTPPeer
) -> None:
    r = client.post(
        CHANNELS,
        headers=world.headers("admin2"),
        json={"name": "mail", "plugin": "email", "options": email_options(smtp_server, port=70000)},
    )
    assert _error(r, 422) == ("invalid_plugin_options", "options.port")


def test_rules_validate_thresholds_addresses_and_channel(client: TestClient, world: World) -> None:
    h = world.headers("admin2")
    channel = client.post(
        CHANNELS,
        headers=h,
        json={
            "name": "hook",
            "plugin": "webhook",
            "options": {"url": "https://h.example.test/", "secret": "s" * 20},
        },
    ).json()["id"]
    base = {"name": "r", "channel_id": channel, "events": ["expiring"]}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"thresholds": [30, 14, 0]}, "thresholds[2]"),
        ({"thresholds": [30, 14, 400]}, "thresholds[2]"),
        ({"thresholds": [30, 14, 30]}, "thresholds[2]"),
        ({"thresholds": list(range(1, 12))}, "thresholds"),
        ({"recipients": {"addresses": ["not-an-address"]}}, "recipients.addresses[0]"),
        ({"events": ["expiring", "soon"]}, "events[1]"),
        ({"channel_id": 999}, "channel_id"),
    ]
    for change, field in cases:
        r = client.post(RULES, headers=h, json={**base, **change})
        _code, at = _error(r, 422)
        assert at == field, (change, r.text)
    r = client.post(RULES, headers=h, json={**base, "thresholds": [7, 30, 14]})
    assert r.status_code == 201, r.text
    assert r.json()["thresholds"] == [30, 14, 7]
    assert r.json()["recipients"] == {"owners": True, "security_team": False, "addresses": []}
    assert _error(client.post(RULES, headers=h, json=base), 409) == ("rule_exists", "name")
    assert _error(client.delete(f"{CHANNELS}/{channel}", headers=h), 409) == (
        "channel_in_use",
        "channel_id",
    )


def test_failed_messages_are_listed_with_their_reason(
    nworld: NWorld,
    container: Container,
    world: World,
    client: TestClient,
    webhook_receiver: WebhookReceiver,
) -> None:
    channel = nworld.channel(
        "hook", "webhook", {"url": webhook_receiver.url, "secret": WEBHOOK_SECRET}
    )
    nworld.rule("hook", channel)
    nworld.certificate("payments", "a.example.com", 10)
    webhook_receiver.respond(400, "bad payload")
    nworld.expiry_pass()
    h = world.headers("security")
    page = client.get(
        "/api/v1/notifications/messages", headers=h, params={"state": "failed"}
    ).json()
    [item] = page["items"]
    assert item["recipient"] == "channel"
    assert item["attempts"] == 1
    assert "400" in item["last_error"]
    assert page["next_cursor"] is None
    assert (
        client.get("/api/v1/notifications/messages", headers=h, params={"state": "sent"}).json()[
            "items"
        ]
        == []
    )

    # A second pass with a new certificate: a second message; pages of one, newest first.
    nworld.certificate("search", "b.example.com", 12)
    nworld.expiry_pass()
    first = client.get("/api/v1/notifications/messages", headers=h, params={"limit": 1}).json()
    assert first["next_cursor"] is not None
    second = client.get(
        "/api/v1/notifications/messages",
        headers=h,
        params={"limit": 1, "cursor": first["next_cursor"]},
    ).json()
    assert second["next_cursor"] is None
    assert first["items"][0]["id"] > second["items"][0]["id"] == item["id"]
    assert "b.example.com" in first["items"][0]["subject"]


def test_mute_and_unmute_through_the_api(nworld: NWorld, world: World, client: TestClient) -> None:
    cert = nworld.certificate("payments", "mute.example.com", 30)
    h = world.headers("admin2")
    r = client.put(f"/api/v1/certificates/{cert}/mute", headers=h, json={"reason": "retiring"})
    assert r.status_code == 200, r.text
    assert r.json()["reason"] == "retiring"
    mutes = client.get("/api/v1/notifications/mutes", headers=h).json()
    assert [(m["certificate_id"], m["reason"], m["muted_by"]) for m in mutes] == [
        (cert, "retiring", "user:admin2")
    ]
    assert client.delete(f"/api/v1/certificates/{cert}/mute", headers=h).status_code == 204
    assert _error(client.delete(f"/api/v1/certificates/{cert}/mute", headers=h), 404) == (
        "mute_not_found",
        "certificate_id",
    )
    assert client.get("/api/v1/notifications/mutes", headers=h).json() == []
