"""The jobs pages in Chromium against a real ``lemur serve`` (SQLite and PostgreSQL): a job
in the list, a failed job with its last error, Retry making it pending again; the state
filter; and a member refused."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update

from lemur.accounts.models import Role
from lemur.authz import cli_principal
from lemur.jobs.models import JOBS, JobState
from lemur.jobs.outbox import enqueue
from lemur.services import Services
from tests.peers.server import RunningServer
from tests.ui.support import add_user, assert_accessible, at_path, log_in, server_container


@pytest.fixture(scope="module")
def server(sqlite_server: RunningServer) -> RunningServer:
    """SQLite only: docs/decisions/0022."""
    return sqlite_server


pytestmark = pytest.mark.browser
KIND = "test.ui"  # no runner knows it: its jobs stay as the test leaves them
ERROR = "ConnectionError: the CA at ca.example.test did not answer within 10 s"


def failed_job(server: RunningServer) -> int:
    container = server_container(server)
    try:
        with container.db.write() as session:
            job_id = enqueue(session, KIND, {"certificate_id": 7}, now=container.clock.now())
            session.execute(
                update(JOBS)
                .where(JOBS.c.id == job_id)
                .values(
                    state=JobState.FAILED.value,
                    attempts=3,
                    max_attempts=3,
                    last_error=ERROR,
                    finished_at=container.clock.now(),
                )
            )
            session.commit()
    finally:
        container.close()
    assert job_id is not None
    return job_id


def ping(server: RunningServer) -> int:
    container = server_container(server)
    try:
        with Services(container, cli_principal()) as services:
            return services.jobs().ping().id
    finally:
        container.close()


def test_a_failed_job_shows_its_error_and_retry_makes_it_pending(
    page: Page, server: RunningServer
) -> None:
    pinged = ping(server)
    job_id = failed_job(server)
    name, password = add_user(server, role=Role.SECURITY)
    log_in(page, name, password)
    page.goto("/jobs")
    expect(page.locator(f"tr[data-job='{pinged}']")).to_contain_text("noop")
    row = page.locator(f"tr[data-job='{job_id}']")
    expect(row).to_contain_text("failed")
    expect(row).to_contain_text("3 of 3")
    expect(row).to_contain_text("did not answer")
    assert_accessible(page)

    page.get_by_label("State").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    at_path(page, "/jobs")
    expect(page.locator(f"tr[data-job='{job_id}']")).to_be_visible()
    expect(page.locator(f"tr[data-job='{pinged}']")).to_have_count(0)

    row = page.locator(f"tr[data-job='{job_id}']")
    row.get_by_role("link", name=str(job_id)).click()
    at_path(page, f"/jobs/{job_id}")
    expect(page.get_by_test_id("last-error")).to_have_text(ERROR)
    assert_accessible(page)
    page.get_by_test_id("retry").click()
    at_path(page, f"/jobs/{job_id}")
    expect(page.get_by_role("status")).to_contain_text(f"Job {job_id} is pending again")
    expect(page.locator("h1 .badge")).to_have_text("pending")
    expect(page.get_by_test_id("retry")).to_have_count(0)
    # Its last error stays until it runs again; it can now be cancelled instead.
    expect(page.get_by_test_id("last-error")).to_have_text(ERROR)
    expect(page.get_by_test_id("cancel")).to_be_visible()


def test_a_member_may_not_see_jobs(page: Page, server: RunningServer) -> None:
    name, password = add_user(server, role=Role.MEMBER)
    log_in(page, name, password)
    for path in ("/jobs", f"/jobs/{ping(server)}"):
        response = page.goto(path)
        assert response is not None
        assert response.status == 403
        expect(page.get_by_role("heading", level=1)).to_have_text("You may not do this")
