"""The notification pages in Chromium against a real ``lemur serve`` (SQLite and
PostgreSQL): a webhook channel made through the form generated from the plugin's JSON
Schema, a test message that arrives at a real receiver on loopback (the outbound policy
allows loopback by default, docs/notifiers.md), a rule, and muted certificates."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from playwright.sync_api import Dialog, Page, expect

from lemur.accounts.models import Role
from lemur.authz import cli_principal
from lemur.certificates.requests import NewCertificate
from lemur.notifications.models import Message
from lemur.services import Services
from tests.peers.fixtures import (  # noqa: F401  (fixtures)
    WEBHOOK_SECRET,
    _webhook_receiver_session,
    webhook_receiver,
)
from tests.peers.receivers import WebhookReceiver
from tests.peers.server import RunningServer
from tests.ui.support import add_user, assert_accessible, at_path, log_in, server_container

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(sqlite_server: RunningServer) -> RunningServer:
    """SQLite only: docs/decisions/0022."""
    return sqlite_server


def _accept(dialog: Dialog) -> None:
    dialog.accept()


def test_a_webhook_channel_is_made_from_its_form_and_a_test_arrives(
    page: Page,
    server: RunningServer,
    webhook_receiver: WebhookReceiver,  # noqa: F811
) -> None:

    admin, password = add_user(server, role=Role.ADMIN)
    log_in(page, admin, password)
    page.goto("/notifications")
    assert_accessible(page)
    page.get_by_role("link", name="New channel").click()
    assert_accessible(page)
    page.get_by_label("Webhook (signed JSON)").check()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/notifications/channels/new\?plugin=webhook$"))
    assert_accessible(page)

    # The inputs come from the plugin's options schema; the secret is a password input.
    name = f"ops-hook-{uuid.uuid4().hex[:6]}"
    page.get_by_label("Name").fill(name)
    page.get_by_label("Url").fill(webhook_receiver.url)
    secret = page.get_by_label("Secret")
    expect(secret).to_have_attribute("type", "password")
    secret.fill("too-short")
    page.get_by_role("button", name="Create channel").click()
    expect(page.locator('[data-field-error="options.secret"]')).to_contain_text("16 characters")
    expect(page.get_by_label("Url")).to_have_value(webhook_receiver.url)
    expect(page.get_by_label("Secret")).to_have_value("")  # never sent back
    page.get_by_label("Secret").fill(WEBHOOK_SECRET)
    page.get_by_role("button", name="Create channel").click()
    page.wait_for_url(re.compile(r"/notifications/channels/\d+$"))
    channel_url = page.url
    expect(page.get_by_test_id("notice")).to_contain_text(f"Channel {name} was created.")
    expect(page.get_by_test_id("secrets")).to_have_text(re.compile(r"Secret\s*set"))
    assert WEBHOOK_SECRET not in page.content()
    assert_accessible(page)

    page.get_by_role("button", name="Send a test").click()
    expect(page.get_by_test_id("test-result")).to_contain_text("Sent: the channel accepted")
    assert_accessible(page)
    assert len(webhook_receiver.verified()) == 1
    assert webhook_receiver.verified()[0].json()["subject"] == (
        f"Lemur: test message for channel {name}"
    )
    # Reloading the answer shows the channel and sends nothing again.
    page.reload()
    page.wait_for_url(channel_url)
    expect(page.get_by_test_id("test-result")).to_have_count(0)
    assert len(webhook_receiver.verified()) == 1

    # Saving without typing the secret keeps it: the next test is signed with it.
    page.get_by_label("Timeout").fill("5")
    page.get_by_role("button", name="Save channel").click()
    page.wait_for_url(channel_url)
    expect(page.get_by_test_id("notice")).to_have_text(f"Channel {name} was saved.")
    expect(page.get_by_label("Timeout")).to_have_value("5.0")
    expect(page.get_by_test_id("secrets")).to_have_text(re.compile(r"Secret\s*set"))
    webhook_receiver.down()
    page.get_by_role("button", name="Send a test").click()
    expect(page.get_by_test_id("test-result")).to_contain_text("Not sent:")
    webhook_receiver.clear()
    page.goto(channel_url)
    page.get_by_role("button", name="Send a test").click()
    expect(page.get_by_test_id("test-result")).to_contain_text("Sent:")
    assert len(webhook_receiver.verified()) == 1


def test_rules_and_muted_certificates(page: Page, server: RunningServer) -> None:
    admin, password = add_user(server, role=Role.ADMIN)
    team = f"shop-{uuid.uuid4().hex[:6]}"
    add_user(server, teams=[team])
    container = server_container(server)
    try:
        with Services(container, cli_principal()) as services:
            channel = services.notifications().create_channel(
                f"mail-{uuid.uuid4().hex[:6]}",
                "email",
                {"host": "smtp.example.com", "from_address": "lemur@example.com"},
            )
            team_id = services.accounts().find_team(team).id
            cert = services.issuance().issue(
                NewCertificate(
                    team_id=team_id,
                    authority_id=services.authorities().find("local-issuing-ca").id,
                    common_name=f"{team}.example.com",
                    dns_names=(f"{team}.example.com",),
                    validity_days=30,
                )
            )
            services.notifications().mute(cert.certificate.id, "retired with the old shop")
        with container.db.write() as session:  # a message the mail server refused
            session.add(
                Message(
                    channel_id=channel.id,
                    channel_name=channel.name,
                    recipient=f"gone@{team}.example.com",
                    event="expiring",
                    message_id=f"<lemur.ui.{uuid.uuid4().hex}@localhost>",
                    subject="Lemur: 1 certificate expires soon, in 30 days",
                    body_text="",
                    body_html="",
                    state="failed",
                    attempts=1,
                    last_error="550 mailbox unavailable",
                    created_at=dt.datetime.now(dt.UTC),
                )
            )
            session.commit()
    finally:
        container.close()
    log_in(page, admin, password)

    page.goto("/notifications")
    page.get_by_role("link", name="New rule").click()
    at_path(page, "/notifications/rules/new")
    assert_accessible(page)
    rule = f"expiry-{team}"
    page.get_by_label("Name").fill(rule)
    page.get_by_label("Channel").select_option(str(channel.id))
    page.get_by_label("revoked").check()
    page.get_by_label("Thresholds (days before expiry)").fill("30, 400")
    page.get_by_label("Only certificates of team").select_option(label=team)
    page.get_by_label("Other addresses").fill("oncall@example.com")
    page.get_by_role("button", name="Create rule").click()
    expect(page.locator('[data-field-error="thresholds"]')).to_contain_text("365 or less")
    expect(page.get_by_label("revoked")).to_be_checked()
    page.get_by_label("Thresholds (days before expiry)").fill("30, 7")
    page.get_by_role("button", name="Create rule").click()
    at_path(page, "/notifications")
    expect(page.get_by_test_id("notice")).to_have_text(f"Rule {rule} was created.")
    row = page.get_by_test_id("rules").get_by_role("row", name=rule)
    expect(row).to_contain_text("expiring, revoked")
    expect(row).to_contain_text("30, 7 days")
    expect(row).to_contain_text("oncall@example.com")
    expect(row).to_contain_text(team)

    muted = page.get_by_test_id("mutes").get_by_role("row", name=f"{team}.example.com")
    expect(muted).to_contain_text("retired with the old shop")
    assert_accessible(page)
    page.once("dialog", _accept)
    muted.get_by_role("button", name="Unmute").click()
    at_path(page, "/notifications")
    expect(page.get_by_test_id("notice")).to_contain_text("was unmuted")
    expect(page.get_by_text("No certificate is muted.")).to_be_visible()

    # Recent messages, filtered by state, say why one failed.
    page.get_by_label("State").select_option("failed")
    page.get_by_role("button", name="Show").click()
    sent = page.get_by_test_id("messages").get_by_role("row", name=f"gone@{team}.example.com")
    expect(sent).to_contain_text("failed")
    expect(sent).to_contain_text("550 mailbox unavailable")
    page.get_by_label("State").select_option("sent")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_text(f"gone@{team}.example.com")).to_have_count(0)
