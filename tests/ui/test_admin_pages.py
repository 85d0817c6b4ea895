"""The administration pages in Chromium against a real ``lemur serve`` (SQLite and
PostgreSQL): teams and members, users and their one-time passwords, my API tokens, the
audit log, my account, and what a read-only user may not do."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from lemur.accounts.models import Role
from tests.peers.server import RunningServer, form_login
from tests.ui.support import add_user, assert_accessible, at_path, count_rows, log_in

pytestmark = pytest.mark.browser


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def test_admin_creates_a_team_adds_a_member_and_creates_a_user(
    page: Page, browser: Browser, server: RunningServer
) -> None:
    admin, password = add_user(server, role=Role.ADMIN)
    colleague, _ = add_user(server)
    log_in(page, admin, password)

    page.goto("/teams")
    assert_accessible(page)
    page.get_by_role("link", name="New team").click()
    at_path(page, "/teams/new")
    assert_accessible(page)
    name = _unique("payments")
    # A name with capitals and a space is refused next to the field, with a suggestion.
    page.get_by_label("Name").fill(name.replace("payments", "Payments Team"))
    page.get_by_role("button", name="Create team").click()
    at_path(page, "/teams/new")
    expect(page.locator('[data-field-error="name"]')).to_contain_text("for example")
    expect(page.get_by_label("Name")).to_have_value(name.replace("payments", "Payments Team"))
    page.get_by_label("Name").fill(name)
    page.get_by_label("Description").fill("Card payments")
    page.get_by_role("button", name="Create team").click()
    page.wait_for_url(re.compile(r"/teams/\d+$"))
    expect(page.get_by_test_id("notice")).to_have_text(f"Team {name} was created.")
    team_url = page.url

    # Add a member by username (the input offers the users in a datalist).
    expect(page.locator(f'datalist#usernames option[value="{colleague}"]')).to_have_count(1)
    page.get_by_label("Username").fill(colleague)
    page.get_by_role("button", name="Add member").click()
    page.wait_for_url(team_url)
    expect(page.get_by_test_id("notice")).to_have_text(f"{colleague} was added to {name}.")
    row = page.get_by_test_id("members").get_by_role("row", name=colleague)
    expect(row).to_contain_text("member")
    assert_accessible(page)
    page.goto("/teams")
    expect(page.get_by_test_id("teams").get_by_role("row", name=name)).to_contain_text("1")

    # Remove them again, after a confirmation page.
    page.goto(team_url)
    page.get_by_role("link", name=f"Remove {colleague}").click()
    expect(page.get_by_role("heading", name=f"Remove {colleague} from {name}?")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name=f"Remove {colleague}").click()
    page.wait_for_url(team_url)
    expect(page.get_by_test_id("notice")).to_have_text(f"{colleague} was removed from {name}.")
    expect(page.get_by_text("This team has no members yet.")).to_be_visible()

    # A new user: the one-time password is shown once, on the answer to the post.
    page.goto("/users")
    assert_accessible(page)
    page.get_by_role("link", name="New user").click()
    assert_accessible(page)
    newcomer = _unique("jane")
    page.get_by_label("Username").fill(newcomer)
    page.get_by_label("Role").select_option("member")
    page.get_by_label("Display name").fill("Jane Doe")
    page.get_by_label("Email").fill(f"{newcomer}@example.com")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Create user").click()
    assert answer.value.headers["cache-control"] == "no-store"
    expect(page.get_by_role("heading", name=f"User {newcomer} was created")).to_be_visible()
    expect(page.get_by_text("Copy it now")).to_be_visible()
    one_time = page.get_by_test_id("one-time-password").inner_text().strip()
    assert len(one_time) >= 12
    assert_accessible(page)
    users = count_rows(server, "users")

    # Reloading the answer sends the form again: it goes to the users, shows no password
    # and creates nobody.
    page.reload()
    at_path(page, "/users")
    expect(page.get_by_test_id("users").get_by_role("row", name=newcomer)).to_contain_text(
        "one-time password not yet changed"
    )
    assert one_time not in page.content()
    assert count_rows(server, "users") == users
    page.get_by_role("link", name=newcomer).click()
    expect(page.get_by_role("heading", name=f"User {newcomer}")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Role").select_option("read-only")
    page.get_by_role("button", name="Change role").click()
    expect(page.get_by_test_id("notice")).to_have_text(f"{newcomer} now has the role read-only.")

    # The new user logs in with it and must choose their own password first.
    other = browser.new_context(base_url=server.base_url)
    try:
        theirs = other.new_page()
        log_in(theirs, newcomer, one_time)
        at_path(theirs, "/password")
        theirs.goto("/account")
        at_path(theirs, "/password")
        theirs.get_by_label("Current password").fill(one_time)
        theirs.get_by_label("New password").fill("juniper quartz meadow lantern")
        theirs.get_by_label("Confirm password").fill("juniper quartz meadow lantern")
        theirs.get_by_role("button", name="Change password").click()
        at_path(theirs, "/")
        theirs.goto("/account")
        expect(theirs.get_by_test_id("username")).to_have_text(newcomer)
    finally:
        other.close()

    # A reset gives another one-time password, shown once; the chosen one stops working.
    page.goto("/users")
    page.get_by_role("link", name=newcomer).click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Reset password").click()
    expect(
        page.get_by_role("heading", name=f"The password of {newcomer} was reset")
    ).to_be_visible()
    reset = page.get_by_test_id("one-time-password").inner_text().strip()
    assert reset != one_time
    with httpx.Client(base_url=server.base_url) as client:
        assert form_login(client, newcomer, "juniper quartz meadow lantern").status_code == 401
    with httpx.Client(base_url=server.base_url) as client:
        answer = form_login(client, newcomer, reset)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/password"


def test_a_member_creates_uses_and_revokes_a_token_and_the_audit_log_shows_it(
    page: Page, browser: Browser, server: RunningServer
) -> None:
    member, password = add_user(server, teams=[_unique("web")])
    log_in(page, member, password)
    page.goto("/account")
    expect(page.get_by_test_id("role")).to_have_text("member")
    assert_accessible(page)
    page.get_by_role("link", name="Manage my API tokens").click()
    at_path(page, "/tokens")
    assert_accessible(page)

    before = count_rows(server, "api_tokens")
    page.get_by_label("Name").fill("deploy-pipeline")
    page.get_by_label("Scope").select_option("read")
    page.get_by_label("Expires after (days)").fill("30")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("heading", name="Token deploy-pipeline was created")).to_be_visible()
    expect(page.get_by_text("Copy it now")).to_be_visible()
    expect(page.get_by_role("button", name="Copy token")).to_be_visible()  # shown by lemur.js
    secret = page.get_by_test_id("token-secret").inner_text().strip()
    assert secret.startswith("lmr_")
    assert_accessible(page)
    assert count_rows(server, "api_tokens") == before + 1

    # Reload: to the list, no secret, no second token.
    page.reload()
    at_path(page, "/tokens")
    assert secret not in page.content()
    assert count_rows(server, "api_tokens") == before + 1
    row = page.get_by_test_id("token-deploy-pipeline")
    expect(row).to_contain_text("read")
    expect(row).to_contain_text("never")

    with httpx.Client(base_url=server.base_url) as api:
        me = api.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
        assert me.status_code == 200
        assert me.json()["username"] == member
        page.reload()
        expect(row).not_to_contain_text("never")

        row.get_by_role("link", name="Revoke deploy-pipeline").click()
        expect(page.get_by_role("heading", name="Revoke token deploy-pipeline?")).to_be_visible()
        assert_accessible(page)
        page.get_by_role("button", name="Revoke deploy-pipeline").click()
        at_path(page, "/tokens")
        expect(page.get_by_test_id("notice")).to_contain_text("deploy-pipeline was revoked")
        expect(row).to_contain_text("revoked")
        refused = api.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "token_revoked"

    # Security reads both events in the audit log, and the chain verifies.
    security, security_password = add_user(server, role=Role.SECURITY)
    auditor = browser.new_context(base_url=server.base_url)
    try:
        audit = auditor.new_page()
        log_in(audit, security, security_password)
        audit.goto("/audit")
        expect(audit.get_by_test_id("chain-status")).to_contain_text("Verified")
        assert_accessible(audit)
        audit.get_by_label("Actor").fill(f"user:{member}")
        audit.get_by_label("Action").fill("token.")
        audit.get_by_role("button", name="Filter").click()
        events = audit.get_by_test_id("audit-events")
        expect(events.get_by_role("row")).to_have_count(3)  # header, revoke, create
        expect(events).to_contain_text("token.revoke")
        expect(events).to_contain_text("token.create")
        expect(events).to_contain_text("deploy-pipeline")
        # A bad time is refused next to its field.
        audit.get_by_label("From (UTC)").fill("2026-01-01T00:00")
        audit.get_by_label("Until (UTC)").fill("2025-01-01T00:00")
        audit.get_by_role("button", name="Filter").click()
        expect(audit.locator('[data-field-error="until"]')).to_have_text(
            "The end must be after the start."
        )
    finally:
        auditor.close()


def test_account_changes_the_password_with_a_confirmation(
    page: Page, server: RunningServer
) -> None:
    member, password = add_user(server)
    log_in(page, member, password)
    page.goto("/account")
    page.get_by_label("Current password").fill(password)
    page.get_by_label("New password").fill("cobalt harbour violet engine")
    page.get_by_label("Confirm password").fill("cobalt harbour violet engines")
    page.get_by_role("button", name="Change password").click()
    at_path(page, "/account/password")
    expect(page.locator('[data-field-error="confirm_password"]')).to_contain_text("differ")
    assert_accessible(page)
    page.get_by_label("Current password").fill(password)
    page.get_by_label("New password").fill("cobalt harbour violet engine")
    page.get_by_label("Confirm password").fill("cobalt harbour violet engine")
    page.get_by_role("button", name="Change password").click()
    at_path(page, "/account")
    expect(page.get_by_test_id("notice")).to_have_text("Your password was changed.")
    with httpx.Client(base_url=server.base_url) as client:
        assert form_login(client, member, "cobalt harbour violet engine").status_code == 303


def test_a_read_only_user_sees_no_write_controls_and_is_refused(
    page: Page, server: RunningServer
) -> None:
    team = _unique("ops")
    add_user(server, teams=[team])
    reader, password = add_user(server, role=Role.READ_ONLY, teams=[team])
    log_in(page, reader, password)

    page.goto("/teams")
    expect(page.get_by_test_id("teams").get_by_role("link", name=team)).to_be_visible()
    expect(page.get_by_role("link", name="New team")).to_have_count(0)
    page.get_by_role("link", name=team).click()
    expect(page.get_by_test_id("members")).to_contain_text(reader)
    expect(page.get_by_role("button", name="Add member")).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("^Remove"))).to_have_count(0)
    assert_accessible(page)
    team_path = httpx.URL(page.url).path
    for path in ("/users", "/audit", "/notifications", "/teams/new"):
        response = page.goto(path)
        assert response is not None
        assert response.status == 403, path
        expect(page.get_by_role("heading", name="You may not do this")).to_be_visible()

    # Posting anyway, with a valid CSRF token: refused, nothing changes.
    page.goto("/teams")
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content") or ""
    teams, members = count_rows(server, "teams"), count_rows(server, "team_members")
    answer = page.request.post(
        "/teams/new", form={"csrf_token": csrf, "name": _unique("sneaky")}, max_redirects=0
    )
    assert answer.status == 403
    assert "may not" in answer.text()
    answer = page.request.post(
        f"{team_path}/members", form={"csrf_token": csrf, "username": reader}, max_redirects=0
    )
    assert answer.status == 403
    assert (count_rows(server, "teams"), count_rows(server, "team_members")) == (teams, members)
