"""One-time form tokens: a form post is handled once, whatever the browser sends again.

Every form of the web UI carries a random token. The first post claims it (a unique row);
a second post of the same form — a double click, a reload of the answer, back and submit
again — finds the row and is sent where the first post led, or is told the first one is
still being handled. A post that fails (the form comes back with errors) releases its
token, so that the corrected form can be sent again.
"""

from __future__ import annotations

import datetime as dt
import enum
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from lemur.accounts.models import FormSubmission
from lemur.db import Database

TOKEN_BYTES = 24
# Long enough for any form a person fills in; maintenance.cleanup deletes older rows.
RETENTION = dt.timedelta(days=1)


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


class Claim(enum.Enum):
    FIRST = "first"  # this post does the work
    DONE = "done"  # an earlier post did it: go to its location
    PENDING = "pending"  # an earlier post is still being handled


@dataclass(frozen=True)
class Claimed:
    claim: Claim
    location: str | None = None


def claim(db: Database, token: str, *, user_id: int, now: dt.datetime) -> Claimed:
    """Claim ``token`` for this post, or say what became of the earlier post that did."""
    with db.write() as session:
        found = session.execute(
            select(FormSubmission.user_id, FormSubmission.location).where(
                FormSubmission.token == token
            )
        ).first()
        if found is None:
            session.add(FormSubmission(token=token, user_id=user_id, created_at=now))
            try:
                session.commit()
            except IntegrityError:  # a concurrent post claimed it first (PostgreSQL)
                session.rollback()
                return Claimed(Claim.PENDING)
            return Claimed(Claim.FIRST)
    if found.user_id != user_id:
        # Someone else's token: never reveal where their post led.
        return Claimed(Claim.PENDING)
    if found.location is None:
        return Claimed(Claim.PENDING)
    return Claimed(Claim.DONE, found.location)


def finish(db: Database, token: str, *, location: str) -> None:
    with db.write() as session:
        session.execute(
            update(FormSubmission).where(FormSubmission.token == token).values(location=location)
        )
        session.commit()


def release(db: Database, token: str) -> None:
    with db.write() as session:
        session.execute(delete(FormSubmission).where(FormSubmission.token == token))
        session.commit()
