"""One-time form tokens (lemur.accounts.submissions): a form post is handled once."""

from __future__ import annotations

import datetime as dt

from lemur.accounts import submissions
from lemur.accounts.models import Role
from lemur.accounts.submissions import Claim, claim, finish, new_token, release
from lemur.authz import cli_principal
from lemur.container import Container
from lemur.jobs.maintenance import cleanup_counts
from lemur.services import Services


def _user(container: Container, name: str) -> int:
    with Services(container, cli_principal()) as services:
        user, _ = services.accounts().create_user(
            name, role=Role.MEMBER, password=f"{name}-pw-1234567"
        )
        return user.id


def test_the_first_post_works_a_repeat_goes_where_it_led(container: Container) -> None:
    alice = _user(container, "alice")
    token, now = new_token(), container.clock.now()
    assert claim(container.db, token, user_id=alice, now=now).claim is Claim.FIRST
    # The double click arrives while the first post is still being handled: nothing runs.
    assert claim(container.db, token, user_id=alice, now=now).claim is Claim.PENDING
    finish(container.db, token, location="/certificates/7")
    repeat = claim(container.db, token, user_id=alice, now=now)
    assert (repeat.claim, repeat.location) == (Claim.DONE, "/certificates/7")


def test_a_failed_post_frees_its_token_for_the_corrected_form(container: Container) -> None:
    alice = _user(container, "alice")
    token, now = new_token(), container.clock.now()
    claim(container.db, token, user_id=alice, now=now)
    release(container.db, token)
    assert claim(container.db, token, user_id=alice, now=now).claim is Claim.FIRST


def test_someone_elses_token_never_reveals_where_it_led(container: Container) -> None:
    alice, mallory = _user(container, "alice"), _user(container, "mallory")
    token, now = new_token(), container.clock.now()
    claim(container.db, token, user_id=alice, now=now)
    finish(container.db, token, location="/certificates/7")
    stolen = claim(container.db, token, user_id=mallory, now=now)
    assert stolen.claim is Claim.PENDING
    assert stolen.location is None


def test_cleanup_deletes_tokens_older_than_a_day(container: Container) -> None:
    alice = _user(container, "alice")
    now = container.clock.now()
    old, fresh = new_token(), new_token()
    claim(
        container.db, old, user_id=alice, now=now - submissions.RETENTION - dt.timedelta(minutes=1)
    )
    claim(container.db, fresh, user_id=alice, now=now)
    with container.db.write() as session:
        counts = cleanup_counts(session, now=now, settings=container.settings)
        session.commit()
    assert counts["form_submissions"] == 1
    assert claim(container.db, fresh, user_id=alice, now=now).claim is Claim.PENDING
    assert claim(container.db, old, user_id=alice, now=now).claim is Claim.FIRST
